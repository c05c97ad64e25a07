// Command ent shows pgx-tenant under ent: the generated client runs over
// the driver, bulk creates, eager loading and edge predicates work
// unchanged, and each tenant sees only its own rows.
//
//	go run ./examples/ent
//
// Row-Level Security alone isolates the tenants. The schema also states the
// tenant in the SQL, following ent's multi-tenancy pattern: a mixin
// (ent/schema/tenant.go, TenantMixin) whose interceptor adds
// tenant_id = <the context's tenant> to every query, eager load and
// traversal, and whose hook adds it to every update and delete. Edge
// predicates (book.HasAuthorWith) build a sub-select no interceptor sees, so
// the code below puts the predicate in them itself. With that, the driver's
// guard (tenant_guard=enforce) accepts every statement ent sends here, and
// the isolation test runs under it. Inserts leave tenant_id to its default,
// which reads the tenant the driver bound.
//
// The client in ent/ is generated (go generate ./examples/ent/ent, with
// --feature intercept) from the schema in ent/schema; the mixin's hooks and
// interceptors are registered by importing ent/runtime. The tables come
// from examples/internal/shop.
package main

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	_ "github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/examples/ent/ent"
	"github.com/pgx-tenant/pgx-tenant/examples/ent/ent/author"
	"github.com/pgx-tenant/pgx-tenant/examples/ent/ent/book"
	_ "github.com/pgx-tenant/pgx-tenant/examples/ent/ent/runtime" // registers TenantMixin's hooks and interceptors
	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// open differs from plain pgx only in the driver name; ent is handed the
// *sql.DB through entsql.OpenDB.
func open(dsn string) (*ent.Client, *sql.DB, error) {
	db, err := sql.Open("pgx-tenant", dsn) // was: sql.Open("pgx", dsn)
	if err != nil {
		return nil, nil, err
	}
	return ent.NewClient(ent.Driver(entsql.OpenDB(dialect.Postgres, db))), db, nil
}

// addAuthor creates an author and bulk-creates its books.
func addAuthor(ctx context.Context, c *ent.Client, name string, titles ...string) (*ent.Author, error) {
	a, err := c.Author.Create().SetName(name).Save(ctx)
	if err != nil {
		return nil, err
	}
	builders := make([]*ent.BookCreate, len(titles))
	for i, t := range titles {
		builders[i] = c.Book.Create().SetAuthorID(a.ID).SetTitle(t)
	}
	if _, err := c.Book.CreateBulk(builders...).Save(ctx); err != nil {
		return nil, err
	}
	return a, nil
}

func run(ctx context.Context) error {
	d, done, err := shop.Open(ctx)
	if err != nil {
		return err
	}
	defer done()
	client, db, err := open(d.AppDSN)
	if err != nil {
		return err
	}
	defer db.Close()

	acme := tenant.NewContext(ctx, "acme")
	globex := tenant.NewContext(ctx, "globex")
	if _, err := addAuthor(acme, client, "Ursula", "The Dispossessed", "The Lathe of Heaven"); err != nil {
		return err
	}
	tx, err := client.Tx(globex)
	if err != nil {
		return err
	}
	if _, err := addAuthor(globex, tx.Client(), "Stanisław", "Solaris"); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	for _, c := range []context.Context{acme, globex, ctx} {
		id, ok := tenant.FromContext(c)
		if !ok {
			id = "(no tenant)"
		}
		authors, err := client.Author.Query().WithBooks().Order(ent.Asc(author.FieldID)).All(c)
		if err != nil {
			return err
		}
		n := 0
		for _, a := range authors {
			n += len(a.Edges.Books)
		}
		fmt.Printf("%s sees %d book(s)\n", id, n)
		for _, a := range authors {
			for _, b := range a.Edges.Books {
				fmt.Printf("  %-7s %-10s %s\n", b.TenantID, a.Name, b.Title)
			}
		}
	}
	// An edge predicate: books whose author is called Ursula, as globex.
	// HasAuthorWith is a sub-select on authors that the interceptor does not
	// reach, so it states the tenant itself.
	n, err := client.Book.Query().Where(book.HasAuthorWith(author.TenantID("globex"), author.Name("Ursula"))).Count(globex)
	if err != nil {
		return err
	}
	fmt.Printf("globex counts %d book(s) by an author called Ursula\n", n)
	return nil
}

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}
