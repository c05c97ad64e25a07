-- The same tables as examples/internal/shop (sqlc reads this file only to
-- type the queries; the example creates the tables from shop.Schema).
CREATE TABLE authors (
    id bigserial PRIMARY KEY,
    tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
    name text NOT NULL,
    UNIQUE (tenant_id, id)
);

CREATE TABLE books (
    id bigserial PRIMARY KEY,
    tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
    author_id bigint NOT NULL,
    title text NOT NULL,
    FOREIGN KEY (tenant_id, author_id) REFERENCES authors (tenant_id, id) ON DELETE CASCADE
);
