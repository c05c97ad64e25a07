// Command quickstart shows pgx-tenant isolating two tenants on a throwaway
// PostgreSQL: it creates a table with a Row-Level-Security policy, opens the
// database with sql.Open("pgx-tenant", …) as an ordinary role, and runs the
// same queries for each tenant.
//
//	go run ./examples/quickstart
//
// The database comes from PGX_TENANT_TEST_DATABASE, or is started from the
// local PostgreSQL binaries (see internal/pgtest).
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// The policy every tenant-owned table gets. NULLIF turns the empty string a reset
// setting reads as into NULL, so no tenant matches no rows; the sub-select
// makes PostgreSQL read the setting once per statement, not once per row.
const policy = `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	srv, err := pgtest.Start(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()
	d, err := srv.NewDatabase(ctx)
	if err != nil {
		return err
	}
	defer d.Drop(context.Background())
	fmt.Printf("PostgreSQL (%s): database %s, tables owned by %s, app connects as %s\n",
		srv.Source, d.Name, d.OwnerRole, d.AppRole)

	if err := d.ExecOwner(ctx,
		`CREATE TABLE invoices (id serial PRIMARY KEY, tenant_id text NOT NULL, customer text NOT NULL, total numeric NOT NULL)`,
		`ALTER TABLE invoices ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE invoices FORCE ROW LEVEL SECURITY`,
		`CREATE POLICY tenant_isolation ON invoices USING (`+policy+`) WITH CHECK (`+policy+`)`,
	); err != nil {
		return err
	}
	fmt.Println("created invoices with RLS policy:", policy)

	db, err := sql.Open("pgx-tenant", d.AppDSN) // the only line that differs from plain pgx
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(2) // few connections, so tenants share them

	acme := tenant.NewContext(ctx, "acme")
	globex := tenant.NewContext(ctx, "globex")

	for _, w := range []struct {
		ctx      context.Context
		customer string
		total    string
	}{{acme, "Road Runner", "120.00"}, {acme, "Coyote", "75.50"}, {globex, "Hank Scorpio", "9999.99"}} {
		id, _ := tenant.FromContext(w.ctx)
		if _, err := db.ExecContext(w.ctx, `INSERT INTO invoices (tenant_id, customer, total) VALUES ($1, $2, $3)`, id, w.customer, w.total); err != nil {
			return err
		}
	}
	fmt.Println("inserted 2 invoices as acme, 1 as globex")

	for _, c := range []context.Context{acme, globex, ctx} {
		if err := list(c, db); err != nil {
			return err
		}
	}

	_, err = db.ExecContext(acme, `INSERT INTO invoices (tenant_id, customer, total) VALUES ('globex', 'sneaky', 1)`)
	fmt.Println("acme inserting a globex row:", err)

	tx, err := db.BeginTx(acme, nil)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(globex, `DELETE FROM invoices`)
	fmt.Println("globex statement inside acme's transaction:", err, "| ErrTenantMismatch:", errors.Is(err, driver.ErrTenantMismatch))
	tx.Rollback()

	_, err = db.ExecContext(acme, `SELECT 1; SELECT set_config('app.tenant_id', 'globex', false)`)
	fmt.Println("smuggled set_config:", err)

	var n int
	if err := db.QueryRowContext(globex, `SELECT count(*) FROM invoices`).Scan(&n); err != nil {
		return err
	}
	if n != 1 {
		return fmt.Errorf("isolation broken: globex sees %d invoices, want 1", n)
	}
	fmt.Println("globex still sees exactly its 1 invoice: isolated")
	return nil
}

func list(ctx context.Context, db *sql.DB) error {
	who, ok := tenant.FromContext(ctx)
	if !ok {
		who = "(no tenant)"
	}
	rows, err := db.QueryContext(ctx, `SELECT tenant_id, customer, total FROM invoices ORDER BY id`)
	if err != nil {
		return err
	}
	defer rows.Close()
	fmt.Printf("%s sees:\n", who)
	n := 0
	for rows.Next() {
		var t, c, total string
		if err := rows.Scan(&t, &c, &total); err != nil {
			return err
		}
		fmt.Printf("  %-7s %-13s %8s\n", t, c, total)
		n++
	}
	if n == 0 {
		fmt.Println("  nothing")
	}
	return rows.Err()
}
