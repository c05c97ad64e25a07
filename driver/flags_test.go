package driver_test

import (
	"context"
	"errors"
	"fmt"
	"github.com/jackc/pgx/v5"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/flags"
	"github.com/pgx-tenant/pgx-tenant/guard"
)

// TestFlags runs the driver with tenant_flags on the database without RLS:
// the guard's mode per table and tenant, the strictest of a statement's
// tables, a change of the file applied while the *sql.DB runs, a bad
// file leaving the rules in place, and the kill switch back to the DSN.
func TestFlags(t *testing.T) {
	d := noRLSCaseDB(t)
	path := filepath.Join(t.TempDir(), "flags.json")
	write := func(s string) { // replaced whole, as deployment tools do
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"guard": {"default": "audit", "tables": {"invoices": "enforce"}, "tenants": {"t02": "off"}}, "rewrite": {"default": "off"}}`)
	ev := &events{}
	db := sqlOpenDB(t, openGuarded(t, d, guard.Off, ev, "tenant_flags="+path))
	var v *guard.Violation
	refused := func(ctx context.Context, q string) bool {
		t.Helper()
		rows, err := db.QueryContext(ctx, q)
		if err == nil {
			rows.Close()
			return false
		}
		if !errors.As(err, &v) {
			t.Fatalf("%s: %v", q, err)
		}
		return true
	}
	violations := func() int {
		n := 0
		for _, e := range ev.take() {
			if e.Kind == event.GuardViolation {
				n++
			}
		}
		return n
	}
	t01, t02 := caseTenant(1), caseTenant(2)
	if !refused(t01, "SELECT * FROM invoices") {
		t.Fatal("invoices: enforce did not refuse")
	}
	violations()
	if refused(t01, "SELECT * FROM customers") || violations() != 1 {
		t.Fatal("customers: audit did not run and report")
	}
	if !refused(t01, "SELECT * FROM customers c JOIN invoices i ON i.customer_id = c.id") {
		t.Fatal("the strictest table did not decide")
	}
	violations()
	if refused(t02, "SELECT * FROM invoices") || violations() != 0 {
		t.Fatal("t02: off did not run silently")
	}
	// A change applies while the DB runs: the rewrite on for everyone.
	write(`{"guard": {"default": "enforce"}, "rewrite": {"default": "on"}}`)
	deadline := time.Now().Add(10 * time.Second)
	for {
		rows, err := db.QueryContext(t01, "SELECT tenant_id FROM invoices")
		if err == nil {
			seen, err := collectTenants(rows)
			if err != nil {
				t.Fatal(err)
			}
			wantOnlyCase(t, seen, "t01", 3)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the changed file was not applied: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A bad file changes nothing.
	write(`{"guard": {"default": "strict"}}`)
	time.Sleep(2500 * time.Millisecond)
	wantOnlyCase(t, tenantsSeen(t, db, t02, "SELECT tenant_id FROM invoices"), "t02", 3)
	// The kill switch: the DSN's modes (guard and rewrite off).
	write(`{"guard": {"default": "enforce"}, "rewrite": {"default": "on"}, "kill_switch": true}`)
	deadline = time.Now().Add(10 * time.Second)
	for len(tenantsSeen(t, db, t01, "SELECT tenant_id FROM invoices")) != 3 {
		if time.Now().After(deadline) {
			t.Fatal("the kill switch was not applied")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestFlagsOptions: WithFlags and tenant_flags do not combine; a nil
// *flags.Flags is no flags.
func TestFlagsOptions(t *testing.T) {
	d := noRLSCaseDB(t)
	path := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(path, []byte(`{}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(d.AppDSN + " tenant_flags=" + path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := flags.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := driver.NewConnector(*cfg, driver.WithFlags(f)); err == nil {
		t.Fatal("tenant_flags and WithFlags accepted together")
	}
	if cfg, err = pgx.ParseConfig(d.AppDSN); err != nil {
		t.Fatal(err)
	}
	c, err := driver.NewConnector(*cfg, driver.WithFlags((*flags.Flags)(nil)), driver.WithGuard(guard.Enforce))
	if err != nil {
		t.Fatal(err)
	}
	db := sqlOpenDB(t, c)
	if _, err := db.QueryContext(caseTenant(1), "SELECT * FROM invoices"); !errors.As(err, new(*guard.Violation)) {
		t.Fatalf("nil flags: %v, want the DSN's enforce", err)
	}
}

// TestFlagsBadFile: a bad flag file fails sql.Open's connector at once.
func TestFlagsBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(path, []byte(`{"guard": {"default": "strict"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := (&driver.Driver{}).OpenConnector("host=localhost tenant_flags=" + path); err == nil {
		t.Fatal("a bad flag file accepted")
	}
}

// TestLearnInAudit: under audit, a Learner behind Limit collects each
// unscoped statement once per fingerprint, with a sample SQL without
// values, while a hot statement reaches the log handler once.
func TestLearnInAudit(t *testing.T) {
	d := noRLSCaseDB(t)
	learn := event.NewLearner()
	logged := &events{}
	db := sqlOpenDB(t, openGuarded(t, d, guard.Audit, event.Tee(learn, event.Limit(logged, time.Hour))))
	ctx := caseTenant(1)
	for i := 0; i < 20; i++ {
		tenantsSeen(t, db, ctx, "SELECT tenant_id FROM invoices WHERE status = 'secret-42' AND id > $1", i)
		tenantsSeen(t, db, ctx, fmt.Sprintf("SELECT tenant_id FROM customers WHERE id > %d", i)) // one fingerprint
	}
	tenantsSeen(t, db, ctx, "SELECT tenant_id FROM invoices WHERE tenant_id = $1", "t01") // scoped: not learned
	got := learn.Statements()
	if len(got) != 2 {
		t.Fatalf("learned %+v", got)
	}
	for _, s := range got {
		if strings.Contains(s.SQL, "secret") || s.SQL == "" || s.Rule != guard.RuleUnscoped || s.Mode != "audit" {
			t.Fatalf("learned %+v", s)
		}
	}
	if got[0].Table != "customers" || got[0].Count != 20 || got[1].Table != "invoices" || got[1].Count != 20 {
		t.Fatalf("learned %+v, want 20 executions of each", got)
	}
	n := 0
	for _, e := range logged.take() {
		if e.Kind == event.GuardViolation {
			n++
		}
	}
	if n != 2 {
		t.Fatalf("%d violation events reached the limited handler, want 2 (one per statement)", n)
	}
}

// TestFlagsRequired: the rules can require a tenant per table.
func TestFlagsRequired(t *testing.T) {
	d := noRLSCaseDB(t)
	path := filepath.Join(t.TempDir(), "flags.json")
	if err := os.WriteFile(path, []byte(`{"required": {"default": "off", "tables": {"invoices": "on"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	db := sqlOpenDB(t, openGuarded(t, d, guard.Off, &events{}, "tenant_flags="+path))
	none := context.Background()
	if _, err := db.QueryContext(none, "SELECT * FROM invoices"); !errors.Is(err, driver.ErrNoTenant) {
		t.Fatalf("invoices without a tenant: %v, want ErrNoTenant", err)
	}
	rows, err := db.QueryContext(none, "SELECT * FROM customers")
	if err != nil {
		t.Fatalf("customers without a tenant: %v", err)
	}
	rows.Close()
}
