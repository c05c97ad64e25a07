package main

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"gorm.io/gorm"

	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func TestExampleRuns(t *testing.T) { shop.RunsAsProgram(t, run) }

var errRollback = errors.New("roll back")

// TestIsolation runs CRUD, batch insert, Preload and Joins, and a nested
// transaction (savepoint), concurrently for every tenant, in both scopes,
// with the guard off and enforcing (the callbacks add the predicate).
func TestIsolation(t *testing.T) {
	for _, c := range shop.Configs {
		t.Run(c.Name, func(t *testing.T) {
			d := shop.NewDatabase(t)
			gdb, err := open(d.AppDSN + " " + c.DSN)
			if err != nil {
				t.Fatal(err)
			}
			sqlDB, _ := gdb.DB()
			defer sqlDB.Close()
			sqlDB.SetMaxOpenConns(3)
			const rounds = 5
			shop.Concurrently(t, rounds, func(ctx context.Context, id string, round int) error {
				db := gdb.WithContext(ctx)
				a, err := addAuthor(db, "author", "b1", "b2", "b3")
				if err != nil {
					return err
				}
				if err := shop.Own(id, a.TenantID, a.Books[0].TenantID, a.Books[2].TenantID); err != nil {
					return fmt.Errorf("RETURNING: %w", err)
				}
				if err := db.Model(&Book{}).Where("author_id = ?", a.ID).Update("title", gorm.Expr("title || '!'")).Error; err != nil {
					return err
				}
				if err := db.Delete(&Book{}, a.Books[0].ID).Error; err != nil {
					return err
				}
				err = db.Transaction(func(tx *gorm.DB) error {
					second, err := addAuthor(tx, "in tx", "kept")
					if err != nil {
						return err
					}
					nested := tx.Transaction(func(tx *gorm.DB) error {
						if err := tx.Create(&Book{AuthorID: second.ID, Title: "discarded"}).Error; err != nil {
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

				var authors []Author
				if err := db.Preload("Books").Order("id").Find(&authors).Error; err != nil {
					return err
				}
				var books []Book
				if err := db.Joins("Author").Find(&books).Error; err != nil {
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
				// Raw SQL gets no callback: without the predicate the read relies
				// on RLS alone (guard off) or is refused (guard on).
				var all []string
				err = db.Raw(`SELECT tenant_id FROM books`).Scan(&all).Error
				return shop.Unscoped(id, c.Guard, c.Rewrite, err, all...)
			})
			shop.WantCounts(t, d, 2*rounds, 3*rounds)
		})
	}
}
