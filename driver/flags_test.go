package driver_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/guard"
)

// TestFlags runs the driver with tenant_flags on the database without RLS:
// the guard's mode per table and tenant, the strictest of a statement's
// tables, a change of the file applied while the *sql.DB runs, a bad
// file leaving the rules in place, and the kill switch back to the DSN.
func TestFlags(t *testing.T) {
	d := noRLSCaseDB(t)
	path := filepath.Join(t.TempDir(), "flags.json")
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
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
