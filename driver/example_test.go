package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

func Example() {
	db, err := sql.Open("pgx-tenant", "postgres://app@localhost/shop?tenant_required=true")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()

	ctx := tenant.NewContext(context.Background(), "acme")
	var open int
	err = db.QueryRowContext(ctx, "SELECT count(*) FROM invoices WHERE status = $1", "open").Scan(&open)
	if err != nil {
		log.Fatal(err)
	}
}

func ExampleOpenDB() {
	cfg, err := pgx.ParseConfig("postgres://app@localhost/shop")
	if err != nil {
		log.Fatal(err)
	}
	db, err := driver.OpenDB(*cfg,
		driver.WithSetting("myapp.org_id"),
		driver.WithScope(driver.ScopeSession),
		driver.WithRequired(true),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
}

// An unknown tenant_ key fails at sql.Open, before any connection is made.
func Example_dsnError() {
	_, err := sql.Open("pgx-tenant", "postgres://app@localhost/shop?tenant_scop=session")
	fmt.Println(err)
	// Output: pgx-tenant: unknown DSN key "tenant_scop" (known: tenant_clear_objects, tenant_column, tenant_flags, tenant_guard, tenant_pooler, tenant_required, tenant_rewrite, tenant_scope, tenant_setting, tenant_tables)
}

// A transaction belongs to the tenant it was begun with.
func ExampleErrTenantMismatch() {
	var db *sql.DB // opened with sql.Open("pgx-tenant", …)
	run := func() error {
		acme := tenant.NewContext(context.Background(), "acme")
		tx, err := db.BeginTx(acme, nil)
		if err != nil {
			return err
		}
		defer tx.Rollback()
		globex := tenant.NewContext(context.Background(), "globex")
		_, err = tx.ExecContext(globex, "DELETE FROM carts")
		if errors.Is(err, driver.ErrTenantMismatch) {
			log.Print("refused before anything was sent; tx is still usable for acme")
		}
		return tx.Commit()
	}
	_ = run
}

// The underlying pgx connection, for features database/sql lacks. It is not
// scoped: bind the tenant yourself.
func ExampleConn_PgxConn() {
	var db *sql.DB // opened with sql.Open("pgx-tenant", …)
	run := func(ctx context.Context) error {
		conn, err := db.Conn(ctx)
		if err != nil {
			return err
		}
		defer conn.Close()
		return conn.Raw(func(dc any) error {
			pc := dc.(*driver.Conn).PgxConn()
			tx, err := pc.Begin(ctx)
			if err != nil {
				return err
			}
			defer tx.Rollback(ctx)
			if _, err := tx.Exec(ctx, "SELECT set_config('app.tenant_id', $1, true)", "acme"); err != nil {
				return err
			}
			_, err = tx.CopyFrom(ctx, pgx.Identifier{"events"}, []string{"tenant_id", "note"},
				pgx.CopyFromRows([][]any{{"acme", "imported"}}))
			if err != nil {
				return err
			}
			return tx.Commit(ctx)
		})
	}
	_ = run
}
