package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	_ "github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// numTenants tenants t00…t15 are seeded; tenant i owns i+1 items.
const numTenants = 16

func tenantName(i int) string { return fmt.Sprintf("t%02d", i) }
func itemsOf(i int) int       { return i + 1 }

func ctxFor(i int) context.Context { return tenant.NewContext(context.Background(), tenantName(i)) }

// policy is the RLS predicate recommended in the README.
const policy = `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`

// schema creates the tables as the owner and seeds them as admin. The app
// role connects through the driver and owns nothing.
func schema(t testing.TB) *pgtest.Database {
	t.Helper()
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	err := d.ExecOwner(ctx,
		`CREATE TABLE items (id bigserial PRIMARY KEY, tenant_id text NOT NULL, val int NOT NULL)`,
		`CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id text NOT NULL, note text NOT NULL DEFAULT '')`,
		`ALTER TABLE items ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE events ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY isolation ON items USING (`+policy+`) WITH CHECK (`+policy+`)`,
		`CREATE POLICY isolation ON events USING (`+policy+`) WITH CHECK (`+policy+`)`,
	)
	if err != nil {
		t.Fatal(err)
	}
	var seed []string
	for i := 0; i < numTenants; i++ {
		seed = append(seed, fmt.Sprintf(
			`INSERT INTO items (tenant_id, val) SELECT '%s', g FROM generate_series(1, %d) g`, tenantName(i), itemsOf(i)))
	}
	if err := d.Exec(ctx, seed...); err != nil {
		t.Fatal(err)
	}
	if err := d.CheckAppRole(ctx); err != nil {
		t.Fatal(err)
	}
	return d
}

// withKeys appends key=value pairs to a URL or keyword/value DSN.
func withKeys(dsn string, kv ...string) string {
	if len(kv) == 0 {
		return dsn
	}
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		sep := "?"
		if strings.Contains(dsn, "?") {
			sep = "&"
		}
		return dsn + sep + strings.Join(kv, "&")
	}
	return dsn + " " + strings.Join(kv, " ")
}

// openApp opens the driver as the app role with the given tenant_* keys.
func openApp(t testing.TB, d *pgtest.Database, kv ...string) *sql.DB {
	t.Helper()
	return openDSN(t, withKeys(d.AppDSN, kv...))
}

// openDSN opens the driver on dsn, closed when t ends.
func openDSN(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx-tenant", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// openAdmin opens plain pgx as the admin role, which bypasses RLS: for
// checks of what really is in the tables.
func openAdmin(t testing.TB, d *pgtest.Database) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", d.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

var scopes = []string{"transaction", "session"}

// testConfig is one way to run the driver: a scope and a pgx exec mode.
// cache_statement (pgx's default), cache_describe and exec (for PgBouncer)
// take the pipelined path; describe_exec and simple_protocol the general one.
type testConfig struct{ scope, mode string }

func (c testConfig) keys(extra ...string) []string {
	return append([]string{"tenant_scope=" + c.scope, "default_query_exec_mode=" + c.mode}, extra...)
}

// forEachConfig runs body under every scope × exec mode.
func forEachConfig(t *testing.T, body func(t *testing.T, cfg testConfig)) {
	for _, scope := range scopes {
		for _, mode := range execModes {
			c := testConfig{scope, mode}
			t.Run(scope+"/"+mode, func(t *testing.T) { body(t, c) })
		}
	}
}

// forEachScope runs body once per binding scope.
func forEachScope(t *testing.T, body func(t *testing.T, scope string)) {
	for _, s := range scopes {
		t.Run(s, func(t *testing.T) { body(t, s) })
	}
}

// tenantsSeen runs query (which must select tenant_id) and returns how many
// rows each tenant had.
func tenantsSeen(t testing.TB, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, ctx context.Context, query string, args ...any) map[string]int {
	t.Helper()
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	seen, err := collectTenants(rows)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return seen
}

// collectTenants reads rows of one tenant_id column, counting rows per
// tenant, and closes them. On an error it returns what was read before it.
func collectTenants(rows *sql.Rows) (map[string]int, error) {
	defer rows.Close()
	seen := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return seen, err
		}
		seen[id]++
	}
	return seen, rows.Err()
}

// wantOnly fails unless seen holds exactly n rows of tenant i and nothing else.
func wantOnly(t testing.TB, seen map[string]int, i, n int) {
	t.Helper()
	if len(seen) != 1 || seen[tenantName(i)] != n {
		t.Fatalf("rows by tenant = %v, want only %s×%d", seen, tenantName(i), n)
	}
}

func wantNone(t testing.TB, seen map[string]int) {
	t.Helper()
	if len(seen) != 0 {
		t.Fatalf("rows by tenant = %v, want none", seen)
	}
}

// isRLSViolation reports whether err is PostgreSQL refusing a row by policy.
func isRLSViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501"
}

func countEvents(t testing.TB, admin *sql.DB) map[string]int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := admin.QueryContext(ctx, `SELECT tenant_id, count(*) FROM events GROUP BY tenant_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		out[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// stmtQuerier lets tenantsSeen run a prepared statement (the query text is
// ignored: the statement has its own).
type stmtQuerier struct{ *sql.Stmt }

func (s stmtQuerier) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.Stmt.QueryContext(ctx, args...)
}
