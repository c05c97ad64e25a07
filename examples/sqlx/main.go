// Command sqlx shows pgx-tenant under sqlx: two tenants write and read
// authors and books through the same *sqlx.DB, each seeing only its own.
//
//	go run ./examples/sqlx
package main

import (
	"context"
	"fmt"
	"log"

	"github.com/jmoiron/sqlx"

	_ "github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// open is the only code that differs from plain pgx: sqlx must be told that
// the new driver name uses $1 placeholders, then it opens "pgx-tenant".
func open(dsn string) (*sqlx.DB, error) {
	sqlx.BindDriver("pgx-tenant", sqlx.DOLLAR)
	return sqlx.Open("pgx-tenant", dsn) // was: sqlx.Open("pgx", dsn)
}

type book struct {
	AuthorID int64  `db:"author_id"`
	Title    string `db:"title"`
}

type shelfRow struct {
	Tenant string `db:"tenant_id"`
	Author string `db:"name"`
	Title  string `db:"title"`
}

// addAuthor creates an author with books, bulk-inserting the books.
// tenant_id is left to its default, the tenant the driver bound.
func addAuthor(ctx context.Context, db *sqlx.DB, name string, titles ...string) (int64, error) {
	var id int64
	if err := db.QueryRowxContext(ctx, `INSERT INTO authors (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
		return 0, err
	}
	books := make([]book, len(titles))
	for i, t := range titles {
		books[i] = book{AuthorID: id, Title: t}
	}
	_, err := db.NamedExecContext(ctx, `INSERT INTO books (author_id, title) VALUES (:author_id, :title)`, books)
	return id, err
}

// tenantOf is the context's tenant, for the queries' tenant predicates;
// without one it is "", which matches no row (and is what the driver binds).
func tenantOf(ctx context.Context) string {
	id, _ := tenant.FromContext(ctx)
	return id
}

// shelf joins authors and books. RLS alone would return only the tenant's
// rows; the predicate says so in the SQL too, which lets the guard
// (tenant_guard=enforce) accept the statement and the planner use the
// tenant indexes. books is scoped through the join on tenant_id.
func shelf(ctx context.Context, db *sqlx.DB) ([]shelfRow, error) {
	var rows []shelfRow
	err := db.SelectContext(ctx, &rows, `SELECT b.tenant_id, a.name, b.title
		FROM authors a JOIN books b ON b.author_id = a.id AND b.tenant_id = a.tenant_id
		WHERE a.tenant_id = $1 ORDER BY b.id`, tenantOf(ctx))
	return rows, err
}

func run(ctx context.Context) error {
	d, done, err := shop.Open(ctx)
	if err != nil {
		return err
	}
	defer done()
	db, err := open(d.AppDSN)
	if err != nil {
		return err
	}
	defer db.Close()

	acme := tenant.NewContext(ctx, "acme")
	globex := tenant.NewContext(ctx, "globex")
	if _, err := addAuthor(acme, db, "Ursula", "The Dispossessed", "The Lathe of Heaven"); err != nil {
		return err
	}
	if _, err := addAuthor(globex, db, "Stanisław", "Solaris"); err != nil {
		return err
	}
	for _, c := range []context.Context{acme, globex, ctx} {
		id, ok := tenant.FromContext(c)
		if !ok {
			id = "(no tenant)"
		}
		rows, err := shelf(c, db)
		if err != nil {
			return err
		}
		fmt.Printf("%s sees %d book(s)\n", id, len(rows))
		for _, r := range rows {
			fmt.Printf("  %-7s %-10s %s\n", r.Tenant, r.Author, r.Title)
		}
	}
	return nil
}

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
