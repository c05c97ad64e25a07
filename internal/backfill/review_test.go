package backfill_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgx-tenant/pgx-tenant/internal/backfill"
	"github.com/pgx-tenant/pgx-tenant/internal/backfill/backfilltest"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// TestLongForeignKeyName: a foreign key named with the full 63 bytes
// PostgreSQL keeps (what it generates for long table and column names):
// the composite key replacing it must not share its name.
func TestLongForeignKeyName(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	long := strings.Repeat("x", 63)
	backfilltest.Exec(t, d,
		`CREATE TABLE projects (id bigint PRIMARY KEY, tenant_id text)`,
		`CREATE TABLE tasks (id bigint PRIMARY KEY, tenant_id text, project_id bigint NOT NULL CONSTRAINT `+long+` REFERENCES projects)`,
		`INSERT INTO projects VALUES (1, 'a'), (2, 'b')`,
		`INSERT INTO tasks VALUES (1, NULL, 1), (2, NULL, 2)`,
	)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p := newPlan(t, conn, backfill.Options{ApplyConstraints: true})
	_, err := backfill.Apply(ctx, conn, p, nil)
	t.Logf("apply: %v", err)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_constraint WHERE conrelid = 'tasks'::regclass AND contype = 'f' AND convalidated AND array_length(conkey, 1) = 2`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if err != nil || n != 1 {
		t.Errorf("tasks: %d validated composite foreign keys, apply: %v", n, err)
	}
	wantInherited(t, conn, "tasks", "project_id", "projects", "id")
	if _, err := conn.Exec(ctx, `INSERT INTO tasks VALUES (3, 'a', 99)`); err == nil {
		t.Errorf("tasks: a row referencing no project was accepted: the foreign key is gone")
	}
}

// TestLongForeignKeyNamesResumed: two foreign keys whose names share the
// first 56 bytes, the composite key of one left NOT VALID by a stopped
// run: each is replaced by its own composite key, none is lost.
func TestLongForeignKeyNamesResumed(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	x56 := strings.Repeat("x", 56)
	fk1, fk2 := x56+"xxxxxxx", x56+"aaaaaaa" // fk2 sorts first
	backfilltest.Exec(t, d,
		`CREATE TABLE projects (id bigint PRIMARY KEY, tenant_id text, UNIQUE (tenant_id, id))`,
		`CREATE TABLE tasks (id bigint PRIMARY KEY, tenant_id text,
			project_id bigint NOT NULL CONSTRAINT `+fk1+` REFERENCES projects,
			other_project_id bigint CONSTRAINT `+fk2+` REFERENCES projects)`,
		`CREATE INDEX ON tasks (tenant_id, project_id)`,
		`CREATE INDEX ON tasks (tenant_id, other_project_id)`,
		`INSERT INTO projects VALUES (1, 'a'), (2, 'b')`,
		`INSERT INTO tasks VALUES (1, NULL, 1, 1), (2, NULL, 2, NULL)`,
		// What a run stopped after adding fk1's composite key leaves.
		`ALTER TABLE tasks ADD CONSTRAINT `+x56+`_tenant FOREIGN KEY (tenant_id, project_id) REFERENCES projects (tenant_id, id) NOT VALID`,
	)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p := newPlan(t, conn, backfill.Options{ApplyConstraints: true})
	if _, err := backfill.Apply(ctx, conn, p, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT conname::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'tasks'::regclass AND contype = 'f' ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		fk2 + " FOREIGN KEY (tenant_id, other_project_id) REFERENCES projects(tenant_id, id)",
		fk1 + " FOREIGN KEY (tenant_id, project_id) REFERENCES projects(tenant_id, id)",
	}
	if !slices.Equal(got, want) {
		t.Errorf("foreign keys of tasks:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	wantInherited(t, conn, "tasks", "project_id", "projects", "id")
	wantInherited(t, conn, "tasks", "other_project_id", "projects", "id")
}

// TestInheritance: foreign keys are not inherited, and their checks read
// ONLY the referenced table: the backfill of an inheritance parent
// derives its own rows through its keys, reads parents ONLY (ids repeat
// across an inheritance tree), and neither fills nor constrains the rows
// of the tables inheriting from it, which are tables of their own (with
// --table, not even selected).
func TestInheritance(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Exec(t, d,
		`CREATE TABLE projects (id bigint PRIMARY KEY, tenant_id text)`,
		`CREATE TABLE projects_archive () INHERITS (projects)`,
		`CREATE TABLE events (id bigint PRIMARY KEY, tenant_id text, project_id bigint REFERENCES projects)`,
		`CREATE TABLE events_2023 () INHERITS (events)`,
		`INSERT INTO projects VALUES (1, 'a'), (2, 'b')`,
		`INSERT INTO projects_archive VALUES (2, 'z'), (3, 'c')`,
		`INSERT INTO events VALUES (1, NULL, 1), (2, NULL, 2)`,
		// Not under the foreign key: project 3 is no row of projects.
		`INSERT INTO events_2023 VALUES (10, NULL, 3), (11, NULL, 1)`,
	)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p, err := backfill.NewPlan(ctx, conn, backfill.Options{Tables: []string{"events"}})
	if err != nil {
		t.Fatal(err)
	}
	if ev := table(t, p, "events"); ev.NullRows != 2 || ev.Resolvable != 2 {
		t.Errorf("events: %d NULL, %d resolvable; want its own 2", ev.NullRows, ev.Resolvable)
	}
	if _, err := backfill.Apply(ctx, conn, p, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT tableoid::regclass::text || ' ' || id || ' ' || coalesce(tenant_id, 'NULL') FROM events ORDER BY tableoid::regclass::text, id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"events 1 a", "events 2 b", "events_2023 10 NULL", "events_2023 11 NULL"}; !slices.Equal(got, want) {
		t.Errorf("events: %q, want %q", got, want)
	}
	var nullable bool
	if err := conn.QueryRow(ctx, `SELECT NOT attnotnull FROM pg_attribute WHERE attrelid = 'events_2023'::regclass AND attname = 'tenant_id'`).Scan(&nullable); err != nil || !nullable {
		t.Errorf("events_2023.tenant_id made NOT NULL by the backfill of events (%v)", err)
	}
	// The whole database: events_2023 has no foreign key of its own.
	p = newPlan(t, conn, backfill.Options{})
	if ev := table(t, p, "events_2023"); ev.NullRows != 2 || len(ev.Unresolved) != 1 || ev.Unresolved[0].Reason != backfill.NoForeignKey {
		t.Errorf("events_2023: %d NULL, unresolved %+v", ev.NullRows, ev.Unresolved)
	}
}

// TestConcurrentWrites: while Apply runs, another connection inserts
// reminders with a NULL tenant, repoints reminders whose tenant is still
// NULL to bookings of other tenants, and fills NULL tenants of bookings
// itself. One Apply ends it (NULL rows that keep arriving are refused by
// the NOT NULL check, those before it filled by one more pass), and no row
// ends with a tenant other than its booking's.
func TestConcurrentWrites(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 20_000)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	app := backfilltest.Conn(t, d.OwnerDSN)

	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var writes int
		defer func() { t.Logf("concurrent writes: %d", writes) }()
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			var err error
			switch i % 3 {
			case 0:
				_, err = app.Exec(ctx, `INSERT INTO scheduled_reminders (id, booking_id) VALUES ($1::bigint, 1 + $1::bigint % 1000)`, 1_000_000+i)
			case 1:
				_, err = app.Exec(ctx, `UPDATE scheduled_reminders SET booking_id = 1 + (booking_id + 1) % 1000 WHERE id = $1 AND tenant_id IS NULL`, 1+(i*7919)%20_000)
			case 2:
				_, err = app.Exec(ctx, `UPDATE bookings b SET tenant_id = s.tenant_id FROM service_requests r JOIN services s ON s.id = r.service_id
					WHERE b.id = $1 AND r.id = b.service_request_id AND b.tenant_id IS NULL`, 1+(i*31)%1000)
			}
			if err != nil && !strings.Contains(err.Error(), "23514") && !strings.Contains(err.Error(), "23502") { // the check, then NOT NULL, refuse NULL tenants
				done <- err
				return
			}
			writes++
			// Paced, so that a loaded machine still runs the backfill
			// (unpaced, it logged 1.9M writes and starved it past the
			// test's deadline); hundreds still land during the apply.
			time.Sleep(time.Millisecond)
		}
	}()
	p, err := backfill.NewPlan(ctx, conn, backfill.Options{BatchSize: 500})
	if err == nil {
		_, err = backfill.Apply(ctx, conn, p, nil)
	}
	close(stop)
	if werr := <-done; werr != nil {
		t.Fatalf("concurrent writer: %v", werr)
	}
	if err != nil {
		t.Fatalf("apply: %v", err)
	}
	backfilltest.WantState(t, conn, nil)
}

// TestCollations: a foreign key between text columns of different
// collations compares under the referenced column's (a case-insensitive
// one here, so 'abc' references 'ABC'); the lookup does the same, where
// two implicit collations in one = would fail.
func TestCollations(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Exec(t, d,
		`CREATE COLLATION ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false)`,
		`CREATE TABLE orgs (code text COLLATE ci PRIMARY KEY, tenant_id text)`,
		`CREATE TABLE teams (code text COLLATE "POSIX" PRIMARY KEY, tenant_id text)`,
		`CREATE TABLE members (id int PRIMARY KEY, tenant_id text, org text COLLATE "C" REFERENCES orgs, team text COLLATE "C" REFERENCES teams)`,
		`INSERT INTO orgs VALUES ('ABC', 'a')`,
		`INSERT INTO teams VALUES ('T', 'b')`,
		`INSERT INTO members VALUES (1, NULL, 'abc', NULL), (2, NULL, NULL, 'T')`,
	)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p := newPlan(t, conn, backfill.Options{})
	if m := table(t, p, "members"); m.Resolvable != 2 {
		t.Errorf("members: %d resolvable, %+v", m.Resolvable, m.Unresolved)
	}
	if _, err := backfill.Apply(ctx, conn, p, nil); err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(ctx, `SELECT id || ' ' || coalesce(tenant_id, 'NULL') FROM members ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if want := []string{"1 a", "2 b"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("members: %q (%v), want %q (org ABC's tenant, team T's)", got, err, want)
	}
}

// TestCompositeKeyMismatch: a reminder whose tenant was set, to another
// tenant than its booking's: the composite key's VALIDATE fails,
// and the error names the key and the offending row.
func TestCompositeKeyMismatch(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 100)
	// Reminder 5 → booking 6 → service request 7 → service 8, of globex.
	backfilltest.Exec(t, d, `UPDATE scheduled_reminders SET tenant_id = 'acme' WHERE id = 5`)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p := newPlan(t, conn, backfill.Options{ApplyConstraints: true})
	_, err := backfill.Apply(ctx, conn, p, nil)
	if err == nil || !strings.Contains(err.Error(), "scheduled_reminders_booking_id_fkey") ||
		!strings.Contains(err.Error(), "Key (tenant_id, booking_id)=(acme, 6)") ||
		!strings.Contains(err.Error(), "already have a tenant that differs") {
		t.Errorf("apply: %v", err)
	}
}

// TestParentConflict: a booking whose tenant was set to another tenant
// than its service request's. Its reminders, work orders and invoices
// would inherit it: the plan shows the conflict, and Apply stops before
// the first of them, which it leaves untouched.
func TestParentConflict(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 2000)
	// Booking 7 → service request 8, of acme.
	backfilltest.Exec(t, d, `UPDATE bookings SET tenant_id = 'globex' WHERE id = 7`)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p := newPlan(t, conn, backfill.Options{})
	b := table(t, p, "bookings")
	if len(b.Conflicts) != 1 || b.Conflicts[0].Rows != 1 || !slices.Equal(b.Conflicts[0].Sample, []string{"7"}) || b.Conflicts[0].Constraint != "bookings_service_request_id_fkey" {
		t.Errorf("bookings conflicts: %+v", b.Conflicts)
	}
	_, err := backfill.Apply(ctx, conn, p, nil)
	var ce *backfill.ConflictError
	if !errors.As(err, &ce) || ce.Table.Name != "scheduled_reminders" || ce.Parent.Name != "bookings" ||
		!slices.Equal(ce.Untouched, []string{"work_orders", "expenses", "invoices", "attachments"}) {
		t.Fatalf("apply: %v", err)
	}
	var wrong int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM scheduled_reminders WHERE tenant_id IS NOT NULL`).Scan(&wrong); err != nil || wrong != 0 {
		t.Errorf("scheduled_reminders: %d filled (%v), want none", wrong, err)
	}
	// Corrected: Apply goes on.
	if _, err := conn.Exec(ctx, `UPDATE bookings SET tenant_id = 'acme' WHERE id = 7`); err != nil {
		t.Fatal(err)
	}
	if _, err := backfill.Apply(ctx, conn, p, nil); err != nil {
		t.Fatal(err)
	}
	backfilltest.WantState(t, conn, nil)
}

// TestPrivileges: a role that bypasses RLS but neither owns the tables nor
// may update them is refused before anything is written, every table
// named, rather than after the first tables are done.
func TestPrivileges(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Seed(t, d, 100)
	if err := d.Exec(ctx, `ALTER ROLE `+d.AppRole+` BYPASSRLS`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Exec(context.Background(), `ALTER ROLE `+d.AppRole+` NOBYPASSRLS`) })
	backfilltest.Exec(t, d, `GRANT SELECT ON ALL TABLES IN SCHEMA public TO `+d.AppRole, `REVOKE UPDATE ON services FROM `+d.AppRole)
	conn := backfilltest.Conn(t, d.AppDSN)
	p := newPlan(t, conn, backfill.Options{})
	_, err := backfill.Apply(ctx, conn, p, nil)
	if err == nil || !strings.Contains(err.Error(), "nothing was written") ||
		!strings.Contains(err.Error(), "bookings: ownership (owned by "+d.OwnerRole+")") ||
		!strings.Contains(err.Error(), "services: UPDATE, ownership") {
		t.Errorf("apply: %v", err)
	}
	var filled int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM service_requests WHERE id % 2 = 1 AND tenant_id IS NOT NULL`).Scan(&filled); err != nil || filled != 0 {
		t.Errorf("service_requests: %d filled, %v", filled, err)
	}
}

// TestRealisticSchema: what an app's schema has besides keys does not stop
// the backfill, run as a superuser: tenant columns defaulting to the
// setting (one without missing_ok), CHECK constraints, row-level security
// enabled and FORCEd, an updated_at trigger, an audit trigger writing to a
// tenant-owned table, and a trigger refusing to change a tenant once set.
// The batches fire the triggers; every row gets its parent's tenant.
func TestRealisticSchema(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	def := `DEFAULT NULLIF(current_setting('app.tenant_id', true), '')`
	stmts := []string{
		`CREATE TABLE accounts (id bigint PRIMARY KEY, tenant_id text ` + def + `, name text NOT NULL CHECK (name <> ''))`,
		`CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id text ` + def + `, account_id bigint NOT NULL REFERENCES accounts,
			total numeric NOT NULL CHECK (total >= 0), status text NOT NULL DEFAULT 'new' CHECK (status IN ('new', 'paid')),
			updated_at timestamptz NOT NULL DEFAULT '2000-01-01')`,
		`CREATE TABLE order_lines (order_id bigint NOT NULL REFERENCES orders ON DELETE CASCADE, n int NOT NULL CHECK (n > 0),
			tenant_id text DEFAULT current_setting('app.tenant_id'), qty int NOT NULL CHECK (qty > 0),
			updated_at timestamptz NOT NULL DEFAULT '2000-01-01', PRIMARY KEY (order_id, n))`,
		`CREATE TABLE audit_log (id bigserial PRIMARY KEY, tenant_id text ` + def + `, table_name text NOT NULL, old_tenant text)`,
		`CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.updated_at := now(); RETURN NEW; END$$`,
		`CREATE FUNCTION audit() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN
			INSERT INTO audit_log (tenant_id, table_name, old_tenant) VALUES (NEW.tenant_id, TG_TABLE_NAME, OLD.tenant_id); RETURN NULL; END$$`,
		`CREATE FUNCTION tenant_fixed() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN
			IF OLD.tenant_id IS NOT NULL AND NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN RAISE EXCEPTION 'tenant of a row changed'; END IF;
			RETURN NEW; END$$`,
		`INSERT INTO accounts SELECT i, 't' || i % 4, 'account ' || i FROM generate_series(1, 20) i`,
		`INSERT INTO orders (id, tenant_id, account_id, total) SELECT i, CASE WHEN i % 2 = 0 THEN 't' || (1 + i % 20) % 4 END, 1 + i % 20, i FROM generate_series(1, 500) i`,
		`INSERT INTO order_lines SELECT 1 + i % 500, i, NULL, 1 FROM generate_series(1, 1500) i`,
	}
	for _, table := range []string{"accounts", "orders", "order_lines", "audit_log"} {
		stmts = append(stmts,
			`ALTER TABLE `+table+` ENABLE ROW LEVEL SECURITY`, `ALTER TABLE `+table+` FORCE ROW LEVEL SECURITY`,
			`CREATE POLICY tenant ON `+table+` USING (tenant_id = current_setting('app.tenant_id', true)) WITH CHECK (tenant_id = current_setting('app.tenant_id', true))`)
		if table == "orders" || table == "order_lines" {
			stmts = append(stmts,
				`CREATE TRIGGER touch BEFORE UPDATE ON `+table+` FOR EACH ROW EXECUTE FUNCTION touch()`,
				`CREATE TRIGGER tenant_fixed BEFORE UPDATE ON `+table+` FOR EACH ROW EXECUTE FUNCTION tenant_fixed()`,
				`CREATE TRIGGER audit AFTER UPDATE ON `+table+` FOR EACH ROW EXECUTE FUNCTION audit()`)
		}
	}
	backfilltest.Exec(t, d, stmts...)
	conn := backfilltest.Conn(t, d.AdminDSN)
	p := newPlan(t, conn, backfill.Options{BatchSize: 100, ApplyConstraints: true})
	if o, l := table(t, p, "orders"), table(t, p, "order_lines"); o.Resolvable != 250 || l.Resolvable != 1500 || len(o.Unresolved)+len(l.Unresolved) > 0 {
		t.Errorf("orders %d resolvable, order_lines %d; unresolved %+v %+v", o.Resolvable, l.Resolvable, o.Unresolved, l.Unresolved)
	}
	res, err := backfill.Apply(ctx, conn, p, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !res.ConstraintsApplied {
		t.Errorf("constraints not applied: %+v", res)
	}
	wantInherited(t, conn, "orders", "account_id", "accounts", "id")
	wantInherited(t, conn, "order_lines", "order_id", "orders", "id")
	var stale, audited, auditNull, nullable int64
	if err := conn.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM orders WHERE id % 2 = 1 AND updated_at = '2000-01-01') + (SELECT count(*) FROM order_lines WHERE updated_at = '2000-01-01'),
		(SELECT count(*) FROM audit_log WHERE old_tenant IS NULL),
		(SELECT count(*) FROM audit_log WHERE tenant_id IS NULL),
		(SELECT count(*) FROM pg_attribute WHERE attname = 'tenant_id' AND NOT attnotnull AND attrelid IN ('accounts'::regclass, 'orders'::regclass, 'order_lines'::regclass, 'audit_log'::regclass))`,
	).Scan(&stale, &audited, &auditNull, &nullable); err != nil {
		t.Fatal(err)
	}
	if stale != 0 || audited != 250+1500 || auditNull != 0 || nullable != 0 {
		t.Errorf("filled rows the updated_at trigger missed: %d; audited fills: %d, want %d; audit rows without a tenant: %d; nullable tenant columns: %d",
			stale, audited, 250+1500, auditNull, nullable)
	}
}

// TestSetMeanwhile: a row whose tenant another transaction sets while a
// batch waits for its lock keeps that tenant, even one other than the
// derived one: the batch's UPDATE checks again that the tenant is NULL.
func TestSetMeanwhile(t *testing.T) {
	ctx := ctxFor(t)
	d := pgtest.NewDatabase(t)
	backfilltest.Exec(t, d,
		`CREATE TABLE projects (id bigint PRIMARY KEY, tenant_id text)`,
		`CREATE TABLE tasks (id bigint PRIMARY KEY, tenant_id text, project_id bigint NOT NULL REFERENCES projects)`,
		`INSERT INTO projects VALUES (1, 'a')`,
		`INSERT INTO tasks SELECT i, NULL, 1 FROM generate_series(1, 10) i`,
	)
	conn := backfilltest.Conn(t, d.OwnerDSN)
	p := newPlan(t, conn, backfill.Options{LockTimeout: time.Minute})
	other := backfilltest.Conn(t, d.OwnerDSN)
	tx, err := other.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `UPDATE tasks SET tenant_id = 'b' WHERE id = 5`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := backfill.Apply(ctx, conn, p, nil); done <- err }()
	pid := conn.PgConn().PID()
	for waiting := false; !waiting; time.Sleep(20 * time.Millisecond) {
		if err := other.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_locks WHERE pid = $1 AND NOT granted)`, pid).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rows, err := other.Query(ctx, `SELECT tenant_id || count(*) FROM tasks GROUP BY tenant_id ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if want := []string{"a9", "b1"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("tasks by tenant: %q (%v), want %q", got, err, want)
	}
}
