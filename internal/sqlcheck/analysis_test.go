package sqlcheck

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestTamper(t *testing.T) {
	tampers := []string{
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
	}
	z := NewAnalyzer("app.tenant_id", 0)
	for _, sql := range append(tampers,
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
	}
	for _, sql := range clean {
		a, err := analyze(sql, "app.tenant_id")
		if err != nil {
			t.Errorf("analyze(%q): %v", sql, err)
			continue
		}
		if a.Tamper != "" {
			t.Errorf("analyze(%q): false tamper %q", sql, a.Tamper)
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
	tests := []struct {
		sql                               string
		wantStmts                         int
		wantNoTx, wantTxControl, wantOpaq bool
	}{
		{"SELECT 1", 1, false, false, false},
		{"SELECT 1; SELECT 2", 2, false, false, false},
		{"VACUUM items", 1, true, false, false},
		{"ANALYZE items", 1, false, false, false},
		{"CREATE INDEX CONCURRENTLY i ON items (val)", 1, true, false, false},
		{"CREATE INDEX i ON items (val)", 1, false, false, false},
		{"DROP INDEX CONCURRENTLY i", 1, true, false, false},
		{"REINDEX (CONCURRENTLY) TABLE items", 1, true, false, false},
		{"REINDEX TABLE items", 1, false, false, false},
		{"CREATE DATABASE x", 1, true, false, false},
		{"CLUSTER", 1, true, false, false},
		{"CLUSTER items USING i", 1, false, false, false},
		{"ALTER TABLE p DETACH PARTITION c CONCURRENTLY", 1, true, false, false},
		{"COMMIT PREPARED 'x'", 1, true, true, false},
		{"BEGIN", 1, false, true, false},
		{"BEGIN; INSERT INTO t VALUES (1); COMMIT", 3, false, true, false},
		{"VACUUM a; VACUUM b", 2, false, false, false}, // the server refuses this anyway
		{"DO $$ BEGIN NULL; END $$", 1, false, false, true},
		{"CALL p()", 1, false, false, true},
	}
	for _, tt := range tests {
		a, err := analyze(tt.sql, "app.tenant_id")
		if err != nil {
			t.Errorf("analyze(%q): %v", tt.sql, err)
			continue
		}
		if a.Statements != tt.wantStmts || a.NoTxBlock != tt.wantNoTx || a.TxControl != tt.wantTxControl || a.Opaque != tt.wantOpaq {
			t.Errorf("analyze(%q) = %+v; want stmts=%d notx=%v txcontrol=%v opaque=%v",
				tt.sql, *a, tt.wantStmts, tt.wantNoTx, tt.wantTxControl, tt.wantOpaq)
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

// FuzzAnalyze checks that arbitrary input never crashes the parser or the
// walk, that failures are always ErrSyntax, and that a tamper found in a text
// is still found when other statements surround it.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SET ROLE x", "SELECT set_config('app.tenant_id','x',false)", "DO $$ $$", ";;"} {
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
		if a.Statements < 0 || (a.NoTxBlock && a.Statements != 1) {
			t.Fatalf("inconsistent analysis %+v", *a)
		}
		if a.Tamper != "" {
			b, err := analyze("SELECT 1;\n"+sql+"\n;SELECT 2", "app.tenant_id")
			if err == nil && b.Tamper == "" {
				t.Fatalf("tamper %q lost when surrounded by other statements", a.Tamper)
			}
		}
	})
}
