package driver_test

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/driver"
)

// Regression tests for what a skeptical review of the binding-integrity
// change found: each failed before its fix.

// TestSessionBeginTxInsideUserTx: in session scope, BeginTx on a sql.Conn
// where the application already sent BEGIN puts the session set inside that
// transaction; after tx.Rollback the connection must not believe the server
// holds the Tx's tenant.
func TestSessionBeginTxInsideUserTx(t *testing.T) {
	d := schema(t)
	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) {
			db := openApp(t, d, testConfig{"session", mode}.keys()...)
			conn, err := db.Conn(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			a, b := 4, 9
			wantOnly(t, tenantsSeen(t, conn, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
			if _, err := conn.ExecContext(ctxFor(a), "BEGIN"); err != nil {
				t.Fatal(err)
			}
			tx, err := conn.BeginTx(ctxFor(b), nil)
			if err != nil {
				t.Fatal(err)
			}
			wantOnly(t, tenantsSeen(t, tx, ctxFor(b), "SELECT tenant_id FROM items"), b, itemsOf(b))
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			wantOnly(t, tenantsSeen(t, conn, ctxFor(b), "SELECT tenant_id FROM items"), b, itemsOf(b))
			wantOnly(t, tenantsSeen(t, conn, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
		})
	}
}

// TestTextsThatWouldUndoTheBinding: a text that rolls back and then runs
// more statements (its ROLLBACK TO can reach a savepoint made before the
// binding), a text that leaves a transaction open in transaction scope (the
// driver's COMMIT would end the application's transaction), and SET
// TRANSACTION followed by more statements are refused before anything is
// sent, with ErrTxControl.
func TestTextsThatWouldUndoTheBinding(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		admin := openAdmin(t, d)
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		a, b := 4, 9
		note := "undo-" + cfg.scope + "-" + cfg.mode
		if _, err := conn.ExecContext(ctxFor(a), "BEGIN"); err != nil {
			t.Fatal(err)
		}
		wantOnly(t, tenantsSeen(t, conn, ctxFor(a), "SELECT tenant_id FROM items"), a, itemsOf(a))
		if _, err := conn.ExecContext(ctxFor(a), "SAVEPOINT s"); err != nil {
			t.Fatal(err)
		}
		insert := "INSERT INTO events (tenant_id, note) SELECT tenant_id, '" + note + "' FROM items LIMIT 1"
		for _, sql := range []string{"ROLLBACK TO SAVEPOINT s; " + insert, "ROLLBACK; " + insert} {
			_, err = conn.ExecContext(ctxFor(b), sql)
			if !errors.Is(err, driver.ErrTxControl) || errors.Is(err, sqldriver.ErrBadConn) {
				t.Fatalf("%q: err = %v, want ErrTxControl", sql, err)
			}
		}
		if _, err := conn.ExecContext(ctxFor(b), "ROLLBACK"); err != nil {
			t.Fatal(err)
		}
		if got := eventsByNote(t, admin, note); len(got) != 0 {
			t.Fatalf("refused text wrote %v", got)
		}

		// A transaction opened and left open by a text.
		_, err = conn.ExecContext(ctxFor(b), "BEGIN; "+insert)
		switch cfg.scope {
		case "transaction":
			if !errors.Is(err, driver.ErrTxControl) {
				t.Fatalf("BEGIN; INSERT: err = %v, want ErrTxControl", err)
			}
		case "session":
			// The committed session binding is not undone: the text runs
			// for b, and the application's ROLLBACK undoes it.
			if err != nil {
				t.Fatal(err)
			}
			if _, err := conn.ExecContext(ctxFor(b), "ROLLBACK"); err != nil {
				t.Fatal(err)
			}
		}
		if got := eventsByNote(t, admin, note); len(got) != 0 {
			t.Fatalf("after the application's ROLLBACK: %v", got)
		}
		// A whole transaction in one text is fine.
		if _, err := conn.ExecContext(ctxFor(b), "BEGIN; "+insert+"; COMMIT"); err != nil {
			t.Fatal(err)
		}
		if got := eventsByNote(t, admin, note); len(got) != 1 || got[tenantName(b)] != 1 {
			t.Fatalf("BEGIN; INSERT; COMMIT stored %v, want one of %s", got, tenantName(b))
		}

		tx, err := db.BeginTx(ctxFor(b), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		_, err = tx.ExecContext(ctxFor(b), "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE; SELECT 1")
		if cfg.scope == "session" {
			// Bound before BEGIN: nothing needs to come between them.
			if err != nil {
				t.Fatalf("SET TRANSACTION; SELECT in session scope: %v", err)
			}
		} else {
			if !errors.Is(err, driver.ErrTxControl) {
				t.Fatalf("SET TRANSACTION; SELECT: err = %v, want ErrTxControl", err)
			}
			if _, err := tx.ExecContext(ctxFor(b), "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"); err != nil {
				t.Fatal(err)
			}
		}
		wantOnly(t, tenantsSeen(t, tx, ctxFor(b), "SELECT tenant_id FROM items"), b, itemsOf(b))
	})
}

// TestClearObjectsKeepsTheSameTenants: with tenant_clear_objects, a
// tenant's own temp tables and cursors survive its own transactions, in a
// database/sql Tx and in one opened with SQL.
func TestClearObjectsKeepsTheSameTenants(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys("tenant_clear_objects=true")...)
		boundTo(t, db, 2)
		tx, err := db.BeginTx(ctxFor(2), nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.ExecContext(ctxFor(2), "CREATE TEMP TABLE scratch (x int)"); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctxFor(2), "INSERT INTO scratch VALUES (1)"); err != nil {
			t.Fatalf("temp table made in the tenant's own Tx: %v", err)
		}
		conn, err := db.Conn(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, s := range []string{"BEGIN", "DECLARE c CURSOR FOR SELECT tenant_id FROM items", "FETCH 1 FROM c",
			"CREATE TEMP TABLE scratch2 (x int)", "INSERT INTO scratch2 VALUES (1)", "COMMIT", "INSERT INTO scratch2 VALUES (2)"} {
			if _, err := conn.ExecContext(ctxFor(2), s); err != nil {
				t.Fatalf("%s: %v", s, err)
			}
		}
		// Another tenant still finds nothing of them.
		if _, err := conn.ExecContext(ctxFor(3), "INSERT INTO scratch2 VALUES (3)"); err == nil {
			t.Fatal("another tenant reached the temp table")
		}
	})
}

// TestStaleDescription: in cache_describe mode a description made stale by
// a schema change fails one statement at most, as with pgx.
func TestStaleDescription(t *testing.T) {
	d := schema(t)
	if err := d.ExecOwner(context.Background(),
		`CREATE TABLE notes (tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id'), body text)`,
		`ALTER TABLE notes ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY isolation ON notes USING (`+policy+`) WITH CHECK (`+policy+`)`,
		`GRANT ALL ON notes TO `+d.AppRole); err != nil {
		t.Fatal(err)
	}
	for i, mode := range []string{"cache_describe", "cache_statement"} {
		db := openApp(t, d, "default_query_exec_mode="+mode)
		db.SetMaxOpenConns(1)
		run := func() error {
			rows, err := db.QueryContext(ctxFor(1), "SELECT * FROM notes WHERE body <> $1", "x")
			if err != nil {
				return err
			}
			for rows.Next() {
			}
			rows.Close()
			return rows.Err()
		}
		if err := run(); err != nil {
			t.Fatal(err)
		}
		if err := d.ExecOwner(context.Background(), fmt.Sprintf(`ALTER TABLE notes ADD COLUMN c%d int`, i)); err != nil {
			t.Fatal(err)
		}
		failed := 0
		for k := 0; k < 3; k++ {
			if run() != nil {
				failed++
			}
		}
		if failed > 1 {
			t.Errorf("%s: %d of 3 statements failed after the schema change; want at most 1", mode, failed)
		}
	}
}

// TestTooManyParameters: pgx's parameter limit is an ordinary error, not
// driver.ErrBadConn (which would make database/sql retry and close
// connections).
func TestTooManyParameters(t *testing.T) {
	d := schema(t)
	const n = 70000
	var sb strings.Builder
	sb.WriteString("SELECT 1 WHERE 1 IN (")
	args := make([]any, n)
	for i := range args {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, "$%d", i+1)
		args[i] = i
	}
	sb.WriteString(")")
	for _, mode := range []string{"cache_statement", "cache_describe", "exec"} {
		db := openApp(t, d, "default_query_exec_mode="+mode)
		_, err := db.ExecContext(ctxFor(1), sb.String(), args...)
		if err == nil || errors.Is(err, sqldriver.ErrBadConn) || !strings.Contains(err.Error(), "65535") {
			t.Errorf("%s: err = %v, want the parameter limit", mode, err)
		}
		if st := db.Stats(); st.OpenConnections > 1 {
			t.Errorf("%s: %d connections opened for one statement", mode, st.OpenConnections)
		}
	}
}

// TestCopyToClient: COPY … TO STDOUT takes the general path (the pipeline
// reads plain results only) and works as through pgx stdlib.
func TestCopyToClient(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		boundTo(t, db, 1)
		if _, err := db.ExecContext(ctxFor(2), "COPY (SELECT tenant_id FROM items) TO STDOUT"); err != nil {
			t.Fatal(err)
		}
		wantOnly(t, tenantsSeen(t, db, ctxFor(2), "SELECT tenant_id FROM items"), 2, itemsOf(2))
	})
}
