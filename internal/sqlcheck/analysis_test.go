package sqlcheck

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
)

// tamperTexts are texts that tamper, each as the whole statement.
var tamperTexts = []string{
	"SELECT set_config('app.tenant_id', 'globex', false)",
	"SELECT set_config('app.tenant_id', 'globex', true)",
	"select SET_CONFIG('APP.TENANT_ID', 'x', false)",
	"SELECT pg_catalog.set_config('app.tenant_id', 'x', false)",
	`SELECT "set_config"('app.tenant_id', 'x', false)`,
	"SELECT set_config('app.tenant_id'::text, 'x', false)",
	"SELECT set_config($1, $2, false)",
	"SELECT set_config(@name, @value, false)",
	"SELECT * FROM set_config('app.tenant_id', 'x', false)",
	"SELECT id FROM items WHERE EXISTS (SELECT set_config('app.tenant_id', 'x', false))",
	"WITH s AS (SELECT set_config('app.tenant_id', 'x', false)) SELECT * FROM s",
	"SELECT 1 UNION ALL SELECT length(set_config('app.tenant_id', 'x', false))",
	"EXPLAIN ANALYZE SELECT set_config('app.tenant_id', 'x', false)",
	"PREPARE p AS SELECT set_config('app.tenant_id', 'x', false)",
	"SELECT set_config('role', 'admin', false)",
	"SELECT set_config('session_authorization', 'admin', false)",
	"SET app.tenant_id = 'globex'",
	"SET app.tenant_id TO DEFAULT",
	`SET "App.Tenant_Id" = 'globex'`,
	"SET LOCAL app.tenant_id = 'globex'",
	"SET SESSION app.tenant_id = 'globex'",
	"RESET app.tenant_id",
	"RESET ALL",
	"DISCARD ALL",
	"DISCARD PLANS",
	"DISCARD TEMP",
	"SET ROLE admin",
	"SET LOCAL ROLE admin",
	"RESET ROLE",
	"SET SESSION AUTHORIZATION admin",
	"RESET SESSION AUTHORIZATION",
	"UPDATE pg_settings SET setting = 'x' WHERE name = 'app.tenant_id'",
	"UPDATE pg_catalog.pg_settings SET setting = 'x' WHERE name = 'app.tenant_id'",
	"ALTER ROLE CURRENT_USER SET app.tenant_id = 'globex'",
	"DO $$ BEGIN PERFORM set_config('app.tenant_id', 'x', false); END $$",
	"DO $$ BEGIN EXECUTE 'SET app.tenant_id = ''x'''; END $$",
	"CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT set_config('app.tenant_id','x',false) $$",
	"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET app.tenant_id = 'x' AS 'SELECT 1'",
	// Hidden in a multi-statement string sent without arguments.
	"SELECT 1; SELECT set_config('app.tenant_id', 'smuggled', false)",
	"SELECT 1; RESET ALL",
	"INSERT INTO items (val) VALUES (1); SET ROLE admin; SELECT 2",
	// Settings that change how the server reads the text.
	"SET standard_conforming_strings = off",
	"SET LOCAL standard_conforming_strings TO off",
	"RESET standard_conforming_strings",
	"SET client_encoding = 'SJIS'",
	"SET NAMES 'SJIS'",
	"SET LOCAL NAMES 'BIG5'",
	"SET NAMES DEFAULT",
	"RESET client_encoding",
	"SET backslash_quote = on",
	"SELECT set_config('standard_conforming_strings', 'off', false)",
	"SELECT set_config('CLIENT_ENCODING', 'GBK', true)",
	"ALTER ROLE CURRENT_USER SET standard_conforming_strings = off",
	"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET client_encoding = 'SJIS' AS 'SELECT 1'",
	"WITH s AS (SELECT set_config('client_encoding', 'SJIS', false)) SELECT * FROM s",
	// The driver's prepared statements.
	"PREPARE pgxtenant_set_local AS SELECT 1",
	`PREPARE "PgxTenant_x"(text) AS SELECT $1`,
	"EXECUTE pgxtenant_set_local('app.tenant_id', 'x')",
	"EXECUTE PGXTENANT_SET_SESSION",
	"EXPLAIN EXECUTE pgxtenant_set_local",
	"CREATE TABLE t AS EXECUTE pgxtenant_set_local",
	"DEALLOCATE pgxtenant_set_local",
	"DEALLOCATE PREPARE pgxtenant_set_local",
	"DEALLOCATE ALL",
	"DEALLOCATE PREPARE ALL",
	"SELECT 1; DEALLOCATE ALL",
	// Functions the server calls by name on its own.
	"CREATE AGGREGATE hack(text, bool) (SFUNC = pg_catalog.set_config, STYPE = text, INITCOND = 'app.tenant_id')",
	"CREATE OPERATOR === (LEFTARG = text, RIGHTARG = text, FUNCTION = dblink_exec)",
	"CREATE OPERATOR !!! (RIGHTARG = text, PROCEDURE = ts_stat)",
	"CREATE CAST (text AS int) WITH FUNCTION ts_stat(text)",
}

func TestTamper(t *testing.T) {
	z := NewAnalyzer("app.tenant_id", 0)
	for _, sql := range append(tamperTexts,
		`SELECT U&"\0073et_config"('app.tenant_id', 'x', false)`,
		"select\tSet_Config('app.tenant_id','x',false)",
		"SELECT/**/set_config('app.tenant_id','x',false)",
	) {
		a, err := z.Analyze(sql) // through the prefilter
		if err != nil {
			t.Errorf("analyze(%q): %v", sql, err)
			continue
		}
		if a.Tamper == "" {
			t.Errorf("analyze(%q): tamper not detected", sql)
		}
	}
}

func TestNotTamper(t *testing.T) {
	clean := []string{
		"SELECT id, total FROM invoices WHERE status = $1",
		"SELECT current_setting('app.tenant_id', true)",
		"SELECT set_config('application_name', 'worker', false)",
		"SELECT set_config('search_path', 'public', true)",
		"SET statement_timeout = '5s'",
		"SET LOCAL lock_timeout = '1s'",
		"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
		"RESET statement_timeout",
		"SET app.other = 'x'",
		"UPDATE items SET val = val + 1 WHERE id = @id",
		"INSERT INTO notes (body) VALUES ('remember to SET ROLE admin and call set_config')",
		"DO $$ BEGIN RAISE NOTICE 'hello'; END $$",
		"ALTER ROLE CURRENT_USER SET statement_timeout = '10s'",
		"CREATE TABLE t (id int)",
		"BEGIN", "COMMIT", "SAVEPOINT a", "ROLLBACK TO SAVEPOINT a",
		// Other settings, and reading the protected ones.
		"SET search_path = app, public",
		"SET TIME ZONE 'UTC'",
		"SET datestyle = 'ISO, DMY'",
		"SET intervalstyle = 'iso_8601'",
		"SET XML OPTION DOCUMENT",
		"SET escape_string_warning = off",
		"SET array_nulls = off",
		"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE",
		"SET TRANSACTION SNAPSHOT '00000003-0000001B-1'",
		"SHOW client_encoding",
		"SELECT current_setting('standard_conforming_strings')",
		"SELECT name, setting FROM pg_settings WHERE name = 'client_encoding'",
		"INSERT INTO notes (body) VALUES ('SET NAMES and DEALLOCATE ALL are refused')",
		// Prepared statements of the application.
		"PREPARE items_by_id(int) AS SELECT * FROM items WHERE id = $1",
		"EXECUTE items_by_id(1)",
		"EXPLAIN EXECUTE items_by_id(1)",
		"DEALLOCATE items_by_id",
		"DEALLOCATE PREPARE items_by_id",
		"PREPARE pgx_tenant_lookalike AS SELECT 1",
		"PREPARE pgxtenant AS SELECT 1",
		// Functions that are only named, not handed a job.
		"DROP FUNCTION IF EXISTS dblink(text)",
		"REVOKE EXECUTE ON FUNCTION dblink_exec(text, text) FROM PUBLIC",
		"COMMENT ON FUNCTION query_to_xml(text, boolean, boolean, text) IS 'export'",
		"CREATE AGGREGATE my_sum(int) (SFUNC = int4pl, STYPE = int, INITCOND = '0')",
		"CREATE OPERATOR ### (LEFTARG = int, RIGHTARG = int, FUNCTION = int4pl)",
		"CREATE TRIGGER fill BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION fill_tenant()",
		"CREATE CAST (text AS mytext) WITHOUT FUNCTION",
		"CREATE CAST (text AS mytext) WITH INOUT",
		"CREATE TRANSFORM FOR hstore LANGUAGE plpython3u (FROM SQL WITH FUNCTION hstore_to_plpython(internal))",
		// Everyday statements that hold trigger words.
		"UPDATE members SET role = $1 WHERE id = $2",
		"INSERT INTO members (id, role) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role",
		"UPDATE t SET client_encoding = 'x', names = 'y'",
		"SELECT * FROM items WHERE id = $1 FOR UPDATE",
		"SELECT CASE WHEN a THEN 1 ELSE 2 END FROM t",
		"GRANT EXECUTE ON FUNCTION tenant() TO app",
		"CREATE TABLE orders (id int, owner int REFERENCES owners ON DELETE SET NULL)",
		"ALTER TABLE items ALTER COLUMN tenant_id SET DEFAULT current_setting('app.tenant_id')",
		"CREATE POLICY tenant ON items USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')))",
		"SELECT pg_catalog.set_config('search_path', '', false)",
	}
	z := NewAnalyzer("app.tenant_id", 0)
	for _, sql := range clean {
		// Parsed in any case, and through the prefilter as the driver does.
		a, err := analyze(sql, "app.tenant_id")
		if err != nil {
			t.Errorf("analyze(%q): %v", sql, err)
			continue
		}
		b, _ := z.Analyze(sql)
		if a.Tamper != "" || b.Tamper != "" {
			t.Errorf("analyze(%q): false tamper %q / %q", sql, a.Tamper, b.Tamper)
		}
	}
}

func TestCustomSettingName(t *testing.T) {
	a, err := analyze("SELECT set_config('myapp.org', 'x', false)", "myapp.org")
	if err != nil || a.Tamper == "" {
		t.Fatalf("custom setting not protected: %+v, %v", a, err)
	}
	a, err = analyze("SELECT set_config('app.tenant_id', 'x', false)", "myapp.org")
	if err != nil || a.Tamper != "" {
		t.Fatalf("other setting flagged: %+v, %v", a, err)
	}
}

func TestClassification(t *testing.T) {
	type want struct {
		stmts                                               int
		noTx, txControl, txBoundary, setTransaction, opaque bool
	}
	tests := []struct {
		sql  string
		want want
	}{
		{"SELECT 1", want{stmts: 1}},
		{"SELECT 1; SELECT 2", want{stmts: 2}},
		{"VACUUM items", want{stmts: 1, noTx: true}},
		{"ANALYZE items", want{stmts: 1}},
		{"CREATE INDEX CONCURRENTLY i ON items (val)", want{stmts: 1, noTx: true}},
		{"CREATE INDEX i ON items (val)", want{stmts: 1}},
		{"DROP INDEX CONCURRENTLY i", want{stmts: 1, noTx: true}},
		{"REINDEX (CONCURRENTLY) TABLE items", want{stmts: 1, noTx: true}},
		{"REINDEX TABLE items", want{stmts: 1}},
		{"REINDEX SYSTEM", want{stmts: 1, noTx: true}},
		{"CREATE DATABASE x", want{stmts: 1, noTx: true}},
		{"CLUSTER", want{stmts: 1, noTx: true}},
		{"CLUSTER items USING i", want{stmts: 1}},
		{"ALTER TABLE p DETACH PARTITION c CONCURRENTLY", want{stmts: 1, noTx: true}},
		{"VACUUM a; VACUUM b", want{stmts: 2}}, // the server refuses this anyway
		{"DO $$ BEGIN NULL; END $$", want{stmts: 1, opaque: true}},
		{"CALL p()", want{stmts: 1, opaque: true}},

		// Transaction boundaries, and transaction control that is not one.
		{"BEGIN", want{stmts: 1, txControl: true, txBoundary: true}},
		{"BEGIN ISOLATION LEVEL SERIALIZABLE", want{stmts: 1, txControl: true, txBoundary: true}},
		{"START TRANSACTION READ ONLY", want{stmts: 1, txControl: true, txBoundary: true}},
		{"COMMIT", want{stmts: 1, txControl: true, txBoundary: true}},
		{"COMMIT AND CHAIN", want{stmts: 1, txControl: true, txBoundary: true}},
		{"END", want{stmts: 1, txControl: true, txBoundary: true}},
		{"END WORK", want{stmts: 1, txControl: true, txBoundary: true}},
		{"ROLLBACK", want{stmts: 1, txControl: true, txBoundary: true}},
		{"ROLLBACK AND CHAIN", want{stmts: 1, txControl: true, txBoundary: true}},
		{"ABORT", want{stmts: 1, txControl: true, txBoundary: true}},
		{"PREPARE TRANSACTION 'x'", want{stmts: 1, txControl: true, txBoundary: true}},
		{"SAVEPOINT a", want{stmts: 1, txControl: true}},
		{"RELEASE a", want{stmts: 1, txControl: true}},
		{"RELEASE SAVEPOINT a", want{stmts: 1, txControl: true}},
		{"ROLLBACK TO a", want{stmts: 1, txControl: true}},
		{"ROLLBACK TO SAVEPOINT a", want{stmts: 1, txControl: true}},
		{"ROLLBACK WORK TO SAVEPOINT a", want{stmts: 1, txControl: true}},
		{"COMMIT PREPARED 'x'", want{stmts: 1, noTx: true, txControl: true}},
		{"ROLLBACK PREPARED 'x'", want{stmts: 1, noTx: true, txControl: true}},
		{"BEGIN; INSERT INTO t VALUES (1); COMMIT", want{stmts: 3, txControl: true, txBoundary: true}},
		{"SAVEPOINT a; INSERT INTO t VALUES (1); RELEASE a", want{stmts: 3, txControl: true}},
		{"INSERT INTO t VALUES (1); COMMIT", want{stmts: 2, txControl: true, txBoundary: true}},
		{"PREPARE p AS SELECT 1", want{stmts: 1}}, // a statement, not a transaction

		// Statements that must open a transaction.
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", want{stmts: 1, setTransaction: true}},
		{"SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY, DEFERRABLE", want{stmts: 1, setTransaction: true}},
		{"SET TRANSACTION READ ONLY", want{stmts: 1, setTransaction: true}},
		{"SET TRANSACTION READ WRITE", want{stmts: 1, setTransaction: true}},
		{"SET TRANSACTION NOT DEFERRABLE", want{stmts: 1, setTransaction: true}},
		{"SET TRANSACTION SNAPSHOT '00000003-0000001B-1'", want{stmts: 1, setTransaction: true}},
		{"SET LOCAL TRANSACTION READ ONLY", want{stmts: 1, setTransaction: true}},
		{"SET SESSION TRANSACTION ISOLATION LEVEL SERIALIZABLE", want{stmts: 1, setTransaction: true}},
		{"set transaction isolation level read committed", want{stmts: 1, setTransaction: true}},
		{"SET transaction_isolation = 'serializable'", want{stmts: 1, setTransaction: true}},
		{"SET LOCAL transaction_read_only TO on", want{stmts: 1, setTransaction: true}},
		{"SET transaction_deferrable = true", want{stmts: 1, setTransaction: true}},
		{"SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL SERIALIZABLE", want{stmts: 1}},
		{"SET default_transaction_isolation = 'serializable'", want{stmts: 1}},
		{"SHOW transaction_isolation", want{stmts: 1}},
		{"SELECT set_config('transaction_isolation', 'serializable', true)", want{stmts: 1}},
		{"SET TRANSACTION READ ONLY; SELECT 1", want{stmts: 2}},
		{"SET statement_timeout = '5s'", want{stmts: 1}},
	}
	for _, tt := range tests {
		a, err := analyze(tt.sql, "app.tenant_id")
		if err != nil {
			t.Errorf("analyze(%q): %v", tt.sql, err)
			continue
		}
		got := want{a.Statements, a.NoTxBlock, a.TxControl, a.TxBoundary, a.SetTransaction, a.Opaque}
		if got != tt.want || a.Tamper != "" {
			t.Errorf("analyze(%q) = %+v (tamper %q); want %+v", tt.sql, got, a.Tamper, tt.want)
		}
	}
}

func TestSyntaxError(t *testing.T) {
	z := NewAnalyzer("app.tenant_id", 8)
	for i := 0; i < 2; i++ { // second call comes from the cache
		_, err := z.Analyze("UPDAT items SET val = 1")
		if !errors.Is(err, ErrSyntax) || !strings.Contains(err.Error(), "syntax error") {
			t.Fatalf("err = %v, want ErrSyntax with the parser's message", err)
		}
	}
}

func TestCacheBounded(t *testing.T) {
	z := NewAnalyzer("app.tenant_id", 16)
	for i := 0; i < 100; i++ {
		if _, err := z.Analyze(fmt.Sprintf("UPDATE t SET v = %d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if z.Len() != 16 {
		t.Fatalf("cache holds %d entries, want 16", z.Len())
	}
	// The most recent texts are cached and return the identical result.
	a1, _ := z.Analyze("UPDATE t SET v = 99")
	a2, _ := z.Analyze("UPDATE t SET v = 99")
	if a1 != a2 {
		t.Fatal("recent entry was not served from the cache")
	}
	old, _ := z.Analyze("UPDATE t SET v = 0")
	again, _ := z.Analyze("UPDATE t SET v = 0")
	if old != again || z.Len() != 16 {
		t.Fatal("evicted entry was not re-cached within bounds")
	}
}

func TestAnalyzerConcurrent(t *testing.T) {
	z := NewAnalyzer("app.tenant_id", 32)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				sql := fmt.Sprintf("UPDATE t SET v = %d", (g*7+i)%50)
				if i%10 == 0 {
					sql = "SELECT set_config('app.tenant_id', 'x', false)"
				}
				a, err := z.Analyze(sql)
				if err != nil {
					t.Error(err)
					return
				}
				if (i%10 == 0) != (a.Tamper != "") {
					t.Errorf("wrong analysis for %q: %+v", sql, a)
					return
				}
			}
		}(g)
	}
	wg.Wait()
}

// TestTamperSurvivesWrapping runs FuzzAnalyze's main property over every
// tamper case, in every go test run.
func TestTamperSurvivesWrapping(t *testing.T) {
	parsed := 0
	for _, sql := range tamperTexts {
		for _, wrapped := range tamperWrappings(sql) {
			a, err := analyze(wrapped, "app.tenant_id")
			if err != nil {
				continue // not every statement can be a sub-select
			}
			parsed++
			if a.Tamper == "" {
				t.Errorf("tamper lost in %q", wrapped)
			}
		}
	}
	if parsed < 8*len(tamperTexts) {
		t.Fatalf("only %d wrapped texts parsed", parsed)
	}
}

// FuzzAnalyze checks properties of the analysis of arbitrary text: it never
// crashes, fails only with ErrSyntax, gives the same answer twice, keeps
// its flags consistent, and finds a tamper wherever the tampering text is
// put: after or before other statements, in a sub-select, in a CTE, or
// passed to query_to_xml as a string. A clean text stays clean next to a
// clean statement.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{
		"SELECT 1", "SET ROLE x", "SELECT set_config('app.tenant_id','x',false)", "DO $$ $$", ";;",
		"SELECT query_to_xml('SELECT set_config(''app.tenant_id'', ''x'', false)', true, true, '')",
		"UPDATE pg_settings SET setting = 'x'", "SELECT * FROM dblink($1) AS t(a int)",
		"EXECUTE pgxtenant_set_local", "SET NAMES 'SJIS'", "BEGIN", "SET TRANSACTION READ ONLY",
		"DO $$BEGIN SET ROLE x; END$$", "SELECT current_setting('app.tenant_id', true)",
		"DO $$DECLARE t text := current_setting('app.tenant_id', true); BEGIN t := t || 'x'; END$$",
		"DO $$BEGIN EXECUTE format('CREATE POLICY p ON %I USING (true)', 't'); END$$",
		"DO $$BEGIN EXECUTE 'SET ' || 'x.y = 1'; END$$",
		"CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.t := current_setting('app.tenant_id'); RETURN NEW; END$$",
		"CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT ''set role'''",
		"DO $$BEGIN BEGIN PERFORM 1; EXCEPTION WHEN others THEN RESET ROLE; END; END$$",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		a, err := analyze(sql, "app.tenant_id")
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("unexpected error type: %v", err)
			}
			return
		}
		if again, _ := analyze(sql, "app.tenant_id"); !reflect.DeepEqual(a, again) {
			t.Fatalf("analysed twice: %+v, then %+v", *a, *again)
		}
		if a.TxBoundary && !a.TxControl || a.SetTransaction && a.Statements != 1 {
			t.Fatalf("inconsistent analysis %+v", *a)
		}
		if a.Tamper == "" {
			if b, err := analyze(sql+"\n;SELECT 1", "app.tenant_id"); err == nil && b.Tamper != "" {
				t.Fatalf("clean text became tamper %q next to SELECT 1", b.Tamper)
			}
			return
		}
		for _, wrapped := range tamperWrappings(sql) {
			b, err := analyze(wrapped, "app.tenant_id")
			if err == nil && b.Tamper == "" {
				t.Fatalf("tamper %q lost in %q", a.Tamper, wrapped)
			}
		}
	})
}

// tamperWrappings returns texts that run sql among other statements or
// nested in another one. Those that parse must tamper when sql does.
func tamperWrappings(sql string) []string {
	w := []string{
		"SELECT 1;\n" + sql,
		sql + "\n;SELECT 2",
		"SELECT 1;\n" + sql + "\n;SELECT 2",
		"SELECT * FROM (\n" + sql + "\n) AS s",
		"WITH s AS (\n" + sql + "\n) SELECT * FROM s",
		"SELECT 1 WHERE EXISTS (\n" + sql + "\n)",
	}
	if !strings.Contains(sql, "\x00") { // the parser stops reading at a NUL, inside a literal too
		quoted := "'" + strings.ReplaceAll(sql, "'", "''") + "'"
		w = append(w, "SELECT query_to_xml("+quoted+", true, true, '')")
		// In PL/pgSQL: as a statement, in nested blocks and an exception
		// handler, and as the constant SQL of EXECUTE.
		w = append(w,
			"DO $w$ BEGIN EXECUTE "+quoted+"; END $w$",
			"DO $w$ BEGIN IF true THEN EXECUTE "+quoted+"; END IF; END $w$",
		)
	}
	// As a PL/pgSQL statement, unless it starts with EXECUTE, which
	// PL/pgSQL reads as its own dynamic-SQL statement (a different one).
	first := strings.Fields(strings.ToUpper(sql) + " x")[0]
	if !strings.Contains(sql, "$w$") && first != "EXECUTE" {
		w = append(w,
			"DO $w$ BEGIN\n"+sql+"\n; END $w$",
			"DO $w$ BEGIN BEGIN PERFORM 1; EXCEPTION WHEN others THEN BEGIN\n"+sql+"\n; END; END; END $w$",
			"CREATE FUNCTION w() RETURNS void LANGUAGE plpgsql AS $w$ BEGIN LOOP\n"+sql+"\n; END LOOP; END $w$",
			"CREATE PROCEDURE w() LANGUAGE sql AS $w$ SELECT 1;\n"+sql+"\n $w$",
		)
	}
	return w
}

// TestTextShape covers what the driver needs to know about the order of
// statements in a text: a leading SET TRANSACTION, a rollback followed by
// more statements, a transaction left open, and COPY to or from the client.
func TestTextShape(t *testing.T) {
	type want struct{ leadingSetTx, undoThenRun, leavesTxOpen, copyStdio bool }
	for _, tt := range []struct {
		sql  string
		want want
	}{
		{"SELECT 1; SELECT 2", want{}},
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE", want{leadingSetTx: true}},
		{"SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; SELECT 1", want{leadingSetTx: true}},
		{"SELECT 1; SET TRANSACTION READ ONLY", want{}},
		{"ROLLBACK TO SAVEPOINT s; INSERT INTO t VALUES (1)", want{undoThenRun: true}},
		{"ROLLBACK; SELECT 1", want{undoThenRun: true}},
		{"ABORT; SELECT 1", want{undoThenRun: true}},
		{"SELECT 1; ROLLBACK TO s", want{}},
		{"BEGIN; SELECT 1; ROLLBACK", want{}},
		{"SELECT 1; COMMIT; SELECT 2", want{}},
		{"BEGIN; INSERT INTO t VALUES (1)", want{leavesTxOpen: true}},
		{"BEGIN; INSERT INTO t VALUES (1); COMMIT", want{}},
		{"BEGIN; SELECT 1; COMMIT; BEGIN; SELECT 2; COMMIT", want{}},
		{"SELECT 1; COMMIT AND CHAIN", want{leavesTxOpen: true}},
		{"BEGIN", want{}}, // one statement: the driver runs it on its own
		{"COPY t TO STDOUT", want{copyStdio: true}},
		{"COPY t FROM STDIN", want{copyStdio: true}},
		{"COPY (SELECT 1) TO STDOUT WITH (FORMAT csv)", want{copyStdio: true}},
		{"COPY t TO '/tmp/x'", want{}},
		{"COPY t TO PROGRAM 'cat'", want{}},
	} {
		a, err := analyze(tt.sql, "app.tenant_id")
		if err != nil {
			t.Fatalf("%q: %v", tt.sql, err)
		}
		got := want{a.LeadingSetTransaction, a.UndoThenRun, a.LeavesTxOpen, a.CopyStdio}
		if got != tt.want {
			t.Errorf("%q: %+v, want %+v", tt.sql, got, tt.want)
		}
	}
}
