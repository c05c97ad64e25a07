package driver_test

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// TestConcurrentIsolation runs many goroutines over a small pool, each
// statement for a random tenant on a random path, and checks that every row
// read belongs to the statement's tenant and that per-tenant counts are
// exact, for reads and for writes.
func TestConcurrentIsolation(t *testing.T) {
	const (
		goroutines = 32
		statements = 300
		poolSize   = 4
	)
	if testing.Short() {
		t.Skip("long")
	}
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		d := schema(t)
		db := openApp(t, d, cfg.keys()...)
		db.SetMaxOpenConns(poolSize)
		db.SetMaxIdleConns(poolSize)
		isolationWorkload(t, db, openAdmin(t, d), goroutines, statements, true)
	})
}

// isolationWorkload runs goroutines × statements random statements for
// random tenants over db on every path (prepared statements only if
// withStmt) and fails on any row of another tenant or inexact count.
func isolationWorkload(t *testing.T, db, admin *sql.DB, goroutines, statements int, withStmt bool) {
	{
		ctx := context.Background()
		count := "SELECT count(*) FROM items"
		const (
			stmtText   = "SELECT tenant_id FROM items WHERE val > $1"
			insertText = "INSERT INTO events (tenant_id, note) VALUES ($1, $2)"
		)
		var stmt, insert *sql.Stmt
		if withStmt {
			var err error
			if stmt, err = db.PrepareContext(ctx, stmtText); err != nil {
				t.Fatal(err)
			}
			defer stmt.Close()
			if insert, err = db.PrepareContext(ctx, insertText); err != nil {
				t.Fatal(err)
			}
			defer insert.Close()
		}

		var inserted [numTenants]atomic.Int64
		var foreign, checked atomic.Int64
		fail := func(format string, args ...any) {
			foreign.Add(1)
			t.Errorf(format, args...)
		}
		checkRows := func(rows *sql.Rows, err error, i int, want int) {
			if err != nil {
				t.Error(err)
				return
			}
			defer rows.Close()
			n := 0
			for rows.Next() {
				var id string
				if err := rows.Scan(&id); err != nil {
					t.Error(err)
					return
				}
				if i < 0 || id != tenantName(i) {
					fail("statement for tenant %d read a row of %s", i, id)
				}
				n++
			}
			if err := rows.Err(); err != nil {
				t.Error(err)
			}
			if n != want {
				fail("tenant %d: read %d rows, want %d", i, n, want)
			}
			checked.Add(1)
		}

		var wg sync.WaitGroup
		for g := 0; g < goroutines; g++ {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				rnd := rand.New(rand.NewPCG(seed, seed*7+1))
				for s := 0; s < statements; s++ {
					i := rnd.IntN(numTenants)
					tctx := ctxFor(i)
					kinds := 8
					if withStmt {
						kinds = 11
					}
					switch rnd.IntN(kinds) {
					case 0: // DB.Query
						rows, err := db.QueryContext(tctx, "SELECT tenant_id FROM items")
						checkRows(rows, err, i, itemsOf(i))
					case 1: // DB.QueryRow
						var n int
						if err := db.QueryRowContext(tctx, count).Scan(&n); err != nil {
							t.Error(err)
						} else if n != itemsOf(i) {
							fail("tenant %d: count %d, want %d", i, n, itemsOf(i))
						}
					case 2: // DB.Exec
						if _, err := db.ExecContext(tctx, "INSERT INTO events (tenant_id, note) VALUES ($1, 'exec')", tenantName(i)); err != nil {
							t.Error(err)
						} else {
							inserted[i].Add(1)
						}
					case 3: // transaction: read, write, read own write
						tx, err := db.BeginTx(tctx, nil)
						if err != nil {
							t.Error(err)
							continue
						}
						rows, err := tx.QueryContext(tctx, "SELECT tenant_id FROM items")
						checkRows(rows, err, i, itemsOf(i))
						if _, err := tx.ExecContext(tctx, "INSERT INTO events (tenant_id, note) VALUES ($1, 'tx')", tenantName(i)); err != nil {
							t.Error(err)
							tx.Rollback()
							continue
						}
						if rnd.IntN(4) == 0 {
							tx.Rollback()
							continue
						}
						if err := tx.Commit(); err != nil {
							t.Error(err)
						} else {
							inserted[i].Add(1)
						}
					case 4: // sql.Conn checked out with one tenant, statements with others
						conn, err := db.Conn(tctx)
						if err != nil {
							t.Error(err)
							continue
						}
						j := rnd.IntN(numTenants)
						rows, err := conn.QueryContext(ctxFor(j), "SELECT tenant_id FROM items")
						checkRows(rows, err, j, itemsOf(j))
						rows, err = conn.QueryContext(tctx, "SELECT tenant_id FROM items")
						checkRows(rows, err, i, itemsOf(i))
						conn.Close()
					case 5: // prepared statement (else a plain query with arguments)
						if stmt == nil {
							rows, err := db.QueryContext(tctx, stmtText, 0)
							checkRows(rows, err, i, itemsOf(i))
							continue
						}
						rows, err := stmt.QueryContext(tctx, 0)
						checkRows(rows, err, i, itemsOf(i))
					case 8: // the prepared statement's text, as a plain call
						rows, err := db.QueryContext(tctx, stmtText, 0)
						checkRows(rows, err, i, itemsOf(i))
					case 9: // prepared statements inside a transaction (tx.Stmt)
						tx, err := db.BeginTx(tctx, nil)
						if err != nil {
							t.Error(err)
							continue
						}
						rows, err := tx.StmtContext(tctx, stmt).QueryContext(tctx, 0)
						checkRows(rows, err, i, itemsOf(i))
						if _, err := tx.StmtContext(tctx, insert).ExecContext(tctx, tenantName(i), "tx.Stmt"); err != nil {
							t.Error(err)
							tx.Rollback()
							continue
						}
						if err := tx.Commit(); err != nil {
							t.Error(err)
						} else {
							inserted[i].Add(1)
						}
					case 10: // prepared insert
						if _, err := insert.ExecContext(tctx, tenantName(i), "stmt"); err != nil {
							t.Error(err)
						} else {
							inserted[i].Add(1)
						}
					case 6: // no tenant: nothing
						rows, err := db.QueryContext(ctx, "SELECT tenant_id FROM items")
						checkRows(rows, err, -1, 0)
					case 7: // abandoned transaction (rolled back by a failing statement)
						tx, err := db.BeginTx(tctx, nil)
						if err != nil {
							t.Error(err)
							continue
						}
						if _, err := tx.ExecContext(tctx, "SELECT 1/0"); err == nil {
							t.Error("division by zero succeeded")
						}
						tx.Rollback()
					}
				}
			}(uint64(g + 1))
		}
		wg.Wait()

		if n := foreign.Load(); n > 0 {
			t.Fatalf("%d isolation failures", n)
		}
		got := countEvents(t, admin)
		for i := 0; i < numTenants; i++ {
			if want := int(inserted[i].Load()); got[tenantName(i)] != want {
				t.Errorf("events of %s = %d, want %d", tenantName(i), got[tenantName(i)], want)
			}
		}
		if len(got) > numTenants {
			t.Errorf("unexpected tenants in events: %v", got)
		}
		if !t.Failed() {
			t.Logf("%d read checks, 0 foreign rows, per-tenant event counts exact", checked.Load())
		}
	}
}
