package rls_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/internal/rls"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// policies lists table's policies as "name cmd permissive roles", as the
// admin sees them.
func policies(t *testing.T, d *pgtest.Database, table string) []string {
	t.Helper()
	var out []string
	err := connect(t, d.AdminDSN).QueryRow(context.Background(), `
		SELECT ARRAY(SELECT polname || ' ' || polcmd::text || ' ' || polpermissive || ' ' || polroles::text
		             FROM pg_policy WHERE polrelid = $1::regclass ORDER BY 1)`, table).Scan(&out)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestApplyExistingPolicies: a same-named policy for one command, for a
// role, or restrictive, becomes the tenant policy; quoted mixed-case names
// are idempotent; an unknown table changes nothing.
func TestApplyExistingPolicies(t *testing.T) {
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	if err := d.ExecOwner(ctx,
		`CREATE SCHEMA "Billing"`,
		`CREATE TABLE "Billing"."Invoices" (tenant_id bigint NOT NULL, id int)`,
		`CREATE TABLE sel (tenant_id uuid NOT NULL, id int)`,
		`CREATE TABLE restr (tenant_id text NOT NULL, id int)`,
		`CREATE POLICY tenant_isolation ON "Billing"."Invoices" FOR SELECT TO `+d.AppRole+` USING (true)`,
		`CREATE POLICY tenant_isolation ON sel TO `+d.AppRole+` USING (true)`,
		`CREATE POLICY tenant_isolation ON restr AS RESTRICTIVE USING (true)`,
		`INSERT INTO "Billing"."Invoices" VALUES (1, 1), (2, 2)`,
		`GRANT USAGE ON SCHEMA "Billing" TO `+d.AppRole,
		`GRANT SELECT ON "Billing"."Invoices" TO `+d.AppRole,
	); err != nil {
		t.Fatal(err)
	}
	owner := connect(t, d.OwnerDSN)
	opts := rls.Options{Force: true, Tables: []string{`"Billing"."Invoices"`, "sel", "restr"}}

	if _, err := rls.Apply(ctx, owner, rls.Options{Tables: []string{"restr", "nope"}}); err == nil || !strings.Contains(err.Error(), `"nope" not found`) {
		t.Errorf("unknown table: %v", err)
	}
	if got := policies(t, d, "restr"); len(got) != 1 || !strings.HasSuffix(got[0], " * false {0}") {
		t.Errorf("unknown table: restr changed: %v", got)
	}

	p, err := rls.Apply(ctx, owner, opts)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]rls.PolicyAction{`"Billing"."Invoices"`: rls.PolicyReplaced, "public.sel": rls.PolicyUpdated, "public.restr": rls.PolicyReplaced}
	for _, tb := range p.Tables {
		if tb.Policy != want[tb.Name] || !tb.Enable || !tb.Force {
			t.Errorf("%s: %s (enable %v, force %v), want %s", tb.Name, tb.Policy, tb.Enable, tb.Force, want[tb.Name])
		}
	}
	for _, table := range []string{`"Billing"."Invoices"`, "sel", "restr"} {
		if got := policies(t, d, table); len(got) != 1 || got[0] != "tenant_isolation * true {0}" {
			t.Errorf("%s: policies %v", table, got)
		}
	}
	p, err = rls.Apply(ctx, owner, opts)
	if err != nil || p.Changed() {
		t.Errorf("second apply: changed %v, %v", p != nil && p.Changed(), err)
	}
	// What the app role sees through the replaced policy (bigint column:
	// the setting is cast, and an unset one matches nothing).
	app := connect(t, d.AppDSN)
	for _, tc := range []struct {
		tenant string
		want   string
	}{{"1", "1"}, {"2", "2"}, {"", ""}} {
		var got string
		_, err := app.Exec(ctx, `SELECT pg_catalog.set_config('app.tenant_id', $1, false)`, tc.tenant)
		if err == nil {
			err = app.QueryRow(ctx, `SELECT COALESCE(string_agg(id::text, ','), '') FROM "Billing"."Invoices"`).Scan(&got)
		}
		if err != nil || got != tc.want {
			t.Errorf("tenant %q sees ids %q (%v), want %q", tc.tenant, got, err, tc.want)
		}
	}
	// permissive and back: an ALTER each way, then nothing.
	for _, stage := range []rls.Stage{rls.Permissive, rls.Strict} {
		o := opts
		o.Stage = stage
		p, err := rls.Apply(ctx, owner, o)
		if err != nil {
			t.Fatal(err)
		}
		for _, tb := range p.Tables {
			if tb.Policy != rls.PolicyUpdated || tb.Enable || tb.Force {
				t.Errorf("%s → %s: %+v", tb.Name, stage, tb)
			}
		}
		if p, err := rls.Apply(ctx, owner, o); err != nil || p.Changed() {
			t.Errorf("%s again: %v", stage, err)
		}
	}
}

// TestApplyLockTimeout: a table locked by a long transaction makes Apply
// give up after LockTimeout, changing nothing, instead of queueing an
// ACCESS EXCLUSIVE lock that blocks every reader behind it.
func TestApplyLockTimeout(t *testing.T) {
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	if err := d.ExecOwner(ctx, "CREATE TABLE a (tenant_id text)", "CREATE TABLE b (tenant_id text)"); err != nil {
		t.Fatal(err)
	}
	holder := connect(t, d.AdminDSN)
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "SELECT * FROM b"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = rls.Apply(ctx, connect(t, d.OwnerDSN), rls.Options{LockTimeout: "300ms"})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) || pgErr.Code != "55P03" || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("err %v, want a lock timeout saying nothing was changed", err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("took %v", el)
	}
	if got := policies(t, d, "a"); len(got) != 0 {
		t.Errorf("a changed: %v", got)
	}
	// A reader of a is not blocked once Apply gave up.
	reader := connect(t, d.AdminDSN)
	rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := reader.Exec(rctx, "SELECT * FROM a"); err != nil {
		t.Errorf("reader of a: %v", err)
	}
}
