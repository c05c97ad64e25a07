package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func TestExampleRuns(t *testing.T) { shop.RunsAsProgram(t, run) }

// TestIsolation runs CRUD, bulk insert, a join, a transaction with a
// savepoint, concurrently for every tenant, in both scopes, with the guard
// off and enforcing (every statement carries its tenant predicate).
func TestIsolation(t *testing.T) {
	for _, c := range shop.Configs {
		t.Run(c.Name, func(t *testing.T) {
			d := shop.NewDatabase(t)
			db, err := open(d.AppDSN + " " + c.DSN)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(3)
			const rounds = 5
			shop.Concurrently(t, rounds, func(ctx context.Context, id string, round int) error {
				author, err := addAuthor(ctx, db, "author", "b1", "b2", "b3")
				if err != nil {
					return err
				}
				if _, err := db.ExecContext(ctx, `UPDATE books SET title = title || '!' WHERE tenant_id = $1 AND author_id = $2`, id, author); err != nil {
					return err
				}
				if _, err := db.ExecContext(ctx, `DELETE FROM books WHERE tenant_id = $1 AND id = (SELECT min(id) FROM books WHERE tenant_id = $1 AND author_id = $2)`, id, author); err != nil {
					return err
				}

				tx, err := db.BeginTxx(ctx, nil)
				if err != nil {
					return err
				}
				var second int64
				if err := tx.QueryRowxContext(ctx, `INSERT INTO authors (name) VALUES ('in tx') RETURNING id`).Scan(&second); err != nil {
					return err
				}
				for _, q := range []string{`SAVEPOINT sp`, `INSERT INTO books (author_id, title) VALUES ($1, 'discarded')`, `ROLLBACK TO SAVEPOINT sp`, `INSERT INTO books (author_id, title) VALUES ($1, 'kept')`} {
					var args []any
					if q[0] == 'I' {
						args = append(args, second)
					}
					if _, err := tx.ExecContext(ctx, q, args...); err != nil {
						tx.Rollback()
						return fmt.Errorf("%s: %w", q, err)
					}
				}
				if err := tx.Commit(); err != nil {
					return err
				}

				rows, err := shelf(ctx, db)
				if err != nil {
					return err
				}
				var tenants []string
				for _, r := range rows {
					tenants = append(tenants, r.Tenant)
				}
				if len(rows) != 3*(round+1) {
					return fmt.Errorf("shelf has %d books, want %d", len(rows), 3*(round+1))
				}
				var authorTenants []string
				if err := db.SelectContext(ctx, &authorTenants, `SELECT tenant_id FROM authors WHERE tenant_id = $1`, id); err != nil {
					return err
				}
				if err := shop.Own(id, append(tenants, authorTenants...)...); err != nil {
					return err
				}
				// Without the predicate the read relies on RLS alone (guard off)
				// or is refused (guard on).
				var all []string
				err = db.SelectContext(ctx, &all, `SELECT tenant_id FROM books`)
				return shop.Unscoped(id, c.Guard, c.Rewrite, err, all...)
			})
			shop.WantCounts(t, d, 2*rounds, 3*rounds)
		})
	}
}
