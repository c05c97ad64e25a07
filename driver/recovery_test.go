package driver_test

import (
	"context"
	"database/sql"
	"os"
	"testing"
	"time"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// settle runs a query for tenant i (for none when i < 0) and checks that it
// returns only tenant i's rows. Recovery promises at most one failed
// statement after a broken connection: pgx marks the connection closed and
// database/sql replaces it, so settle retries once and fails the test on a
// second failure. That holds while the pool has at most one broken
// connection that pgx does not ping before use; see the callers.
func settle(t *testing.T, db *sql.DB, i int) {
	t.Helper()
	ctx := context.Background()
	if i >= 0 {
		ctx = ctxFor(i)
	}
	var failed error
	for {
		rows, err := db.QueryContext(ctx, "SELECT tenant_id FROM items")
		var seen map[string]int
		if err == nil {
			seen, err = collectTenants(rows)
			for id := range seen {
				if i < 0 || id != tenantName(i) {
					t.Fatalf("statement for tenant %d read a row of %s", i, id)
				}
			}
		}
		if err == nil {
			if i < 0 {
				wantNone(t, seen)
			} else {
				wantOnly(t, seen, i, itemsOf(i))
			}
			return
		}
		if failed != nil {
			t.Fatalf("tenant %d: a second statement failed after a broken connection: %v (the first: %v)", i, err, failed)
		}
		failed = err
		time.Sleep(100 * time.Millisecond)
	}
}

func TestCancelMidTransaction(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		db.SetMaxOpenConns(1) // the next statements get the same (or a replaced) connection

		settle(t, db, 2)
		ctx, cancel := context.WithCancel(ctxFor(2))
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO events (tenant_id) VALUES ('t02')"); err != nil {
			t.Fatal(err)
		}
		go func() { time.Sleep(100 * time.Millisecond); cancel() }()
		if _, err := tx.ExecContext(ctx, "SELECT pg_sleep(10)"); err == nil {
			t.Fatal("pg_sleep survived cancellation")
		}
		tx.Rollback()

		settle(t, db, 5)
		settle(t, db, -1)

		// Cancellation of an autocommit statement.
		ctx, cancel = context.WithTimeout(ctxFor(2), 100*time.Millisecond)
		defer cancel()
		if _, err := db.ExecContext(ctx, "SELECT pg_sleep(10)"); err == nil {
			t.Fatal("pg_sleep survived the deadline")
		}
		settle(t, db, 6)
		settle(t, db, -1)

		if got := countEvents(t, openAdmin(t, d)); got["t02"] != 0 {
			t.Fatalf("cancelled transaction committed: %v", got)
		}
	})
}

func TestTerminatedBackend(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		db.SetMaxOpenConns(2)
		admin := openAdmin(t, d)

		for round := 0; round < 3; round++ {
			settle(t, db, 3)
			// Kill every backend of the app role, as a failover or an
			// operator would. settle runs one statement at a time, so the
			// pool holds a single connection: one failed statement at most.
			if _, err := admin.Exec(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1`, d.AppRole); err != nil {
				t.Fatal(err)
			}
			settle(t, db, 8)
			settle(t, db, -1)
			settle(t, db, 3)
		}
	})
}

func TestServerRestart(t *testing.T) {
	// -short leaves the test's own server out, except under CI, which runs
	// every test.
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("starts its own server")
	}
	srv := pgtest.StartPrivate(t) // skips or fails without local binaries
	if !srv.CanRestart() {
		t.Fatalf("pgtest.StartPrivate returned a %s server, which cannot be restarted", srv.Source)
	}
	d := pgtest.NewDatabaseOn(t, srv)
	ctx := context.Background()
	if err := d.ExecOwner(ctx,
		`CREATE TABLE items (id bigserial PRIMARY KEY, tenant_id text NOT NULL, val int NOT NULL)`,
		`ALTER TABLE items ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY isolation ON items USING (`+policy+`)`,
		`INSERT INTO items (tenant_id, val) VALUES ('t00', 1), ('t01', 1), ('t01', 2)`,
	); err != nil {
		t.Fatal(err)
	}
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		db.SetMaxOpenConns(3)
		// Bind all connections to tenants.
		var conns []*sql.Conn
		for i := 0; i < 3; i++ {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			wantOnly(t, tenantsSeen(t, c, ctxFor(i%2), "SELECT tenant_id FROM items"), i%2, itemsOf(i%2))
			conns = append(conns, c)
		}
		for _, c := range conns {
			c.Close()
		}
		rctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		if err := srv.Restart(rctx); err != nil {
			t.Fatal(err)
		}
		// The pool kept two of the three connections (MaxIdleConns), both
		// broken now. pgx stdlib pings a connection idle for over a second
		// since its last ResetSession, and these never had one, so
		// database/sql discards them before any statement fails.
		settle(t, db, 1)
		settle(t, db, -1)
		settle(t, db, 0)
		settle(t, db, -1)
	})
}
