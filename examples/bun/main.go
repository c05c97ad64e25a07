// Command bun shows pgx-tenant under bun: models, relations and nested
// transactions work unchanged, and each tenant sees only its own rows.
//
//	go run ./examples/bun
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"

	_ "github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// open differs from plain pgx only in the driver name.
func open(dsn string) (*bun.DB, error) {
	sqldb, err := sql.Open("pgx-tenant", dsn) // was: sql.Open("pgx", dsn)
	if err != nil {
		return nil, err
	}
	return bun.NewDB(sqldb, pgdialect.New()), nil
}

// tenant_id is never set by the application: nullzero makes bun send
// DEFAULT, and the column's default is the tenant the driver bound.

type Author struct {
	bun.BaseModel `bun:"table:authors"`
	ID            int64   `bun:",pk,autoincrement"`
	TenantID      string  `bun:",nullzero,notnull"`
	Name          string  `bun:",notnull"`
	Books         []*Book `bun:"rel:has-many,join:tenant_id=tenant_id,join:id=author_id"`
}

type Book struct {
	bun.BaseModel `bun:"table:books"`
	ID            int64   `bun:",pk,autoincrement"`
	TenantID      string  `bun:",nullzero,notnull"`
	AuthorID      int64   `bun:",notnull"`
	Title         string  `bun:",notnull"`
	Author        *Author `bun:"rel:belongs-to,join:tenant_id=tenant_id,join:author_id=id"`
}

// addAuthor inserts an author and bulk-inserts its books.
func addAuthor(ctx context.Context, db bun.IDB, name string, titles ...string) (*Author, error) {
	a := &Author{Name: name}
	if _, err := db.NewInsert().Model(a).Returning("*").Exec(ctx); err != nil {
		return nil, err
	}
	if len(titles) == 0 {
		return a, nil
	}
	books := make([]*Book, len(titles))
	for i, t := range titles {
		books[i] = &Book{AuthorID: a.ID, Title: t}
	}
	_, err := db.NewInsert().Model(&books).Returning("*").Exec(ctx)
	a.Books = books
	return a, err
}

// tenantOf is the context's tenant, for the queries' tenant predicates;
// without one it is "", which matches no row (and is what the driver binds).
func tenantOf(ctx context.Context) string {
	id, _ := tenant.FromContext(ctx)
	return id
}

// byTenant adds the tenant predicate to a select. RLS returns only the
// tenant's rows without it; the predicate makes that visible in the SQL, so
// the guard (tenant_guard=enforce) accepts the statement and the planner
// uses the tenant indexes. bun inlines the value; the guard decides such
// texts by their shape, not by each new text.
func byTenant(ctx context.Context) func(*bun.SelectQuery) *bun.SelectQuery {
	return func(q *bun.SelectQuery) *bun.SelectQuery {
		return q.Where("?TableAlias.tenant_id = ?", tenantOf(ctx))
	}
}

// authorsWithBooks loads authors and, through the has-many relation, their
// books (a second query, scoped on its own).
func authorsWithBooks(ctx context.Context, db bun.IDB) ([]*Author, error) {
	var authors []*Author
	err := db.NewSelect().Model(&authors).Apply(byTenant(ctx)).
		Relation("Books", byTenant(ctx)).Order("author.id").Scan(ctx)
	return authors, err
}

// booksWithAuthor loads books joined to their author (belongs-to: a JOIN on
// tenant_id and author_id, which scopes the author through the book).
func booksWithAuthor(ctx context.Context, db bun.IDB) ([]*Book, error) {
	var books []*Book
	err := db.NewSelect().Model(&books).Apply(byTenant(ctx)).Relation("Author").Order("book.id").Scan(ctx)
	return books, err
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
	// A transaction with a nested one (a savepoint) that rolls back.
	err = db.RunInTx(globex, nil, func(ctx context.Context, tx bun.Tx) error {
		if _, err := addAuthor(ctx, tx, "Stanisław", "Solaris"); err != nil {
			return err
		}
		nested := tx.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
			if _, err := addAuthor(ctx, tx, "Draft", "Never published"); err != nil {
				return err
			}
			return fmt.Errorf("changed my mind")
		})
		fmt.Println("globex nested transaction:", nested)
		return nil
	})
	if err != nil {
		return err
	}
	for _, c := range []context.Context{acme, globex, ctx} {
		id, ok := tenant.FromContext(c)
		if !ok {
			id = "(no tenant)"
		}
		books, err := booksWithAuthor(c, db)
		if err != nil {
			return err
		}
		fmt.Printf("%s sees %d book(s)\n", id, len(books))
		for _, b := range books {
			fmt.Printf("  %-7s %-10s %s\n", b.TenantID, b.Author.Name, b.Title)
		}
	}
	return nil
}

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
