package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/examples/sqlc/db"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func TestExampleRuns(t *testing.T) { shop.RunsAsProgram(t, run) }

// TestIsolation runs the generated queries — CRUD, a bulk insert, a join,
// a transaction with a savepoint — concurrently for every tenant, in both
// scopes.
func TestIsolation(t *testing.T) {
	for _, scope := range []string{"transaction", "session"} {
		t.Run(scope, func(t *testing.T) {
			d := shop.NewDatabase(t)
			sqldb, q, err := open(d.AppDSN + " tenant_scope=" + scope)
			if err != nil {
				t.Fatal(err)
			}
			defer sqldb.Close()
			sqldb.SetMaxOpenConns(3)
			const rounds = 5
			shop.Concurrently(t, rounds, func(ctx context.Context, id string, round int) error {
				a, err := addAuthor(ctx, q, "author", "b1", "b2", "b3")
				if err != nil {
					return err
				}
				if n, err := q.RenameBooks(ctx, a.ID); err != nil || n != 3 {
					return fmt.Errorf("renamed %d books (%v), want 3", n, err)
				}
				first, err := q.FirstBook(ctx, a.ID)
				if err != nil {
					return err
				}
				if err := q.DeleteBook(ctx, first.ID); err != nil {
					return err
				}

				tx, err := sqldb.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				qtx := q.WithTx(tx)
				second, err := qtx.CreateAuthor(ctx, "in tx")
				if err != nil {
					tx.Rollback()
					return err
				}
				if _, err := tx.ExecContext(ctx, "SAVEPOINT sp"); err != nil {
					tx.Rollback()
					return err
				}
				if _, err := qtx.CreateBook(ctx, db.CreateBookParams{AuthorID: second.ID, Title: "discarded"}); err != nil {
					tx.Rollback()
					return err
				}
				if _, err := tx.ExecContext(ctx, "ROLLBACK TO SAVEPOINT sp"); err != nil {
					tx.Rollback()
					return err
				}
				if _, err := qtx.CreateBook(ctx, db.CreateBookParams{AuthorID: second.ID, Title: "kept"}); err != nil {
					tx.Rollback()
					return err
				}
				if err := tx.Commit(); err != nil {
					return err
				}

				authors, err := q.ListAuthors(ctx)
				if err != nil {
					return err
				}
				shelf, err := q.Shelf(ctx)
				if err != nil {
					return err
				}
				if len(authors) != 2*(round+1) || len(shelf) != 3*(round+1) {
					return fmt.Errorf("%d authors, %d books; want %d, %d", len(authors), len(shelf), 2*(round+1), 3*(round+1))
				}
				var read []string
				for _, a := range authors {
					read = append(read, a.TenantID)
				}
				for _, r := range shelf {
					read = append(read, r.TenantID)
				}
				return shop.Own(id, read...)
			})
			shop.WantCounts(t, d, 2*rounds, 3*rounds)
		})
	}
}
