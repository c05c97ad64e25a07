package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/guardcases"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// guardSchema creates the schema of the guard's cases, with RLS on the
// tenant-owned tables.
func guardSchema(t testing.TB) *pgtest.Database {
	t.Helper()
	return caseSchema(t, true)
}

// caseSchema creates the schema of the guard's cases, which the app role
// may read and write; rls puts row-level security on the tenant-owned
// tables.
func caseSchema(t testing.TB, rls bool) *pgtest.Database {
	t.Helper()
	d := pgtest.NewDatabase(t)
	sql := append([]string(nil), guardcases.Schema...)
	var owned []string
	if rls {
		owned = []string{"invoices", "customers", "line_items", "events", "audit.log"}
	}
	for _, tbl := range owned {
		sql = append(sql,
			"ALTER TABLE "+tbl+" ENABLE ROW LEVEL SECURITY",
			"ALTER TABLE "+tbl+" FORCE ROW LEVEL SECURITY",
			"CREATE POLICY isolation ON "+tbl+" USING ("+policy+") WITH CHECK ("+policy+")")
	}
	sql = append(sql,
		"GRANT USAGE ON SCHEMA audit TO "+d.AppRole,
		"GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON ALL TABLES IN SCHEMA public, audit TO "+d.AppRole,
		"GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO "+d.AppRole)
	if err := d.ExecOwner(context.Background(), sql...); err != nil {
		t.Fatal(err)
	}
	return d
}

// events collects the events a connector emits.
type events struct {
	mu  sync.Mutex
	all []event.Event
}

func (e *events) Handle(_ context.Context, ev event.Event) {
	e.mu.Lock()
	e.all = append(e.all, ev)
	e.mu.Unlock()
}

func (e *events) take() []event.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := e.all
	e.all = nil
	return out
}

func openGuarded(t testing.TB, d *pgtest.Database, mode guard.Mode, h event.Handler, kv ...string) *driver.Connector {
	t.Helper()
	cfg, err := pgx.ParseConfig(withKeys(d.AppDSN, kv...))
	if err != nil {
		t.Fatal(err)
	}
	c, err := driver.NewConnector(*cfg, driver.WithGuard(mode), driver.WithEventHandler(h))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sqlOpenDB(t testing.TB, c *driver.Connector) *sql.DB {
	db := sql.OpenDB(c)
	t.Cleanup(func() { db.Close() })
	return db
}

// TestDiscover checks the catalog discovery builds from the case schema:
// the tenant-owned relations (tables, the view exposing the column), the
// hidden view, column positions and the default that reads the setting.
func TestDiscover(t *testing.T) {
	d := guardSchema(t)
	if err := d.ExecOwner(context.Background(),
		// hidden, though none reads a tenant-owned table directly
		"CREATE VIEW revenue_by_month AS SELECT month, total FROM revenue",
		"CREATE TABLE docs (id int, body text)",
		"CREATE TABLE tenant_docs (tenant_id text) INHERITS (docs)"); err != nil {
		t.Fatal(err)
	}
	c := openGuarded(t, d, guard.Audit, &events{})
	if err := c.RefreshCatalog(context.Background()); err != nil {
		t.Fatal(err)
	}
	cat := c.Catalog()
	want := []string{"audit.log", "public.customers", "public.events", "public.invoice_summary", "public.invoices", "public.line_items", "public.tenant_docs"}
	if got := cat.Owned(); !slices.Equal(got, want) {
		t.Fatalf("owned = %v, want %v", got, want)
	}
	for _, name := range []string{"revenue", "revenue_by_month", "docs"} {
		if ti, ok := cat.Lookup("", name); !ok || !ti.Hidden || ti.Owned {
			t.Fatalf("%s = %+v, %v: want hidden", name, ti, ok)
		}
	}
	if ti, ok := cat.Lookup("", "events"); !ok || !ti.DefaultReadsSetting || ti.Position != 2 {
		t.Fatalf("events = %+v", ti)
	}
	if ti, ok := cat.Lookup("", "log"); ok {
		t.Fatalf("audit.log resolved unqualified, not on the search_path: %+v", ti)
	}
	if _, err := cat.Override([]string{"nosuch"}, nil); err == nil {
		t.Fatal("override with an unknown table accepted")
	}
}

// TestGuardCases runs every case of guard/testdata through the driver
// against real PostgreSQL, as the app role, each in a transaction rolled
// back: under enforce a violation is refused with *guard.Violation (and
// nothing else is), under audit the statement runs and exactly the
// violations are reported as events.
func TestGuardCases(t *testing.T) {
	cases, err := guardcases.Load("../guard/testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 400 {
		t.Fatalf("only %d cases", len(cases))
	}
	d := guardSchema(t)
	ctx := ctxFor(1)
	if tenantName(1) != guardcases.Tenant {
		t.Fatal("case tenant differs from ctxFor(1)")
	}
	for _, mode := range []guard.Mode{guard.Enforce, guard.Audit} {
		t.Run(mode.String(), func(t *testing.T) {
			seen := &events{}
			c := openGuarded(t, d, mode, seen)
			db := sqlOpenDB(t, c)
			for _, tc := range cases {
				args := tc.Args
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				_, err = tx.ExecContext(ctx, tc.SQL, args...)
				tx.Rollback()
				var v *guard.Violation
				isV := errors.As(err, &v)
				var violations []event.Event
				for _, e := range seen.take() {
					if e.Kind == event.GuardViolation {
						violations = append(violations, e)
					}
				}
				switch {
				case tc.Want == "allow" && (isV || len(violations) > 0):
					t.Errorf("%s/%s: allowed statement refused or reported: %v %v", tc.File, tc.Name, err, violations)
				case tc.Want == guard.RuleSyntax:
					if !errors.Is(err, driver.ErrInvalidSQL) {
						t.Errorf("%s/%s: syntax error not refused: %v", tc.File, tc.Name, err)
					}
				case tc.Want == "allow":
				case mode == guard.Enforce && (!isV || v.Rule != tc.Want || !errors.Is(err, guard.ErrViolation)):
					t.Errorf("%s/%s: want a %s violation, got %v", tc.File, tc.Name, tc.Want, err)
				case mode == guard.Audit && (isV || len(violations) != 1 || violations[0].Rule != tc.Want):
					t.Errorf("%s/%s: want one %s event and the statement run, got %v %v", tc.File, tc.Name, tc.Want, err, violations)
				}
			}
		})
	}
}

// TestGuardEvents checks what the guard and the driver report, and that
// no event or violation carries an argument value.
func TestGuardEvents(t *testing.T) {
	d := guardSchema(t)
	seen := &events{}
	c := openGuarded(t, d, guard.Enforce, seen)
	db := sqlOpenDB(t, c)
	ctx := event.WithRequestID(ctxFor(1), "req-7")
	kinds := func() []event.Kind {
		var out []event.Kind
		for _, e := range seen.take() {
			if e.RequestID != "req-7" && e.Kind != event.RLSDenied {
				t.Errorf("event without the request ID: %+v", e)
			}
			out = append(out, e.Kind)
		}
		return out
	}

	// A refused statement: the violation names the rule and table, not the value.
	_, err := db.ExecContext(ctx, "SELECT * FROM invoices WHERE tenant_id = $1", "t02-secret-value")
	var v *guard.Violation
	if !errors.As(err, &v) || v.Rule != guard.RuleTenantMismatch || v.Table != "invoices" {
		t.Fatalf("err = %v", err)
	}
	for _, e := range seen.all {
		if strings.Contains(e.Message, "secret") {
			t.Fatalf("event carries the argument: %+v", e)
		}
	}
	if strings.Contains(v.Error(), "secret") {
		t.Fatalf("violation carries the argument: %v", v)
	}
	if got := kinds(); !slices.Equal(got, []event.Kind{event.GuardViolation}) {
		t.Fatalf("events %v", got)
	}

	// A bypass runs the statement and is reported with its reason.
	if _, err := db.ExecContext(tenant.WithBypass(ctx, "nightly export"), "SELECT * FROM invoices"); err != nil {
		t.Fatal(err)
	}
	if e := seen.all; len(e) != 1 || e[0].Kind != event.GuardBypass || e[0].Reason != "nightly export" {
		t.Fatalf("events %+v", e)
	}
	seen.take()

	// A prepared statement is checked on every execution, with that call's tenant.
	stmt, err := db.PrepareContext(context.Background(), "SELECT id FROM invoices WHERE tenant_id = $1")
	if err != nil {
		t.Fatal(err)
	}
	defer stmt.Close()
	if _, err := stmt.ExecContext(ctx, tenantName(1)); err != nil {
		t.Fatal(err)
	}
	if _, err := stmt.ExecContext(event.WithRequestID(ctxFor(2), "req-7"), tenantName(1)); !errors.As(err, &v) || v.Rule != guard.RuleTenantMismatch {
		t.Fatalf("stmt run for t02 with t01's value: %v", err)
	}
	seen.take()

	// The core's own events.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.ExecContext(event.WithRequestID(ctxFor(2), "req-7"), "SELECT 1"); !errors.Is(err, driver.ErrTenantMismatch) {
		t.Fatal(err)
	}
	tx.Rollback()
	if _, err := db.ExecContext(ctx, "SELECT set_config('app.tenant_id', 't02', false)"); !errors.Is(err, driver.ErrTamper) {
		t.Fatal(err)
	}
	// A missing privilege is SQLSTATE 42501 too, but no RLS refusal.
	if _, err := db.ExecContext(ctx, "SELECT rolpassword FROM pg_authid"); sqlStateOf(err) != "42501" {
		t.Fatalf("reading pg_authid: %v", err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO events (tenant_id, note) VALUES ($1, 'x')", tenantName(1)); err != nil {
		t.Fatal(err)
	}
	// Under audit a statement naming another tenant runs: the guard
	// reports it, and the server's row-level security refuses it.
	audit := sqlOpenDB(t, openGuarded(t, d, guard.Audit, seen))
	if _, err := audit.ExecContext(ctx, "INSERT INTO customers (id, tenant_id) VALUES (1, 't02')"); !isRLSViolation(err) {
		t.Fatalf("insert for another tenant: %v", err)
	}
	got := kinds()
	want := []event.Kind{event.TenantMismatch, event.Tamper, event.GuardViolation, event.RLSDenied}
	if !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}

	required := sqlOpenDB(t, openGuarded(t, d, guard.Audit, seen, "tenant_required=true"))
	if _, err := required.ExecContext(event.WithRequestID(context.Background(), "req-7"), "SELECT 1"); !errors.Is(err, driver.ErrNoTenant) {
		t.Fatal(err)
	}
	if got := kinds(); !slices.Equal(got, []event.Kind{event.MissingTenant}) {
		t.Fatalf("events %v", got)
	}
}

// TestGuardTables checks tenant_tables (only these are guarded) and that
// an unknown table, like any discovery failure, fails the connection
// instead of leaving the guard without tables.
func TestGuardTables(t *testing.T) {
	d := guardSchema(t)
	only := sqlOpenDB(t, openGuarded(t, d, guard.Enforce, &events{}, "tenant_tables=customers"))
	if _, err := only.ExecContext(ctxFor(1), "SELECT * FROM invoices"); err != nil {
		t.Fatalf("invoices not listed, yet refused: %v", err)
	}
	var v *guard.Violation
	if _, err := only.ExecContext(ctxFor(1), "SELECT * FROM customers"); !errors.As(err, &v) {
		t.Fatalf("customers listed, yet allowed: %v", err)
	}
	// A view hiding the tenant column is refused unless excluded.
	cfg, err := pgx.ParseConfig(d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	c, err := driver.NewConnector(*cfg, driver.WithGuard(guard.Enforce), driver.WithExcludedTables("revenue"))
	if err != nil {
		t.Fatal(err)
	}
	views := sqlOpenDB(t, c)
	if _, err := views.ExecContext(ctxFor(1), "SELECT * FROM revenue"); err != nil {
		t.Fatalf("excluded view refused: %v", err)
	}
	if _, err := only.ExecContext(ctxFor(1), "SELECT * FROM revenue"); !errors.As(err, &v) || v.Rule != guard.RuleHiddenView {
		t.Fatalf("hidden view: %v", err)
	}
	bad := sqlOpenDB(t, openGuarded(t, d, guard.Enforce, &events{}, "tenant_tables=nosuch"))
	if err := bad.PingContext(context.Background()); err == nil || !strings.Contains(err.Error(), `table "nosuch" not found`) {
		t.Fatalf("ping with an unknown tenant table: %v", err)
	}
}

// TestGuardArgsAfterOptions: pgx options passed as leading arguments are
// not arguments; $1 is the first value after them.
func TestGuardArgsAfterOptions(t *testing.T) {
	d := guardSchema(t)
	db := sqlOpenDB(t, openGuarded(t, d, guard.Enforce, &events{}))
	for _, opt := range []any{pgx.QueryExecModeExec, pgx.QueryExecModeSimpleProtocol} {
		if _, err := db.ExecContext(ctxFor(1), "SELECT * FROM invoices WHERE tenant_id = $1", opt, tenantName(1)); err != nil {
			t.Errorf("%T then the tenant: %v", opt, err)
		}
		var v *guard.Violation
		if _, err := db.ExecContext(ctxFor(1), "SELECT * FROM invoices WHERE tenant_id = $1", opt, tenantName(2)); !errors.As(err, &v) || v.Rule != guard.RuleTenantMismatch {
			t.Errorf("%T then another tenant: %v", opt, err)
		}
	}
}
