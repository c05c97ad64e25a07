package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/examples/sqlc/db"
	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func TestExampleRuns(t *testing.T) { shop.RunsAsProgram(t, run) }

// TestIsolation runs the generated queries — CRUD, a bulk insert, a join,
// a transaction with a savepoint — concurrently for every tenant, in both
// scopes, with the guard off and under tenant_guard=enforce (which refuses
// any of them that lost its tenant predicate). Each tenant also passes
// another tenant's ID to a generated query and reads without the predicate:
// RLS alone must hide the other tenants' rows, and the guard must refuse both.
func TestIsolation(t *testing.T) {
	for _, c := range shop.Configs {
		t.Run(c.Name, func(t *testing.T) {
			d := shop.NewDatabase(t)
			sqldb, q, err := open(d.AppDSN + " " + c.DSN)
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
				if n, err := q.RenameBooks(ctx, db.RenameBooksParams{TenantID: tenantOf(ctx), AuthorID: a.ID}); err != nil || n != 3 {
					return fmt.Errorf("renamed %d books (%v), want 3", n, err)
				}
				first, err := q.FirstBook(ctx, db.FirstBookParams{TenantID: tenantOf(ctx), AuthorID: a.ID})
				if err != nil {
					return err
				}
				if err := q.DeleteBook(ctx, db.DeleteBookParams{TenantID: tenantOf(ctx), ID: first.ID}); err != nil {
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

				authors, err := q.ListAuthors(ctx, tenantOf(ctx))
				if err != nil {
					return err
				}
				shelf, err := q.Shelf(ctx, tenantOf(ctx))
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
				if err := shop.Own(id, read...); err != nil {
					return err
				}

				// Another tenant's ID as the argument: RLS still hides that
				// tenant's rows (guard off); the guard refuses the mismatch.
				other := "acme"
				if id == other {
					other = "globex"
				}
				theirs, err := q.ListAuthors(ctx, other)
				var v *guard.Violation
				switch {
				case c.Guard && !(errors.As(err, &v) && v.Rule == guard.RuleTenantMismatch):
					return fmt.Errorf("ListAuthors(%s) under the guard: got %v, want a %s violation", other, err, guard.RuleTenantMismatch)
				case !c.Guard && (err != nil || len(theirs) != 0):
					return fmt.Errorf("ListAuthors(%s): %d rows (%v), want none", other, len(theirs), err)
				}

				// Without the predicate (not a generated query) the read relies
				// on RLS alone (guard off) or is refused (guard on).
				var all []string
				err = func() error {
					rows, err := sqldb.QueryContext(ctx, "SELECT tenant_id FROM books")
					if err != nil {
						return err
					}
					defer rows.Close()
					for rows.Next() {
						var tid string
						if err := rows.Scan(&tid); err != nil {
							return err
						}
						all = append(all, tid)
					}
					return rows.Err()
				}()
				return shop.Unscoped(id, c.Guard, c.Rewrite, err, all...)
			})
			shop.WantCounts(t, d, 2*rounds, 3*rounds)
		})
	}
}
