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
	"gorm.io/gorm/clause"
	"gorm.io/gorm/logger"

	_ "github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// open differs from plain GORM in DriverName (GORM otherwise opens "pgx"
// itself) and in the callbacks that add the tenant predicate.
func open(dsn string) (*gorm.DB, error) {
	db, err := gorm.Open(postgres.New(postgres.Config{
		DriverName: "pgx-tenant", // was: not set ("pgx")
		DSN:        dsn,
	}), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return nil, err
	}
	return db, scopeByTenant(db)
}

// scopeByTenant registers callbacks that add "<table>.tenant_id = <the
// context's tenant>" to every query (Find, First, Preload, Count, …),
// update and delete of a model with a TenantID field. RLS returns only the
// tenant's rows without it; the predicate makes that visible in the SQL, so
// the guard (tenant_guard=enforce) accepts the statements and the planner
// uses the tenant indexes.
func scopeByTenant(db *gorm.DB) error {
	cb := db.Callback()
	for _, err := range []error{
		cb.Query().Before("gorm:query").Register("tenant:query", whereTenant),
		cb.Row().Before("gorm:row").Register("tenant:row", whereTenant),
		cb.Update().Before("gorm:update").Register("tenant:update", whereTenant),
		cb.Delete().Before("gorm:delete").Register("tenant:delete", whereTenant),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

func whereTenant(db *gorm.DB) {
	s := db.Statement
	if s.Schema == nil || s.Schema.LookUpField("TenantID") == nil {
		return
	}
	id, _ := tenant.FromContext(s.Context) // none: "", which matches no row
	s.AddClause(clause.Where{Exprs: []clause.Expression{
		clause.Eq{Column: clause.Column{Table: clause.CurrentTable, Name: "tenant_id"}, Value: id},
	}})
}

// TenantID is never written by the application: default:(-) tells GORM the
// database fills it (with the tenant the driver bound) and to read it back.

// The relations join on tenant_id too, like the composite foreign key in
// the schema: a JOIN then carries its tenant predicate into the joined
// table (books.tenant_id = "Author".tenant_id).

type Author struct {
	ID       uint64 `gorm:"primaryKey"`
	TenantID string `gorm:"default:(-)"`
	Name     string
	Books    []Book `gorm:"foreignKey:TenantID,AuthorID;references:TenantID,ID"`
}

type Book struct {
	ID       uint64 `gorm:"primaryKey"`
	TenantID string `gorm:"default:(-)"`
	AuthorID uint64
	Author   *Author `gorm:"foreignKey:TenantID,AuthorID;references:TenantID,ID"`
	Title    string
}

// addAuthor creates an author, then its books in one multi-row INSERT.
//
// Not db.Create(&Author{Books: …}) in one call: GORM saves the association
// with INSERT … ON CONFLICT (id) DO UPDATE SET author_id = excluded.author_id,
// which would rewrite whichever row holds a conflicting id, another tenant's
// included, and the guard refuses it (RLS refuses it too, for another
// tenant's row).
func addAuthor(db *gorm.DB, name string, titles ...string) (*Author, error) {
	a := &Author{Name: name}
	if err := db.Create(a).Error; err != nil {
		return nil, err
	}
	if len(titles) == 0 {
		return a, nil
	}
	for _, t := range titles {
		a.Books = append(a.Books, Book{AuthorID: a.ID, Title: t})
	}
	return a, db.Omit("Author").Create(&a.Books).Error
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
