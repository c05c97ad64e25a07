-- name: CreateAuthor :one
INSERT INTO authors (name) VALUES ($1) RETURNING *;

-- name: CreateBook :one
INSERT INTO books (author_id, title) VALUES ($1, $2) RETURNING *;

-- name: CreateBooks :exec
INSERT INTO books (author_id, title)
SELECT $1, unnest(@titles::text[]);

-- name: ListAuthors :many
SELECT * FROM authors WHERE tenant_id = @tenant_id ORDER BY id;

-- name: Shelf :many
-- Both tables are scoped: a by the parameter, b by its equality to a's tenant.
SELECT b.tenant_id, a.name AS author, b.title
FROM authors a JOIN books b ON b.author_id = a.id AND b.tenant_id = a.tenant_id
WHERE a.tenant_id = @tenant_id
ORDER BY b.id;

-- name: RenameBooks :execrows
UPDATE books SET title = title || '!' WHERE tenant_id = @tenant_id AND author_id = @author_id;

-- name: DeleteBook :exec
DELETE FROM books WHERE tenant_id = @tenant_id AND id = @id;

-- name: FirstBook :one
SELECT * FROM books WHERE tenant_id = @tenant_id AND author_id = @author_id ORDER BY id LIMIT 1;
