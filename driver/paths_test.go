package driver_test

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// TestPaths covers every database/sql path that reaches the server, in both
// scopes, checking which tenant's rows each statement sees.
func TestPaths(t *testing.T) {
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		d := schema(t)
		db := openApp(t, d, cfg.keys()...)
		admin := openAdmin(t, d)
		ctx := context.Background()
		a, b := 3, 7

		t.Run("DB.Query", func(t *testing.T) {
			wantOnly(t, tenantsSeen(t, db, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
			wantOnly(t, tenantsSeen(t, db, ctxFor(b), "SELECT tenant_id FROM items"), b, itemsOf(b))
		})

		t.Run("DB.QueryRow", func(t *testing.T) {
			for _, i := range []int{a, b, a} {
				var n int
				if err := db.QueryRowContext(ctxFor(i), "SELECT count(*) FROM items").Scan(&n); err != nil {
					t.Fatal(err)
				}
				if n != itemsOf(i) {
					t.Fatalf("tenant %d: count = %d, want %d", i, n, itemsOf(i))
				}
			}
		})

		t.Run("DB.Exec", func(t *testing.T) {
			res, err := db.ExecContext(ctxFor(a), "UPDATE items SET val = val WHERE true")
			if err != nil {
				t.Fatal(err)
			}
			if n, _ := res.RowsAffected(); n != int64(itemsOf(a)) {
				t.Fatalf("UPDATE touched %d rows, want %d (only tenant %d's)", n, itemsOf(a), a)
			}
			// WITH CHECK refuses a row for another tenant.
			_, err = db.ExecContext(ctxFor(a), "INSERT INTO events (tenant_id) VALUES ($1)", tenantName(b))
			if !isRLSViolation(err) {
				t.Fatalf("insert for another tenant: err = %v, want RLS violation 42501", err)
			}
		})

		t.Run("DB.Conn with per-statement contexts", func(t *testing.T) {
			conn, err := db.Conn(ctxFor(a))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			wantOnly(t, tenantsSeen(t, conn, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
			wantOnly(t, tenantsSeen(t, conn, ctxFor(b), "SELECT tenant_id FROM items"), b, itemsOf(b))
			wantNone(t, tenantsSeen(t, conn, ctx, "SELECT tenant_id FROM items"))
			wantOnly(t, tenantsSeen(t, conn, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
		})

		t.Run("BeginTx and statements", func(t *testing.T) {
			tx, err := db.BeginTx(ctxFor(a), nil)
			if err != nil {
				t.Fatal(err)
			}
			wantOnly(t, tenantsSeen(t, tx, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
			if _, err := tx.ExecContext(ctxFor(a), "INSERT INTO events (tenant_id, note) VALUES ($1, 'tx')", tenantName(a)); err != nil {
				t.Fatal(err)
			}
			// Another tenant, or none, is refused and nothing is sent...
			if _, err := tx.ExecContext(ctxFor(b), "INSERT INTO events (tenant_id, note) VALUES ($1, 'tx')", tenantName(b)); !errors.Is(err, driver.ErrTenantMismatch) {
				t.Fatalf("statement for tenant b in tx of a: err = %v, want ErrTenantMismatch", err)
			}
			if _, err := tx.QueryContext(ctx, "SELECT tenant_id FROM items"); !errors.Is(err, driver.ErrTenantMismatch) {
				t.Fatalf("statement without tenant in tx of a: err = %v, want ErrTenantMismatch", err)
			}
			// ...and the transaction stays usable for a.
			wantOnly(t, tenantsSeen(t, tx, ctxFor(a), "SELECT tenant_id FROM events WHERE note = 'tx'"), a, 1)
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if got := countEvents(t, admin); got[tenantName(a)] != 1 || got[tenantName(b)] != 0 {
				t.Fatalf("events after commit = %v", got)
			}
		})

		t.Run("BeginTx rollback", func(t *testing.T) {
			before := countEvents(t, admin)[tenantName(b)]
			tx, err := db.BeginTx(ctxFor(b), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.ExecContext(ctxFor(b), "INSERT INTO events (tenant_id) VALUES ($1)", tenantName(b)); err != nil {
				t.Fatal(err)
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if after := countEvents(t, admin)[tenantName(b)]; after != before {
				t.Fatalf("rolled back insert persisted: %d → %d", before, after)
			}
			// The connection is clean for the next tenant.
			wantOnly(t, tenantsSeen(t, db, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
		})

		t.Run("BeginTx without tenant", func(t *testing.T) {
			tx, err := db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback()
			wantNone(t, tenantsSeen(t, tx, ctx, "SELECT tenant_id FROM items"))
			if _, err := tx.QueryContext(ctxFor(a), "SELECT tenant_id FROM items"); !errors.Is(err, driver.ErrTenantMismatch) {
				t.Fatalf("tenant statement in tenant-less tx: err = %v, want ErrTenantMismatch", err)
			}
		})

		t.Run("prepared statement re-bound per execution", func(t *testing.T) {
			// Prepared without a tenant, as at application start-up.
			stmt, err := db.PrepareContext(ctx, "SELECT tenant_id FROM items WHERE val >= $1")
			if err != nil {
				t.Fatal(err)
			}
			defer stmt.Close()
			wantOnly(t, tenantsSeen(t, stmtQuerier{stmt}, ctxFor(a), "", 1), a, itemsOf(a))
			wantOnly(t, tenantsSeen(t, stmtQuerier{stmt}, ctxFor(b), "", 1), b, itemsOf(b))
			wantNone(t, tenantsSeen(t, stmtQuerier{stmt}, ctx, "", 1))

			// Inside a transaction, through Tx.StmtContext.
			tx, err := db.BeginTx(ctxFor(b), nil)
			if err != nil {
				t.Fatal(err)
			}
			txStmt := tx.StmtContext(ctxFor(b), stmt)
			wantOnly(t, tenantsSeen(t, stmtQuerier{txStmt}, ctxFor(b), "", 1), b, itemsOf(b))
			if _, err := txStmt.QueryContext(ctxFor(a), 1); !errors.Is(err, driver.ErrTenantMismatch) {
				t.Fatalf("tx stmt with other tenant: err = %v, want ErrTenantMismatch", err)
			}
			tx.Rollback()
		})

		t.Run("prepared statement re-prepared on a new connection", func(t *testing.T) {
			stmt, err := db.PrepareContext(ctxFor(a), "SELECT pg_backend_pid(), count(*), min(tenant_id) FROM items")
			if err != nil {
				t.Fatal(err)
			}
			defer stmt.Close()
			var pid1, pid2, n int
			var id string
			if err := stmt.QueryRowContext(ctxFor(a)).Scan(&pid1, &n, &id); err != nil {
				t.Fatal(err)
			}
			// Drop every idle connection: the next execution must dial and
			// re-prepare, with the execution's context.
			db.SetMaxIdleConns(0)
			db.SetMaxIdleConns(2)
			if err := stmt.QueryRowContext(ctxFor(b)).Scan(&pid2, &n, &id); err != nil {
				t.Fatal(err)
			}
			if pid1 == pid2 {
				t.Fatalf("statement ran on the same backend %d; test did not force a re-prepare", pid1)
			}
			if n != itemsOf(b) || id != tenantName(b) {
				t.Fatalf("re-prepared statement saw count=%d tenant=%s, want %d %s", n, id, itemsOf(b), tenantName(b))
			}
		})

		t.Run("opener goroutine hands a fresh connection to a waiter", func(t *testing.T) {
			db := openApp(t, d, cfg.keys()...)
			db.SetMaxOpenConns(1)
			// Bind the only connection to tenant a, then hold it.
			wantOnly(t, tenantsSeen(t, db, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
			held, err := db.Conn(ctxFor(a))
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			var seen map[string]int
			wg.Add(1)
			go func() { // waits for a connection
				defer wg.Done()
				seen = tenantsSeen(t, db, ctxFor(b), "SELECT tenant_id FROM items")
			}()
			time.Sleep(100 * time.Millisecond)
			// Discard the held connection: database/sql's opener goroutine
			// dials a replacement with a background context and hands it to
			// the waiter without ResetSession.
			held.Raw(func(any) error { return sqldriver.ErrBadConn })
			held.Close()
			wg.Wait()
			wantOnly(t, seen, b, itemsOf(b))
		})

		t.Run("Ping needs no tenant and changes nothing", func(t *testing.T) {
			db := openApp(t, d, cfg.keys("tenant_required=true")...)
			db.SetMaxOpenConns(1)
			wantOnly(t, tenantsSeen(t, db, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
			if err := db.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			wantOnly(t, tenantsSeen(t, db, ctxFor(b), "SELECT tenant_id FROM items"), b, itemsOf(b))
		})

		t.Run("pgx.NamedArgs and pgx arguments pass through", func(t *testing.T) {
			var n int
			err := db.QueryRowContext(ctxFor(b), "SELECT count(*) FROM items WHERE val >= @min", pgx.NamedArgs{"min": 2}).Scan(&n)
			if err != nil {
				t.Fatal(err)
			}
			if n != itemsOf(b)-1 {
				t.Fatalf("count = %d, want %d", n, itemsOf(b)-1)
			}
			var ids []int64
			rows, err := db.QueryContext(ctxFor(b), "SELECT val FROM items WHERE val = ANY($1) ORDER BY val", []int32{1, 2, 99})
			if err != nil {
				t.Fatal(err)
			}
			for rows.Next() {
				var v int64
				rows.Scan(&v)
				ids = append(ids, v)
			}
			if err := rows.Err(); err != nil || len(ids) != 2 {
				t.Fatalf("array arg: %v, %v", ids, err)
			}
		})

		t.Run("multi-statement Exec without arguments", func(t *testing.T) {
			before := countEvents(t, admin)[tenantName(b)]
			_, err := db.ExecContext(ctxFor(b), "INSERT INTO events (tenant_id, note) VALUES ('t07', 'm1'); INSERT INTO events (tenant_id, note) VALUES ('t07', 'm2')")
			if err != nil {
				t.Fatal(err)
			}
			if after := countEvents(t, admin)[tenantName(b)]; after != before+2 {
				t.Fatalf("events of %s: %d → %d, want +2", tenantName(b), before, after)
			}
		})

		t.Run("user-managed transaction on a sql.Conn", func(t *testing.T) {
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctxFor(a), "BEGIN"); err != nil {
				t.Fatal(err)
			}
			wantOnly(t, tenantsSeen(t, conn, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
			wantOnly(t, tenantsSeen(t, conn, ctxFor(b), "SELECT tenant_id FROM items"), b, itemsOf(b))
			if _, err := conn.ExecContext(ctxFor(b), "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
			wantOnly(t, tenantsSeen(t, conn, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
			wantNone(t, tenantsSeen(t, conn, ctx, "SELECT tenant_id FROM items"))
		})

		t.Run("statement that refuses a transaction block", func(t *testing.T) {
			// The app role does not own items: VACUUM only warns. What
			// matters is that the driver does not wrap it in BEGIN.
			if _, err := db.ExecContext(ctxFor(a), "VACUUM items"); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("Raw gives the pgx connection", func(t *testing.T) {
			conn, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			err = conn.Raw(func(dc any) error {
				c, ok := dc.(*driver.Conn)
				if !ok || c.PgxConn() == nil {
					t.Fatalf("Raw: %T, want *driver.Conn with a pgx connection", dc)
				}
				var one int
				return c.PgxConn().QueryRow(ctx, "SELECT 1").Scan(&one)
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	})
}

// TestNoTenantFailsClosed uses every pooled connection for tenants, then
// checks that statements without a tenant see nothing on each of them.
func TestNoTenantFailsClosed(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		db.SetMaxOpenConns(4)
		ctx := context.Background()
		conns := make([]*sql.Conn, 4)
		for i := range conns {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = c
			wantOnly(t, tenantsSeen(t, c, ctxFor(i), "SELECT tenant_id FROM items"), i, itemsOf(i))
		}
		for _, c := range conns {
			c.Close()
		}
		for i := range conns {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			conns[i] = c
		}
		for _, c := range conns {
			wantNone(t, tenantsSeen(t, c, ctx, "SELECT tenant_id FROM items"))
			var setting sql.NullString
			if err := c.QueryRowContext(ctx, "SELECT NULLIF(current_setting('app.tenant_id', true), '')").Scan(&setting); err != nil {
				t.Fatal(err)
			}
			if setting.Valid {
				t.Fatalf("statement without tenant saw setting %q", setting.String)
			}
			if _, err := c.ExecContext(ctx, "INSERT INTO events (tenant_id) VALUES ('t00')"); !isRLSViolation(err) {
				t.Fatalf("insert without tenant: err = %v, want RLS violation", err)
			}
			c.Close()
		}
	})
}

func TestRequired(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys("tenant_required=true")...)
		admin := openAdmin(t, d)
		ctx := context.Background()
		before := countEvents(t, admin)
		checks := map[string]error{}
		_, checks["Exec"] = db.ExecContext(ctx, "INSERT INTO events (tenant_id) VALUES ('t00')")
		_, checks["Query"] = db.QueryContext(ctx, "SELECT tenant_id FROM items")
		_, checks["BeginTx"] = db.BeginTx(ctx, nil)
		stmt, err := db.PrepareContext(ctx, "INSERT INTO events (tenant_id) VALUES ('t00')") // preparing needs no tenant
		if err != nil {
			t.Fatal(err)
		}
		defer stmt.Close()
		_, checks["Stmt.Exec"] = stmt.ExecContext(ctx)
		for path, err := range checks {
			if !errors.Is(err, driver.ErrNoTenant) {
				t.Errorf("%s without tenant: err = %v, want ErrNoTenant", path, err)
			}
			if errors.Is(err, sqldriver.ErrBadConn) {
				t.Errorf("%s: tenant error looks like ErrBadConn", path)
			}
		}
		if after := countEvents(t, admin); len(after) != len(before) || after["t00"] != before["t00"] {
			t.Fatalf("something was written: %v → %v", before, after)
		}
		// With a tenant, the same statement works.
		if _, err := stmt.ExecContext(ctxFor(0)); err != nil {
			t.Fatal(err)
		}
	})
}

func TestInvalidTenantIDs(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		for _, id := range []string{"", strings.Repeat("x", tenant.MaxIDLen+1), "t0\xff", "t0\x00"} {
			ctx := tenant.NewContext(context.Background(), id)
			_, err := db.QueryContext(ctx, "SELECT tenant_id FROM items")
			if !errors.Is(err, tenant.ErrInvalidID) {
				t.Errorf("id %q: err = %v, want tenant.ErrInvalidID", id, err)
			}
			if _, err := db.BeginTx(ctx, nil); !errors.Is(err, tenant.ErrInvalidID) {
				t.Errorf("BeginTx id %q: err = %v, want tenant.ErrInvalidID", id, err)
			}
		}
		// Injection attempts are valid IDs that name no tenant: they are
		// bound as parameters and match nothing.
		for _, id := range []string{
			"t00' OR '1'='1", "t00'; DROP TABLE items; --", "%", "*", `t00\`, "t00' OR tenant_id IS NOT NULL --",
			"t00', false); SELECT set_config('app.tenant_id', 't01", " t00", "T00",
		} {
			wantNone(t, tenantsSeen(t, db, tenant.NewContext(context.Background(), id), "SELECT tenant_id FROM items"))
		}
		wantOnly(t, tenantsSeen(t, db, ctxFor(0), "SELECT tenant_id FROM items"), 0, itemsOf(0))
	})
}

// TestRawSessionChangeIsNotTrusted changes the tenant setting behind the
// driver's back through the raw pgx connection: in session scope the next
// statement for the previously bound tenant must set it again.
func TestRawSessionChangeIsNotTrusted(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		ctx := context.Background()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		wantOnly(t, tenantsSeen(t, conn, ctxFor(4), "SELECT tenant_id FROM items"), 4, itemsOf(4))
		err = conn.Raw(func(dc any) error {
			_, err := dc.(*driver.Conn).PgxConn().Exec(ctx, "SELECT set_config('app.tenant_id', 't09', false)")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		wantOnly(t, tenantsSeen(t, conn, ctxFor(4), "SELECT tenant_id FROM items"), 4, itemsOf(4))
	})
}

// TestServerForgetsPreparedStatements drops every prepared statement on the
// server behind the driver's back (through the raw connection): at most one
// statement may fail, as with plain pgx, and the connection then recovers
// with isolation intact.
func TestServerForgetsPreparedStatements(t *testing.T) {
	d := schema(t)
	forEachScope(t, func(t *testing.T, scope string) {
		db := openApp(t, d, "tenant_scope="+scope)
		ctx := context.Background()
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		stmt, err := conn.PrepareContext(ctx, "SELECT tenant_id FROM items WHERE val > $1")
		if err != nil {
			t.Fatal(err)
		}
		defer stmt.Close()
		q := "SELECT tenant_id FROM items WHERE val >= $1"
		wantOnly(t, tenantsSeen(t, conn, ctxFor(2), q, 0), 2, itemsOf(2))
		wantOnly(t, tenantsSeen(t, stmtQuerier{stmt}, ctxFor(2), "", 0), 2, itemsOf(2))
		named := "SELECT tenant_id FROM items WHERE @min <= val"
		wantOnly(t, tenantsSeen(t, conn, ctxFor(2), named, pgx.NamedArgs{"min": 0}), 2, itemsOf(2))
		// First every statement, then only the queries' own (the set_config
		// statements survive, so the failure comes from the query itself).
		for _, drop := range []string{
			`SELECT name FROM pg_prepared_statements`,
			`SELECT name FROM pg_prepared_statements WHERE name NOT LIKE 'pgxtenant\_set\_%'`,
		} {
			err = conn.Raw(func(dc any) error {
				pc := dc.(*driver.Conn).PgxConn()
				rows, err := pc.Query(ctx, drop, pgx.QueryExecModeSimpleProtocol)
				if err != nil {
					return err
				}
				names, err := pgx.CollectRows(rows, pgx.RowTo[string])
				if err != nil {
					return err
				}
				for _, n := range names {
					if _, err := pc.Exec(ctx, "DEALLOCATE "+pgx.Identifier{n}.Sanitize()); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for _, run := range []func(i int) (*sql.Rows, error){
				func(i int) (*sql.Rows, error) { return conn.QueryContext(ctxFor(i), q, 0) },
				func(i int) (*sql.Rows, error) { return stmt.QueryContext(ctxFor(i), 0) },
				func(i int) (*sql.Rows, error) { return conn.QueryContext(ctxFor(i), named, pgx.NamedArgs{"min": 0}) },
			} {
				failures := 0
				for i := 3; i < 7; i++ {
					rows, err := run(i)
					if err != nil {
						failures++
						continue
					}
					seen, err := collectTenants(rows)
					if err != nil {
						for id := range seen {
							if id != tenantName(i) {
								t.Fatalf("failing statement for %s read a row of %s", tenantName(i), id)
							}
						}
						failures++
						continue
					}
					wantOnly(t, seen, i, itemsOf(i))
				}
				if failures > 1 {
					t.Fatalf("%d statements failed after dropping prepared statements; want at most 1", failures)
				}
			}
		}
	})
}

// TestProcedureThatCommits pins down the README's statement about CALL, in
// every exec mode: in transaction scope the tenant ends with the procedure's
// first COMMIT, so what follows fails closed; session scope keeps the tenant.
func TestProcedureThatCommits(t *testing.T) {
	d := schema(t)
	err := d.ExecOwner(context.Background(),
		`CREATE PROCEDURE log_twice(note text) LANGUAGE plpgsql AS $$
		BEGIN
			INSERT INTO events (tenant_id, note) VALUES (current_setting('app.tenant_id', true), note);
			COMMIT;
			INSERT INTO events (tenant_id, note) VALUES (coalesce(current_setting('app.tenant_id', true), ''), note);
		END $$`,
		`GRANT EXECUTE ON PROCEDURE log_twice(text) TO `+d.AppRole)
	if err != nil {
		t.Fatal(err)
	}
	admin := openAdmin(t, d)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		note := cfg.scope + "/" + cfg.mode
		_, err := db.ExecContext(ctxFor(6), "CALL log_twice($1)", note)
		var n int
		if err := admin.QueryRow(`SELECT count(*) FROM events WHERE tenant_id = 't06' AND note = $1`, note).Scan(&n); err != nil {
			t.Fatal(err)
		}
		switch cfg.scope {
		case "transaction":
			if !isRLSViolation(err) || n != 1 {
				t.Errorf("transaction scope: err = %v, %d rows; want an RLS refusal after the COMMIT, 1 row", err, n)
			}
		case "session":
			if err != nil || n != 2 {
				t.Errorf("session scope: err = %v, %d rows; want both inserts", err, n)
			}
		}
	})
}

// TestBeginTxOptions checks that isolation level and read-only reach the
// server when BEGIN is sent together with the tenant's set_config.
func TestBeginTxOptions(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		for _, tt := range []struct {
			opts     sql.TxOptions
			iso, ro  string
			writeErr bool
		}{
			{sql.TxOptions{}, "read committed", "off", false},
			{sql.TxOptions{Isolation: sql.LevelSerializable}, "serializable", "off", false},
			{sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}, "repeatable read", "on", true},
			{sql.TxOptions{Isolation: sql.LevelReadUncommitted}, "read uncommitted", "off", false},
		} {
			tx, err := db.BeginTx(ctxFor(2), &tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			var iso, ro string
			if err := tx.QueryRowContext(ctxFor(2), "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')").Scan(&iso, &ro); err != nil {
				t.Fatal(err)
			}
			if iso != tt.iso || ro != tt.ro {
				t.Errorf("%+v: isolation %q read-only %q; want %q %q", tt.opts, iso, ro, tt.iso, tt.ro)
			}
			wantOnly(t, tenantsSeen(t, tx, ctxFor(2), "SELECT tenant_id FROM items"), 2, itemsOf(2))
			_, err = tx.ExecContext(ctxFor(2), "INSERT INTO events (tenant_id) VALUES ('t02')")
			if (err != nil) != tt.writeErr {
				t.Errorf("%+v: write err = %v", tt.opts, err)
			}
			tx.Rollback()
		}
		if _, err := db.BeginTx(ctxFor(2), &sql.TxOptions{Isolation: sql.LevelLinearizable}); err == nil || !strings.Contains(err.Error(), "isolation") {
			t.Errorf("unsupported isolation: err = %v", err)
		}
		wantOnly(t, tenantsSeen(t, db, ctxFor(3), "SELECT tenant_id FROM items"), 3, itemsOf(3))
	})
}
