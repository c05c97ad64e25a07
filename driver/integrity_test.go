package driver_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	sqldriver "database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// Binding integrity: no statement runs under a tenant the driver did not
// bind for it. Each test starts from a connection bound to tenant a, then
// works for tenant b on that same connection (one connection per pool), and
// checks the tenant of every row read and written.

// boundTo returns a one-connection pool whose connection last ran for
// tenant i.
func boundTo(t *testing.T, db *sql.DB, i int) {
	t.Helper()
	db.SetMaxOpenConns(1)
	wantOnly(t, tenantsSeen(t, db, ctxFor(i), "SELECT tenant_id FROM items"), i, itemsOf(i))
}

// eventsByNote returns how many events with note each tenant has (read as
// admin, bypassing RLS).
func eventsByNote(t testing.TB, admin *sql.DB, note string) map[string]int {
	t.Helper()
	rows, err := admin.Query(`SELECT tenant_id FROM events WHERE note = $1`, note)
	if err != nil {
		t.Fatal(err)
	}
	seen, err := collectTenants(rows)
	if err != nil {
		t.Fatal(err)
	}
	return seen
}

// TestTxControlAsSQLRefused: transaction control sent as SQL inside a
// database/sql Tx is refused before it is sent, the Tx keeps its tenant, and
// its writes are stored under it. (Before: ROLLBACK undid the session set
// pipelined with BEGIN and the rest of the Tx ran as the previous tenant.)
func TestTxControlAsSQLRefused(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		admin := openAdmin(t, d)
		a, b := 3, 7
		boundTo(t, db, a)
		note := "txctl-" + cfg.scope + "-" + cfg.mode

		tx, err := db.BeginTx(ctxFor(b), nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, sql := range []string{
			"ROLLBACK", "COMMIT", "END", "ABORT", "BEGIN", "START TRANSACTION",
			"rollback work", "PREPARE TRANSACTION 'x'",
			"SELECT 1; ROLLBACK", "ROLLBACK; SELECT 1",
		} {
			_, err := tx.ExecContext(ctxFor(b), sql)
			if !errors.Is(err, driver.ErrTxControl) {
				t.Errorf("tx.Exec(%q): err = %v, want ErrTxControl", sql, err)
			}
			if errors.Is(err, sqldriver.ErrBadConn) {
				t.Errorf("tx.Exec(%q): looks like ErrBadConn", sql)
			}
			if _, err := tx.QueryContext(ctxFor(b), sql); !errors.Is(err, driver.ErrTxControl) {
				t.Errorf("tx.Query(%q): err = %v, want ErrTxControl", sql, err)
			}
		}
		// Savepoints stay allowed, and rolling back to one keeps the tenant.
		for _, sql := range []string{"SAVEPOINT s1", "RELEASE SAVEPOINT s1", "SAVEPOINT s2"} {
			if _, err := tx.ExecContext(ctxFor(b), sql); err != nil {
				t.Fatalf("%s: %v", sql, err)
			}
		}
		if _, err := tx.ExecContext(ctxFor(b), "INSERT INTO events (tenant_id, note) VALUES ($1, $2)", tenantName(b), note+"-undone"); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctxFor(b), "ROLLBACK TO SAVEPOINT s2"); err != nil {
			t.Fatal(err)
		}
		wantOnly(t, tenantsSeen(t, tx, ctxFor(b), "SELECT tenant_id FROM items"), b, itemsOf(b))
		if _, err := tx.ExecContext(ctxFor(b), "INSERT INTO events (tenant_id, note) VALUES (current_setting('app.tenant_id'), $1)", note); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := eventsByNote(t, admin, note); len(got) != 1 || got[tenantName(b)] != 1 {
			t.Fatalf("events written in the Tx: %v, want one of %s", got, tenantName(b))
		}
		if got := eventsByNote(t, admin, note+"-undone"); len(got) != 0 {
			t.Fatalf("rolled back to savepoint, yet stored: %v", got)
		}
		wantOnly(t, tenantsSeen(t, db, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
	})
}

// TestUserTransactionOnConn: on a sql.Conn (no database/sql Tx) the
// application may run its own BEGIN … ROLLBACK as SQL: the driver binds each
// statement inside it and never commits it behind the user's back.
func TestUserTransactionOnConn(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		admin := openAdmin(t, d)
		note := "usertx-" + cfg.scope + "-" + cfg.mode
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wantOnly(t, tenantsSeen(t, conn, ctxFor(2), "SELECT tenant_id FROM items"), 2, itemsOf(2))
		for _, end := range []string{"ROLLBACK", "COMMIT"} {
			if _, err := conn.ExecContext(ctxFor(5), "BEGIN"); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctxFor(5), "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ"); err != nil {
				t.Fatalf("SET TRANSACTION after BEGIN sent as SQL: %v", err)
			}
			if _, err := conn.ExecContext(ctxFor(5), "INSERT INTO events (tenant_id, note) VALUES ($1, $2)", tenantName(5), note+end); err != nil {
				t.Fatal(err)
			}
			wantOnly(t, tenantsSeen(t, conn, ctxFor(5), "SELECT tenant_id FROM events WHERE note = $1", note+end), 5, 1)
			var iso string
			if err := conn.QueryRowContext(ctxFor(5), "SELECT current_setting('transaction_isolation')").Scan(&iso); err != nil || iso != "repeatable read" {
				t.Fatalf("isolation = %q, %v", iso, err)
			}
			if _, err := conn.ExecContext(ctxFor(5), end); err != nil {
				t.Fatal(err)
			}
			want := map[string]int{}
			if end == "COMMIT" {
				want[tenantName(5)] = 1
			}
			if got := eventsByNote(t, admin, note+end); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("after the user's %s: stored %v, want %v", end, got, want)
			}
		}
		wantOnly(t, tenantsSeen(t, conn, ctxFor(2), "SELECT tenant_id FROM items"), 2, itemsOf(2))
	})
}

// TestSetTransactionFirst: SET TRANSACTION (isolation, snapshot) as the first
// statement of a database/sql Tx works in both scopes: the tenant is bound
// with the statement after it.
func TestSetTransactionFirst(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		boundTo(t, db, 1)
		ctx := ctxFor(4)

		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"); err != nil {
			t.Fatalf("SET TRANSACTION first in Tx: %v", err)
		}
		var iso string
		if err := tx.QueryRowContext(ctx, "SELECT current_setting('transaction_isolation')").Scan(&iso); err != nil || iso != "serializable" {
			t.Fatalf("isolation = %q, %v", iso, err)
		}
		wantOnly(t, tenantsSeen(t, tx, ctx, "SELECT tenant_id FROM items"), 4, itemsOf(4))
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}

		// A snapshot exported by another session (of the same role).
		exporter, err := sql.Open("pgx", d.AppDSN)
		if err != nil {
			t.Fatal(err)
		}
		defer exporter.Close()
		etx, err := exporter.BeginTx(context.Background(), &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		defer etx.Rollback()
		var snap string
		if err := etx.QueryRow("SELECT pg_export_snapshot()").Scan(&snap); err != nil {
			t.Fatal(err)
		}
		tx, err = db.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		if _, err := tx.ExecContext(ctx, "SET TRANSACTION SNAPSHOT '"+snap+"'"); err != nil {
			t.Fatalf("SET TRANSACTION SNAPSHOT first in Tx: %v", err)
		}
		wantOnly(t, tenantsSeen(t, tx, ctx, "SELECT tenant_id FROM items"), 4, itemsOf(4))
	})
}

// TestProcedureThatRollsBack: a procedure or DO block that issues ROLLBACK
// must not leave the rest of it running as the connection's previous
// tenant. Session scope keeps the statement's tenant (the session set is
// committed before the statement); transaction scope fails closed.
func TestProcedureThatRollsBack(t *testing.T) {
	d := schema(t)
	err := d.ExecOwner(context.Background(),
		`CREATE PROCEDURE log_after_rollback(note text) LANGUAGE plpgsql AS $$
		BEGIN
			ROLLBACK;
			INSERT INTO events (tenant_id, note) VALUES (coalesce(NULLIF(current_setting('app.tenant_id', true), ''), 'none'), note);
		END $$`,
		`GRANT EXECUTE ON PROCEDURE log_after_rollback(text) TO `+d.AppRole)
	if err != nil {
		t.Fatal(err)
	}
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		admin := openAdmin(t, d)
		a, b := 2, 9
		for _, form := range []string{"CALL", "DO"} {
			boundTo(t, db, a)
			note := "rb-" + form + "-" + cfg.scope + "-" + cfg.mode
			var err error
			if form == "CALL" {
				_, err = db.ExecContext(ctxFor(b), "CALL log_after_rollback($1)", note)
			} else {
				_, err = db.ExecContext(ctxFor(b), `DO $$ BEGIN ROLLBACK;
					INSERT INTO events (tenant_id, note) VALUES (coalesce(NULLIF(current_setting('app.tenant_id', true), ''), 'none'), '`+note+`'); END $$`)
			}
			got := eventsByNote(t, admin, note)
			switch cfg.scope {
			case "session":
				if err != nil || len(got) != 1 || got[tenantName(b)] != 1 {
					t.Errorf("%s: err = %v, stored %v; want one row of %s", form, err, got, tenantName(b))
				}
			case "transaction":
				if !isRLSViolation(err) || len(got) != 0 {
					t.Errorf("%s: err = %v, stored %v; want an RLS refusal after the ROLLBACK and nothing stored", form, err, got)
				}
			}
			wantOnly(t, tenantsSeen(t, db, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
		}
	})
}

// TestFailedStatementAfterRows: a pipelined query that fails
// after returning a row must leave the connection binding the next tenant
// correctly.
func TestFailedStatementAfterRows(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		a, b := 5, 6
		boundTo(t, db, b)
		for i := 0; i < 2; i++ {
			rows, err := db.QueryContext(ctxFor(a), "SELECT tenant_id, 1/(val-2) FROM items ORDER BY val")
			if err == nil {
				for rows.Next() {
				}
				err = rows.Err()
				rows.Close()
			}
			if err == nil {
				t.Fatal("division by zero did not fail")
			}
			wantOnly(t, tenantsSeen(t, db, ctxFor(b), "SELECT tenant_id FROM items"), b, itemsOf(b))
			wantOnly(t, tenantsSeen(t, db, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
		}
	})
}

// TestDriverStatementsUnreachable: the driver's own prepared statements
// cannot be run, replaced or dropped from SQL.
func TestDriverStatementsUnreachable(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		a, b := 1, 8
		boundTo(t, db, a)

		// A query text equal to the name of a statement the driver
		// prepared (pgx runs a text equal to a name it knows as that
		// statement) is SQL like any other, here a syntax error.
		const q = "SELECT tenant_id FROM items"
		sum := sha256.Sum256([]byte(q))
		name := "pgxtenant_" + hex.EncodeToString(sum[:16])
		wantOnly(t, tenantsSeen(t, db, ctxFor(a), q), a, itemsOf(a))
		if rows, err := db.QueryContext(ctxFor(a), name); err == nil {
			rows.Close()
			t.Errorf("query text %q ran the driver's statement", name)
		}
		// Through pgx itself too: a pgx option argument sends the call to
		// pgx, which looks texts up among the names it prepared.
		if rows, err := db.QueryContext(ctxFor(a), name, pgx.QueryResultFormats{0}); err == nil {
			rows.Close()
			t.Errorf("query text %q ran the driver's statement through pgx", name)
		}
		tx, err := db.BeginTx(ctxFor(a), nil)
		if err != nil {
			t.Fatal(err)
		}
		wantOnly(t, tenantsSeen(t, tx, ctxFor(a), q), a, itemsOf(a))
		if rows, err := tx.QueryContext(ctxFor(a), name); err == nil {
			rows.Close()
			t.Errorf("query text %q ran the driver's statement in a Tx", name)
		}
		tx.Rollback()

		for _, sql := range []string{
			"DEALLOCATE pgxtenant_set_local",
			"DEALLOCATE PREPARE pgxtenant_set_local",
			`DEALLOCATE "pgxtenant_set_local"`,
			"DEALLOCATE ALL",
			"PREPARE pgxtenant_set_session(text, text) AS SELECT $1 || $2",
			"EXECUTE pgxtenant_set_local('app.tenant_id', 't08')",
			"DEALLOCATE pgxtenant_set_local; PREPARE pgxtenant_set_local(text, text) AS SELECT $2",
		} {
			if _, err := db.ExecContext(ctxFor(a), sql); !errors.Is(err, driver.ErrTamper) {
				t.Errorf("%q: err = %v, want ErrTamper", sql, err)
			}
			wantOnly(t, tenantsSeen(t, db, ctxFor(b), "SELECT tenant_id FROM items"), b, itemsOf(b))
			wantOnly(t, tenantsSeen(t, db, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
		}
		// The binding is no named statement that could be replaced, also
		// on the general path (a multi-statement text, a tenant change).
		for _, i := range []int{b, a} {
			if _, err := db.ExecContext(ctxFor(i), "SELECT 1; SELECT 2"); err != nil {
				t.Fatal(err)
			}
		}
		var named int
		if err := db.QueryRowContext(ctxFor(a), `SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE '%set' || '_config($1%'`).Scan(&named); err != nil || named != 0 {
			t.Fatalf("%d prepared statements call set_config (err %v); want none", named, err)
		}
		// The application's own prepared statements keep working.
		for _, sql := range []string{"PREPARE mine(int) AS SELECT $1", "EXECUTE mine(1)", "DEALLOCATE mine"} {
			if _, err := db.ExecContext(ctxFor(a), sql); err != nil {
				t.Errorf("%q: %v", sql, err)
			}
		}
	})
}

// TestShadowedSetConfig: a set_config function earlier on the search_path
// than pg_catalog does not intercept the binding.
func TestShadowedSetConfig(t *testing.T) {
	d := schema(t)
	err := d.ExecOwner(context.Background(),
		`CREATE FUNCTION public.set_config(text, text, boolean) RETURNS text LANGUAGE sql AS 'SELECT $2'`)
	if err != nil {
		t.Fatal(err)
	}
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		boundTo(t, db, 3)
		if _, err := db.ExecContext(ctxFor(3), "SET search_path = public, pg_catalog"); err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{4, 3, 5} {
			wantOnly(t, tenantsSeen(t, db, ctxFor(i), "SELECT tenant_id FROM items"), i, itemsOf(i))
		}
		tx, err := db.BeginTx(ctxFor(6), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		wantOnly(t, tenantsSeen(t, tx, ctxFor(6), "SELECT tenant_id FROM items"), 6, itemsOf(6))
	})
}

// TestTextReadingSettingsPinned: the settings that change how the server
// reads SQL text and parameters cannot be changed through the driver, not
// even for the role, so the parser and the server always read the same
// statements, and tenant IDs arrive byte for byte.
func TestTextReadingSettingsPinned(t *testing.T) {
	d := schema(t)
	// An administrator's (or a migration's) role default does not reach
	// the driver's connections.
	if err := d.Exec(context.Background(),
		`ALTER ROLE `+d.AppRole+` SET standard_conforming_strings = off`,
		`ALTER ROLE `+d.AppRole+` SET backslash_quote = on`,
	); err != nil {
		t.Fatal(err)
	}
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		boundTo(t, db, 1)
		for _, sql := range []string{
			"SET standard_conforming_strings = off",
			"SET SESSION standard_conforming_strings TO off",
			"SET LOCAL standard_conforming_strings = off",
			"RESET standard_conforming_strings",
			"SELECT set_config('standard_conforming_strings', 'off', false)",
			"SET client_encoding = 'LATIN1'",
			"SET NAMES 'LATIN1'",
			"SELECT set_config('client_encoding', 'LATIN1', false)",
			"SET backslash_quote = on",
		} {
			if _, err := db.ExecContext(ctxFor(1), sql); !errors.Is(err, driver.ErrTamper) {
				t.Errorf("%q: err = %v, want ErrTamper", sql, err)
			}
		}
		var scs, enc string
		if err := db.QueryRowContext(ctxFor(1), "SELECT current_setting('standard_conforming_strings'), current_setting('client_encoding')").Scan(&scs, &enc); err != nil {
			t.Fatal(err)
		}
		if scs != "on" || enc != "UTF8" {
			t.Fatalf("standard_conforming_strings = %s, client_encoding = %s; want on, UTF8", scs, enc)
		}
		// The review's smuggle: one SELECT to the parser, two statements
		// to a server with standard_conforming_strings off.
		rows, err := db.QueryContext(ctxFor(1), `SELECT '\' AS a, '; SELECT set_config(''app.tenant_id'', ''t02'', false) --' AS b`)
		if err != nil {
			t.Fatal(err)
		}
		rows.Close()
		wantOnly(t, tenantsSeen(t, db, ctxFor(1), "SELECT tenant_id FROM items"), 1, itemsOf(1))
		for _, id := range []string{"é", "テナント", "t\u00e9"} {
			var got string
			if err := db.QueryRowContext(tenant.NewContext(context.Background(), id), "SELECT current_setting('app.tenant_id')").Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != id {
				t.Fatalf("tenant %q bound as %q", id, got)
			}
		}
	})
	for _, kv := range []string{"standard_conforming_strings=off", "client_encoding=LATIN1", "backslash_quote=on"} {
		if _, err := sql.Open("pgx-tenant", withKeys(d.AppDSN, kv)); err == nil || !strings.Contains(err.Error(), strings.Split(kv, "=")[0]) {
			t.Errorf("DSN with %s: err = %v, want an error naming it", kv, err)
		}
	}
}

// TestSessionObjects: what a tenant leaves on a pooled connection (a temp
// table shadowing a real one, a WITH HOLD cursor, LISTEN, an advisory lock,
// a SQL-prepared statement) survives into the next tenant's statements by
// default — a temp table named like a real table even serves the previous
// tenant's rows — and is gone with tenant_clear_objects=true.
func TestSessionObjects(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		for _, clear := range []bool{false, true} {
			t.Run(fmt.Sprintf("clear=%v", clear), func(t *testing.T) {
				db := openApp(t, d, cfg.keys(fmt.Sprintf("tenant_clear_objects=%v", clear))...)
				a, b := 2, 3
				boundTo(t, db, a)
				for _, sql := range []string{
					"CREATE TEMP TABLE items AS SELECT * FROM items",
					"DECLARE held CURSOR WITH HOLD FOR SELECT tenant_id FROM items",
					"LISTEN tenant_channel",
					"SELECT pg_advisory_lock(42)",
					"PREPARE mine AS SELECT tenant_id FROM items",
				} {
					if _, err := db.ExecContext(ctxFor(a), sql); err != nil {
						t.Fatalf("%s: %v", sql, err)
					}
				}
				// The same tenant keeps its objects.
				wantOnly(t, tenantsSeen(t, db, ctxFor(a), "SELECT tenant_id FROM pg_temp.items"), a, itemsOf(a))

				leftovers := func(ctx context.Context, q interface {
					QueryRowContext(context.Context, string, ...any) *sql.Row
				}) string {
					var s string
					err := q.QueryRowContext(ctx, `SELECT concat_ws(',',
						(SELECT 'temp tables' FROM pg_class WHERE relpersistence = 't' AND pg_table_is_visible(oid) LIMIT 1),
						(SELECT 'cursors' FROM pg_cursors WHERE name <> '' LIMIT 1),
						(SELECT 'listen' FROM pg_listening_channels() LIMIT 1),
						(SELECT 'advisory locks' FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() LIMIT 1),
						(SELECT 'prepared' FROM pg_prepared_statements WHERE from_sql LIMIT 1))`).Scan(&s)
					if err != nil {
						t.Fatal(err)
					}
					return s
				}
				seen := tenantsSeen(t, db, ctxFor(b), "SELECT tenant_id FROM items")
				if !clear {
					// The documented default: the leftovers are there, and
					// the shadowing temp table answers with a's rows.
					wantOnly(t, seen, a, itemsOf(a))
					if got := leftovers(ctxFor(b), db); got != "temp tables,cursors,listen,advisory locks,prepared" {
						t.Fatalf("leftovers without clearing: %q", got)
					}
					return
				}
				wantOnly(t, seen, b, itemsOf(b))
				if got := leftovers(ctxFor(b), db); got != "" {
					t.Fatalf("leftovers after the tenant changed: %q", got)
				}
				// A database/sql Tx of another tenant is cleared at BeginTx.
				if _, err := db.ExecContext(ctxFor(b), "CREATE TEMP TABLE items AS SELECT * FROM items"); err != nil {
					t.Fatal(err)
				}
				tx, err := db.BeginTx(ctxFor(a), nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				wantOnly(t, tenantsSeen(t, tx, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
				if got := leftovers(ctxFor(a), tx); got != "" {
					t.Fatalf("leftovers in a Tx of another tenant: %q", got)
				}
			})
		}
	})
}

// TestRoleWarning: connecting as a role RLS does not apply to logs one
// warning per pool; the recommended app role logs nothing.
func TestRoleWarning(t *testing.T) {
	d := schema(t)
	for _, tt := range []struct {
		name, dsn string
		warn      bool
	}{
		{"app role", d.AppDSN, false},
		{"table owner", d.OwnerDSN, true},
		{"superuser", d.AdminDSN, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var buf strings.Builder
			cfg, err := pgx.ParseConfig(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			db, err := driver.OpenDB(*cfg, driver.WithLogger(slog.New(slog.NewTextHandler(&buf, nil))))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(2)
			c1, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			c2, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			c1.Close()
			c2.Close()
			n := strings.Count(buf.String(), "not subject to row-level security")
			if want := map[bool]int{false: 0, true: 1}[tt.warn]; n != want {
				t.Fatalf("%d warnings, want %d; log:\n%s", n, want, buf.String())
			}
		})
	}
}

// TestOpaqueInTxRebinds: a procedure or DO block inside a database/sql Tx
// may change the setting through code the driver cannot read; the
// statement after it is bound again, so the rest of the Tx keeps its tenant.
func TestOpaqueInTxRebinds(t *testing.T) {
	d := schema(t)
	err := d.ExecOwner(context.Background(),
		`CREATE PROCEDURE switch_tenant(v text) LANGUAGE plpgsql AS $$
		BEGIN PERFORM set_config('app.' || 'tenant_id', v, true); END $$`,
		`GRANT EXECUTE ON PROCEDURE switch_tenant(text) TO `+d.AppRole)
	if err != nil {
		t.Fatal(err)
	}
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		for _, opaque := range []string{"CALL switch_tenant('t09')", "DO $$ BEGIN CALL switch_tenant('t09'); END $$"} {
			tx, err := db.BeginTx(ctxFor(4), nil)
			if err != nil {
				t.Fatal(err)
			}
			wantOnly(t, tenantsSeen(t, tx, ctxFor(4), "SELECT tenant_id FROM items"), 4, itemsOf(4))
			if _, err := tx.ExecContext(ctxFor(4), opaque); err != nil {
				t.Fatalf("%s: %v", opaque, err)
			}
			wantOnly(t, tenantsSeen(t, tx, ctxFor(4), "SELECT tenant_id FROM items"), 4, itemsOf(4))
			tx.Rollback()
		}
	})
}

// TestOpaqueInSessionRebinds: in session scope a connection remembers which
// tenant the server holds and skips the binding while the tenant stays the
// same; a procedure or DO block may change the session-level setting through
// code the driver cannot read, so after one the next statement is bound
// again, even for the same tenant.
func TestOpaqueInSessionRebinds(t *testing.T) {
	d := schema(t)
	err := d.ExecOwner(context.Background(),
		`CREATE PROCEDURE switch_session_tenant(v text) LANGUAGE plpgsql AS $$
		BEGIN PERFORM set_config('app.' || 'tenant_id', v, false); END $$`,
		`GRANT EXECUTE ON PROCEDURE switch_session_tenant(text) TO `+d.AppRole)
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) {
			db := openApp(t, d, "tenant_scope=session", "default_query_exec_mode="+mode)
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for _, opaque := range []string{"CALL switch_session_tenant('t09')", "DO $$ BEGIN CALL switch_session_tenant('t09'); END $$"} {
				wantOnly(t, tenantsSeen(t, conn, ctxFor(4), "SELECT tenant_id FROM items"), 4, itemsOf(4))
				if _, err := conn.ExecContext(ctxFor(4), opaque); err != nil {
					t.Fatalf("%s: %v", opaque, err)
				}
				wantOnly(t, tenantsSeen(t, conn, ctxFor(4), "SELECT tenant_id FROM items"), 4, itemsOf(4))
			}
		})
	}
}

// TestUnnamedSetAfterPing: the local set reuses the unnamed statement it
// parsed; pgx's idle ping on checkout (a simple query) destroys it, and the
// next statement must notice, parse it again and still run for its tenant.
func TestUnnamedSetAfterPing(t *testing.T) {
	d := schema(t)
	for _, scope := range scopes {
		t.Run(scope, func(t *testing.T) {
			db := openApp(t, d, "tenant_scope="+scope)
			boundTo(t, db, 2)
			wantOnly(t, tenantsSeen(t, db, ctxFor(3), "SELECT tenant_id FROM items"), 3, itemsOf(3))
			for _, i := range []int{4, 5} {
				time.Sleep(1100 * time.Millisecond) // pgx pings a connection idle for over a second
				wantOnly(t, tenantsSeen(t, db, ctxFor(i), "SELECT tenant_id FROM items"), i, itemsOf(i))
				var n int
				if err := db.QueryRowContext(ctxFor(i), "SELECT count(*) FROM items WHERE val > $1", 0).Scan(&n); err != nil || n != itemsOf(i) {
					t.Fatalf("count = %d, %v", n, err)
				}
			}
		})
	}
}
