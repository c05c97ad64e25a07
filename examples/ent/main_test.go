package main

import (
	"context"
	"database/sql"
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

// TestIsolation runs CRUD, bulk create, eager loading, edge predicates, a
// traversal and transactions, concurrently for every tenant, in both scopes,
// each with the guard off and with tenant_guard=enforce: under the guard
// every statement ent sends must carry the tenant predicate (TenantMixin's
// interceptor and hook add it; the edge predicates state it themselves), or
// the driver refuses it. ent has no nested transactions.
func TestIsolation(t *testing.T) {
	for _, c := range shop.Configs {
		t.Run(c.Name, func(t *testing.T) {
			d := shop.NewDatabase(t)
			client, db, err := open(d.AppDSN + " " + c.DSN)
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
				// Edge predicates are sub-selects the interceptor does not
				// reach: they name the tenant themselves.
				books, err := client.Book.Query().Where(book.HasAuthorWith(author.TenantID(id), author.NameIn("author", "in tx"))).WithAuthor().All(ctx)
				if err != nil {
					return err
				}
				if len(authors) != 2*(round+1) || len(books) != 3*(round+1) {
					return fmt.Errorf("%d authors, %d books; want %d, %d", len(authors), len(books), 2*(round+1), 3*(round+1))
				}
				withRenamed, err := client.Author.Query().Where(author.HasBooksWith(book.TenantID(id), book.Title("renamed"))).Count(ctx)
				if err != nil {
					return err
				}
				// A traversal: the interceptor scopes both of its steps.
				kept, err := client.Author.Query().Where(author.Name("in tx")).QueryBooks().All(ctx)
				if err != nil {
					return err
				}
				if withRenamed != round+1 || len(kept) != round+1 {
					return fmt.Errorf("%d authors with renamed books, %d books by \"in tx\"; want %d, %d", withRenamed, len(kept), round+1, round+1)
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
				for _, b := range kept {
					read = append(read, b.TenantID)
				}
				if err := shop.Own(id, read...); err != nil {
					return err
				}
				// SQL without the predicate (not through ent) relies on RLS
				// alone (guard off) or is refused (guard on).
				all, err := tenantIDs(ctx, db, `SELECT tenant_id FROM books`)
				return shop.Unscoped(id, c.Guard, c.Rewrite, err, all...)
			})
			shop.WantCounts(t, d, 2*rounds, 3*rounds)
		})
	}
}

func tenantIDs(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	return ids, rows.Err()
}
