-- Reports: per-tenant dashboards (scoped by the setting or a parameter) and
-- operator reports over global tables and the catalogs.

-- Dashboard: this month's numbers for the bound tenant.
WITH open_invoices AS (
    SELECT id, customer_id, total
      FROM invoices
     WHERE tenant_id = current_setting('app.tenant_id')
       AND status = 'open'
),
paid AS (
    SELECT id, total
      FROM invoices
     WHERE tenant_id = current_setting('app.tenant_id')
       AND status = 'paid'
)
SELECT (SELECT count(*) FROM open_invoices) AS open_count,
       (SELECT coalesce(sum(total), 0) FROM open_invoices) AS outstanding,
       (SELECT coalesce(sum(total), 0) FROM paid) AS collected;

-- Top customers by revenue, ranked with window functions.
SELECT customer_id,
       name,
       revenue,
       rank() OVER (ORDER BY revenue DESC) AS rnk,
       round(100 * revenue / sum(revenue) OVER (), 2) AS pct
  FROM (
        SELECT c.id AS customer_id, c.name, sum(i.total) AS revenue
          FROM customers c
          JOIN invoices i ON i.tenant_id = c.tenant_id AND i.customer_id = c.id
         WHERE c.tenant_id = $1
         GROUP BY c.id, c.name
  ) per_customer
 ORDER BY rnk
 LIMIT 10;

-- Running total per customer.
SELECT id, customer_id, total,
       sum(total) OVER (PARTITION BY customer_id ORDER BY id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS running
  FROM invoices
 WHERE tenant_id = $1
 ORDER BY customer_id, id;

-- A named window.
SELECT id, total, rank() OVER w AS rnk, lag(total) OVER w AS previous
  FROM invoices
 WHERE tenant_id = $1
WINDOW w AS (ORDER BY total DESC);

-- Status breakdown with totals (GROUPING SETS / ROLLUP).
SELECT status, count(*) AS n, sum(total) AS total
  FROM invoices
 WHERE tenant_id = $1
 GROUP BY GROUPING SETS ((status), ());

SELECT i.status, count(*) FILTER (WHERE i.total > 100) AS large
  FROM invoices i
 WHERE i.tenant_id = $1
 GROUP BY ROLLUP (i.status);

-- Median and percentiles.
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY total) AS median,
       percentile_disc(ARRAY[0.9, 0.99]) WITHIN GROUP (ORDER BY total) AS tail
  FROM invoices
 WHERE tenant_id = $1;

-- Months without invoices show as zero (generate_series is not a table).
SELECT g::date AS month, count(i.id) AS invoices
  FROM generate_series(date '2024-01-01', date '2024-12-01', interval '1 month') AS g
  LEFT JOIN invoices i ON i.tenant_id = $1 AND i.id = extract(month FROM g)::bigint
 GROUP BY g
 ORDER BY g;

-- The view exposing the tenant, filtered on it.
SELECT n, total FROM invoice_summary WHERE tenant_id = $1;
SELECT s.n, s.total FROM invoice_summary s WHERE s.tenant_id = current_setting('app.tenant_id', true);

-- The view joined to its table on the tenant.
SELECT s.n, i.id
  FROM invoice_summary s
  JOIN invoices i ON i.tenant_id = s.tenant_id
 WHERE s.tenant_id = $1
   AND i.total > s.total / greatest(s.n, 1);

-- JSON for the dashboard API.
SELECT json_build_object(
           'invoice', i.id,
           'total', i.total,
           'items', (SELECT coalesce(jsonb_agg(jsonb_build_object('id', li.id, 'amount', li.amount) ORDER BY li.id), '[]'::jsonb)
                       FROM line_items li
                      WHERE li.tenant_id = i.tenant_id AND li.invoice_id = i.id))
  FROM invoices i
 WHERE i.tenant_id = $1 AND i.id = $2;

SELECT i.id, array(SELECT li.id FROM line_items li WHERE li.tenant_id = $1 AND li.invoice_id = i.id ORDER BY li.id) AS items
  FROM invoices i
 WHERE i.tenant_id = $1;

-- Three-way join, every table scoped through the first.
SELECT i.id, c.name, li.amount
  FROM invoices i
  JOIN line_items li ON li.tenant_id = i.tenant_id AND li.invoice_id = i.id
  JOIN customers c   ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
 WHERE i.tenant_id = $1;

-- JOIN … USING (tenant_id), the merged column filtered.
SELECT li.id, li.amount, i.status
  FROM line_items li
  JOIN invoices i USING (tenant_id)
 WHERE tenant_id = $1
   AND i.id = li.invoice_id;

-- Scoped set operations.
SELECT id, 'invoice' AS kind FROM invoices WHERE tenant_id = $1
UNION ALL
SELECT id, 'customer' FROM customers WHERE tenant_id = $1
ORDER BY id
LIMIT 100;

SELECT customer_id FROM invoices WHERE tenant_id = $1 AND status = 'open'
INTERSECT
SELECT id FROM customers WHERE tenant_id = $1 AND email IS NOT NULL;

SELECT id FROM customers WHERE tenant_id = $1
EXCEPT
SELECT customer_id FROM invoices WHERE tenant_id = $1;

-- A recursive CTE over a generator, with a scoped scalar sub-select.
WITH RECURSIVE d(n) AS (
    SELECT 1
    UNION ALL
    SELECT n + 1 FROM d WHERE n < 12
)
SELECT d.n, (SELECT count(*) FROM invoices WHERE tenant_id = $1 AND id % 12 = d.n - 1) AS invoices
  FROM d;

-- The audit trail of one tenant.
SELECT l.id, l.msg FROM audit.log AS l
 WHERE l.tenant_id = $1 AND l.msg LIKE 'invoice %'
 ORDER BY l.id DESC
 FETCH FIRST 100 ROWS ONLY;

-- EXPLAIN of scoped queries (also ANALYZE of a scoped write, in a transaction).
EXPLAIN SELECT * FROM invoices WHERE tenant_id = 't01' AND status = 'open';
EXPLAIN (COSTS OFF, FORMAT JSON)
SELECT c.name FROM customers c
  JOIN invoices i ON i.tenant_id = c.tenant_id AND i.customer_id = c.id
 WHERE c.tenant_id = current_setting('app.tenant_id');
EXPLAIN (ANALYZE, BUFFERS) UPDATE invoices SET status = 'open' WHERE tenant_id = 't01' AND status IS NULL;

-- Exports of one tenant.
COPY (SELECT id, customer_id, total, status FROM invoices WHERE tenant_id = 't01' ORDER BY id) TO STDOUT WITH (FORMAT csv, HEADER);
COPY (SELECT * FROM line_items WHERE tenant_id = current_setting('app.tenant_id')) TO STDOUT;
CREATE TEMP TABLE my_invoices AS SELECT * FROM invoices WHERE tenant_id = 't01';
SELECT id, total INTO TEMP TABLE my_totals FROM invoices WHERE tenant_id = current_setting('app.tenant_id');

-- Operator reports: global tables.
SELECT code, name FROM countries WHERE name ILIKE 'g%' ORDER BY name;
SELECT p.name, count(*) AS countries FROM plans p CROSS JOIN countries c GROUP BY p.name ORDER BY p.name;
SELECT c.code FROM countries c WHERE NOT EXISTS (SELECT 1 FROM plans p WHERE p.name = c.name);
SELECT v.n, c.name FROM (VALUES (1, 'DE'), (2, 'FR')) AS v(n, code) JOIN countries c USING (code);
TABLE plans;
VALUES (1, 'one'), (2, 'two');
COPY countries TO STDOUT WITH (FORMAT csv);
LOCK TABLE plans IN SHARE MODE;

-- Operator reports: the catalogs.
SELECT relname, relrowsecurity, relforcerowsecurity
  FROM pg_class
 WHERE oid IN ('invoices'::regclass, 'customers'::regclass, 'audit.log'::regclass);
SELECT schemaname, tablename, policyname, qual FROM pg_policies WHERE tablename = 'invoices';
SELECT table_schema, table_name FROM information_schema.columns WHERE column_name = 'tenant_id' ORDER BY 1, 2;
SELECT relname, n_live_tup FROM pg_stat_user_tables ORDER BY n_live_tup DESC LIMIT 20;
SELECT pg_size_pretty(pg_total_relation_size('invoices')) AS invoices_size;
SELECT pid, state, wait_event_type FROM pg_stat_activity WHERE datname = current_database();
SELECT current_setting('app.tenant_id', true) AS tenant, current_user, now();
SHOW app.tenant_id;
SHOW search_path;
