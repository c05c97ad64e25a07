package driver_test

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/rewrite"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// noRLSCaseDB is the guard cases' schema and seed (tenants t01, t02, t03)
// WITHOUT row-level security: whatever keeps a tenant to its rows there is
// the rewrite's predicate.
func noRLSCaseDB(t testing.TB) *pgtest.Database {
	t.Helper()
	d := caseSchema(t, false)
	if err := d.Exec(context.Background(), guardSeed...); err != nil {
		t.Fatal(err)
	}
	return d
}

// openRewriting opens the driver on d with the rewrite in mode m.
func openRewriting(t testing.TB, d *pgtest.Database, m rewrite.Mode, g guard.Mode, h event.Handler, kv ...string) (*driver.Connector, *sql.DB) {
	t.Helper()
	cfg, err := pgx.ParseConfig(withKeys(d.AppDSN, kv...))
	if err != nil {
		t.Fatal(err)
	}
	c, err := driver.NewConnector(*cfg, driver.WithRewrite(m), driver.WithGuard(g), driver.WithEventHandler(h))
	if err != nil {
		t.Fatal(err)
	}
	return c, sqlOpenDB(t, c)
}

// caseTenant is the context of tenant i of guardSeed (t01, t02, t03).
func caseTenant(i int) context.Context {
	return tenant.NewContext(context.Background(), fmt.Sprintf("t%02d", i))
}

// TestRewriteScopesEveryPath runs unscoped statements on a database
// without RLS through every database/sql path, for three tenants in turn,
// with tenant_rewrite=on: each sees and changes only its own rows.
func TestRewriteScopesEveryPath(t *testing.T) {
	for _, scope := range []string{"transaction", "session"} {
		for _, mode := range []string{"cache_statement", "exec", "simple_protocol"} {
			t.Run(scope+"/"+mode, func(t *testing.T) {
				d := noRLSCaseDB(t)
				_, db := openRewriting(t, d, rewrite.On, guard.Off, &events{}, "tenant_scope="+scope, "default_query_exec_mode="+mode)
				db.SetMaxOpenConns(2)
				stmt, err := db.PrepareContext(context.Background(), "SELECT tenant_id FROM invoices WHERE total > $1")
				if err != nil {
					t.Fatal(err)
				}
				defer stmt.Close()
				for i := 1; i <= 3; i++ {
					ctx, id := caseTenant(i), fmt.Sprintf("t%02d", i)
					only := func(what string, seen map[string]int, n int) {
						t.Helper()
						if len(seen) != 1 || seen[id] != n {
							t.Fatalf("%s: rows by tenant %v, want only %s×%d", what, seen, id, n)
						}
					}
					only("DB", tenantsSeen(t, db, ctx, "SELECT tenant_id FROM invoices"), 3)
					only("Stmt prepared once", tenantsSeen(t, stmtQuerier{stmt}, ctx, "", 0), 3)
					only("named args", tenantsSeen(t, db, ctx, "SELECT tenant_id FROM invoices WHERE total > @min", pgx.NamedArgs{"min": 0}), 3)
					only("named args with a cast and a keyword", tenantsSeen(t, db, ctx,
						"SELECT tenant_id FROM invoices WHERE total > @Min::numeric ORDER BY id LIMIT @limit", pgx.NamedArgs{"Min": 0, "limit": 2}), 2)
					only("inlined values", tenantsSeen(t, db, ctx, fmt.Sprintf("SELECT tenant_id FROM invoices WHERE total > %d AND status = 'open'", i)), 3)
					only("join", tenantsSeen(t, db, ctx, "SELECT c.tenant_id FROM invoices i LEFT JOIN customers c ON c.id = i.customer_id"), 3)

					conn, err := db.Conn(ctx)
					if err != nil {
						t.Fatal(err)
					}
					only("Conn", tenantsSeen(t, conn, ctx, "SELECT tenant_id FROM customers"), 3)
					conn.Close()

					tx, err := db.BeginTx(ctx, nil)
					if err != nil {
						t.Fatal(err)
					}
					res, err := tx.ExecContext(ctx, "UPDATE invoices SET status = 'paid'")
					if err != nil {
						t.Fatal(err)
					}
					if n, _ := res.RowsAffected(); n != 3 {
						t.Fatalf("UPDATE affected %d rows, want the tenant's 3", n)
					}
					if _, err := tx.ExecContext(ctx, "INSERT INTO invoices (id, total) VALUES ($1, 1)", 1000+i); err != nil {
						t.Fatal(err)
					}
					only("Tx after INSERT", tenantsSeen(t, tx, ctx, "SELECT tenant_id FROM invoices"), 4)
					res, err = tx.ExecContext(ctx, "DELETE FROM invoices WHERE status = 'paid'")
					if err != nil {
						t.Fatal(err)
					}
					if n, _ := res.RowsAffected(); n != 3 {
						t.Fatalf("DELETE affected %d rows, want the tenant's 3", n)
					}
					if err := tx.Rollback(); err != nil {
						t.Fatal(err)
					}
				}
				// The inserted rows were rolled back; the stored tenants are
				// the seed's, and the one committed INSERT below stores the
				// context's tenant although the statement names none.
				if _, err := db.ExecContext(caseTenant(2), "INSERT INTO invoices (id, total) VALUES (2000, 5)"); err != nil {
					t.Fatal(err)
				}
				var owner string
				if err := openAdmin(t, d).QueryRow("SELECT tenant_id FROM invoices WHERE id = 2000").Scan(&owner); err != nil || owner != "t02" {
					t.Fatalf("inserted row's tenant = %q (%v), want t02", owner, err)
				}
			})
		}
	}
}

// TestRewriteAudit: under audit the statement runs as written (on the
// database without RLS, every tenant's rows) and an event carries the
// rewritten SQL, without values.
func TestRewriteAudit(t *testing.T) {
	d := noRLSCaseDB(t)
	ev := &events{}
	_, db := openRewriting(t, d, rewrite.Audit, guard.Off, ev)
	seen := tenantsSeen(t, db, caseTenant(1), "SELECT tenant_id FROM invoices WHERE status = 'open'")
	if len(seen) != 3 {
		t.Fatalf("audit ran %v, want the statement as written (3 tenants' rows)", seen)
	}
	var got *event.Event
	for _, e := range ev.take() {
		if e.Kind == event.Rewrite {
			got = &e
		}
	}
	if got == nil {
		t.Fatal("no rewrite event")
	}
	if got.SQL != "SELECT tenant_id FROM invoices WHERE status = $1 AND invoices.tenant_id = $2" || got.Tenant != "t01" ||
		!slices.Equal(got.Tables, []string{"invoices"}) || got.Mode != "audit" {
		t.Fatalf("event = %+v", *got)
	}
	if strings.Contains(got.SQL, "open") || strings.Contains(got.Message, "open") {
		t.Fatalf("event carries a value: %+v", *got)
	}
}

// TestRewriteRefusesMismatch: a statement whose tenant predicate names
// another tenant is not rewritten but refused, even with the guard off; an
// unscoped one runs rewritten under the guard (enforce), which still
// refuses what the rewrite cannot scope.
func TestRewriteRefusesMismatch(t *testing.T) {
	d := noRLSCaseDB(t)
	for _, g := range []guard.Mode{guard.Off, guard.Audit, guard.Enforce} {
		t.Run(g.String(), func(t *testing.T) {
			_, db := openRewriting(t, d, rewrite.On, g, &events{})
			ctx := caseTenant(1)
			var v *guard.Violation
			_, err := db.QueryContext(ctx, "SELECT tenant_id FROM invoices WHERE tenant_id = $1", "t02")
			if !errors.As(err, &v) || v.Rule != guard.RuleTenantMismatch {
				t.Fatalf("other tenant's parameter: %v, want a tenant_mismatch violation", err)
			}
			_, err = db.ExecContext(ctx, "INSERT INTO invoices (id, tenant_id, total) VALUES (77, 't03', 1)")
			if !errors.As(err, &v) || v.Rule != guard.RuleTenantMismatch {
				t.Fatalf("other tenant's row: %v, want a tenant_mismatch violation", err)
			}
			if errors.Is(err, sqldriver.ErrBadConn) {
				t.Fatal("violation looks like ErrBadConn")
			}
			_, err = db.ExecContext(ctx, "UPDATE invoices SET tenant_id = upper(tenant_id)")
			if !errors.As(err, &v) || v.Rule != guard.RuleUpdateTenant {
				t.Fatalf("UPDATE of the tenant column: %v, want an update_tenant violation", err)
			}
			wantOnlyCase(t, tenantsSeen(t, db, ctx, "SELECT tenant_id FROM invoices WHERE tenant_id = $1", "t01"), "t01", 3)
			wantOnlyCase(t, tenantsSeen(t, db, ctx, "SELECT line_items.tenant_id FROM line_items JOIN invoices USING (id)"), "t01", 3)
			if g == guard.Enforce {
				_, err = db.ExecContext(ctx, "TRUNCATE invoices")
				if !errors.As(err, &v) || v.Rule != guard.RuleTruncate {
					t.Fatalf("TRUNCATE under enforce: %v, want a truncate violation", err)
				}
			}
		})
	}
}

func wantOnlyCase(t testing.TB, seen map[string]int, id string, n int) {
	t.Helper()
	if len(seen) != 1 || seen[id] != n {
		t.Fatalf("rows by tenant %v, want only %s×%d", seen, id, n)
	}
}

// TestRewriteBypass: a bypassed statement runs as written.
func TestRewriteBypass(t *testing.T) {
	d := noRLSCaseDB(t)
	_, db := openRewriting(t, d, rewrite.On, guard.Off, &events{})
	ctx := tenant.WithBypass(caseTenant(1), "nightly report")
	if seen := tenantsSeen(t, db, ctx, "SELECT tenant_id FROM invoices"); len(seen) != 3 {
		t.Fatalf("bypass saw %v, want every tenant's rows", seen)
	}
}

// TestRewriteArguments: the appended parameter must follow the statement's
// own; a call with a different number of arguments is refused before it
// is sent (never bound to the wrong parameter), and not as ErrBadConn.
func TestRewriteArguments(t *testing.T) {
	d := noRLSCaseDB(t)
	_, db := openRewriting(t, d, rewrite.On, guard.Off, &events{})
	_, err := db.QueryContext(caseTenant(1), "SELECT tenant_id FROM invoices WHERE id = $1 AND total > $2", 1)
	if err == nil || errors.Is(err, sqldriver.ErrBadConn) || !strings.Contains(err.Error(), "2 parameters but 1 arguments") {
		t.Fatalf("missing argument: %v", err)
	}
	// Leading pgx options are not arguments.
	seen := tenantsSeen(t, db, caseTenant(3), "SELECT tenant_id FROM invoices WHERE total > $1", pgx.QueryExecModeSimpleProtocol, 0)
	wantOnlyCase(t, seen, "t03", 3)
}

// TestRewriteRefreshCatalog: a tenant-owned table created after discovery
// is rewritten once the catalog is refreshed.
func TestRewriteRefreshCatalog(t *testing.T) {
	d := noRLSCaseDB(t)
	c, db := openRewriting(t, d, rewrite.On, guard.Off, &events{})
	ctx := caseTenant(1)
	tenantsSeen(t, db, ctx, "SELECT tenant_id FROM invoices") // discovery
	if err := d.ExecOwner(context.Background(),
		"CREATE TABLE notes (id int, tenant_id text)",
		"GRANT SELECT ON notes TO "+d.AppRole); err != nil {
		t.Fatal(err)
	}
	if err := d.Exec(context.Background(), "INSERT INTO notes VALUES (1, 't01'), (2, 't02')"); err != nil {
		t.Fatal(err)
	}
	if seen := tenantsSeen(t, db, ctx, "SELECT tenant_id FROM notes"); len(seen) != 2 {
		t.Fatalf("before the refresh: %v, want both (notes unknown)", seen)
	}
	if err := c.RefreshCatalog(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantOnlyCase(t, tenantsSeen(t, db, ctx, "SELECT tenant_id FROM notes"), "t01", 1)
}

// TestRewriteTypedTenantColumn: the appended parameter takes the tenant
// column's type (here bigint and uuid); the tenant ID string is parsed
// as such.
func TestRewriteTypedTenantColumn(t *testing.T) {
	d := pgtest.NewDatabase(t)
	if err := d.ExecOwner(context.Background(),
		"CREATE TABLE accounts (id int, tenant_id bigint)",
		"CREATE TABLE devices (id int, tenant_id uuid)",
		"GRANT SELECT, INSERT ON accounts, devices TO "+d.AppRole); err != nil {
		t.Fatal(err)
	}
	const u1, u2 = "6f1c2a9e-3b7d-4c1e-9a52-0d3f1b2c4e5a", "0b8e7d6c-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
	if err := d.Exec(context.Background(),
		"INSERT INTO accounts VALUES (1, 7), (2, 8), (3, 7)",
		"INSERT INTO devices VALUES (1, '"+u1+"'), (2, '"+u2+"')"); err != nil {
		t.Fatal(err)
	}
	_, db := openRewriting(t, d, rewrite.On, guard.Off, &events{})
	ctx := tenant.NewContext(context.Background(), "7")
	wantOnlyCase(t, tenantsSeen(t, db, ctx, "SELECT tenant_id::text FROM accounts"), "7", 2)
	wantOnlyCase(t, tenantsSeen(t, db, tenant.NewContext(context.Background(), u2), "SELECT tenant_id::text FROM devices"), u2, 1)
	if _, err := db.ExecContext(ctx, "INSERT INTO accounts (id) VALUES (4)"); err != nil {
		t.Fatal(err)
	}
	// In a UNION nothing types the appended parameter but its cast.
	if _, err := db.ExecContext(ctx, "INSERT INTO accounts (id) SELECT 5 UNION ALL SELECT 6"); err != nil {
		t.Fatal(err)
	}
	wantOnlyCase(t, tenantsSeen(t, db, ctx, "SELECT tenant_id::text FROM accounts"), "7", 5)
	uctx := tenant.NewContext(context.Background(), u1)
	if _, err := db.ExecContext(uctx, "INSERT INTO devices (id) SELECT DISTINCT g + 10 FROM generate_series(1, $1::int) g", 2); err != nil {
		t.Fatal(err)
	}
	wantOnlyCase(t, tenantsSeen(t, db, uctx, "SELECT tenant_id::text FROM devices"), u1, 3) // the seed's and two
}

// TestRewriteReviewFindings holds what a review of the rewrite found, each
// on the database without RLS, so that only the driver stands in the way.
func TestRewriteReviewFindings(t *testing.T) {
	d := noRLSCaseDB(t)
	ctx := caseTenant(1)
	var v *guard.Violation
	refusedAs := func(t *testing.T, err error, rule string) {
		t.Helper()
		if !errors.As(err, &v) || v.Rule != rule {
			t.Fatalf("got %v, want a %s violation", err, rule)
		}
	}
	for _, mode := range []string{"cache_statement", "exec", "simple_protocol", "describe_exec"} {
		t.Run("stmt/"+mode, func(t *testing.T) {
			_, db := openRewriting(t, d, rewrite.On, guard.Off, &events{}, "default_query_exec_mode="+mode)
			// A Stmt keeping its description still refuses another tenant's value.
			st, err := db.PrepareContext(context.Background(), "SELECT tenant_id FROM invoices WHERE tenant_id = $1")
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			_, err = st.QueryContext(ctx, "t02")
			refusedAs(t, err, guard.RuleTenantMismatch)
			// A bypassed execution of a rewritten Stmt runs the text as written.
			all, err := db.PrepareContext(context.Background(), "SELECT tenant_id FROM invoices WHERE total >= $1")
			if err != nil {
				t.Fatal(err)
			}
			defer all.Close()
			if seen := tenantsSeen(t, stmtQuerier{all}, tenant.WithBypass(ctx, "report"), "", 0); len(seen) != 3 {
				t.Fatalf("bypassed Stmt saw %v, want every tenant", seen)
			}
			wantOnlyCase(t, tenantsSeen(t, stmtQuerier{all}, ctx, "", 0), "t01", 3)
			// @total is the operator @ here (a Stmt takes no pgx named
			// arguments): rewritten as by a call without a Stmt.
			abs, err := db.PrepareContext(context.Background(), "SELECT tenant_id FROM invoices WHERE @total >= 0")
			if err != nil {
				t.Fatal(err)
			}
			defer abs.Close()
			wantOnlyCase(t, tenantsSeen(t, stmtQuerier{abs}, ctx, ""), "t01", 3)
		})
	}
	_, db := openRewriting(t, d, rewrite.On, guard.Off, &events{})
	t.Run("arguments", func(t *testing.T) {
		q := "SELECT tenant_id FROM invoices WHERE tenant_id = $1 AND $2::jsonb IS NOT NULL"
		_, err := db.QueryContext(ctx, q, "t02", map[string]any{"k": 1}) // a map is a value, not named arguments
		refusedAs(t, err, guard.RuleTenantMismatch)
		other := "t02"
		_, err = db.QueryContext(ctx, "SELECT tenant_id FROM invoices WHERE tenant_id = $1", &other)
		refusedAs(t, err, guard.RuleTenantMismatch)
		_, err = db.QueryContext(ctx, "SELECT tenant_id FROM invoices WHERE tenant_id = $1", sql.NullString{String: "t02", Valid: true})
		refusedAs(t, err, guard.RuleTenantMismatch)
		own := "t01"
		wantOnlyCase(t, tenantsSeen(t, db, ctx, "SELECT tenant_id FROM invoices WHERE tenant_id = $1", &own), "t01", 3)
		// @name without pgx named arguments is the operator @: not a tenant.
		_, err = db.QueryContext(ctx, "SELECT tenant_id FROM invoices WHERE tenant_id = @tenant_id")
		refusedAs(t, err, guard.RuleUnscoped)
	})
	t.Run("no tenant", func(t *testing.T) {
		none := context.Background()
		wantNone(t, tenantsSeen(t, db, none, "SELECT tenant_id FROM invoices"))
		if _, err := db.ExecContext(none, "INSERT INTO invoices (id, total) VALUES (9001, 1)"); err == nil {
			t.Fatal("an INSERT without a tenant stored a row")
		}
	})
}

// TestRewriteAuditRedacts: an audit event's SQL carries no constant of a
// text decided as a whole (not by its shape).
func TestRewriteAuditRedacts(t *testing.T) {
	d := noRLSCaseDB(t)
	ev := &events{}
	_, db := openRewriting(t, d, rewrite.Audit, guard.Off, ev)
	tenantsSeen(t, db, caseTenant(1), "SELECT tenant_id FROM invoices WHERE status = 'SSN-123' AND id > $1", 0)
	seen := 0
	for _, e := range ev.take() {
		if e.Kind != event.Rewrite {
			continue
		}
		seen++
		if strings.Contains(e.SQL, "SSN") || !strings.Contains(e.SQL, "invoices.tenant_id = $2") {
			t.Fatalf("event SQL %q", e.SQL)
		}
	}
	if seen != 1 {
		t.Fatalf("%d rewrite events, want 1", seen)
	}
}
