package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgx-tenant/pgx-tenant/internal/backfill/backfilltest"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func backfillWant(tb testing.TB, what, got string, wants ...string) {
	tb.Helper()
	for _, w := range wants {
		if !strings.Contains(got, w) {
			tb.Errorf("%s lacks %q:\n%s", what, w, got)
		}
	}
}

// backfillRun runs pgx-tenant backfill with args, failing tb unless it
// exits with wantCode.
func backfillRun(tb testing.TB, wantCode int, args ...string) result {
	tb.Helper()
	r := runCLI(tb, nil, append([]string{"backfill"}, args...)...)
	tb.Logf("backfill %s:\n%s", args[0], r.stdout)
	if r.code != wantCode {
		tb.Fatalf("backfill %s: code %d, want %d; stderr:\n%s", strings.Join(args, " "), r.code, wantCode, r.stderr)
	}
	return r
}

// TestBackfillCLI: plan prints the order, counts, sources, statements and
// migrations; apply fills everything and says so; a second apply has
// nothing to do; --apply-constraints runs the rest.
func TestBackfillCLI(t *testing.T) {
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 2000)

	r := backfillRun(t, exitOK, "plan", "--dsn", d.OwnerDSN, "--batch-size", "500")
	backfillWant(t, "plan", r.stdout,
		"Backfill plan for tenant_id: 10 tenant-owned tables, parents first:",
		"1. idempotency_keys: no NULL tenant_id",
		"4. service_requests: 150 NULL, 150 resolvable",
		"5. bookings: 1000 NULL, 1000 resolvable",
		"bookings_service_request_id_fkey (service_request_id → service_requests.id), NOT NULL",
		"tenant from (COALESCE in this order; parents that disagree leave the row unresolved):",
		"each batch (at most 500 rows",
		`WITH batch AS MATERIALIZED (`,
		`UPDATE ONLY "public"."invoices" t SET "tenant_id" = (SELECT CASE WHEN`,
		`ALTER TABLE "public"."bookings" ADD CONSTRAINT "tenant_id_not_null_pgx_tenant" CHECK ("tenant_id" IS NOT NULL) NOT VALID;`,
		`ALTER TABLE "public"."bookings" ALTER COLUMN "tenant_id" SET NOT NULL;`,
		`CREATE UNIQUE INDEX CONCURRENTLY "services_tenant_id_id_key" ON "public"."services" ("tenant_id", "id");`,
		`CREATE INDEX CONCURRENTLY "attachments_tenant_id_invoice_id_idx" ON "public"."attachments" ("tenant_id", "invoice_id");`,
		`FOREIGN KEY ("tenant_id", "invoice_id") REFERENCES "public"."invoices" ("tenant_id", "id") ON DELETE SET NULL ("invoice_id") NOT VALID;`,
		`ALTER TABLE "public"."attachments" RENAME CONSTRAINT "attachments_invoice_id_fkey_tenant" TO "attachments_invoice_id_fkey";`,
		"4580 rows to fill.",
	)

	r = runCLI(t, []string{"DATABASE_URL=" + d.OwnerDSN}, "backfill", "apply", "--batch-size", "500")
	t.Logf("backfill apply:\n%s\nstderr:\n%s", r.stdout, r.stderr)
	if r.code != exitOK {
		t.Fatalf("apply: code %d, stderr %s", r.code, r.stderr)
	}
	backfillWant(t, "apply", r.stdout,
		"idempotency_keys: no NULL tenant_id; tenant_id is NOT NULL now\n",
		"scheduled_reminders: filled 2000 of 2000 NULL in",
		"tenant_id is NOT NULL now",
		"Still to run (or run apply again with --apply-constraints):",
		`CREATE UNIQUE INDEX CONCURRENTLY "bookings_tenant_id_id_key"`,
	)
	backfillWant(t, "apply's log", r.stderr, "pgx-tenant: backfill: scheduled_reminders: filled 2000/2000 rows in")
	if strings.Contains(r.stderr, "\r") {
		t.Errorf("progress drawn with carriage returns on a non-terminal:\n%q", r.stderr)
	}
	backfilltest.WantState(t, backfilltest.Conn(t, d.AdminDSN), nil)

	r = runCLI(t, nil, "backfill", "apply", "--dsn", d.OwnerDSN, "--apply-constraints")
	if r.code != exitOK || strings.Contains(r.stdout, "filled") || !strings.Contains(r.stdout, "applied 29 index and foreign-key migrations") {
		t.Errorf("apply --apply-constraints: code %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "backfill", "apply", "--dsn", d.OwnerDSN, "--apply-constraints")
	if r.code != exitOK || strings.Contains(r.stdout, "filled") || strings.Contains(r.stdout, "applied") ||
		strings.Count(r.stdout, "is NOT NULL already") != len(backfilltest.Tables) {
		t.Errorf("third apply: code %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "backfill", "plan", "--dsn", d.OwnerDSN)
	if r.code != exitOK || strings.Contains(r.stdout, "Migrations") || !strings.Contains(r.stdout, "0 rows to fill.") {
		t.Errorf("plan when done: code %d\n%s", r.code, r.stdout)
	}
}

// TestBackfillCLIStops: rows that cannot be derived make plan and apply
// exit 1, apply naming the rows, the reason and the tables it left alone.
func TestBackfillCLIStops(t *testing.T) {
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 100)
	backfilltest.Exec(t, d, `UPDATE work_orders SET booking_id = NULL WHERE id IN (5, 9)`)
	r := backfillRun(t, exitFindings, "plan", "--dsn", d.OwnerDSN)
	backfillWant(t, "plan", r.stdout,
		"7. work_orders: 500 NULL, 498 resolvable, 2 unresolved",
		"2 rows: its foreign key columns are NULL (keys: 5, 9)",
		"9. invoices: 400 NULL, 398 resolvable, 2 unresolved",
		"2 rows: the row it references has no tenant, and none can be derived for it (keys: 5, 9)",
		"apply would stop at work_orders.",
	)
	r = backfillRun(t, exitFindings, "apply", "--dsn", d.OwnerDSN)
	backfillWant(t, "apply", r.stdout,
		"bookings: filled 1000 of 1000 NULL in",
		"work_orders: filled 498 of 500 NULL\n",
		"work_orders: stopped: 2 rows whose tenant_id cannot be derived",
		"2 rows: its foreign key columns are NULL (keys: 5, 9)",
		"Not touched: expenses, invoices, attachments.",
	)
	if strings.Contains(r.stdout, "expenses: filled") {
		t.Errorf("apply went past the stop:\n%s", r.stdout)
	}
	backfilltest.WantState(t, backfilltest.Conn(t, d.AdminDSN), map[string]int64{
		"work_orders.booking_id": 2, "invoices.work_order_id": 400, "invoices.booking_id": 400,
		"expenses.work_order_id": 300, "attachments.invoice_id": 200, "attachments.expense_id": 200,
	}, "attachments", "expenses", "invoices", "work_orders")
}

// TestBackfillCLIRowSecurity: as the owner of a table with FORCE ROW
// LEVEL SECURITY, NULL tenants are invisible: the command says which role
// it needs, and never prints a count.
func TestBackfillCLIRowSecurity(t *testing.T) {
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 100)
	backfilltest.Exec(t, d,
		`ALTER TABLE bookings ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE bookings FORCE ROW LEVEL SECURITY`,
		`CREATE POLICY tenant ON bookings USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')))`,
	)
	for _, cmd := range []string{"plan", "apply"} {
		r := runCLI(t, nil, "backfill", cmd, "--dsn", d.OwnerDSN)
		if r.code != exitError || r.stdout != "" {
			t.Errorf("%s: code %d, stdout %q", cmd, r.code, r.stdout)
		}
		backfillWant(t, cmd+"'s error", r.stderr, "row-level security applies to role", "bookings (FORCE ROW LEVEL SECURITY", "superuser or a role with BYPASSRLS")
	}
	r := backfillRun(t, exitOK, "apply", "--dsn", d.AdminDSN)
	backfillWant(t, "apply as superuser", r.stdout, "bookings: filled 1000 of 1000 NULL")
	backfilltest.WantState(t, backfilltest.Conn(t, d.AdminDSN), nil)
}

// TestBackfillCLIProgress: on a terminal, progress is one line redrawn
// with carriage returns.
func TestBackfillCLIProgress(t *testing.T) {
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 3000)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, []string{"backfill", "apply", "--dsn", d.OwnerDSN, "--batch-size", "1000", "--table", "services,service_requests", "--table", "bookings,scheduled_reminders"},
		&env{stdout: &out, stderr: &errb, getenv: func(string) string { return "" }, terminal: true})
	if code != exitOK {
		t.Fatalf("code %d\n%s\n%s", code, out.String(), errb.String())
	}
	backfillWant(t, "progress", errb.String(), "\r\033[Kscheduled_reminders: 1000/3000 rows,", "\r\033[Kscheduled_reminders: 3000/3000 rows,", "rows/s\n")
	if strings.Contains(out.String(), "work_orders") {
		t.Errorf("--table: went to other tables:\n%s", out.String())
	}
}

func TestBackfillCLIUsage(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"backfill", "apply", "--batch-size", "0", "--dsn", "postgres://x"}, "--batch-size: 0"},
		{[]string{"backfill", "apply", "--lock-timeout", "0s", "--dsn", "postgres://x"}, "--lock-timeout"},
		{[]string{"backfill", "plan"}, "no database: pass --dsn or set DATABASE_URL"},
		{[]string{"backfill", "plan", "--dsn", "postgres://x", "extra"}, "unexpected arguments"},
	} {
		r := runCLI(t, nil, tc.args...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.wantErr) {
			t.Errorf("%v: code %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.wantErr)
		}
	}
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 10)
	r := runCLI(t, nil, "backfill", "plan", "--dsn", d.OwnerDSN, "--table", "nope")
	if r.code != exitError || !strings.Contains(r.stderr, `"nope" is not a tenant-owned table`) {
		t.Errorf("--table nope: code %d, stderr %q", r.code, r.stderr)
	}
}

// TestBackfillCLIConflict: a booking whose tenant differs from its
// service request's: plan shows it and where apply stops, exit 1; apply
// stops before the reminders, which would inherit it, exit 1.
func TestBackfillCLIConflict(t *testing.T) {
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 100)
	backfilltest.Exec(t, d, `UPDATE bookings SET tenant_id = 'globex' WHERE id = 7`)
	r := backfillRun(t, exitFindings, "plan", "--dsn", d.OwnerDSN)
	backfillWant(t, "plan", r.stdout,
		"apply stops before this table: bookings has tenants that differ from their parent's (below)",
		"  bookings:\n     1 row whose tenant differs from the row they reference through bookings_service_request_id_fkey → service_requests (keys: 7)",
		": apply would stop at scheduled_reminders.",
	)
	r = backfillRun(t, exitFindings, "apply", "--dsn", d.OwnerDSN)
	backfillWant(t, "apply", r.stdout,
		"bookings: filled 999 of 999 NULL",
		"scheduled_reminders: stopped before it: its tenant_id is derived from bookings, where rows have a tenant_id that differs from the row they reference:",
		"Not touched: work_orders, expenses, invoices, attachments.",
	)
	backfilltest.WantState(t, backfilltest.Conn(t, d.AdminDSN), map[string]int64{
		"bookings.service_request_id": 1, "scheduled_reminders.booking_id": 100, "work_orders.booking_id": 500,
		"invoices.work_order_id": 400, "invoices.booking_id": 400, "expenses.work_order_id": 300,
		"attachments.invoice_id": 200, "attachments.expense_id": 200,
	}, "attachments", "expenses", "invoices", "scheduled_reminders", "work_orders")
}
