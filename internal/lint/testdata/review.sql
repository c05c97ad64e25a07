-- Found while drafting this corpus: DO blocks and rule actions were not
-- looked into, literals naming two tenants passed, and CREATE TABLE AS …
-- WITH NO DATA (a copy of a table's shape) was reported.

-- want: unverifiable
DO $$ BEGIN DELETE FROM invoices; END $$;
-- want: unverifiable
DO $$ BEGIN TRUNCATE invoices; END $$;
-- want: unverifiable
DO $$ BEGIN EXECUTE 'TRUNCATE invoices'; END $$;
-- want: unverifiable
DO $$ BEGIN INSERT INTO invoices (id, total) VALUES (1, 1); END $$;
-- want: hidden_view
DO $$ BEGIN PERFORM count(*) FROM revenue; END $$;
-- want: unverifiable
DO LANGUAGE plpgsql $$ BEGIN UPDATE customers SET email = NULL; END $$;
-- want: unverifiable
DO $$ DECLARE t text; BEGIN FOR t IN SELECT DISTINCT tenant_id FROM invoices LOOP RAISE NOTICE '%', t; END LOOP; END $$;
DO $$ BEGIN PERFORM count(*) FROM countries; END $$;
-- want: unverifiable
CREATE RULE r AS ON INSERT TO countries DO ALSO DELETE FROM invoices;
-- want: unverifiable
CREATE RULE r2 AS ON INSERT TO plans DO INSTEAD SELECT * FROM customers;
CREATE RULE r3 AS ON INSERT TO plans DO INSTEAD SELECT * FROM countries;
-- want: tenant_mismatch
UPDATE invoices SET tenant_id = 't02' WHERE tenant_id = 't01' AND id = 1;
-- want: tenant_mismatch
SELECT * FROM invoices WHERE tenant_id = 't01' OR tenant_id = 't02';
-- want: tenant_mismatch
SELECT * FROM invoices WHERE tenant_id = 't01' UNION ALL SELECT * FROM invoices WHERE tenant_id = 't02';
-- want: tenant_mismatch
DELETE FROM invoices WHERE tenant_id IN ('t01', 't02', 't03');
-- want: tenant_mismatch
INSERT INTO invoices (id, tenant_id) VALUES (1, 't01'), (2, 't02');
-- want: tenant_mismatch
INSERT INTO audit.log (id, tenant_id, msg) SELECT id, 't02', 'x' FROM invoices WHERE tenant_id = 't01';
-- want: tenant_mismatch
SELECT i.id FROM invoices i JOIN customers c ON c.tenant_id = 't02' AND c.id = i.customer_id WHERE i.tenant_id = 't01';
INSERT INTO invoices (id, tenant_id) VALUES (1, 't01'), (2, 't01');
CREATE TABLE inv_copy AS SELECT * FROM invoices WITH NO DATA;
CREATE TABLE inv_copy2 AS TABLE invoices WITH NO DATA;
-- want: unscoped
CREATE TABLE inv_copy3 AS SELECT * FROM invoices;
