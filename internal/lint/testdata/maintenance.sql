-- Maintenance scripts and one-off fixes: whole-table operations on
-- tenant-owned tables (TRUNCATE, COPY, LOCK), SQL PREPARE/EXECUTE, and the
-- session settings such scripts touch. Whole-table operations on global
-- tables and ordinary settings pass.

SET application_name = 'billing-maintenance';
SET LOCAL statement_timeout = '30s';
SET lock_timeout TO '5s';
SET TIME ZONE 'UTC';
SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL READ COMMITTED;
SET client_min_messages = warning;
SELECT set_config('statement_timeout', '5min', true);
SELECT set_config('application_name', 'billing-worker', false);

-- Global tables: whole-table operations are fine.
CREATE UNLOGGED TABLE IF NOT EXISTS import_countries (LIKE countries INCLUDING ALL);
COPY import_countries (code, name) FROM '/dev/null' WITH (FORMAT csv);
INSERT INTO countries (code, name) SELECT code, name FROM import_countries ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name;
TRUNCATE import_countries;
TRUNCATE TABLE billing.tax_rates RESTART IDENTITY;
DROP TABLE import_countries;
LOCK TABLE plans IN ACCESS SHARE MODE;
LOCK countries IN SHARE ROW EXCLUSIVE MODE NOWAIT;
COPY plans (id, name) TO STDOUT WITH (FORMAT csv, HEADER);
COPY (SELECT code FROM countries ORDER BY code) TO STDOUT;
PREPARE country_names AS SELECT name FROM countries ORDER BY name;
DEALLOCATE country_names;

-- Maintenance commands.
VACUUM (ANALYZE) invoices;
VACUUM customers, line_items;
ANALYZE audit.log;
REINDEX TABLE CONCURRENTLY invoices;
CLUSTER invoices USING invoices_pkey;
CHECKPOINT;
LISTEN invoices_changed;
NOTIFY invoices_changed, 't01';
SELECT pg_notify('invoices_changed', 't01');
UNLISTEN *;
CALL archive_paid_invoices('t01', now() - interval '1 year');
REFRESH MATERIALIZED VIEW CONCURRENTLY tenant_totals;

-- want: truncate
TRUNCATE invoices;

-- want: truncate
TRUNCATE audit.log;

-- want: truncate — with a global table in the list
TRUNCATE countries, customers;

-- want: truncate
TRUNCATE TABLE line_items, invoices RESTART IDENTITY CASCADE;

-- want: truncate
TRUNCATE ONLY events CONTINUE IDENTITY;

-- want: copy
COPY invoices TO STDOUT;

-- want: copy — a column list does not scope it
COPY public.customers (id, name, email) TO STDOUT WITH (FORMAT csv, HEADER);

-- want: copy — loading every tenant's rows from a file
COPY line_items (id, tenant_id, invoice_id, amount) FROM '/var/lib/import/line_items.csv' WITH (FORMAT csv);

-- want: copy
COPY audit.log TO '/tmp/audit.csv';

-- want: copy
COPY events (note) FROM PROGRAM 'cat /dev/null';

-- want: lock
LOCK TABLE customers;

-- want: lock
LOCK invoices, line_items IN EXCLUSIVE MODE;

-- want: lock
LOCK TABLE ONLY audit.log IN ACCESS EXCLUSIVE MODE NOWAIT;

-- want: lock — with a global table first
LOCK TABLE plans, events IN SHARE MODE;

-- want: unverifiable — PREPARE hides the arguments
PREPARE inv_by_tenant (text) AS SELECT * FROM invoices WHERE tenant_id = $1;

-- want: unverifiable
EXECUTE inv_by_tenant('t01');

-- want: unverifiable — SQL text run by a function
SELECT query_to_xml('SELECT * FROM customers', true, false, '');

-- want: unverifiable — a whole table by name
SELECT table_to_xml('invoices', true, false, '');

-- want: unverifiable — the search_path decides which tables names mean
SET search_path = audit, public;

-- want: unverifiable
SELECT pg_catalog.set_config('search_path', '', false);
