package driver_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// settle runs query for tenant i until it succeeds (a broken connection may
// surface an error once before database/sql replaces it) and checks that it
// returned only tenant i's rows every time it did return rows.
func settle(t *testing.T, db *sql.DB, i int) {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		ctx := context.Background()
		if i >= 0 {
			ctx = ctxFor(i)
		}
		rows, err := db.QueryContext(ctx, "SELECT tenant_id FROM items")
		if err != nil {
			lastErr = err
			time.Sleep(100 * time.Millisecond)
			continue
		}
		seen, err := collectTenants(rows)
		for id := range seen {
			if i < 0 || id != tenantName(i) {
				t.Fatalf("statement for tenant %d read a row of %s", i, id)
			}
		}
		if err != nil {
			lastErr = err
			continue
		}
		if i < 0 {
			wantNone(t, seen)
		} else {
			wantOnly(t, seen, i, itemsOf(i))
		}
		return
	}
	t.Fatalf("tenant %d: no successful statement after 5 attempts: %v", i, lastErr)
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
			// operator would.
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
	if testing.Short() {
		t.Skip("starts its own server")
	}
	srv := pgtest.StartPrivate(t)
	if !srv.CanRestart() {
		t.Skip("server cannot be restarted")
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
		settle(t, db, 1)
		settle(t, db, -1)
		settle(t, db, 0)
		settle(t, db, -1)
	})
}
