-- query.sql of a sqlc (engine: postgresql, sql_package: pgx/v5) project.
-- Every query takes the tenant: @tenant_id, sqlc.arg(tenant_id) or $1.

-- name: GetInvoice :one
SELECT id, tenant_id, customer_id, total, status
FROM invoices
WHERE tenant_id = sqlc.arg(tenant_id) AND id = sqlc.arg(id)
LIMIT 1;

-- name: GetInvoiceByNumber :one
SELECT * FROM invoices
WHERE tenant_id = @tenant_id::text
  AND id = @id::bigint;

-- name: ListInvoices :many
SELECT id, customer_id, total, status
FROM invoices
WHERE tenant_id = @tenant_id
  AND (sqlc.narg(status)::text IS NULL OR status = sqlc.narg(status))
ORDER BY id DESC
LIMIT sqlc.arg('limit') OFFSET sqlc.arg('offset');

-- name: ListInvoicesAfter :many
-- Keyset pagination.
SELECT id, total, status
FROM invoices
WHERE tenant_id = @tenant_id AND id < @before_id
ORDER BY id DESC
LIMIT @page_size;

-- name: GetInvoicesByIDs :many
SELECT id, total FROM invoices
WHERE tenant_id = $1 AND id = ANY($2::bigint[]);

-- name: CountInvoicesByStatus :many
SELECT status, count(*)::bigint AS n, coalesce(sum(total), 0)::numeric AS total
FROM invoices
WHERE tenant_id = @tenant_id
GROUP BY status
ORDER BY status;

-- name: GetInvoiceWithCustomer :one
SELECT sqlc.embed(i), sqlc.embed(c)
FROM invoices i
JOIN customers c ON c.tenant_id = i.tenant_id AND c.id = i.customer_id
WHERE i.tenant_id = @tenant_id AND i.id = @id;

-- name: ListCustomersWithOpenInvoices :many
SELECT c.id, c.name, count(i.id) AS open_invoices
FROM customers c
LEFT JOIN invoices i
       ON i.tenant_id = c.tenant_id
      AND i.customer_id = c.id
      AND i.status = 'open'
WHERE c.tenant_id = @tenant_id
GROUP BY c.id, c.name
HAVING count(i.id) > 0
ORDER BY open_invoices DESC, c.name;

-- name: ListLineItems :many
SELECT li.id, li.amount
FROM line_items li
JOIN invoices i USING (tenant_id)
WHERE tenant_id = @tenant_id
  AND i.id = li.invoice_id
  AND i.id = @invoice_id;

-- name: SearchCustomers :many
SELECT id, name, email FROM customers
WHERE tenant_id = sqlc.arg(tenant_id)
  AND (name ILIKE '%' || sqlc.arg(q)::text || '%' OR email ILIKE '%' || sqlc.arg(q)::text || '%')
ORDER BY name
LIMIT 50;

-- name: GetCustomerByKey :one
SELECT id, name, email FROM customers
WHERE (tenant_id, id) = (@tenant_id::text, @id::bigint);

-- name: GetCustomersByKeys :many
SELECT id, name FROM customers
WHERE (tenant_id, id) IN (($1::text, $2::bigint), ($1::text, $3::bigint));

-- name: InvoiceTotals :one
SELECT
    count(*) FILTER (WHERE status = 'open') AS open_count,
    count(*) FILTER (WHERE status = 'paid') AS paid_count,
    coalesce(sum(total) FILTER (WHERE status = 'open'), 0) AS outstanding
FROM invoices
WHERE tenant_id = @tenant_id;

-- name: GetSummary :one
SELECT n, total FROM invoice_summary WHERE tenant_id = @tenant_id;

-- name: CurrentTenantInvoices :many
SELECT id, total FROM invoices
WHERE tenant_id = current_setting('app.tenant_id', true)::text
ORDER BY id;

-- name: CreateInvoice :one
INSERT INTO invoices (id, tenant_id, customer_id, total, status)
VALUES (@id, @tenant_id, @customer_id, @total, @status)
RETURNING *;

-- name: CreateCustomer :one
INSERT INTO customers (id, tenant_id, name, email)
VALUES ($1, $2, $3, $4)
RETURNING id, tenant_id, name, email;

-- name: CreateLineItems :copyfrom
INSERT INTO line_items (id, tenant_id, invoice_id, amount) VALUES ($1, $2, $3, $4);

-- name: CreateEvent :one
INSERT INTO events (note) VALUES (@note) RETURNING id, tenant_id;

-- name: CreateEventWithDefault :exec
INSERT INTO events (tenant_id, note) VALUES (DEFAULT, @note);

-- name: AppendAudit :exec
INSERT INTO audit.log (id, tenant_id, msg) VALUES (@id, @tenant_id, @msg);

-- name: CreateInvoiceFromSetting :exec
INSERT INTO invoices (id, tenant_id, total)
VALUES (@id, NULLIF(current_setting('app.tenant_id', true), ''), @total);

-- name: UpsertInvoice :one
INSERT INTO invoices (id, tenant_id, customer_id, total, status)
VALUES (@id, @tenant_id, @customer_id, @total, @status)
ON CONFLICT (tenant_id, id) DO UPDATE
   SET total = EXCLUDED.total,
       status = EXCLUDED.status
 WHERE invoices.tenant_id = EXCLUDED.tenant_id
RETURNING id, total, status;

-- name: UpsertCustomer :exec
INSERT INTO customers (id, tenant_id, name, email)
VALUES (@id, @tenant_id, @name, @email)
ON CONFLICT (id) DO UPDATE
   SET name = EXCLUDED.name, email = EXCLUDED.email
 WHERE customers.tenant_id = EXCLUDED.tenant_id;

-- name: DuplicateInvoice :one
INSERT INTO invoices (id, tenant_id, customer_id, total, status)
SELECT @new_id, tenant_id, customer_id, total, 'open'
FROM invoices
WHERE tenant_id = @tenant_id AND id = @id
RETURNING id;

-- name: CopyLineItems :exec
INSERT INTO line_items (id, tenant_id, invoice_id, amount)
SELECT li.id + 100000, li.tenant_id, @new_invoice_id, li.amount
FROM line_items li
WHERE li.tenant_id = @tenant_id AND li.invoice_id = @invoice_id;

-- name: MarkInvoicePaid :execrows
UPDATE invoices
SET status = 'paid'
WHERE tenant_id = @tenant_id AND id = @id AND status <> 'paid';

-- name: UpdateInvoiceTotals :exec
UPDATE invoices i
SET total = s.amount
FROM (
    SELECT invoice_id, sum(amount) AS amount
    FROM line_items
    WHERE tenant_id = @tenant_id
    GROUP BY invoice_id
) s
WHERE i.tenant_id = @tenant_id AND i.id = s.invoice_id;

-- name: RecalculateInvoice :exec
UPDATE invoices
SET total = (SELECT coalesce(sum(li.amount), 0) FROM line_items li
             WHERE li.tenant_id = invoices.tenant_id AND li.invoice_id = invoices.id)
WHERE tenant_id = @tenant_id AND id = @id;

-- name: RenameCustomer :one
UPDATE customers SET name = sqlc.arg(name)
WHERE tenant_id = sqlc.arg(tenant_id) AND id = sqlc.arg(id)
RETURNING *;

-- name: DeleteInvoice :exec
DELETE FROM invoices WHERE tenant_id = @tenant_id AND id = @id;

-- name: DeleteLineItemsOfVoidInvoices :execrows
DELETE FROM line_items li
USING invoices i
WHERE li.tenant_id = @tenant_id
  AND i.tenant_id = li.tenant_id
  AND i.id = li.invoice_id
  AND i.status = 'void';

-- name: VoidInvoiceAndAudit :one
WITH voided AS (
    UPDATE invoices SET status = 'void'
    WHERE tenant_id = @tenant_id AND id = @id
    RETURNING id, tenant_id
)
INSERT INTO audit.log (id, tenant_id, msg)
SELECT @audit_id, v.tenant_id, 'invoice ' || v.id || ' voided' FROM voided v
RETURNING id;

-- name: ListCountries :many
SELECT code, name FROM countries ORDER BY name;

-- name: GetPlan :one
SELECT * FROM plans WHERE id = $1;

----------------------------------------------------------------------------
-- What the guard reports.

-- name: ListAllInvoices :many
-- want: unscoped
SELECT id, total FROM invoices ORDER BY id;

-- name: GetInvoiceByID :one
-- want: unscoped
SELECT * FROM invoices WHERE id = sqlc.arg(id);

-- name: DeleteLineItem :exec
-- want: unscoped
DELETE FROM line_items WHERE id = @id;

-- name: CreateInvoiceNoTenant :one
-- want: insert_tenant
INSERT INTO invoices (id, customer_id, total) VALUES (@id, @customer_id, @total) RETURNING id;

-- name: ListInvoicesOptionalTenant :many
-- want: unscoped — an optional tenant filter is no filter
SELECT id FROM invoices WHERE (sqlc.narg(tenant_id)::text IS NULL OR tenant_id = sqlc.narg(tenant_id));

-- name: ListInvoicesAnyTenant :many
-- want: unscoped — known false positive (false_positives.txtar any-array-of-the-tenant): = ANY of an array
SELECT id FROM invoices WHERE tenant_id = ANY(@tenant_ids::text[]);

-- name: RevenueByMonth :many
-- want: hidden_view
SELECT month, total FROM revenue ORDER BY month;

-- name: UpdateInvoiceTenant :exec
-- want: update_tenant — moves the row to whatever customers says
UPDATE invoices i SET tenant_id = c.name FROM customers c
WHERE i.tenant_id = @tenant_id AND c.tenant_id = i.tenant_id AND c.id = i.customer_id;
