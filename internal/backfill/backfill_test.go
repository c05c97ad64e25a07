package backfill_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgx-tenant/pgx-tenant/internal/backfill"
	"github.com/pgx-tenant/pgx-tenant/internal/backfill/backfilltest"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func ctxFor(tb testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	tb.Cleanup(cancel)
	return ctx
}

func names(ts []*backfill.Table) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.String())
	}
	return out
}

// newPlan plans on conn, failing tb on an error.
func newPlan(tb testing.TB, conn *pgx.Conn, opts backfill.Options) *backfill.Plan {
	tb.Helper()
	p, err := backfill.NewPlan(ctxFor(tb), conn, opts)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// wantInherited fails tb unless every row of child has a tenant, the
// tenant of the row of parent its column fk references by key (when set).
func wantInherited(tb testing.TB, conn *pgx.Conn, child, fk, parent, key string) {
	tb.Helper()
	c, p := pgx.Identifier{child}.Sanitize(), pgx.Identifier{parent}.Sanitize()
	f, k := pgx.Identifier{fk}.Sanitize(), pgx.Identifier{key}.Sanitize()
	var n int64
	q := fmt.Sprintf(`SELECT count(*) FROM %s c LEFT JOIN %s p ON p.%s = c.%s
		WHERE c.tenant_id IS NULL OR (c.%s IS NOT NULL AND c.tenant_id IS DISTINCT FROM p.tenant_id)`, c, p, k, f, f)
	if err := conn.QueryRow(ctxFor(tb), q).Scan(&n); err != nil {
		tb.Fatal(err)
	}
	if n != 0 {
		tb.Errorf("%s: %d rows whose tenant is NULL or not their %s's (through %s)", child, n, parent, fk)
	}
}

func table(t *testing.T, p *backfill.Plan, name string) *backfill.Table {
	t.Helper()
	for _, tb := range p.Tables {
		if tb.Name == name {
			return tb
		}
	}
	t.Fatalf("no table %s in the plan", name)
	return nil
}

// TestSeed backfills the whole seed schema as its owner: the plan's order
// and counts, then zero NULLs, every tenant equal to its parents', NOT
// NULL everywhere, the constraints applied; a second run has nothing to do.
func TestSeed(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, backfilltest.Reminders)
	conn := backfilltest.Conn(t, d.OwnerDSN)

	p := newPlan(t, conn, backfill.Options{ApplyConstraints: true})
	if got := names(p.Tables); !slices.Equal(got, backfilltest.Tables) {
		t.Errorf("order %v, want %v", got, backfilltest.Tables)
	}
	for name, want := range map[string][2]int64{ // NULL rows, resolvable
		"services": {0, 0}, "idempotency_keys": {0, 0}, "service_requests": {150, 150},
		"bookings": {1000, 1000}, "invoices": {400, 400}, "attachments": {200, 200},
		"scheduled_reminders": {backfilltest.Reminders, backfilltest.Reminders},
	} {
		tb := table(t, p, name)
		if tb.NullRows != want[0] || tb.Resolvable != want[1] || len(tb.Unresolved) > 0 {
			t.Errorf("%s: %d NULL, %d resolvable, unresolved %v; want %d, %d, none", name, tb.NullRows, tb.Resolvable, tb.Unresolved, want[0], want[1])
		}
	}
	inv := table(t, p, "invoices")
	if len(inv.Sources) != 2 || inv.Sources[0].Constraint != "invoices_booking_id_fkey" {
		t.Errorf("invoices sources %v, want booking then work order (by name; both nullable)", inv.Sources)
	}
	if !strings.Contains(inv.Batch, "COALESCE") || !strings.Contains(inv.Batch, `"public"."work_orders"`) {
		t.Errorf("invoices batch:\n%s", inv.Batch)
	}

	var reminders backfill.TableResult
	res, err := backfill.Apply(ctx, conn, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Tables {
		if tr.Table == "scheduled_reminders" {
			reminders = tr
		}
		if !tr.SetNotNull {
			t.Errorf("%s: not set NOT NULL", tr.Table)
		}
	}
	t.Logf("scheduled_reminders: %d rows in %v: %.0f rows/s", reminders.Filled, reminders.Elapsed.Round(time.Millisecond), reminders.RowsPerSecond())
	if reminders.Filled != backfilltest.Reminders {
		t.Errorf("scheduled_reminders: filled %d", reminders.Filled)
	}
	backfilltest.WantState(t, conn, nil)
	if !res.ConstraintsApplied || len(res.Migrations) == 0 {
		t.Errorf("constraints applied %v, %d migrations", res.ConstraintsApplied, len(res.Migrations))
	}
	var composite int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND array_length(conkey, 1) = 2 AND convalidated`).Scan(&composite); err != nil {
		t.Fatal(err)
	}
	if composite != 10 {
		t.Errorf("%d validated composite foreign keys, want 10", composite)
	}
	// A row of another tenant can no longer be referenced.
	if _, err := conn.Exec(ctx, `INSERT INTO scheduled_reminders (id, tenant_id, booking_id) VALUES (0, 'globex', (SELECT id FROM bookings WHERE tenant_id = 'acme' LIMIT 1))`); err == nil {
		t.Error("a reminder of globex referencing a booking of acme was accepted")
	}

	// Again: nothing to do.
	p = newPlan(t, conn, backfill.Options{})
	if len(p.Migrations) > 0 {
		t.Errorf("migrations left: %v", p.Migrations)
	}
	res, err = backfill.Apply(ctx, conn, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Tables {
		if !tr.AlreadyNotNull || tr.Filled > 0 {
			t.Errorf("second run: %+v", tr)
		}
	}
}

// TestResume cancels Apply in the middle of the big table, then runs it
// again: it goes on, and ends in the same state as one run.
func TestResume(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 30_000)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p := newPlan(t, conn, backfill.Options{BatchSize: 1000})
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	_, err := backfill.Apply(cctx, conn, p, func(pr backfill.Progress) {
		if pr.Table == "scheduled_reminders" && pr.Done >= 10_000 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("apply cancelled: %v", err)
	}
	conn = backfilltest.Conn(t, d.OwnerDSN) // a cancelled query may leave the connection closed
	var filled, null int64
	if err := conn.QueryRow(ctx, `SELECT count(tenant_id), count(*) - count(tenant_id) FROM scheduled_reminders`).Scan(&filled, &null); err != nil {
		t.Fatal(err)
	}
	if filled < 10_000 || null == 0 {
		t.Fatalf("after cancel: %d filled, %d NULL; want a table half done", filled, null)
	}
	// bookings done; scheduled_reminders half done, each filled row with
	// its booking's tenant; the tables after it untouched.
	backfilltest.WantState(t, conn, map[string]int64{
		"scheduled_reminders.booking_id": null, "work_orders.booking_id": 500,
		"invoices.work_order_id": 400, "invoices.booking_id": 400, "expenses.work_order_id": 300,
		"attachments.invoice_id": 200, "attachments.expense_id": 200,
	}, "attachments", "expenses", "invoices", "scheduled_reminders", "work_orders")

	p = newPlan(t, conn, backfill.Options{BatchSize: 1000})
	if r := table(t, p, "scheduled_reminders"); r.NullRows != null {
		t.Errorf("plan after cancel: %d NULL, want %d", r.NullRows, null)
	}
	res, err := backfill.Apply(ctx, conn, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tr := range res.Tables {
		if tr.Table == "scheduled_reminders" && tr.Filled != null {
			t.Errorf("resumed: filled %d, want the %d left", tr.Filled, null)
		}
	}
	backfilltest.WantState(t, conn, nil)
}

// TestStopsAtUnresolved: a work order without a booking stops Apply at
// work_orders, exit-1 material: the tables before are done, work_orders
// keeps its column nullable, the ones after are untouched.
func TestStopsAtUnresolved(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 1000)
	backfilltest.Exec(t, d,
		`UPDATE work_orders SET booking_id = NULL WHERE id IN (5, 9)`,
		`INSERT INTO idempotency_keys VALUES ('orphan', NULL)`,
	)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p := newPlan(t, conn, backfill.Options{})
	wo := table(t, p, "work_orders")
	want := []backfill.Unresolved{{Reason: backfill.ForeignKeyNull, Rows: 2, Sample: []string{"5", "9"}}}
	if wo.NullRows != 500 || wo.Resolvable != 498 || !equalUnresolved(wo.Unresolved, want) {
		t.Errorf("work_orders: %d NULL, %d resolvable, %+v", wo.NullRows, wo.Resolvable, wo.Unresolved)
	}
	// Invoices of those work orders without a booking: their parent's
	// tenant stays NULL.
	if inv := table(t, p, "invoices"); !equalUnresolved(inv.Unresolved, []backfill.Unresolved{{Reason: backfill.ParentTenantNull, Rows: 2, Sample: []string{"5", "9"}}}) {
		t.Errorf("invoices unresolved: %+v", inv.Unresolved)
	}
	ik := table(t, p, "idempotency_keys")
	if !equalUnresolved(ik.Unresolved, []backfill.Unresolved{{Reason: backfill.NoForeignKey, Rows: 1, Sample: []string{"orphan"}}}) {
		t.Errorf("idempotency_keys unresolved: %+v", ik.Unresolved)
	}

	// Apply stops at the first: idempotency_keys.
	_, err := backfill.Apply(ctx, conn, p, nil)
	var ue *backfill.UnresolvedError
	if !errors.As(err, &ue) || ue.Table.Name != "idempotency_keys" || len(ue.Untouched) != len(backfilltest.Tables)-1 {
		t.Fatalf("apply: %v", err)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM idempotency_keys WHERE key = 'orphan'`); err != nil {
		t.Fatal(err)
	}
	_, err = backfill.Apply(ctx, conn, p, nil)
	if !errors.As(err, &ue) || ue.Table.Name != "work_orders" || !equalUnresolved(ue.Unresolved, want) {
		t.Fatalf("apply: %v", err)
	}
	if !slices.Equal(ue.Untouched, []string{"expenses", "invoices", "attachments"}) {
		t.Errorf("untouched %v", ue.Untouched)
	}
	// The tables before work_orders done, each row with its parent's
	// tenant; work_orders filled but for its 2 rows; the tables after
	// untouched.
	backfilltest.WantState(t, conn, map[string]int64{
		"work_orders.booking_id": 2, "invoices.work_order_id": 400, "invoices.booking_id": 400,
		"expenses.work_order_id": 300, "attachments.invoice_id": 200, "attachments.expense_id": 200,
	}, "attachments", "expenses", "invoices", "work_orders")
	// The NOT NULL sequence never began on the table it stopped at: no
	// check is left refusing the application's NULL tenants.
	var checks []string
	rows, err := conn.Query(ctx, `SELECT conrelid::regclass::text FROM pg_constraint WHERE conname = 'tenant_id_not_null_pgx_tenant' ORDER BY 1`)
	if err == nil {
		checks, err = pgx.CollectRows(rows, pgx.RowTo[string])
	}
	if err != nil || len(checks) > 0 {
		t.Errorf("NOT NULL checks left on %v (%v)", checks, err)
	}
	for table, wantNull := range map[string]int64{"work_orders": 2, "expenses": 300, "invoices": 400, "attachments": 200} {
		var n int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()+" WHERE tenant_id IS NULL").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != wantNull {
			t.Errorf("%s: %d NULL, want %d", table, n, wantNull)
		}
	}
}

func equalUnresolved(a, b []backfill.Unresolved) bool {
	return slices.EqualFunc(a, b, func(x, y backfill.Unresolved) bool {
		return x.Reason == y.Reason && x.Rows == y.Rows && slices.Equal(x.Sample, y.Sample)
	})
}

// TestDisagree: an invoice whose work order and booking belong to two
// tenants is unresolved, never one of them picked.
func TestDisagree(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 100)
	// Invoice 6 references work order 6 (booking 12) and booking 12; point
	// its booking at 13, of another tenant (service request 14 vs 13).
	backfilltest.Exec(t, d, `UPDATE invoices SET booking_id = 13 WHERE id = 6`)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p := newPlan(t, conn, backfill.Options{})
	inv := table(t, p, "invoices")
	if !equalUnresolved(inv.Unresolved, []backfill.Unresolved{{Reason: backfill.ParentsDisagree, Rows: 1, Sample: []string{"6"}}}) {
		t.Errorf("invoices unresolved: %+v", inv.Unresolved)
	}
	_, err := backfill.Apply(ctx, conn, p, nil)
	var ue *backfill.UnresolvedError
	if !errors.As(err, &ue) || ue.Table.Name != "invoices" {
		t.Fatalf("apply: %v", err)
	}
	var tenant *string
	if err := conn.QueryRow(ctx, `SELECT tenant_id FROM invoices WHERE id = 6`).Scan(&tenant); err != nil || tenant != nil {
		t.Errorf("invoice 6: tenant %v, %v; want NULL", tenant, err)
	}
}

// TestRowSecurity: NULL-tenant rows are invisible under RLS; the backfill
// says which role it needs instead of counting 0.
func TestRowSecurity(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Exec(t, d,
		`CREATE TABLE services (id bigint PRIMARY KEY, tenant_id text)`,
		`CREATE TABLE bookings (id bigint PRIMARY KEY, tenant_id text, service_id bigint NOT NULL REFERENCES services)`,
		`INSERT INTO services VALUES (1, 'acme'), (2, 'globex')`,
		`INSERT INTO bookings VALUES (1, NULL, 1), (2, NULL, 2), (3, 'acme', 1)`,
		`ALTER TABLE bookings ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY tenant ON bookings USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')))`,
		`ALTER TABLE bookings FORCE ROW LEVEL SECURITY`,
	)
	for _, tc := range []struct {
		name, dsn string
		wantErr   string // "" for success
	}{
		{"owner with FORCE", d.OwnerDSN, "FORCE ROW LEVEL SECURITY: even its owner is filtered"},
		{"app role", d.AppDSN, "bookings (owned by " + d.OwnerRole + ")"},
		{"superuser", d.AdminDSN, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := backfilltest.Conn(t, tc.dsn)
			p, err := backfill.NewPlan(ctx, conn, backfill.Options{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if b := table(t, p, "bookings"); b.NullRows != 2 || b.Resolvable != 2 {
					t.Errorf("bookings: %d NULL, %d resolvable; want 2, 2", b.NullRows, b.Resolvable)
				}
				return
			}
			var rls *backfill.RowSecurityError
			if !errors.As(err, &rls) || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "BYPASSRLS") {
				t.Fatalf("plan: %v; want a *RowSecurityError with %q", err, tc.wantErr)
			}
		})
	}
	// The server's own refusal, were the check before it wrong: a query
	// under row_security = off fails with 42501, never filters silently.
	conn := backfilltest.Conn(t, d.OwnerDSN)
	if _, err := conn.Exec(ctx, "SET row_security = off"); err != nil {
		t.Fatal(err)
	}
	var n int
	err := conn.QueryRow(ctx, "SELECT count(*) FROM bookings WHERE tenant_id IS NULL").Scan(&n)
	if err == nil || !strings.Contains(err.Error(), "row-level security") {
		t.Errorf("count under row_security = off as the owner with FORCE: %d, %v", n, err)
	}

	// The owner once the table is not FORCEd: it sees and fills every row.
	backfilltest.Exec(t, d, `ALTER TABLE bookings NO FORCE ROW LEVEL SECURITY`)
	p := newPlan(t, conn, backfill.Options{})
	if _, err := backfill.Apply(ctx, conn, p, nil); err != nil {
		t.Fatal(err)
	}
	wantInherited(t, conn, "bookings", "service_id", "services", "id")
}

// TestNoKeyAndCompositeKey: a table without a primary key is batched by
// ctid; a composite key is walked as a row, uuid and text keys as values; a child referencing a parent
// through a composite key with the tenant column still resolves.
func TestNoKeyAndCompositeKey(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Exec(t, d,
		`CREATE TABLE projects (id bigint PRIMARY KEY, tenant_id text, UNIQUE (tenant_id, id))`,
		`CREATE TABLE tasks (project_id bigint NOT NULL, n int NOT NULL, tenant_id text,
			PRIMARY KEY (project_id, n), FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id))`,
		`CREATE TABLE events (tenant_id text, project_id bigint REFERENCES projects, at timestamptz DEFAULT now())`,
		`INSERT INTO projects SELECT i, 't' || i % 5 FROM generate_series(1, 50) i`,
		`INSERT INTO tasks SELECT 1 + i % 50, i, NULL FROM generate_series(1, 2345) i`,
		`INSERT INTO events (project_id) SELECT 1 + i % 50 FROM generate_series(1, 2345) i`,
		`INSERT INTO events (project_id) VALUES (NULL)`,
		`CREATE TABLE notes (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id text, project_id bigint NOT NULL REFERENCES projects)`,
		`INSERT INTO notes (project_id) SELECT 1 + i % 50 FROM generate_series(1, 777) i`,
		`CREATE TABLE labels (name text PRIMARY KEY, tenant_id text, project_id bigint NOT NULL REFERENCES projects)`,
		`INSERT INTO labels SELECT 'label ' || i, NULL, 1 + i % 50 FROM generate_series(1, 777) i`,
	)
	conn := backfilltest.Conn(t, d.AdminDSN)
	p := newPlan(t, conn, backfill.Options{BatchSize: 100})
	ev := table(t, p, "events")
	if ev.Resolvable != 2345 || len(ev.Unresolved) != 1 || !strings.HasPrefix(ev.Unresolved[0].Sample[0], "(") {
		t.Errorf("events: %d resolvable, %+v", ev.Resolvable, ev.Unresolved)
	}
	if _, err := conn.Exec(ctx, `DELETE FROM events WHERE project_id IS NULL`); err != nil {
		t.Fatal(err)
	}
	if tk := table(t, p, "tasks"); tk.Resolvable != 2345 {
		t.Errorf("tasks: %d resolvable", tk.Resolvable)
	}
	if _, err := backfill.Apply(ctx, conn, p, nil); err != nil {
		t.Fatal(err)
	}
	for _, child := range []string{"notes", "labels", "tasks", "events"} {
		wantInherited(t, conn, child, "project_id", "projects", "id")
	}
}

// TestCycle: keys on a cycle are not used, and said so; a self-reference
// too.
func TestCycle(t *testing.T) {
	d := pgtest.NewDatabase(t)
	backfilltest.Exec(t, d,
		`CREATE TABLE a (id int PRIMARY KEY, tenant_id text, b_id int)`,
		`CREATE TABLE b (id int PRIMARY KEY, tenant_id text, a_id int REFERENCES a)`,
		`ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b`,
		`CREATE TABLE c (id int PRIMARY KEY, tenant_id text, parent_id int REFERENCES c, a_id int REFERENCES a)`,
		`INSERT INTO a VALUES (1, NULL, NULL)`,
	)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p := newPlan(t, conn, backfill.Options{})
	var why []string
	for _, u := range p.Unused {
		why = append(why, u.Constraint+": "+u.Why)
	}
	if len(p.Unused) != 3 || !strings.Contains(strings.Join(why, "\n"), "cycle") || !strings.Contains(strings.Join(why, "\n"), "its own table") {
		t.Errorf("unused: %q", why)
	}
	if got := names(p.Tables); !slices.Equal(got, []string{"a", "b", "c"}) {
		t.Errorf("order %v", got)
	}
	if a := table(t, p, "a"); len(a.Unresolved) != 1 || a.Unresolved[0].Reason != backfill.NoForeignKey {
		t.Errorf("a: %+v", a.Unresolved)
	}
}
