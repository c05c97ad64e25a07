package sqlcheck

import (
	"reflect"
	"strings"
	"testing"
)

func TestBodyWords(t *testing.T) {
	w := func(s string, dotted bool) bodyWord { return bodyWord{w: s, dotted: dotted} }
	for _, tt := range []struct {
		src  string
		want []bodyWord
	}{
		{"SET app.tenant_id", []bodyWord{w("set", false), w("app", false), w("tenant_id", true)}},
		{"SET app . tenant_id", []bodyWord{w("set", false), w("app", false), w("tenant_id", true)}},
		{`SET "App"."Tenant_Id"`, []bodyWord{w("set", false), w("app", false), w("tenant_id", true)}},
		{"'app.' || 'tenant_id'", []bodyWord{w("app", false), w("tenant_id", true)}},
		{"-- done.\nSET ROLE x", []bodyWord{w("done", false), w("set", true), w("role", false), w("x", false)}},
		{"f(x)::int/*c*/$1", []bodyWord{w("f", false), w("x", false), w("int", false), w("c", false), w("$1", false)}},
		{".a", []bodyWord{w("a", false)}},
		{"", nil},
	} {
		if got := bodyWords(tt.src); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("bodyWords(%q) = %v, want %v", tt.src, got, tt.want)
		}
	}
}

// TestBodies checks DO blocks and function bodies, which the parser cannot
// see into: writes are refused, reads and ordinary migrations pass.
func TestBodies(t *testing.T) {
	do := func(body string) string { return "DO $body$" + body + "$body$" }
	fn := func(body string) string {
		return "CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $body$" + body + "$body$"
	}
	tests := []struct {
		sql        string
		wantTamper string // substring of the reason; "" means clean
	}{
		// Writes of the tenant setting, however spelled.
		{do("BEGIN PERFORM set_config('app.tenant_id','b',false); END"), "DO block: set_config of app.tenant_id"},
		{do("BEGIN PERFORM pg_catalog.set_config(v_name, 'b', false); END"), "set_config with a setting name that is not a constant"},
		{do("BEGIN SET app . tenant_id = 'b'; END"), "DO block: SET/RESET of app.tenant_id"},
		{do(`BEGIN SET "app"."tenant_id" TO 'b'; END`), "SET/RESET of app.tenant_id"},
		{do("BEGIN SET LOCAL app.tenant_id = 'b'; END"), "app.tenant_id"},
		{do("BEGIN RESET app.tenant_id; END"), "app.tenant_id"},
		{do("BEGIN EXECUTE 'SET app.tenant_id = ''b'''; END"), "app.tenant_id"},
		{do("DECLARE k text := 'app.tenant_id'; BEGIN EXECUTE 'SET ' || k || ' = ''b'''; END"), "SETs or RESETs a setting named at run time"},
		{do("BEGIN EXECUTE 'SET ' || 'app.' || 'tenant_id' || ' = ''b'''; END"), "SET/RESET of app.tenant_id"},
		{do("BEGIN UPDATE pg_settings SET setting = 'b' WHERE name = 'app.tenant_id'; END"), "UPDATE of pg_settings"},
		{fn("BEGIN PERFORM set_config('app.tenant_id', NEW.tenant_id, true); RETURN NEW; END"), "function body: set_config of app.tenant_id"},
		{"CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT set_config('app.tenant_id', 'b', false) $$", "procedure body: set_config of app.tenant_id"},
		// Identity.
		{do("BEGIN SET ROLE owner; END"), "SET ROLE"},
		{do("BEGIN SET SESSION ROLE owner; END"), "SET ROLE"},
		{do("BEGIN SET LOCAL ROLE owner; END"), "SET ROLE"},
		{do("BEGIN set role = 'owner'; END"), "SET ROLE"},
		{do("BEGIN EXECUTE 'SET ROLE ' || quote_ident(r); END"), "SET ROLE"},
		{do("BEGIN UPDATE t SET a = 1; SET ROLE owner; END"), "SET ROLE"},
		{do("BEGIN RAISE NOTICE 'switching.'; SET ROLE owner; END"), "SET ROLE"},
		{do("BEGIN RESET ROLE; END"), "SET ROLE"},
		{do("BEGIN SET SESSION AUTHORIZATION owner; END"), "SESSION AUTHORIZATION"},
		{do("BEGIN SET LOCAL SESSION AUTHORIZATION owner; END"), "SESSION AUTHORIZATION"},
		{do("BEGIN RESET SESSION AUTHORIZATION; END"), "SESSION AUTHORIZATION"},
		{do("BEGIN RESET ALL; END"), "RESET ALL"},
		{do("BEGIN DISCARD PLANS; END"), "DISCARD"},
		// The driver's statements.
		{do("BEGIN EXECUTE 'DEALLOCATE pgxtenant_set_local'; END"), "DEALLOCATE"},
		{do("BEGIN EXECUTE 'DEALLOCATE ALL'; END"), "DEALLOCATE"},
		{do("BEGIN EXECUTE 'EXECUTE pgxtenant_set_local(''app.tenant_id'', ''b'')'; END"), "pgxtenant_"},
		{do("BEGIN EXECUTE 'PREPARE PgxTenant_Set_Local AS SELECT 1'; END"), "pgxtenant_"},
		// How the server reads text.
		{do("BEGIN SET standard_conforming_strings = off; END"), "SET/RESET of standard_conforming_strings"},
		{do("BEGIN SET client_encoding TO 'SJIS'; END"), "client_encoding"},
		{do("BEGIN SET NAMES 'SJIS'; END"), "SET/RESET of client_encoding"},
		{do("BEGIN SET LOCAL NAMES 'SJIS'; END"), "SET/RESET of client_encoding"},
		{do("BEGIN RESET backslash_quote; END"), "backslash_quote"},
		// SQL run from text.
		{do("BEGIN PERFORM query_to_xml(q, true, true, ''); END"), "SQL passed to query_to_xml is not a constant"},
		{do("BEGIN PERFORM dblink_exec('conn', 'SELECT set_config(''app.tenant_id'', ''b'', false)'); END"), "dblink_exec"},
		{fn("BEGIN PERFORM public.dblink('dbname=x', q); RETURN NEW; END"), "dblink"},

		// Writes hidden in every PL/pgSQL form.
		{do("BEGIN IF true THEN PERFORM set_config('app.tenant_id', 'b', false); END IF; END"), "DO block: set_config of app.tenant_id"},
		{do("DECLARE x text; BEGIN x := set_config('app.tenant_id', 'b', false); END"), "set_config of app.tenant_id"},
		{do("DECLARE x text := set_config('app.tenant_id', 'b', false); BEGIN NULL; END"), "set_config of app.tenant_id"},
		{do("DECLARE x text; BEGIN SELECT set_config('app.tenant_id', 'b', false) INTO x; END"), "set_config of app.tenant_id"},
		{do("BEGIN BEGIN BEGIN SET ROLE owner; END; END; END"), "SET ROLE"},
		{do("BEGIN PERFORM 1/0; EXCEPTION WHEN division_by_zero THEN SET app.tenant_id = 'b'; END"), "SET/RESET of app.tenant_id"},
		{do("BEGIN FOR i IN 1..2 LOOP RESET app.tenant_id; END LOOP; END"), "SET/RESET of app.tenant_id"},
		{do("BEGIN WHILE false LOOP DISCARD ALL; END LOOP; END"), "DISCARD"},
		{do("BEGIN CASE WHEN true THEN EXECUTE 'SET LOCAL app.tenant_id = ''b'''; END CASE; END"), "SET/RESET of app.tenant_id in SQL run by EXECUTE"},
		{do("DECLARE r record; BEGIN FOR r IN EXECUTE 'SELECT set_config(''app.tenant_id'', ''b'', false)' LOOP END LOOP; END"), "in SQL run by EXECUTE"},
		{"CREATE FUNCTION q(x text) RETURNS SETOF text LANGUAGE plpgsql AS $$ BEGIN RETURN QUERY EXECUTE 'SELECT set_config(''app.tenant_id'', $1, false)' USING x; END $$", "in SQL run by EXECUTE"},
		// pg_query's PL/pgSQL parser does not know refcursor variables: the
		// words decide.
		{do("DECLARE c refcursor; BEGIN OPEN c FOR EXECUTE 'SELECT set_config(''app.tenant_id'', ''b'', false)'; END"), "DO block mentioning set_config"},
		{do("BEGIN EXECUTE 'DO $x$ BEGIN SET ROLE owner; END $x$'; END"), "SET ROLE"},
		{do("BEGIN EXECUTE format('SET %s = %L', 'app.tenant_id', 'b'); END"), "SETs or RESETs a setting named at run time"},
		{do("BEGIN EXECUTE format('SELECT %I(%L, %L, false)', 'set_config', 'app.tenant_id', 'b'); END"), "mentioning set_config"},
		{do("DECLARE q text := 'SET ROLE owner'; BEGIN EXECUTE q; END"), "SET ROLE"},
		{do("BEGIN EXECUTE 'RESET ' || quote_ident(n); END"), "named at run time"},
		{do("BEGIN EXECUTE 'select ' || 'pg_catalog.set_config(''app.tenant_id'', ''b'', false)'; END"), "set_config"},
		{do("BEGIN EXECUTE 'CREATE FUNCTION g() RETURNS void LANGUAGE sql AS ''SELECT set_config(''''app.tenant_id'''', ''''b'''', false)'''; END"), "set_config of app.tenant_id"},
		{do("BEGIN CALL p(set_config('app.tenant_id', 'b', false)); END"), "set_config of app.tenant_id"},
		{do("BEGIN RAISE NOTICE '%', set_config('app.tenant_id', 'b', false); END"), "set_config of app.tenant_id"},
		{do("BEGIN ASSERT set_config('app.tenant_id', 'b', false) = 'b'; END"), "set_config of app.tenant_id"},
		{"CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT 1; SELECT set_config('app.tenant_id', 'b', false) $$", "function body: set_config of app.tenant_id"},
		{"CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SET ROLE owner $$", "SET ROLE"},
		{"CREATE FUNCTION f() RETURNS void LANGUAGE sql AS $$ SELECT query_to_xml('SELECT set_config(''app.tenant_id'', ''b'', false)', true, true, '') $$", "query_to_xml"},
		{"CREATE FUNCTION f() RETURNS text LANGUAGE sql SET app.tenant_id = 'b' AS $$ SELECT 'x' $$", "SET/RESET of app.tenant_id"},
		{"ALTER FUNCTION f() SET app.tenant_id = 'b'", "SET/RESET of app.tenant_id"},
		{"ALTER ROLE app SET app.tenant_id = 'b'", "SET/RESET of app.tenant_id"},
		{"ALTER DATABASE d SET role = 'owner'", "SET ROLE"},
		// Other languages: the words, on write forms.
		{`CREATE FUNCTION f() RETURNS void LANGUAGE plpython3u AS $$ plpy.execute("SELECT set_config('app.tenant_id', 'b', false)") $$`, "mentioning set_config"},
		{"CREATE FUNCTION f() RETURNS void LANGUAGE plperl AS $$ spi_exec_query('SET ROLE owner'); $$", "SET ROLE"},
		{"DO LANGUAGE plpython3u $$ plpy.execute('SET app.tenant_id = 1') $$", "app.tenant_id and SET/RESET"},
		// PL/pgSQL the parser cannot read falls back to the words.
		{do("BEGIN SET ROLE owner; NOT VALID PLPGSQL"), "SET ROLE"},

		// Found by review: what the parse alone missed.
		{do("DECLARE a int[] := '{0}'; BEGIN a[length(set_config('app.tenant_id','evil',false))] := 1; END"), "set_config"},
		{do("DECLARE a int[] := '{0}'; BEGIN a[length(':= 1 --')] := set_config('app.tenant_id','evil',false); END"), "set_config"},
		{do("DECLARE r RECORD:= ROW(set_config('app.tenant_id','evil',false)); BEGIN NULL; END"), "set_config"},
		{do("DECLARE n text := 'app.tenant_id'; BEGIN EXECUTE format('SET %1$s = %2$L', n, 'evil'); END"), "named at run time"},
		{do("DECLARE n text := 'app.tenant_id'; BEGIN EXECUTE format('SET %10s = %L', n, 'evil'); END"), "named at run time"},
		{do("BEGIN EXECUTE 'SET app.' || 'tenant_id = ''t02'''; END"), "app.tenant_id"},
		{do("BEGIN BEGIN RAISE EXCEPTION 'SET ROLE admin'; EXCEPTION WHEN OTHERS THEN EXECUTE SQLERRM; END; END"), "SET ROLE"},
		{do("BEGIN /*@@SET ROLE admin@@*/ EXECUTE substring(current_query() from '@@([^@]+)@@'); END"), "SET ROLE"},
		{do(`BEGIN PERFORM "SET ROLE admin"; EXCEPTION WHEN OTHERS THEN EXECUTE substring(SQLERRM from '"(.*)"'); END`), "SET ROLE"},
		{`DO LANGUAGE "PLpgSQL" $$ BEGIN PERFORM set_config('app.tenant_id', 'b', false); END $$`, "set_config"},
		// …and what it must still let through.
		{"CREATE FUNCTION null_column(t text, c text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN EXECUTE 'UPDATE ' || quote_ident(t) || ' SET ' || quote_ident(c) || ' = NULL'; END $$", ""},
		{do("DECLARE t text := 'items'; BEGIN EXECUTE format('ALTER TABLE %I SET (fillfactor = 90)', t); EXECUTE 'UPDATE ' || t || ' AS x SET ' || 'deleted_at = now()'; END"), ""},
		// Reads and mentions: never tampering.
		{"CREATE FUNCTION current_tenant() RETURNS text LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '') $$", ""},
		{"CREATE FUNCTION fill_tenant() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.tenant_id := current_setting('app.tenant_id'); RETURN NEW; END $$", ""},
		{do("BEGIN RAISE NOTICE 'tenant is %', current_setting('app.tenant_id', true); END"), ""},
		{do("DECLARE t text := current_setting('app.tenant_id', true); BEGIN IF t IS NULL THEN RAISE EXCEPTION 'no tenant'; END IF; END"), ""},
		{"CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'please do not set role here' $$", ""},
		{"CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$ DECLARE r text; BEGIN r := 'set_config is never called; SET ROLE neither'; RETURN r; END $$", ""},
		{"CREATE FUNCTION f() RETURNS text LANGUAGE plpgsql AS $$ BEGIN -- we never SET ROLE or call set_config here\n RETURN 'x'; END $$", ""},
		{"CREATE FUNCTION f() RETURNS text LANGUAGE sql AS $$ SELECT 'app.tenant_id: SET it with set_config' $$", ""},
		{do("BEGIN EXECUTE 'SELECT current_setting(''app.tenant_id'')'; END"), ""},
		{do("BEGIN EXECUTE format('SET LOCAL search_path TO %I', 'app'); EXECUTE format('CREATE POLICY p ON %I USING (tenant_id = current_setting(''app.tenant_id'', true))', 't'); END"), ""},
		{do("BEGIN PERFORM dblink_exec('conn', 'SELECT 1'); END"), ""},
		{`CREATE FUNCTION f() RETURNS void LANGUAGE plpython3u AS $$ plpy.notice(plpy.execute("SELECT current_setting('app.tenant_id')")) $$`, ""},
		{"CREATE FUNCTION f(a int) RETURNS int LANGUAGE c AS 'lib', 'f'", ""},

		// Reads, and ordinary migrations and triggers.
		{fn("BEGIN NEW.tenant_id := current_setting('app.tenant_id', true); RETURN NEW; END"), ""},
		{fn("BEGIN IF NEW.tenant_id IS DISTINCT FROM NULLIF(current_setting('app.tenant_id', true), '') THEN RAISE EXCEPTION 'tenant'; END IF; RETURN NEW; END"), ""},
		{fn("BEGIN UPDATE members SET role = 'member' WHERE id = NEW.id; RETURN NEW; END"), ""},
		{fn("BEGIN UPDATE public.members m SET role = NEW.role WHERE m.id = NEW.id; RETURN NEW; END"), ""},
		{fn("BEGIN UPDATE ONLY members AS m SET role = NEW.role; RETURN NEW; END"), ""},
		{fn("BEGIN INSERT INTO members VALUES (NEW.id, 'x') ON CONFLICT (id) DO UPDATE SET role = EXCLUDED.role; RETURN NEW; END"), ""},
		{fn("BEGIN UPDATE audit SET tenant_id = current_setting('app.tenant_id', true) WHERE id = NEW.id; RETURN NEW; END"), ""},
		{do(`DECLARE m date := date_trunc('month', now());
BEGIN
  EXECUTE format('CREATE TABLE IF NOT EXISTS %I PARTITION OF events FOR VALUES FROM (%L) TO (%L)',
                 'events_' || to_char(m, 'YYYYMM'), m, m + interval '1 month');
END`), ""},
		{do(`DECLARE r record;
BEGIN
  FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
    EXECUTE format('ALTER TABLE %I ALTER COLUMN tenant_id SET DEFAULT current_setting(''app.tenant_id'')', r.tablename);
    EXECUTE format('ALTER TABLE %I ALTER COLUMN tenant_id SET NOT NULL', r.tablename);
    EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', r.tablename);
    EXECUTE format('CREATE POLICY tenant ON %I USING (tenant_id = (SELECT NULLIF(current_setting(''app.tenant_id'', true), '''')))', r.tablename);
  END LOOP;
END`), ""},
		{do("BEGIN ALTER TABLE items ADD CONSTRAINT fk FOREIGN KEY (o) REFERENCES owners ON DELETE SET NULL; END"), ""},
		{do("BEGIN RAISE NOTICE 'role: %, encoding: %', current_user, current_setting('client_encoding'); END"), ""},
		{do("BEGIN PERFORM 1 FROM pg_settings WHERE name = 'work_mem'; END"), ""},
		{do("BEGIN SET LOCAL statement_timeout = '5min'; END"), ""},
		{do("BEGIN SET CONSTRAINTS ALL DEFERRED; PERFORM current_setting('app.tenant_id'); END"), ""},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET search_path = pg_catalog, public AS 'SELECT 1'", ""},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql SET work_mem = '64MB' AS 'SELECT 1'", ""},
		{"CREATE FUNCTION tenant() RETURNS text LANGUAGE sql STABLE AS $$ SELECT NULLIF(current_setting('app.tenant_id', true), '') $$", ""},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END", ""},
		{"CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT length(set_config('app.tenant_id', 'b', false)); END", "set_config of app.tenant_id"},
	}
	for _, tt := range tests {
		a, err := NewAnalyzer("app.tenant_id", 0).Analyze(tt.sql)
		if err != nil {
			t.Errorf("Analyze(%q): %v", tt.sql, err)
			continue
		}
		switch {
		case tt.wantTamper == "" && a.Tamper != "":
			t.Errorf("Analyze(%q): false tamper %q", tt.sql, a.Tamper)
		case tt.wantTamper != "" && !strings.Contains(a.Tamper, tt.wantTamper):
			t.Errorf("Analyze(%q): tamper %q, want %q", tt.sql, a.Tamper, tt.wantTamper)
		}
	}
}
