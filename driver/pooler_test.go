package driver_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pgx-tenant/pgx-tenant/driver"
)

// everyPath runs, on one connection, each way database/sql can send a
// statement — Exec, Query, QueryRow, NamedArgs, a DO block, a prepared
// statement, a transaction with tx.Stmt, and plain calls sharing the
// prepared statement's text — for two tenants, checking the rows.
func everyPath(t *testing.T, conn *sql.Conn, texts ...string) {
	t.Helper()
	if len(texts) == 0 {
		texts = []string{"SELECT tenant_id FROM items WHERE val > $1"}
	}
	for round := 0; round < 2; round++ {
		for _, i := range []int{2, 5} {
			ctx := ctxFor(i)
			for _, text := range texts {
				wantOnly(t, tenantsSeen(t, conn, ctx, text, 0), i, itemsOf(i))
				stmt, err := conn.PrepareContext(ctx, text)
				if err != nil {
					t.Fatal(err)
				}
				wantOnly(t, tenantsSeen(t, stmtQuerier{stmt}, ctx, "", 0), i, itemsOf(i))
				wantOnly(t, tenantsSeen(t, conn, ctx, text, 0), i, itemsOf(i))

				tx, err := conn.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				wantOnly(t, tenantsSeen(t, tx, ctx, text, 0), i, itemsOf(i))
				wantOnly(t, tenantsSeen(t, stmtQuerier{tx.StmtContext(ctx, stmt)}, ctx, "", 0), i, itemsOf(i))
				wantOnly(t, tenantsSeen(t, tx, ctx, text, 0), i, itemsOf(i))
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				stmt.Close()
			}
			var n int
			if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM items WHERE val >= @min", pgx.NamedArgs{"min": 1}).Scan(&n); err != nil {
				t.Fatal(err)
			} else if n != itemsOf(i) {
				t.Fatalf("tenant %d: NamedArgs count %d", i, n)
			}
			if _, err := conn.ExecContext(ctx, "UPDATE items SET val = val WHERE id = $1", 1); err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctx, "DO $$ BEGIN PERFORM count(*) FROM items; END $$"); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// serverStatements returns the named prepared statements of conn's server
// session, by name.
func serverStatements(t *testing.T, conn *sql.Conn) map[string]string {
	t.Helper()
	rows, err := conn.QueryContext(context.Background(), "SELECT name, statement FROM pg_prepared_statements WHERE NOT from_sql")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var name, text string
		if err := rows.Scan(&name, &text); err != nil {
			t.Fatal(err)
		}
		got[name] = text
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}

// TestPoolerNoNamedStatements checks that with tenant_pooler=transaction no
// path leaves a named statement on the server session — the thing a
// transaction pooler cannot carry to the next transaction — in every exec
// mode, pgx's default cache_statement included.
func TestPoolerNoNamedStatements(t *testing.T) {
	d := schema(t)
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) {
			db := openApp(t, d, "tenant_pooler=transaction", "default_query_exec_mode="+mode)
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			everyPath(t, conn)
			if got := serverStatements(t, conn); len(got) != 0 {
				t.Fatalf("named statements on the session: %v", got)
			}
		})
	}
}

// TestOneStatementPerText checks that, without a pooler, the connection
// keeps at most one server-side statement per text whatever path sent it
// (the pipeline, the paths that need no binding, database/sql Stmts, tx.Stmt),
// and that the cache stays within statement_cache_capacity.
func TestOneStatementPerText(t *testing.T) {
	d := schema(t)
	texts := []string{
		"SELECT tenant_id FROM items WHERE val > $1",
		"SELECT tenant_id FROM items WHERE val > $1 ORDER BY id",
		"SELECT tenant_id FROM items WHERE val > $1 ORDER BY id DESC",
	}
	forEachScope(t, func(t *testing.T, scope string) {
		t.Run("every text cached once", func(t *testing.T) {
			db := openApp(t, d, "tenant_scope="+scope, "default_query_exec_mode=cache_statement")
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			everyPath(t, conn, texts...)
			got := serverStatements(t, conn)
			perText := map[string]int{}
			for name, text := range got {
				perText[text]++
				if !strings.HasPrefix(name, "pgxtenant_") {
					t.Errorf("statement %s (%q) is not the driver's", name, text)
				}
			}
			for _, text := range texts {
				if perText[text] != 1 {
					t.Errorf("%d server-side statements for %q, want 1 (all: %v)", perText[text], text, got)
				}
			}
		})
		t.Run("bounded", func(t *testing.T) {
			const capacity = 4
			db := openApp(t, d, "tenant_scope="+scope, "default_query_exec_mode=cache_statement", "statement_cache_capacity=4")
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			for k := 0; k < 3*capacity; k++ {
				text := "SELECT tenant_id FROM items WHERE val > $1 AND " + strings.Repeat("true AND ", k) + "true"
				everyPath(t, conn, text)
			}
			// The query reading pg_prepared_statements is cached too, and the
			// last eviction is deallocated with the next statement.
			if got := serverStatements(t, conn); len(got) > capacity+1 {
				t.Fatalf("%d server-side statements, capacity %d: %v", len(got), capacity, got)
			}
		})
	})
}

// TestPrepareLeavesOtherCallsAlone checks that preparing a statement does
// not change how plain calls with the same text run on the connection: two
// connections run the same sequence, one having prepared the text, across a
// schema change that invalidates cached plans, and must see the same
// results. (pgx stdlib routes a call whose text equals a prepared
// statement's to that statement, whose plan the change made stale.)
func TestPrepareLeavesOtherCallsAlone(t *testing.T) {
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		d := schema(t)
		db := openApp(t, d, cfg.keys()...)
		const text = "SELECT * FROM items WHERE val > $1"
		ctx := ctxFor(3)
		run := func(conn *sql.Conn) string {
			rows, err := conn.QueryContext(ctx, text, 0)
			if err != nil {
				return "error"
			}
			defer rows.Close()
			cols, _ := rows.Columns()
			n := 0
			for rows.Next() {
				n++
			}
			if rows.Err() != nil {
				return "error"
			}
			return fmt.Sprintf("%s rows=%d", strings.Join(cols, ","), n)
		}
		var conns [2]*sql.Conn
		for k := range conns {
			c, err := db.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			conns[k] = c
		}
		stmt, err := conns[1].PrepareContext(ctx, text)
		if err != nil {
			t.Fatal(err)
		}
		defer stmt.Close()
		var before, after [2]string
		for k, c := range conns {
			before[k] = run(c)
		}
		if err := d.ExecOwner(context.Background(), "ALTER TABLE items ADD COLUMN extra int"); err != nil {
			t.Fatal(err)
		}
		for k, c := range conns {
			after[k] = run(c)
		}
		// A cached plan may fail once after the change (as in pgx); the
		// next run must see the new column, on both connections.
		var again [2]string
		for k, c := range conns {
			again[k] = run(c)
		}
		if before != [2]string{before[0], before[0]} || after != [2]string{after[0], after[0]} || again != [2]string{again[0], again[0]} {
			t.Fatalf("with and without a prepared statement of the text: before %q, after the schema change %q, then %q", before, after, again)
		}
		if !strings.Contains(again[0], "extra") {
			t.Fatalf("after the schema change: %q, then %q", after[0], again[0])
		}
	})
}

// TestPoolerRefusesCacheStatementArg checks that a call asking pgx for its
// cache_statement mode is refused behind a transaction pooler before
// anything is sent, and the connection stays usable.
func TestPoolerRefusesCacheStatementArg(t *testing.T) {
	d := schema(t)
	db := openApp(t, d, "tenant_pooler=transaction", "default_query_exec_mode=exec")
	db.SetMaxOpenConns(1)
	ctx := ctxFor(1)
	_, err := db.ExecContext(ctx, "INSERT INTO events (tenant_id) VALUES ($1)", pgx.QueryExecModeCacheStatement, tenantName(1))
	if err == nil || !strings.Contains(err.Error(), "tenant_pooler=transaction forbids") {
		t.Fatalf("err = %v", err)
	}
	if n := countEvents(t, openAdmin(t, d))[tenantName(1)]; n != 0 {
		t.Fatalf("%d events inserted by a refused call", n)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO events (tenant_id) VALUES ($1)", pgx.QueryExecModeExec, tenantName(1)); err != nil {
		t.Fatal(err)
	}
}

// TestPrepareReportsErrors checks that db.Prepare reports what the server
// finds wrong with a text — a syntax error, an unknown table — when it is
// prepared, with or without a pooler and whether or not the connection
// caches statements, and that a good text prepares without a tenant.
func TestPrepareReportsErrors(t *testing.T) {
	d := schema(t)
	for _, pooler := range []string{"none", "transaction"} {
		for _, mode := range execModes {
			t.Run(pooler+"/"+mode, func(t *testing.T) {
				db := openApp(t, d, "tenant_pooler="+pooler, "default_query_exec_mode="+mode)
				for text, code := range map[string]string{
					"SELEC tenant_id FROM items":                 "42601",
					"SELECT tenant_id FROM no_such_table":        "42P01",
					"SELECT no_such_column FROM items":           "42703",
					"INSERT INTO events (tenant_id) VALUES ($1)": "",
				} {
					stmt, err := db.PrepareContext(context.Background(), text)
					if got := sqlStateOf(err); got != code {
						t.Errorf("%s: prepare error %v, want SQLSTATE %q", text, err, code)
					}
					if err == nil {
						if _, err := stmt.ExecContext(ctxFor(2), tenantName(9)); !isRLSViolation(err) {
							t.Errorf("%s: insert of another tenant's row: %v, want an RLS refusal", text, err)
						}
						if _, err := stmt.ExecContext(ctxFor(2), tenantName(2)); err != nil {
							t.Errorf("%s: %v", text, err)
						}
						stmt.Close()
					}
				}
			})
		}
	}
}

// sqlStateOf returns the SQLSTATE of a server error, "" for nil or any
// other error.
func sqlStateOf(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	if err != nil {
		return "not a server error: " + err.Error()
	}
	return ""
}

// TestStmtEncodesLikeStdlib checks that a prepared statement's arguments
// are encoded with the parameter types the server described, as pgx
// stdlib's Stmt encodes them, in every exec mode with and without a pooler:
// bytes bound to a text parameter are text, not a bytea literal, and Go maps
// bound to jsonb are JSON.
func TestStmtEncodesLikeStdlib(t *testing.T) {
	d := schema(t)
	cases := []struct {
		text string
		arg  any
	}{
		{"SELECT $1::text", []byte("hi")},
		{"SELECT $1::jsonb", map[string]any{"a": 1}},
		{"SELECT $1::jsonb", struct{ A int }{1}},
		{"SELECT $1", 5},
		{"SELECT $1::int8[]", []int64{1, 2}},
		{"SELECT $1::text", 5},
		{"SELECT $1::numeric", "1.50"},
	}
	for _, pooler := range []string{"none", "transaction"} {
		for _, mode := range execModes {
			t.Run(pooler+"/"+mode, func(t *testing.T) {
				ours := openApp(t, d, "default_query_exec_mode="+mode, "tenant_pooler="+pooler)
				theirs, err := sql.Open("pgx", withKeys(d.AppDSN, "default_query_exec_mode="+mode))
				if err != nil {
					t.Fatal(err)
				}
				defer theirs.Close()
				for _, c := range cases {
					get := func(db *sql.DB) string {
						st, err := db.Prepare(c.text)
						if err != nil {
							return "prepare: " + err.Error()
						}
						defer st.Close()
						var out []string
						for round := 0; round < 2; round++ {
							var v any
							if err := st.QueryRowContext(ctxFor(1), c.arg).Scan(&v); err != nil {
								return "error: " + err.Error()
							}
							out = append(out, fmt.Sprintf("%T %v", v, v))
						}
						return strings.Join(out, " / ")
					}
					if a, b := get(ours), get(theirs); a != b {
						t.Errorf("%s with %T: pgx-tenant %q, pgx stdlib Stmt %q", c.text, c.arg, a, b)
					}
				}
			})
		}
	}
}

// TestPoolerRefusesCacheTurnedBackOn checks that a BeforeConnect hook
// cannot turn pgx's statement cache back on behind a transaction pooler.
func TestPoolerRefusesCacheTurnedBackOn(t *testing.T) {
	d := schema(t)
	cfg, err := pgx.ParseConfig(d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	db, err := driver.OpenDB(*cfg, driver.WithPooler(driver.PoolerTransaction),
		driver.WithStdlibOptions(stdlib.OptionBeforeConnect(func(_ context.Context, c *pgx.ConnConfig) error {
			c.StatementCacheCapacity = 512
			c.DefaultQueryExecMode = pgx.QueryExecModeCacheStatement
			return nil
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.PingContext(context.Background()); err == nil || !strings.Contains(err.Error(), "statement cache on") {
		t.Fatalf("ping: %v", err)
	}
}

// TestEmptyTextWithArguments: an empty SQL text with arguments is refused
// with an error in every exec mode (pgx itself panics on it in its cache
// modes), inside a transaction too, and the connection stays usable.
func TestEmptyTextWithArguments(t *testing.T) {
	d := schema(t)
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) {
			db := openApp(t, d, "default_query_exec_mode="+mode)
			db.SetMaxOpenConns(1)
			if _, err := db.ExecContext(ctxFor(1), "", "x"); err == nil || !strings.Contains(err.Error(), "empty SQL text") {
				t.Fatalf("err = %v", err)
			}
			tx, err := db.BeginTx(ctxFor(1), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.QueryContext(ctxFor(1), "", "x"); err == nil {
				t.Fatal("empty text with an argument accepted in a Tx")
			}
			tx.Rollback()
			wantOnly(t, tenantsSeen(t, db, ctxFor(1), "SELECT tenant_id FROM items"), 1, itemsOf(1))
		})
	}
}

// TestStmtAfterSchemaChange: a prepared statement that keeps its own
// description (exec, simple_protocol and describe_exec modes) describes
// the text again once the server refuses an execution, so a schema change
// costs at most one failed execution, not every later one.
func TestStmtAfterSchemaChange(t *testing.T) {
	for _, mode := range []string{"exec", "simple_protocol", "describe_exec"} {
		t.Run(mode, func(t *testing.T) {
			d := schema(t)
			db := openApp(t, d, "default_query_exec_mode="+mode)
			db.SetMaxOpenConns(1)
			stmt, err := db.PrepareContext(context.Background(), "SELECT * FROM items WHERE val > $1")
			if err != nil {
				t.Fatal(err)
			}
			defer stmt.Close()
			columns := func() (string, error) {
				rows, err := stmt.QueryContext(ctxFor(2), 0)
				if err != nil {
					return "", err
				}
				defer rows.Close()
				cols, _ := rows.Columns()
				for rows.Next() {
				}
				return strings.Join(cols, ","), rows.Err()
			}
			if _, err := columns(); err != nil {
				t.Fatal(err)
			}
			if err := d.ExecOwner(context.Background(), "ALTER TABLE items ADD COLUMN extra int"); err != nil {
				t.Fatal(err)
			}
			columns() // may fail once: the kept description is stale
			if cols, err := columns(); err != nil || cols != "id,tenant_id,val,extra" {
				t.Fatalf("after the schema change: %q, %v", cols, err)
			}
		})
	}
}
