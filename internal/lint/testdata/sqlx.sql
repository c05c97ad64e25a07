-- Hand-written queries run through sqlx / database/sql with $n
-- placeholders; the tenant comes from tenant.FromContext as $1.

-- GetInvoice
SELECT id, tenant_id, customer_id, total, status
  FROM invoices
 WHERE tenant_id = $1 AND id = $2;

-- sqlx.In expands the slice into a parameter list
SELECT id, total FROM invoices WHERE tenant_id = $1 AND id IN ($2, $3, $4);

-- NamedExec(":tenant_id, :name …") after sqlx.Named/Rebind
INSERT INTO customers (id, tenant_id, name, email) VALUES ($1, $2, $3, $4);

-- bulk insert through unnest: one parameter for the tenant, arrays for the rest
INSERT INTO line_items (id, tenant_id, invoice_id, amount)
SELECT u.id, $1, u.invoice_id, u.amount
  FROM unnest($2::bigint[], $3::bigint[], $4::numeric[]) AS u(id, invoice_id, amount);

-- bulk insert from a JSON document
INSERT INTO invoices (id, tenant_id, customer_id, total, status)
SELECT x.id, $1, x.customer_id, x.total, coalesce(x.status, 'open')
  FROM jsonb_to_recordset($2::jsonb) AS x(id bigint, customer_id bigint, total numeric, status text);

-- bulk update through unnest
UPDATE invoices AS i
   SET status = u.status
  FROM unnest($2::bigint[], $3::text[]) AS u(id, status)
 WHERE i.tenant_id = $1
   AND i.id = u.id;

-- the tenant as the setting the driver binds
SELECT id, name FROM customers
 WHERE tenant_id = NULLIF(current_setting('app.tenant_id', true), '')
 ORDER BY name;

-- joined table scoped through the join
SELECT i.id, i.total, c.name, c.email
  FROM invoices i
  JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
 WHERE i.tenant_id = $1
   AND i.status = 'open'
 ORDER BY i.total DESC;

-- composite key written as a row comparison
SELECT li.id, li.amount
  FROM line_items li
  JOIN invoices i ON (i.tenant_id, i.id) = (li.tenant_id, li.invoice_id)
 WHERE li.tenant_id = $1
   AND i.customer_id = $2;

-- keyset pagination on (customer_id, id)
SELECT id, customer_id, total
  FROM invoices
 WHERE tenant_id = $1
   AND (customer_id, id) > ($2, $3)
 ORDER BY customer_id, id
 LIMIT 50;

-- offset pagination with the total count
SELECT count(*) OVER () AS total_count, i.id, i.total
  FROM invoices i
 WHERE i.tenant_id = $1
 ORDER BY i.id DESC
 LIMIT $2 OFFSET $3;

-- the tenant on the right
SELECT id FROM customers WHERE $1 = tenant_id AND email = lower($2);

-- a scoped row comparison of the key
SELECT id, status FROM invoices WHERE (tenant_id, id) = ($1, $2);

-- IN of rows, every row naming the tenant
SELECT id, status FROM invoices WHERE (tenant_id, id) IN (($1, $2), ($1, $3));

-- optional filters, the tenant always present
SELECT id, total FROM invoices
 WHERE tenant_id = $1
   AND ($2::text IS NULL OR status = $2)
   AND ($3::numeric IS NULL OR total >= $3);

-- EXISTS for a uniqueness check
SELECT EXISTS (SELECT 1 FROM customers WHERE tenant_id = $1 AND lower(email) = lower($2));

-- correlated sub-select in the target list
SELECT c.id, c.name,
       (SELECT count(*) FROM invoices i WHERE i.tenant_id = c.tenant_id AND i.customer_id = c.id) AS invoices
  FROM customers c
 WHERE c.tenant_id = $1;

-- LATERAL: the three latest invoices per customer
SELECT c.id, c.name, recent.id AS invoice_id, recent.total
  FROM customers c
  LEFT JOIN LATERAL (
        SELECT i.id, i.total
          FROM invoices i
         WHERE i.tenant_id = c.tenant_id AND i.customer_id = c.id
         ORDER BY i.id DESC
         LIMIT 3
  ) recent ON true
 WHERE c.tenant_id = $1;

-- anti-join
SELECT i.id FROM invoices i
 WHERE i.tenant_id = $1
   AND NOT EXISTS (SELECT FROM line_items li WHERE li.tenant_id = i.tenant_id AND li.invoice_id = i.id);

-- FOR UPDATE in a transaction
SELECT id, status FROM invoices WHERE tenant_id = $1 AND id = $2 FOR UPDATE;
SELECT id FROM invoices WHERE tenant_id = $1 AND status = 'open' ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED;

-- a per-tenant advisory lock instead of LOCK TABLE
SELECT pg_advisory_xact_lock(hashtext($1));

-- writes
UPDATE invoices SET status = $3 WHERE tenant_id = $1 AND id = $2;
UPDATE invoices SET (status, total) = ($3, $4) WHERE tenant_id = $1 AND id = $2 RETURNING id, status, total;
UPDATE customers SET email = lower(email) WHERE tenant_id = $1 AND email <> lower(email);
DELETE FROM line_items WHERE tenant_id = $1 AND invoice_id = $2 RETURNING id;
DELETE FROM events WHERE tenant_id = $1 AND id < $2;

-- the events default reads the setting: no tenant column needed
INSERT INTO events (note) VALUES ($1) RETURNING id;
INSERT INTO events DEFAULT VALUES RETURNING id, tenant_id;

-- the audit row takes the tenant from the setting
INSERT INTO audit.log (id, tenant_id, msg) VALUES ($1, current_setting('app.tenant_id'), $2);

-- upserts
INSERT INTO invoices (id, tenant_id, total) VALUES ($1, $2, $3)
    ON CONFLICT (tenant_id, id) DO UPDATE SET total = invoices.total + EXCLUDED.total;

INSERT INTO invoices AS inv (id, tenant_id, total, status) VALUES ($1, $2, $3, 'open')
    ON CONFLICT (tenant_id, id) DO UPDATE
       SET total = EXCLUDED.total
     WHERE inv.status IS DISTINCT FROM 'void';

INSERT INTO customers (id, tenant_id, name) VALUES ($1, $2, $3)
    ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name
     WHERE customers.tenant_id = EXCLUDED.tenant_id;

INSERT INTO line_items (id, tenant_id, invoice_id, amount) VALUES ($1, $2, $3, $4)
    ON CONFLICT (id) DO NOTHING;

-- MERGE, target scoped in ON; the NOT MATCHED source is a VALUES list
MERGE INTO invoices t
USING (VALUES ($2::bigint, $3::numeric)) AS s(id, total)
   ON t.tenant_id = $1 AND t.id = s.id
 WHEN MATCHED AND t.status = 'void' THEN DELETE
 WHEN MATCHED THEN UPDATE SET total = s.total
 WHEN NOT MATCHED THEN INSERT (id, tenant_id, total, status) VALUES (s.id, $1, s.total, 'open');

-- MERGE from a scoped sub-select, joined on the tenant
MERGE INTO line_items t
USING (SELECT id, tenant_id FROM invoices WHERE tenant_id = $1 AND status = 'void') s
   ON t.tenant_id = s.tenant_id AND t.invoice_id = s.id
 WHEN MATCHED THEN DELETE;

-- writable CTE: move a tenant's void invoices into the audit log
WITH d AS (
    DELETE FROM invoices WHERE tenant_id = $1 AND status = 'void' RETURNING id, tenant_id
)
INSERT INTO audit.log (id, tenant_id, msg)
SELECT d.id, d.tenant_id, 'deleted void invoice' FROM d;

-- the CTE's tenant column as a value
WITH src AS (
    SELECT id, tenant_id, total FROM invoices WHERE tenant_id = $1 AND status = 'open'
)
INSERT INTO line_items (id, tenant_id, invoice_id, amount)
SELECT src.id + 1000, src.tenant_id, src.id, src.total FROM src;

-- a derived table carrying the tenant parameter
SELECT i.id, i.total
  FROM invoices i
  JOIN (SELECT $1::text AS tenant_id) p ON i.tenant_id = p.tenant_id
 WHERE i.status = 'open';

----------------------------------------------------------------------------
-- What the guard reports.

-- want: unscoped
SELECT id, total FROM invoices WHERE id IN ($1, $2, $3);

-- want: unscoped — the join scopes invoices, not customers
SELECT i.id, c.name FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.tenant_id = $1;

-- want: unscoped — known false positive (false_positives.txtar join-through-composite-foreign-key): the composite FK keeps both in one tenant, but constraints are not read
SELECT i.id, c.name FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.tenant_id = $1 AND i.status = 'open';

-- want: insert_tenant — bulk insert whose tenant comes from an array (its elements are not checked)
INSERT INTO line_items (id, tenant_id, invoice_id, amount)
SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::numeric[]);

-- want: unscoped — a correlated sub-select on the id alone
SELECT c.id, (SELECT count(*) FROM invoices i WHERE i.customer_id = c.id) FROM customers c WHERE c.tenant_id = $1;

-- want: unscoped — LATERAL on the id alone
SELECT c.id, recent.id FROM customers c
  LEFT JOIN LATERAL (SELECT i.id FROM invoices i WHERE i.customer_id = c.id ORDER BY i.id DESC LIMIT 1) recent ON true
 WHERE c.tenant_id = $1;

-- want: unscoped — an anti-join whose sub-select misses the tenant
SELECT i.id FROM invoices i WHERE i.tenant_id = $1
   AND NOT EXISTS (SELECT FROM line_items li WHERE li.invoice_id = i.id);

-- want: unscoped — FOR UPDATE of every tenant's open invoices
SELECT id FROM invoices WHERE status = 'open' ORDER BY id LIMIT 10 FOR UPDATE SKIP LOCKED;

-- want: unscoped — MERGE whose target is matched on the id alone
MERGE INTO invoices t USING (VALUES ($1::bigint, $2::numeric)) AS s(id, total) ON t.id = s.id
 WHEN MATCHED THEN UPDATE SET total = s.total;

-- want: insert_tenant — MERGE inserting without the tenant column
MERGE INTO line_items t USING (VALUES ($2::bigint, $3::numeric)) AS s(id, amount) ON t.tenant_id = $1 AND t.id = s.id
 WHEN NOT MATCHED THEN INSERT (id, invoice_id, amount) VALUES (s.id, 1, s.amount);

-- want: unscoped — the DELETE in the CTE misses the tenant
WITH d AS (DELETE FROM invoices WHERE status = 'void' RETURNING id, tenant_id)
INSERT INTO audit.log (id, tenant_id, msg) SELECT id, tenant_id, 'voided' FROM d;

-- want: insert_tenant — a writable CTE inserting without the tenant
WITH x AS (INSERT INTO line_items (id, invoice_id, amount) VALUES ($1, $2, $3) RETURNING id) SELECT id FROM x;

-- want: insert_tenant — the tenant written is a function of the parameter
INSERT INTO invoices (id, tenant_id, total) VALUES ($1, lower($2), $3);

-- want: insert_tenant — NULL tenant on events (the default is not used)
INSERT INTO events (tenant_id, note) VALUES (NULL, $1);

-- want: update_tenant
UPDATE invoices SET tenant_id = upper(tenant_id) WHERE tenant_id = $1 AND id = $2;

-- want: update_tenant — DEFAULT is not the tenant for invoices
UPDATE invoices SET tenant_id = DEFAULT WHERE tenant_id = $1;
