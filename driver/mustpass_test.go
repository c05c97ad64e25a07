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
	})
}
