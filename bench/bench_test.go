package bench

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	_ "github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

const tenants = 16

var fixture struct {
	d *pgtest.Database
}

func setup(b *testing.B) *pgtest.Database {
	b.Helper()
	if fixture.d != nil {
		return fixture.d
	}
	srv := pgtest.Shared(b)
	ctx := context.Background()
	d, err := srv.NewDatabase(ctx)
	if err != nil {
		b.Fatal(err)
	}
	const p = `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`
	err = d.ExecOwner(ctx,
		`CREATE TABLE items (id bigint PRIMARY KEY, tenant_id text NOT NULL, val int NOT NULL)`,
		`CREATE INDEX ON items (tenant_id)`,
		`ALTER TABLE items ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY isolation ON items USING (`+p+`) WITH CHECK (`+p+`)`,
	)
	if err == nil {
		err = d.Exec(ctx, fmt.Sprintf(
			`INSERT INTO items SELECT g, 't' || (g %% %d), g FROM generate_series(0, 9999) g`, tenants), `ANALYZE items`)
	}
	if err != nil {
		b.Fatal(err)
	}
	fixture.d = d
	return d
}

func open(b *testing.B, driverName, dsn string) *sql.DB {
	b.Helper()
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	b.Cleanup(func() { db.Close() })
	return db
}

// pointSelect reads one row of tenant i (ids ≡ i mod tenants).
func pointSelect(b *testing.B, db *sql.DB, ctx context.Context, id int) {
	var val int
	if err := db.QueryRowContext(ctx, "SELECT val FROM items WHERE id = $1", id).Scan(&val); err != nil {
		b.Fatal(err)
	}
	if val != id {
		b.Fatalf("val = %d, want %d", val, id)
	}
}

// BenchmarkPointSelect: one connection, one point query per iteration.
// Sub-benchmarks run in one process and one run; compare their ns/op.
func BenchmarkPointSelect(b *testing.B) {
	d := setup(b)
	ctxs := make([]context.Context, tenants)
	for i := range ctxs {
		ctxs[i] = tenant.NewContext(context.Background(), fmt.Sprintf("t%d", i))
	}

	b.Run("stdlib", func(b *testing.B) {
		// Same role and policy, tenant fixed at connection start-up.
		db := open(b, "pgx", d.AppDSN+" app.tenant_id=t3")
		n := 0
		for b.Loop() {
			pointSelect(b, db, context.Background(), 3+tenants*(n%600))
			n++
		}
	})
	for _, scope := range []string{"transaction", "session"} {
		db := open(b, "pgx-tenant", d.AppDSN+" tenant_scope="+scope)
		b.Run(scope+"/same-tenant", func(b *testing.B) {
			n := 0
			for b.Loop() {
				pointSelect(b, db, ctxs[3], 3+tenants*(n%600))
				n++
			}
		})
		b.Run(scope+"/tenant-changes", func(b *testing.B) {
			n := 0
			for b.Loop() {
				i := n % tenants
				pointSelect(b, db, ctxs[i], i+tenants*(n%600))
				n++
			}
		})
	}
}
