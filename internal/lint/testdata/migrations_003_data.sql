-- Migration 003: data.
--
-- Reference data lives in global tables (countries, plans, tenants): writing
-- it needs no tenant. Backfills over every tenant's rows are deliberate and
-- carry lint's ignore comment with a reason. The comment sits inside the
-- statement, so it stays with the statement wherever it is cut (TestCorpus
-- lints each statement's text alone, without the comments before it).

INSERT INTO countries (code, name) VALUES
    ('DE', 'Germany'),
    ('FR', 'France'),
    ('NL', 'Netherlands'),
    ('US', 'United States')
ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name;

INSERT INTO plans (id, name)
VALUES (1, 'free'), (2, 'pro'), (3, 'enterprise')
ON CONFLICT (id) DO NOTHING;

UPDATE plans SET name = 'starter' WHERE id = 1;
DELETE FROM countries WHERE code = 'YU';

INSERT INTO tenants (id, name, plan_id, country)
SELECT 't01', 'Acme', p.id, 'DE' FROM plans p WHERE p.name = 'pro'
ON CONFLICT (id) DO NOTHING;

INSERT INTO tenants (id, name, plan_id, country) VALUES
    ('t02', 'Globex', 3, 'US'),
    ('t03', 'Initech', NULL, 'FR')
ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, plan_id = EXCLUDED.plan_id;

UPDATE tenants t
   SET plan_id = p.id
  FROM plans p
 WHERE p.name = 'free'
   AND t.plan_id IS NULL;

SELECT setval('invoice_number_seq', 6000, false);

-- Backfills over every tenant, on purpose.
UPDATE invoices
   -- pgx-tenant:ignore backfill of the new default; runs as the owner over every tenant
   SET status = 'open'
 WHERE status IS NULL;

UPDATE line_items /* pgx-tenant:ignore: normalise amounts for every tenant (ticket BILL-112) */
   SET amount = round(amount, 2)
 WHERE amount <> round(amount, 2);

DELETE FROM events
 -- pgx-tenant:ignore retention: events older than 90 days, all tenants
 WHERE id < 1000;

INSERT INTO audit.log (tenant_id, msg)
-- pgx-tenant:ignore one audit row per tenant that has invoices, written by the migration
SELECT DISTINCT tenant_id, 'migration 003 applied' FROM invoices;

-- Per-tenant data fixes name the tenant.
UPDATE invoices SET total = 0 WHERE tenant_id = 't01' AND total < 0;
DELETE FROM line_items WHERE tenant_id = 't01' AND invoice_id NOT IN (
    SELECT id FROM invoices WHERE tenant_id = 't01'
);
INSERT INTO customers (id, tenant_id, name, email)
VALUES (9001, 't01', 'Walk-in customer', NULL)
ON CONFLICT (id) DO NOTHING;

INSERT INTO events (note) VALUES ('migration 003 applied');

-- Copy reference data in and out (global tables only).
COPY countries (code, name) TO STDOUT WITH (FORMAT csv, HEADER true);
COPY (SELECT id, total FROM invoices WHERE tenant_id = 't01' ORDER BY id) TO STDOUT WITH (FORMAT csv);

ANALYZE invoices;
ANALYZE customers, line_items;
