-- Migration 001: tenancy foundations.
--
-- Runs against the schema of internal/guardcases (invoices, customers,
-- line_items, events, audit.log, countries, plans). Every statement here
-- must pass `pgx-tenant lint`: DDL is not a read of tenant rows, and the
-- policies only read the tenant setting.

SET statement_timeout = '5min';
SET lock_timeout = '10s';

-- A registry of tenants (global: it has no tenant_id column of its own).
CREATE TABLE IF NOT EXISTS tenants (
    id          text PRIMARY KEY CHECK (id <> '' AND length(id) <= 256),
    name        text NOT NULL,
    plan_id     bigint REFERENCES plans (id),
    country     text REFERENCES countries (code),
    created_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE tenants IS 'One row per tenant; global, not tenant-owned';

-- Composite keys so that foreign keys cannot cross tenants.
ALTER TABLE customers
    ADD CONSTRAINT customers_tenant_id_id_key UNIQUE (tenant_id, id);

ALTER TABLE invoices
    ADD CONSTRAINT invoices_customer_fk
    FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
    NOT VALID;

ALTER TABLE invoices VALIDATE CONSTRAINT invoices_customer_fk;

ALTER TABLE line_items
    ADD CONSTRAINT line_items_invoice_fk
    FOREIGN KEY (tenant_id, invoice_id) REFERENCES invoices (tenant_id, id)
    ON DELETE CASCADE;

/* Indexes lead with the tenant column: every query filters on it. */
CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_tenant_status_idx
    ON invoices (tenant_id, status);

CREATE INDEX CONCURRENTLY IF NOT EXISTS invoices_tenant_customer_idx
    ON invoices (tenant_id, customer_id) INCLUDE (total);

CREATE INDEX CONCURRENTLY line_items_tenant_invoice_idx
    ON line_items USING btree (tenant_id, invoice_id);

CREATE UNIQUE INDEX CONCURRENTLY customers_tenant_email_key
    ON customers (tenant_id, lower(email))
    WHERE email IS NOT NULL;

CREATE INDEX events_tenant_id_idx ON events (tenant_id, id DESC);

-- Row-level security: the backstop under the guard.
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE invoices FORCE ROW LEVEL SECURITY;
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE customers FORCE ROW LEVEL SECURITY;
ALTER TABLE line_items ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit.log ENABLE ROW LEVEL SECURITY;

CREATE POLICY tenant_isolation ON invoices
    AS PERMISSIVE FOR ALL TO PUBLIC
    USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')))
    WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')));

CREATE POLICY tenant_isolation ON customers
    USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')));

CREATE POLICY tenant_isolation ON line_items
    USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')))
    WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')));

CREATE POLICY tenant_isolation ON events
    FOR ALL
    USING (tenant_id = current_setting('app.tenant_id', true));

CREATE POLICY tenant_read ON audit.log FOR SELECT
    USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')));

CREATE POLICY tenant_append ON audit.log FOR INSERT
    WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')));

COMMENT ON POLICY tenant_isolation ON invoices IS
    'rows of the tenant bound by pgx-tenant (app.tenant_id)';

-- The tenant column defaults to the bound tenant, so INSERTs may omit it.
ALTER TABLE customers
    ALTER COLUMN tenant_id SET DEFAULT current_setting('app.tenant_id');

COMMENT ON COLUMN invoices.tenant_id IS 'tenant owning the row; see policy tenant_isolation';
COMMENT ON COLUMN customers.tenant_id IS 'defaults to current_setting(''app.tenant_id'')';

-- Privileges of the application role.
GRANT USAGE ON SCHEMA audit TO app_user;
GRANT SELECT, INSERT, UPDATE, DELETE ON invoices, customers, line_items, events TO app_user;
GRANT SELECT, INSERT ON audit.log TO app_user;
GRANT USAGE, SELECT ON SEQUENCE events_id_seq TO app_user;
GRANT SELECT ON countries, plans, tenants TO app_user, reporting;
REVOKE TRUNCATE ON invoices, customers, line_items, events FROM PUBLIC;
REVOKE ALL ON audit.log FROM PUBLIC;

ALTER DEFAULT PRIVILEGES IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app_user;

RESET statement_timeout;
RESET lock_timeout;
