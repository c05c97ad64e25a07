-- Text PostgreSQL's parser rejects (the scanner still splits it): typos,
-- other dialects' syntax and placeholders, half-edited statements.

SELECT id FROM invoices WHERE tenant_id = $1;

-- want: syntax — a typo
SELEC * FROM invoices WHERE tenant_id = $1;

-- want: syntax — a dangling WHERE
SELECT * FROM invoices WHERE;

-- want: syntax — a missing parenthesis
INSERT INTO invoices (id, tenant_id VALUES (1, 't01');

-- want: syntax — DELETE without FROM
DELETE invoices WHERE tenant_id = 't01' AND id = 1;

-- want: syntax — an empty SET
UPDATE invoices SET WHERE tenant_id = 't01';

-- want: syntax — a trailing comma
SELECT id, FROM invoices WHERE tenant_id = $1;

-- want: syntax — MySQL's ? placeholder (sqlx without Rebind)
SELECT * FROM invoices WHERE tenant_id = ? LIMIT 1;

-- want: syntax — MySQL's INSERT … SET
INSERT INTO invoices SET id = 1, tenant_id = 't01';

-- want: syntax — MySQL's LIMIT offset, count
SELECT * FROM invoices WHERE tenant_id = $1 LIMIT 10, 20;

-- want: syntax — SQL Server's TOP
SELECT TOP 10 * FROM invoices WHERE tenant_id = $1;

-- want: syntax — sqlx's :name left unconverted
SELECT * FROM invoices WHERE tenant_id = :tenant_id;

-- want: syntax — a half-written migration
ALTER TABLE invoices ADD COLUMN;
