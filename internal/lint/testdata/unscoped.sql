-- Statements the guard must report: reads and writes of tenant-owned
-- tables without the tenant, in the disguises real code gives them.
-- (A few look-alikes that are scoped are mixed in; they must pass.)

-- want: unscoped
SELECT * FROM invoices;

-- want: unscoped
SELECT count(*) FROM customers WHERE email LIKE '%@example.com';

-- want: unscoped — the whole-table form
TABLE line_items;

-- want: unscoped — the tenant inside an OR
SELECT * FROM invoices WHERE tenant_id = $1 OR status = 'open';

-- want: unscoped — an OR with a parameter-controlled escape hatch
SELECT * FROM invoices WHERE tenant_id = $1 OR $2::boolean;

-- want: unscoped — the tenant compared with <>
SELECT * FROM customers WHERE tenant_id <> $1;

-- want: unscoped — LIKE is not an equality
SELECT * FROM customers WHERE tenant_id LIKE $1 || '%';

-- want: unscoped — a range is not an equality
SELECT * FROM invoices WHERE tenant_id BETWEEN $1 AND $2;

-- want: unscoped — a regular expression
SELECT * FROM invoices WHERE tenant_id ~ '^t0[0-9]$';

-- want: unscoped — an optional tenant filter
SELECT * FROM invoices WHERE ($1::text IS NULL OR tenant_id = $1);

-- want: unscoped — coalesce makes the filter optional
SELECT * FROM invoices WHERE tenant_id = coalesce($1, tenant_id);

-- want: unscoped — the tenant compared with itself
SELECT * FROM invoices WHERE tenant_id = tenant_id;

-- want: unscoped — the equality inside a CASE
SELECT * FROM invoices WHERE CASE WHEN $2::boolean THEN tenant_id = $1 ELSE true END;

-- want: unscoped — an aggregate FILTER still reads every row
SELECT count(*) FILTER (WHERE tenant_id = $1) FROM invoices;

-- want: unscoped — a report grouped by tenant reads every tenant
SELECT tenant_id, count(*), sum(total) FROM invoices GROUP BY tenant_id ORDER BY 3 DESC;

-- want: unscoped — partitioned by tenant, still every tenant
SELECT id, row_number() OVER (PARTITION BY tenant_id ORDER BY total DESC) FROM invoices;

-- want: unscoped — the view exposing the tenant, unfiltered
SELECT * FROM invoice_summary ORDER BY total DESC;

-- want: unscoped — a sub-select in the target list
SELECT c.name, (SELECT count(*) FROM invoices) AS all_invoices FROM customers c WHERE c.tenant_id = $1;

-- want: unscoped — a sub-select in WHERE
SELECT * FROM invoices WHERE tenant_id = $1 AND total > (SELECT avg(total) FROM invoices);

-- want: unscoped — a sub-select in ORDER BY
SELECT * FROM customers WHERE tenant_id = $1 ORDER BY (SELECT max(total) FROM invoices);

-- want: unscoped — a sub-select in LIMIT
SELECT * FROM invoices WHERE tenant_id = $1 LIMIT (SELECT count(*) FROM customers);

-- want: unscoped — NOT IN over every tenant's customers
SELECT * FROM customers WHERE tenant_id = $1 AND id NOT IN (SELECT customer_id FROM invoices WHERE customer_id IS NOT NULL);

-- want: unscoped — EXISTS correlated on the id only
SELECT * FROM customers c WHERE c.tenant_id = $1 AND EXISTS (SELECT 1 FROM invoices i WHERE i.customer_id = c.id);

-- want: unscoped — a CTE without the tenant
WITH totals AS (SELECT customer_id, sum(total) AS total FROM invoices GROUP BY customer_id)
SELECT c.name, t.total FROM customers c JOIN totals t ON t.customer_id = c.id WHERE c.tenant_id = $1;

-- want: unscoped — a second CTE without the tenant
WITH mine AS (SELECT id FROM invoices WHERE tenant_id = $1),
     items AS (SELECT invoice_id, amount FROM line_items)
SELECT m.id, sum(i.amount) FROM mine m JOIN items i ON i.invoice_id = m.id GROUP BY m.id;

-- want: unscoped — known false positive (false_positives.txtar filter-outside-cte): the filter outside does not scope the CTE
WITH x AS (SELECT * FROM invoices) SELECT * FROM x WHERE tenant_id = $1;

-- want: unscoped — known false positive (false_positives.txtar filter-outside-derived-table)
SELECT * FROM (SELECT * FROM invoices) i WHERE i.tenant_id = $1;

-- want: unscoped — the second UNION branch
SELECT id FROM invoices WHERE tenant_id = $1
UNION
SELECT id FROM invoices WHERE status = 'void';

-- want: unscoped — an EXCEPT branch comparing with <>
SELECT id FROM invoices WHERE tenant_id = $1
EXCEPT
SELECT id FROM invoices WHERE tenant_id <> $1;

-- want: unscoped — LEFT JOIN without the tenant in ON
SELECT i.id, li.amount FROM invoices i LEFT JOIN line_items li ON li.invoice_id = i.id WHERE i.tenant_id = $1;

-- want: unscoped — the preserved side scoped only in ON
SELECT i.id, c.name FROM invoices i LEFT JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id AND i.tenant_id = $1;

-- want: unscoped — a join on <> of the tenant
SELECT * FROM invoices a JOIN invoices b ON b.tenant_id <> a.tenant_id WHERE a.tenant_id = $1;

-- want: unscoped — a join whose ON is an OR
SELECT * FROM invoices a JOIN invoices b ON b.tenant_id = a.tenant_id OR b.id = a.id WHERE a.tenant_id = $1;

-- want: unscoped — both sides of a join, neither anchored
SELECT * FROM invoices i, customers c WHERE i.tenant_id = c.tenant_id AND c.id = i.customer_id;

-- want: unscoped — CROSS JOIN of a tenant table
SELECT p.name, i.id FROM plans p CROSS JOIN invoices i;

-- want: unscoped — a LATERAL sub-select without the tenant
SELECT * FROM invoices JOIN LATERAL (SELECT * FROM customers) c ON c.tenant_id = invoices.tenant_id WHERE invoices.tenant_id = $1;

-- want: unscoped — UPDATE without WHERE
UPDATE invoices SET status = 'void';

-- want: unscoped — UPDATE … FROM scoping the source only
UPDATE invoices i SET total = c.id FROM customers c WHERE c.tenant_id = $1 AND c.id = i.customer_id;

-- want: unscoped — UPDATE … FROM an unscoped aggregate
UPDATE invoices i SET total = s.amount
  FROM (SELECT invoice_id, sum(amount) AS amount FROM line_items GROUP BY invoice_id) s
 WHERE i.tenant_id = $1 AND i.id = s.invoice_id;

-- want: unscoped — the tenant in an OR of an UPDATE
UPDATE customers SET email = NULL WHERE tenant_id = $1 OR email = '';

-- want: unscoped — DELETE USING scoping the other table only
DELETE FROM line_items li USING invoices i WHERE i.tenant_id = $1 AND li.invoice_id = i.id;

-- want: unscoped — DELETE by id
DELETE FROM audit.log WHERE id = $1;

-- want: unscoped — DELETE with a tenant-or-orphan condition
DELETE FROM invoices WHERE tenant_id = $1 OR customer_id IS NULL;

-- want: unscoped — RETURNING reads every tenant
UPDATE invoices SET status = 'paid' WHERE tenant_id = $1 AND id = $2 RETURNING (SELECT count(*) FROM invoices);

-- want: unscoped — INSERT … SELECT from every tenant
INSERT INTO audit.log (id, tenant_id, msg) SELECT id, tenant_id, 'copied' FROM invoices;

-- want: unscoped — an upsert conflicting on id alone
INSERT INTO invoices (id, tenant_id, total) VALUES ($1, $2, $3) ON CONFLICT (id) DO UPDATE SET total = EXCLUDED.total;

-- want: unscoped — known false positive (false_positives.txtar on-conflict-on-constraint-tenant-key)
INSERT INTO invoices (id, tenant_id, total) VALUES ($1, $2, 5) ON CONFLICT ON CONSTRAINT invoices_tenant_id_id_key DO UPDATE SET total = EXCLUDED.total;

-- want: unscoped — MERGE whose target is scoped only inside an OR
MERGE INTO customers t USING (VALUES ($2::bigint, 'x')) AS s(id, name) ON (t.tenant_id = $1 OR t.id = s.id)
 WHEN MATCHED THEN UPDATE SET name = s.name;

-- want: unscoped — MERGE from every tenant's rows
MERGE INTO customers t USING customers s ON t.tenant_id = $1 AND t.id = s.id
 WHEN MATCHED THEN UPDATE SET name = s.name;

-- want: unscoped — EXPLAIN ANALYZE runs the unscoped statement
EXPLAIN ANALYZE DELETE FROM line_items WHERE amount = 0;

-- want: unscoped — COPY of an unscoped query
COPY (SELECT id, total FROM invoices) TO STDOUT WITH (FORMAT csv);

-- want: unscoped — CREATE TABLE AS copying every tenant
CREATE TEMP TABLE all_customers AS SELECT * FROM customers;

-- want: unscoped — SELECT INTO copying every tenant
SELECT * INTO TEMP TABLE everyone FROM audit.log;

-- want: unscoped — a materialized view over every tenant, populated at creation
CREATE MATERIALIZED VIEW tenant_totals_by_day AS SELECT tenant_id, sum(total) AS total FROM invoices GROUP BY tenant_id;

-- want: unscoped — known false positive (false_positives.txtar expression-of-the-setting)
SELECT * FROM invoices WHERE tenant_id = lower(current_setting('app.tenant_id'));

-- want: unscoped — another setting is not the tenant
SELECT * FROM invoices WHERE tenant_id = current_setting('app.user_id', true);

-- want: unscoped — the role name is not the tenant
SELECT * FROM customers WHERE tenant_id = current_user;

-- want: unscoped — a row comparison with <>
SELECT * FROM invoices WHERE (tenant_id, id) <> ($1, $2);

-- Look-alikes that are scoped (must pass):
SELECT * FROM invoices WHERE NOT (tenant_id <> $1);
SELECT * FROM invoices WHERE tenant_id IS NOT DISTINCT FROM $1 AND status = 'open';
SELECT * FROM invoices WHERE (tenant_id = $1 AND status = 'open') OR (tenant_id = $1 AND status = 'pending');
SELECT * FROM invoices WHERE tenant_id = $1 AND (status = 'open' OR customer_id IS NULL);
SELECT * FROM invoices WHERE tenant_id IN ($1);
SELECT * FROM invoices WHERE tenant_id = CAST($1 AS text) AND total >= 0;
SELECT * FROM invoices WHERE tenant_id = (SELECT current_setting('app.tenant_id'));
SELECT * FROM invoices WHERE "tenant_id" = $1;
SELECT * FROM INVOICES WHERE TENANT_ID = $1;
SELECT * FROM ONLY invoices WHERE tenant_id = $1;
SELECT * FROM invoices TABLESAMPLE SYSTEM (10) WHERE tenant_id = $1;
SELECT * FROM "public"."invoices" WHERE "tenant_id" = $1;
SELECT * FROM public.invoices WHERE public.invoices.tenant_id = $1;
SELECT DISTINCT ON (customer_id) customer_id, id, total FROM invoices WHERE tenant_id = $1 ORDER BY customer_id, id DESC;
SELECT * FROM invoices i RIGHT JOIN customers c ON c.id = i.customer_id AND i.tenant_id = c.tenant_id WHERE c.tenant_id = $1;
SELECT * FROM invoices i FULL JOIN customers c ON c.id = i.customer_id AND i.tenant_id = c.tenant_id WHERE c.tenant_id = $1 AND i.tenant_id = $1;
SELECT * FROM invoices i, customers c WHERE i.tenant_id = $1 AND c.tenant_id = i.tenant_id AND c.id = i.customer_id;

-- Hidden view: revenue is a view over invoices that hides tenant_id.

-- want: hidden_view
SELECT * FROM revenue;

-- want: hidden_view — filtering something else does not help
SELECT month, total FROM revenue WHERE total > 1000;

-- want: hidden_view — schema-qualified and quoted
SELECT * FROM public."revenue";

-- want: hidden_view — inside a CTE
WITH r AS (SELECT * FROM revenue) SELECT * FROM r ORDER BY month;

-- want: hidden_view — joined to a scoped table
SELECT i.id, r.total FROM invoices i JOIN revenue r ON true WHERE i.tenant_id = $1;

-- want: hidden_view — a scalar sub-select
SELECT (SELECT total FROM revenue LIMIT 1) AS latest;

-- want: hidden_view — as an INSERT source
INSERT INTO audit.log (id, tenant_id, msg) SELECT 1, $1, total::text FROM revenue;

-- want: hidden_view — exported
COPY (SELECT * FROM revenue) TO STDOUT;

-- want: hidden_view — EXPLAIN
EXPLAIN SELECT * FROM revenue;

-- want: hidden_view — a UNION branch
SELECT total FROM invoice_summary WHERE tenant_id = $1 UNION ALL SELECT total FROM revenue;
