-- Writes of the tenant setting and of the session's identity, which the
-- driver refuses in every mode, next to reads of the setting (which pass).

-- Reading the setting is fine.
SELECT current_setting('app.tenant_id', true) AS tenant;
SELECT NULLIF(current_setting('app.tenant_id', true), '') IS NOT NULL AS bound;
SHOW app.tenant_id;
SELECT 'SET ROLE admin' AS not_a_statement;
COMMENT ON TABLE invoices IS 'never SET app.tenant_id by hand; the driver binds it with set_config';

CREATE OR REPLACE FUNCTION require_tenant() RETURNS text
    LANGUAGE plpgsql STABLE
AS $$
DECLARE
    t text := NULLIF(current_setting('app.tenant_id', true), '');
BEGIN
    IF t IS NULL THEN
        RAISE EXCEPTION 'no tenant bound' USING ERRCODE = '42501';
    END IF;
    RETURN t;
END
$$;

DO $$
BEGIN
    RAISE NOTICE 'migrating as tenant %', coalesce(current_setting('app.tenant_id', true), '<none>');
END
$$;

-- Dynamic DDL that never names the setting.
DO $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.relname
               FROM pg_class c
              WHERE c.relkind = 'r'
                AND c.relnamespace = 'public'::regnamespace
                AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id')
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', r.relname);
    END LOOP;
END
$$;

CREATE FUNCTION null_column(t text, c text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE 'UPDATE ' || quote_ident(t) || ' SET ' || quote_ident(c) || ' = NULL WHERE false';
END
$$;

-- want: tamper
SELECT set_config('app.tenant_id', 't02', false);

-- want: tamper — switching tenants inside a transaction
SELECT set_config('app.tenant_id', $1, true);

-- want: tamper — hidden in a sub-select
SELECT * FROM invoices WHERE tenant_id = (SELECT set_config('app.tenant_id', 't02', true));

-- want: tamper — in FROM
SELECT * FROM set_config('app.tenant_id', 't02', true);

-- want: tamper — schema-qualified
SELECT pg_catalog.set_config('app.tenant_id', 't02', true);

-- want: tamper — setting names are case-insensitive
SELECT set_config('APP.TENANT_ID', 't02', false);

-- want: tamper — a computed setting name
SELECT set_config('app.' || 'tenant_id', 't02', false);

-- want: tamper
SET app.tenant_id = 't02';

-- want: tamper
SET LOCAL app.tenant_id TO 't02';

-- want: tamper — quoted parts
SET SESSION "app"."tenant_id" = 't02';

-- want: tamper
RESET app.tenant_id;

-- want: tamper
RESET ALL;

-- want: tamper
DISCARD ALL;

-- want: tamper
SET ROLE app_user;

-- want: tamper
SET LOCAL ROLE reporting;

-- want: tamper
RESET ROLE;

-- want: tamper
SET SESSION AUTHORIZATION app_user;

-- want: tamper
RESET SESSION AUTHORIZATION;

-- want: tamper
SELECT set_config('role', 'app_user', false);

-- want: tamper
UPDATE pg_settings SET setting = 't02' WHERE name = 'app.tenant_id';

-- want: tamper — a DO block writing the setting
DO $$
BEGIN
    PERFORM set_config('app.tenant_id', 't02', false);
END
$$;

-- want: tamper — the common "set_tenant" helper, refused when created through the driver
CREATE OR REPLACE FUNCTION set_tenant(t text) RETURNS void
    LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM set_config('app.tenant_id', t, false);
END
$$;

-- want: tamper — EXECUTE of a computed SET
CREATE FUNCTION switch_tenant(t text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format('SET app.tenant_id = %L', t);
END
$$;

-- want: tamper — a function running as another tenant
CREATE FUNCTION as_tenant_t02() RETURNS bigint LANGUAGE sql SET app.tenant_id = 't02'
AS $$ SELECT count(*) FROM invoices $$;

-- want: tamper
ALTER ROLE app_user SET app.tenant_id = 't01';

-- want: tamper
ALTER SYSTEM SET app.tenant_id = 't02';

-- want: tamper — a column default that writes the setting on every INSERT
ALTER TABLE invoices ALTER COLUMN status SET DEFAULT set_config('app.tenant_id', 't02', true);

-- want: tamper — a view that writes the setting when read
CREATE VIEW switch_to_t02 AS SELECT set_config('app.tenant_id', 't02', true) AS tenant;

-- want: tamper — how the server reads statement text
SET standard_conforming_strings = off;

-- want: tamper
SET NAMES 'LATIN1';

-- want: tamper — the driver's own prepared statements
DEALLOCATE ALL;
