package driver_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/guardcases"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// guardSeed gives three tenants rows in every table of the case schema,
// as admin (who bypasses RLS).
var guardSeed = func() []string {
	var out []string
	for k, tn := range []string{"t01", "t02", "t03"} {
		for j := 1; j <= 3; j++ {
			id := 10*k + j
			out = append(out,
				fmt.Sprintf(`INSERT INTO customers VALUES (%d, '%s', 'c%d', 'c%d@x')`, id, tn, id, id),
				fmt.Sprintf(`INSERT INTO invoices VALUES (%d, '%s', %d, %d, 'open')`, id, tn, id, 100*id),
				fmt.Sprintf(`INSERT INTO line_items VALUES (%d, '%s', %d, %d)`, id, tn, id, id),
				fmt.Sprintf(`INSERT INTO events (tenant_id, note) VALUES ('%s', 'e%d')`, tn, id),
				fmt.Sprintf(`INSERT INTO audit.log VALUES (%d, '%s', 'm%d')`, id, tn, id))
		}
	}
	return append(out, `INSERT INTO countries VALUES ('fr', 'France'), ('jp', 'Japan')`, `INSERT INTO plans VALUES (1, 'free')`)
}()

// TestScopedMeansOnlyTenantRows checks what the guard's "allow" promises:
// every case the guard (enforce, through the driver) lets through returns
// (and changes) exactly the same rows on a database without row-level
// security as on one with it, for tenant t01. A statement the guard
// wrongly called scoped sees other tenants' rows on the first. Each
// statement runs in a transaction rolled back.
func TestScopedMeansOnlyTenantRows(t *testing.T) {
	cases, err := guardcases.Load("../guard/testdata")
	if err != nil {
		t.Fatal(err)
	}
	check := scopeOracle(t)
	compared := 0
	for _, c := range cases {
		ran, problem := check(c.SQL, c.Args)
		if problem != "" {
			t.Errorf("%s/%s: %s", c.File, c.Name, problem)
		}
		if ran {
			compared++
		}
	}
	if compared < 150 {
		t.Fatalf("only %d allowed cases compared", compared)
	}
	t.Logf("%d allowed cases return the same rows with and without RLS", compared)
}

// FuzzScopedRows is TestScopedMeansOnlyTenantRows over arbitrary SQL
// (seeded with the cases), with the context's tenant as $1: whatever the
// guard lets through must see only the tenant's rows.
func FuzzScopedRows(f *testing.F) {
	cases, err := guardcases.Load("../guard/testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		f.Add(c.SQL)
	}
	check := scopeOracle(f)
	f.Fuzz(func(t *testing.T, sql string) {
		if !fuzzable(sql) {
			return
		}
		if _, problem := check(sql, []any{guardcases.Tenant}); problem != "" {
			t.Errorf("%q: %s", sql, problem)
		}
	})
}

// fuzzable keeps fuzzing to one statement that cannot end the transaction
// it runs in (which would let one input's writes reach the next).
func fuzzable(sql string) bool {
	if strings.ContainsAny(sql, ";\x00") || nondeterministic(sql) {
		return false
	}
	l := strings.ToLower(sql)
	for _, w := range []string{"commit", "rollback", "end", "abort", "begin", "prepare", "savepoint", "release",
		"vacuum", "checkpoint", "listen", "notify", "copy", "dblink", "pg_", "lo_", "set", "reset", "discard", "do", "call"} {
		if strings.Contains(l, w) {
			return false
		}
	}
	return true
}

// scopeOracle returns a check that runs sql through the guard (enforce)
// and, when the guard lets it through, on a database with RLS and one
// without, for tenant t01: ran says it was compared, problem what differed.
func scopeOracle(tb testing.TB) func(sql string, args []any) (ran bool, problem string) {
	withRLS := guardSchema(tb)
	plain := pgtest.NewDatabase(tb)
	ctx := context.Background()
	if err := plain.ExecOwner(ctx, append(slices.Clone(guardcases.Schema),
		"GRANT USAGE ON SCHEMA audit TO "+plain.AppRole,
		"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public, audit TO "+plain.AppRole,
		"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "+plain.AppRole)...); err != nil {
		tb.Fatal(err)
	}
	for _, d := range []*pgtest.Database{withRLS, plain} {
		if err := d.Exec(ctx, guardSeed...); err != nil {
			tb.Fatal(err)
		}
	}
	connect := func(d *pgtest.Database) *pgx.Conn {
		c, err := pgx.Connect(ctx, d.AppDSN)
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { c.Close(ctx) })
		return c
	}
	a, b := connect(withRLS), connect(plain)
	// The guard's verdict comes from a database of its own: an allowed
	// statement runs there, and sequences do not roll back.
	guarded := sqlOpenDB(tb, openGuarded(tb, guardSchema(tb), guard.Enforce, &events{}))
	allowed := func(sql string, args []any) bool {
		tx, err := guarded.BeginTx(ctxFor(1), nil)
		if err != nil {
			tb.Fatal(err)
		}
		defer tx.Rollback()
		_, err = tx.ExecContext(ctxFor(1), sql, args...)
		var v *guard.Violation
		return !errors.As(err, &v) && !errors.Is(err, driver.ErrInvalidSQL) && !errors.Is(err, driver.ErrTamper) &&
			!errors.Is(err, driver.ErrTxControl)
	}
	return func(sql string, args []any) (bool, string) {
		if nondeterministic(sql) || !allowed(sql, args) {
			return false, ""
		}
		ra, erra := runRolledBack(ctx, a, sql, args)
		rb, errb := runRolledBack(ctx, b, sql, args)
		switch {
		case erra != nil && errb != nil:
			return false, "" // not runnable here (a file COPY, a missing prepared statement, …)
		case erra != nil || errb != nil:
			return true, fmt.Sprintf("with RLS %v, without %v", erra, errb)
		case !slices.Equal(ra, rb):
			return true, fmt.Sprintf("allowed, but without RLS it sees other rows:\n with RLS    %v\n without RLS %v", ra, rb)
		}
		return true, ""
	}
}

// nondeterministic reports texts whose results differ between runs, or
// between the two databases for another reason than rows (plans).
func nondeterministic(sql string) bool {
	l := strings.ToLower(sql)
	for _, w := range []string{"tablesample", "random(", "now()", "clock_timestamp", "nextval", "current_timestamp", "explain"} {
		if strings.Contains(l, w) {
			return true
		}
	}
	return false
}

// runRolledBack runs sql for tenant t01 in a transaction it rolls back and
// returns its rows (sorted) and its command tags.
func runRolledBack(ctx context.Context, c *pgx.Conn, sql string, args []any) ([]string, error) {
	tx, err := c.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT set_config('app.tenant_id', $1, true)", guardcases.Tenant); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, sql, append([]any{pgx.QueryExecModeSimpleProtocol}, args...)...)
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			return nil, err
		}
		out = append(out, fmt.Sprint(vals...))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return append(out, rows.CommandTag().String()), nil
}
