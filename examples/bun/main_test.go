package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/uptrace/bun"

	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func TestExampleRuns(t *testing.T) { shop.RunsAsProgram(t, run) }

var errRollback = errors.New("roll back")

// TestIsolation runs CRUD, bulk insert, both relation kinds and a nested
// transaction (savepoint), concurrently for every tenant, in both scopes,
// with the guard off and enforcing (every query carries its predicate).
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
				a, err := addAuthor(ctx, db, "author", "b1", "b2", "b3")
				if err != nil {
					return err
				}
				if err := shop.Own(id, a.TenantID, a.Books[0].TenantID); err != nil {
					return fmt.Errorf("RETURNING: %w", err)
				}
				if _, err := db.NewUpdate().Model((*Book)(nil)).Set("title = title || '!'").Where("tenant_id = ?", id).Where("author_id = ?", a.ID).Exec(ctx); err != nil {
					return err
				}
				if _, err := db.NewDelete().Model((*Book)(nil)).Where("tenant_id = ?", id).Where("id = ?", a.Books[0].ID).Exec(ctx); err != nil {
					return err
				}
				err = db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
					second, err := addAuthor(ctx, tx, "in tx", "kept")
					if err != nil {
						return err
					}
					nested := tx.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
						if _, err := tx.NewInsert().Model(&Book{AuthorID: second.ID, Title: "discarded"}).Exec(ctx); err != nil {
							return err
						}
						return errRollback
					})
					if !errors.Is(nested, errRollback) {
						return fmt.Errorf("nested: %v", nested)
					}
					return nil
				})
				if err != nil {
					return err
				}

				authors, err := authorsWithBooks(ctx, db)
				if err != nil {
					return err
				}
				books, err := booksWithAuthor(ctx, db)
				if err != nil {
					return err
				}
				if len(authors) != 2*(round+1) || len(books) != 3*(round+1) {
					return fmt.Errorf("%d authors, %d books; want %d, %d", len(authors), len(books), 2*(round+1), 3*(round+1))
				}
				var read []string
				for _, a := range authors {
					read = append(read, a.TenantID)
					for _, b := range a.Books {
						read = append(read, b.TenantID)
					}
				}
				for _, b := range books {
					read = append(read, b.TenantID, b.Author.TenantID)
				}
				if err := shop.Own(id, read...); err != nil {
					return err
				}
				// Without the predicate the read relies on RLS alone (guard off)
				// or is refused (guard on).
				var all []*Book
				err = db.NewSelect().Model(&all).Scan(ctx)
				read = read[:0]
				for _, b := range all {
					read = append(read, b.TenantID)
				}
				return shop.Unscoped(id, c.Guard, c.Rewrite, err, read...)
			})
			shop.WantCounts(t, d, 2*rounds, 3*rounds)
		})
	}
}
