package driver_test

import (
	"context"
	"testing"
)

// migration is what schema tools send through the driver: whole
// transactions in one text, RLS set-up, trigger functions that read the
// tenant setting, DO blocks with dynamic DDL, statements that refuse a
// transaction block. The checks that refuse SQL must let all of it through.
var migration = []string{
	`BEGIN;
	CREATE TABLE invoices (id bigserial PRIMARY KEY, tenant_id text NOT NULL, total numeric NOT NULL);
	ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
	ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
	CREATE POLICY tenant_isolation ON invoices
	  USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')))
	  WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')));
	COMMIT;`,
	`CREATE FUNCTION fill_tenant() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		NEW.tenant_id := current_setting('app.tenant_id', true);
		RETURN NEW;
	END $$`,
	`CREATE TRIGGER fill_tenant BEFORE INSERT ON invoices FOR EACH ROW EXECUTE FUNCTION fill_tenant()`,
	`ALTER TABLE invoices ADD COLUMN created_by text DEFAULT current_setting('app.tenant_id', true)`,
	`CREATE TABLE logs (tenant_id text NOT NULL, month int NOT NULL) PARTITION BY LIST (month)`,
	`DO $$ DECLARE m int; BEGIN
		FOR m IN 1..3 LOOP
			EXECUTE format('CREATE TABLE IF NOT EXISTS logs_%s PARTITION OF logs FOR VALUES IN (%s)', m, m);
		END LOOP;
	END $$`,
	`CREATE FUNCTION invoice_total(t text) RETURNS numeric LANGUAGE sql STABLE
	 SET search_path = public, pg_catalog AS 'SELECT sum(total) FROM invoices WHERE tenant_id = t'`,
	`CREATE INDEX CONCURRENTLY invoices_tenant ON invoices (tenant_id)`,
	`UPDATE invoices SET total = total WHERE false; COMMENT ON TABLE invoices IS 'set by tenant; role: billing'`,
	`BEGIN; SAVEPOINT before_grant; GRANT SELECT, INSERT ON invoices TO PUBLIC; RELEASE SAVEPOINT before_grant; COMMIT`,
	`GRANT USAGE ON SEQUENCE invoices_id_seq TO PUBLIC`,
	`ANALYZE invoices`,

	// What RLS migrations write: they read the setting, mention it, and
	// never write it.
	`CREATE EXTENSION IF NOT EXISTS citext`,
	`CREATE FUNCTION current_tenant() RETURNS text LANGUAGE sql STABLE AS
	 $$ SELECT NULLIF(current_setting('app.tenant_id', true), '') $$`,
	`CREATE FUNCTION set_tenant_id() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN
		NEW.tenant_id := current_setting('app.tenant_id');
		RETURN NEW;
	END $$`,
	`CREATE TABLE notes (id bigserial PRIMARY KEY, tenant_id text NOT NULL, body citext)`,
	`CREATE TRIGGER set_tenant_id BEFORE INSERT ON notes FOR EACH ROW EXECUTE FUNCTION set_tenant_id()`,
	`DO $$
	DECLARE t record;
	BEGIN
		FOR t IN SELECT c.relname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
		         WHERE a.attname = 'tenant_id' AND c.relkind IN ('r', 'p')
		           AND c.relnamespace = 'public'::regnamespace AND NOT a.attisdropped
		LOOP
			EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t.relname);
			EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t.relname);
			EXECUTE format('DROP POLICY IF EXISTS tenant_isolation ON %I', t.relname);
			EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (tenant_id = current_setting(''app.tenant_id'', true)) WITH CHECK (tenant_id = current_setting(''app.tenant_id'', true))', t.relname);
		END LOOP;
	END $$`,
	`DO $$ BEGIN
		IF current_setting('app.tenant_id', true) IS NOT NULL THEN
			RAISE NOTICE 'migrating with tenant %', current_setting('app.tenant_id', true);
		END IF;
	END $$`,
	`CREATE FUNCTION explain_roles() RETURNS text LANGUAGE plpgsql AS $$
	BEGIN
		-- The application never does SET ROLE or calls set_config.
		RETURN 'do not set role here; the driver owns app.tenant_id';
	END $$`,
	`CREATE VIEW my_notes WITH (security_invoker = true) AS
	 SELECT id, body FROM notes WHERE tenant_id = current_tenant()`,
	`GRANT SELECT, INSERT ON notes, my_notes TO PUBLIC`,
	`GRANT USAGE ON SEQUENCE notes_id_seq TO PUBLIC`,
	`GRANT EXECUTE ON FUNCTION current_tenant(), explain_roles() TO PUBLIC`,
}

// TestMigrationsPass runs a migration through the driver as the schema
// owner, in every scope and exec mode, then uses the result as the app role.
func TestMigrationsPass(t *testing.T) {
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		d := schema(t)
		owner := openDSN(t, withKeys(d.OwnerDSN, cfg.keys()...))
		for _, sql := range migration {
			if _, err := owner.ExecContext(context.Background(), sql); err != nil {
				t.Fatalf("%.60s…: %v", sql, err)
			}
		}
		db := openApp(t, d, cfg.keys()...)
		for _, i := range []int{1, 2, 1} {
			if _, err := db.ExecContext(ctxFor(i), "INSERT INTO invoices (total) VALUES (10)"); err != nil {
				t.Fatal(err)
			}
		}
		wantOnly(t, tenantsSeen(t, db, ctxFor(1), "SELECT tenant_id FROM invoices"), 1, 2)
		wantOnly(t, tenantsSeen(t, db, ctxFor(2), "SELECT created_by FROM invoices"), 2, 1)
		// The RLS set-up script and the tenant trigger took effect.
		for _, i := range []int{3, 4, 4} {
			if _, err := db.ExecContext(ctxFor(i), "INSERT INTO notes (body) VALUES ('n')"); err != nil {
				t.Fatal(err)
			}
		}
		wantOnly(t, tenantsSeen(t, db, ctxFor(4), "SELECT tenant_id FROM notes"), 4, 2)
		var n int
		if err := db.QueryRowContext(ctxFor(3), "SELECT count(*) FROM my_notes WHERE body = 'N'").Scan(&n); err != nil || n != 1 {
			t.Fatalf("my_notes for t03: %d rows, %v", n, err)
		}
		var s string
		if err := db.QueryRowContext(ctxFor(3), "SELECT explain_roles()").Scan(&s); err != nil {
			t.Fatal(err)
		}
	})
}
