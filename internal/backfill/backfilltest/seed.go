// Package backfilltest builds the schema the backfill tests run on: the
// tables of a field-service app, created by the owner role with nullable
// tenant columns, as an app that adds tenancy late has them.
package backfilltest

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// Reminders is how many rows scheduled_reminders gets by default (the
// table the throughput is measured on).
const Reminders = 100_000

// Tables are the tenant-owned tables of the schema, in the order the
// backfill processes them.
var Tables = []string{
	"idempotency_keys", "services", "booking_settings", "service_requests", "bookings",
	"scheduled_reminders", "work_orders", "expenses", "invoices", "attachments",
}

// Schema is the DDL. Tenants: a tenant of a service is tenant(id % 3);
// every chain below it is consistent, so every NULL resolves.
const Schema = `
CREATE TABLE tenants (id text PRIMARY KEY);
CREATE TABLE services (id bigint PRIMARY KEY, tenant_id text REFERENCES tenants, name text NOT NULL);
CREATE TABLE booking_settings (service_id bigint PRIMARY KEY REFERENCES services, tenant_id text, slot_minutes int NOT NULL DEFAULT 30);
CREATE TABLE service_requests (id bigint PRIMARY KEY, tenant_id text, service_id bigint NOT NULL REFERENCES services);
CREATE TABLE bookings (id bigint PRIMARY KEY, tenant_id text, service_request_id bigint NOT NULL REFERENCES service_requests ON DELETE CASCADE);
CREATE TABLE work_orders (id bigint PRIMARY KEY, tenant_id text, booking_id bigint REFERENCES bookings);
CREATE TABLE invoices (id bigint PRIMARY KEY, tenant_id text, work_order_id bigint REFERENCES work_orders, booking_id bigint REFERENCES bookings);
CREATE TABLE expenses (id bigint PRIMARY KEY, tenant_id text, work_order_id bigint NOT NULL REFERENCES work_orders, amount numeric NOT NULL DEFAULT 0);
CREATE TABLE scheduled_reminders (id bigint PRIMARY KEY, tenant_id text, booking_id bigint NOT NULL REFERENCES bookings, due_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE idempotency_keys (key text PRIMARY KEY, tenant_id text, response jsonb);
CREATE TABLE attachments (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tenant_id text,
  invoice_id bigint REFERENCES invoices ON DELETE SET NULL,
  expense_id bigint REFERENCES expenses ON DELETE SET NULL,
  CHECK (num_nonnulls(invoice_id, expense_id) = 1));
`

// Data fills the schema: $1 is the number of scheduled reminders.
// service_requests has a tenant on even ids only: bookings resolve through
// a parent whose tenant is filled first. invoices reference a work order,
// a booking, or both (agreeing); attachments an invoice or an expense.
var Data = []string{
	`INSERT INTO tenants VALUES ('acme'), ('globex'), ('initech')`,
	`INSERT INTO services SELECT i, (ARRAY['acme','globex','initech'])[1 + i % 3], 'service ' || i FROM generate_series(1, 30) i`,
	`INSERT INTO booking_settings (service_id) SELECT i FROM generate_series(1, 30) i`,
	`INSERT INTO service_requests SELECT i, CASE WHEN i % 2 = 0 THEN (ARRAY['acme','globex','initech'])[1 + (1 + i % 30) % 3] END, 1 + i % 30 FROM generate_series(1, 300) i`,
	`INSERT INTO bookings SELECT i, NULL, 1 + i % 300 FROM generate_series(1, 1000) i`,
	`INSERT INTO work_orders SELECT i, NULL, 2 * i FROM generate_series(1, 500) i`,
	`INSERT INTO invoices SELECT i, NULL, CASE WHEN i % 4 <> 0 THEN i END, CASE WHEN i % 4 <> 1 THEN 2 * i END FROM generate_series(1, 400) i`,
	`INSERT INTO expenses SELECT i, NULL, 1 + i % 500 FROM generate_series(1, 300) i`,
	`INSERT INTO idempotency_keys SELECT 'k' || i, (ARRAY['acme','globex','initech'])[1 + i % 3] FROM generate_series(1, 50) i`,
	`INSERT INTO attachments (invoice_id, expense_id) SELECT CASE WHEN i <= 100 THEN i END, CASE WHEN i > 100 THEN i - 100 END FROM generate_series(1, 200) i`,
}

// Seed creates the schema as d's owner and fills it, with reminders rows
// in scheduled_reminders, then ANALYZEs.
func Seed(tb testing.TB, d *pgtest.Database, reminders int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sql := append([]string{Schema}, Data...)
	sql = append(sql, fmt.Sprintf(`INSERT INTO scheduled_reminders (id, booking_id) SELECT i, 1 + i %% 1000 FROM generate_series(1, %d) i`, reminders), "ANALYZE")
	if err := d.ExecOwner(ctx, sql...); err != nil {
		tb.Fatal(err)
	}
}

// Conn connects to dsn for tb.
func Conn(tb testing.TB, dsn string) *pgx.Conn {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// Mismatches checks the end state: it returns, per foreign key of the
// schema, the rows whose tenant is NULL or differs from the referenced
// row's, and the tables whose tenant column is still nullable.
func Mismatches(tb testing.TB, conn *pgx.Conn) (bad map[string]int64, nullable []string) {
	tb.Helper()
	ctx := context.Background()
	bad = map[string]int64{}
	for _, fk := range [][3]string{
		{"booking_settings", "service_id", "services"},
		{"service_requests", "service_id", "services"},
		{"bookings", "service_request_id", "service_requests"},
		{"work_orders", "booking_id", "bookings"},
		{"invoices", "work_order_id", "work_orders"},
		{"invoices", "booking_id", "bookings"},
		{"expenses", "work_order_id", "work_orders"},
		{"scheduled_reminders", "booking_id", "bookings"},
		{"attachments", "invoice_id", "invoices"},
		{"attachments", "expense_id", "expenses"},
	} {
		var n int64
		q := fmt.Sprintf(`SELECT count(*) FROM %s c LEFT JOIN %s p ON p.id = c.%s
			WHERE c.tenant_id IS NULL OR (c.%s IS NOT NULL AND c.tenant_id IS DISTINCT FROM p.tenant_id)`, fk[0], fk[2], fk[1], fk[1])
		if err := conn.QueryRow(ctx, q).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		if n > 0 {
			bad[fk[0]+"."+fk[1]] = n
		}
	}
	rows, err := conn.Query(ctx, `SELECT c.relname::text FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r' AND a.attname = 'tenant_id' AND NOT a.attnotnull ORDER BY 1`)
	if err != nil {
		tb.Fatal(err)
	}
	nullable, err = pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		tb.Fatal(err)
	}
	return bad, nullable
}

// WantState fails tb unless Mismatches finds exactly bad (nil: none) and
// the tables whose tenant column is still nullable are exactly nullable.
func WantState(tb testing.TB, conn *pgx.Conn, bad map[string]int64, nullable ...string) {
	tb.Helper()
	gotBad, gotNullable := Mismatches(tb, conn)
	if !maps.Equal(gotBad, bad) || !slices.Equal(gotNullable, nullable) {
		tb.Errorf("rows whose tenant is NULL or differs from their parent's %v, nullable %v; want %v, %v", gotBad, gotNullable, bad, nullable)
	}
}

// Exec runs sql as d's owner, failing tb on an error.
func Exec(tb testing.TB, d *pgtest.Database, sql ...string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := d.ExecOwner(ctx, sql...); err != nil {
		tb.Fatal(err)
	}
}
