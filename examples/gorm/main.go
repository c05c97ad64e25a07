// Command gorm shows pgx-tenant under GORM: models, associations, batch
// inserts and nested transactions work unchanged, and each tenant sees only
// its own rows.
//
//	go run ./examples/gorm
package main

import (
	"context"
	"errors"
	"fmt"
	"log"

	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	_ "github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// open differs from plain GORM only in DriverName (GORM otherwise opens
// "pgx" itself).
func open(dsn string) (*gorm.DB, error) {
	return gorm.Open(postgres.New(postgres.Config{
		DriverName: "pgx-tenant", // was: not set ("pgx")
		DSN:        dsn,
	}), &gorm.Config{Logger: logger.Discard})
}

// TenantID is never written by the application: default:(-) tells GORM the
// database fills it (with the tenant the driver bound) and to read it back.

type Author struct {
	ID       uint64 `gorm:"primaryKey"`
	TenantID string `gorm:"default:(-)"`
	Name     string
	Books    []Book
}

type Book struct {
	ID       uint64 `gorm:"primaryKey"`
	TenantID string `gorm:"default:(-)"`
	AuthorID uint64
	Author   *Author
	Title    string
}

// addAuthor creates an author and, in the same call, its books (GORM
// inserts the association as one multi-row INSERT).
func addAuthor(db *gorm.DB, name string, titles ...string) (*Author, error) {
	a := &Author{Name: name}
	for _, t := range titles {
		a.Books = append(a.Books, Book{Title: t})
	}
	return a, db.Create(a).Error
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
	if sqlDB, err := db.DB(); err == nil {
		defer sqlDB.Close()
	}

	acme := db.WithContext(tenant.NewContext(ctx, "acme"))
	globex := db.WithContext(tenant.NewContext(ctx, "globex"))
	if _, err := addAuthor(acme, "Ursula", "The Dispossessed", "The Lathe of Heaven"); err != nil {
		return err
	}
	err = globex.Transaction(func(tx *gorm.DB) error {
		if _, err := addAuthor(tx, "Stanisław", "Solaris"); err != nil {
			return err
		}
		nested := tx.Transaction(func(tx *gorm.DB) error { // a savepoint
			if _, err := addAuthor(tx, "Draft", "Never published"); err != nil {
				return err
			}
			return errors.New("changed my mind")
		})
		fmt.Println("globex nested transaction:", nested)
		return nil
	})
	if err != nil {
		return err
	}
	for name, c := range map[string]*gorm.DB{"acme": acme, "globex": globex, "(no tenant)": db.WithContext(ctx)} {
		var books []Book
		if err := c.Joins("Author").Order("books.id").Find(&books).Error; err != nil {
			return err
		}
		fmt.Printf("%s sees %d book(s)\n", name, len(books))
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
