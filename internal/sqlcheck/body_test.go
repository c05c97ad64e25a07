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
		{do("BEGIN PERFORM set_config('app.tenant_id','b',false); END"), "DO block mentioning set_config"},
		{do("BEGIN PERFORM pg_catalog.set_config(v_name, 'b', false); END"), "mentioning set_config"},
		{do("BEGIN SET app . tenant_id = 'b'; END"), "mentioning app.tenant_id and SET/RESET"},
		{do(`BEGIN SET "app"."tenant_id" TO 'b'; END`), "mentioning app.tenant_id and SET/RESET"},
		{do("BEGIN SET LOCAL app.tenant_id = 'b'; END"), "app.tenant_id"},
		{do("BEGIN RESET app.tenant_id; END"), "app.tenant_id"},
		{do("BEGIN EXECUTE 'SET app.tenant_id = ''b'''; END"), "app.tenant_id"},
		{do("DECLARE k text := 'app.tenant_id'; BEGIN EXECUTE 'SET ' || k || ' = ''b'''; END"), "app.tenant_id"},
		{do("BEGIN EXECUTE 'SET ' || 'app.' || 'tenant_id' || ' = ''b'''; END"), "app.tenant_id"},
		{do("BEGIN UPDATE pg_settings SET setting = 'b' WHERE name = 'app.tenant_id'; END"), "UPDATE and pg_settings"},
		{fn("BEGIN PERFORM set_config('app.tenant_id', NEW.tenant_id, true); RETURN NEW; END"), "function body mentioning set_config"},
		{"CREATE PROCEDURE p() LANGUAGE sql AS $$ SELECT set_config('app.tenant_id', 'b', false) $$", "procedure body mentioning set_config"},
		// Identity.
		{do("BEGIN SET ROLE owner; END"), "SET ROLE"},
		{do("BEGIN SET SESSION ROLE owner; END"), "SET ROLE"},
		{do("BEGIN SET LOCAL ROLE owner; END"), "SET ROLE"},
		{do("BEGIN set role = 'owner'; END"), "SET ROLE"},
		{do("BEGIN EXECUTE 'SET ROLE ' || quote_ident(r); END"), "SET ROLE"},
		{do("BEGIN UPDATE t SET a = 1; SET ROLE owner; END"), "SET ROLE"},
		{do("BEGIN RAISE NOTICE 'switching.'; SET ROLE owner; END"), "SET ROLE"},
		{do("BEGIN RESET ROLE; END"), "RESET ROLE"},
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
		{do("BEGIN SET standard_conforming_strings = off; END"), "standard_conforming_strings and SET/RESET"},
		{do("BEGIN SET client_encoding TO 'SJIS'; END"), "client_encoding"},
		{do("BEGIN SET NAMES 'SJIS'; END"), "SET NAMES"},
		{do("BEGIN SET LOCAL NAMES 'SJIS'; END"), "SET NAMES"},
		{do("BEGIN RESET backslash_quote; END"), "backslash_quote"},
		// SQL run from text.
		{do("BEGIN PERFORM query_to_xml(q, true, true, ''); END"), "query_to_xml, which runs SQL text"},
		{do("BEGIN PERFORM dblink_exec('conn', 'SELECT 1'); END"), "dblink_exec"},
		{fn("BEGIN PERFORM public.dblink('dbname=x', 'SELECT 1'); RETURN NEW; END"), "dblink"},

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
