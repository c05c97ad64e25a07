-- name: CreateAuthor :one
INSERT INTO authors (name) VALUES ($1) RETURNING *;

-- name: CreateBook :one
INSERT INTO books (author_id, title) VALUES ($1, $2) RETURNING *;

-- name: CreateBooks :exec
INSERT INTO books (author_id, title)
SELECT $1, unnest(@titles::text[]);

-- name: ListAuthors :many
SELECT * FROM authors ORDER BY id;

-- name: Shelf :many
SELECT b.tenant_id, a.name AS author, b.title
FROM authors a JOIN books b ON b.author_id = a.id AND b.tenant_id = a.tenant_id
ORDER BY b.id;

-- name: RenameBooks :execrows
UPDATE books SET title = title || '!' WHERE author_id = $1;

-- name: DeleteBook :exec
DELETE FROM books WHERE id = $1;

-- name: FirstBook :one
SELECT * FROM books WHERE author_id = $1 ORDER BY id LIMIT 1;
