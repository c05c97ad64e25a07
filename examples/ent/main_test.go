package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/examples/ent/ent"
	"github.com/pgx-tenant/pgx-tenant/examples/ent/ent/author"
	"github.com/pgx-tenant/pgx-tenant/examples/ent/ent/book"
	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func TestExampleRuns(t *testing.T) { shop.RunsAsProgram(t, run) }

// TestIsolation runs CRUD, bulk create, eager loading, an edge predicate
// and a transaction, concurrently for every tenant, in both scopes. ent has
// no nested transactions.
func TestIsolation(t *testing.T) {
	for _, scope := range []string{"transaction", "session"} {
		t.Run(scope, func(t *testing.T) {
			d := shop.NewDatabase(t)
			client, db, err := open(d.AppDSN + " tenant_scope=" + scope)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(3)
			const rounds = 5
			shop.Concurrently(t, rounds, func(ctx context.Context, id string, round int) error {
				a, err := addAuthor(ctx, client, "author", "b1", "b2", "b3")
				if err != nil {
					return err
				}
				if _, err := client.Book.Update().Where(book.AuthorID(a.ID)).SetTitle("renamed").Save(ctx); err != nil {
					return err
				}
				first, err := client.Book.Query().Where(book.AuthorID(a.ID)).Order(ent.Asc(book.FieldID)).First(ctx)
				if err != nil {
					return err
				}
				if err := client.Book.DeleteOneID(first.ID).Exec(ctx); err != nil {
					return err
				}

				tx, err := client.Tx(ctx)
				if err != nil {
					return err
				}
				if _, err := addAuthor(ctx, tx.Client(), "in tx", "kept"); err != nil {
					tx.Rollback()
					return err
				}
				if err := tx.Commit(); err != nil {
					return err
				}
				// A rolled-back transaction leaves nothing.
				tx, err = client.Tx(ctx)
				if err != nil {
					return err
				}
				if _, err := addAuthor(ctx, tx.Client(), "discarded", "discarded"); err != nil {
					tx.Rollback()
					return err
				}
				if err := tx.Rollback(); err != nil {
					return err
				}

				authors, err := client.Author.Query().WithBooks().All(ctx)
				if err != nil {
					return err
				}
				books, err := client.Book.Query().Where(book.HasAuthorWith(author.NameIn("author", "in tx"))).WithAuthor().All(ctx)
				if err != nil {
					return err
				}
				if len(authors) != 2*(round+1) || len(books) != 3*(round+1) {
					return fmt.Errorf("%d authors, %d books; want %d, %d", len(authors), len(books), 2*(round+1), 3*(round+1))
				}
				var read []string
				for _, a := range authors {
					read = append(read, a.TenantID)
					for _, b := range a.Edges.Books {
						read = append(read, b.TenantID)
					}
				}
				for _, b := range books {
					read = append(read, b.TenantID, b.Edges.Author.TenantID)
				}
				return shop.Own(id, read...)
			})
			shop.WantCounts(t, d, 2*rounds, 3*rounds)
		})
	}
}
