package openfeature_test

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5"
	of "github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/flags"
	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	ptof "github.com/pgx-tenant/pgx-tenant/openfeature"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

// provider serves the guard flag: enforce on invoices, off for tenant
// t09, audit elsewhere; and a rewrite flag whose value is not a mode.
func provider(t *testing.T) *of.Client {
	t.Helper()
	guardRule := func(this memprovider.InMemoryFlag, ec of.FlattenedContext) (any, of.ProviderResolutionDetail) {
		variant := "audit"
		switch {
		case ec[of.TargetingKey] == "t09":
			variant = "off"
		case ec["table"] == "invoices":
			variant = "enforce"
		}
		return this.Variants[variant], of.ProviderResolutionDetail{Variant: variant, Reason: of.TargetingMatchReason}
	}
	p := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		ptof.GuardKey: {
			Key: ptof.GuardKey, State: memprovider.Enabled, DefaultVariant: "audit",
			Variants:         map[string]any{"audit": "audit", "enforce": "enforce", "off": "off"},
			ContextEvaluator: &guardRule,
		},
		ptof.RewriteKey: {
			Key: ptof.RewriteKey, State: memprovider.Enabled, DefaultVariant: "bad",
			Variants: map[string]any{"bad": "sometimes"},
		},
	})
	if err := of.SetNamedProviderAndWait(t.Name(), p); err != nil {
		t.Fatal(err)
	}
	return of.NewClient(t.Name())
}

func TestDecide(t *testing.T) {
	d := ptof.New(provider(t), flags.Defaults{flags.Rewrite: "audit", flags.Required: "on"})
	for _, c := range []struct {
		tenant string
		tables []string
		want   flags.Decision
	}{
		{"t01", []string{"customers"}, flags.Decision{Guard: "audit", Rewrite: "audit", Required: "on"}},
		{"t01", []string{"customers", "invoices"}, flags.Decision{Guard: "enforce", Rewrite: "audit", Required: "on"}},
		{"t09", []string{"invoices"}, flags.Decision{Guard: "off", Rewrite: "audit", Required: "on"}},
		{"t01", nil, flags.Decision{Guard: "audit", Rewrite: "audit", Required: "on"}},
	} {
		if got := d.Decide(c.tenant, c.tables...); got != c.want {
			t.Errorf("Decide(%s, %v) = %+v, want %+v", c.tenant, c.tables, got, c.want)
		}
	}
}

// TestThroughTheDriver: the flag service's guard mode decides what the
// driver refuses, per table and tenant, against PostgreSQL.
func TestThroughTheDriver(t *testing.T) {
	db0 := pgtest.NewDatabase(t)
	ctx := context.Background()
	if err := db0.ExecOwner(ctx,
		"CREATE TABLE invoices (id int, tenant_id text)", "CREATE TABLE customers (id int, tenant_id text)",
		"GRANT SELECT ON invoices, customers TO "+db0.AppRole); err != nil {
		t.Fatal(err)
	}
	cfg, err := pgx.ParseConfig(db0.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	c, err := driver.NewConnector(*cfg, driver.WithFlags(ptof.New(provider(t), nil)))
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(c)
	defer db.Close()
	query := func(id, q string) error {
		rows, err := db.QueryContext(tenant.NewContext(ctx, id), q)
		if err == nil {
			rows.Close()
		}
		return err
	}
	var v *guard.Violation
	if err := query("t01", "SELECT * FROM invoices"); !errors.As(err, &v) {
		t.Fatalf("invoices for t01: %v, want a violation (enforce)", err)
	}
	if err := query("t01", "SELECT * FROM customers"); err != nil {
		t.Fatalf("customers for t01 (audit): %v", err)
	}
	if err := query("t09", "SELECT * FROM invoices"); err != nil {
		t.Fatalf("invoices for t09 (off): %v", err)
	}
}
