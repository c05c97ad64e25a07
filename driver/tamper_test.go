package driver_test

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgx-tenant/pgx-tenant/driver"
)

// TestTamperRejected sends every form of tampering through every path and
// checks that it is refused before reaching the server: a statement placed
// before the tampering in the same string must not have run, and the
// connection must still bind tenants correctly afterwards.
func TestTamperRejected(t *testing.T) {
	d := schema(t)
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		db := openApp(t, d, cfg.keys()...)
		db.SetMaxOpenConns(1) // every attempt hits the connection bound before
		admin := openAdmin(t, d)
		ctx := context.Background()
		const marker = "INSERT INTO events (tenant_id, note) VALUES ('t01', 'tamper'); "
		attempts := []string{
			"SELECT set_config('app.tenant_id', 't02', false)",
			"SELECT set_config('app.tenant_id', 't02', true)",
			"SELECT pg_catalog.set_config('APP.TENANT_ID', 't02', false)",
			"SELECT tenant_id FROM items WHERE set_config('app.tenant_id', 't02', false) IS NOT NULL",
			"SELECT set_config($1, 't02', false)",
			`SELECT U&"\0073et_config"('app.tenant_id', 't02', false)`,
			"SET app.tenant_id = 't02'",
			"SET SESSION app.tenant_id = 't02'",
			"SET LOCAL app.tenant_id = 't02'",
			"RESET app.tenant_id",
			"RESET ALL",
			"DISCARD ALL",
			"DISCARD PLANS",
			"SET ROLE " + d.OwnerRole,
			"SET SESSION AUTHORIZATION " + d.OwnerRole,
			"RESET ROLE",
			"UPDATE pg_settings SET setting = 't02' WHERE name = 'app.tenant_id'",
			"DO $$ BEGIN PERFORM set_config('app.tenant_id', 't02', false); END $$",
			// Names the body check used to miss.
			"DO $$ BEGIN SET LOCAL app . tenant_id = 't02'; END $$",
			`DO $$ BEGIN SET "app"."tenant_id" TO 't02'; END $$`,
			"DO $$ BEGIN SET SESSION ROLE " + d.OwnerRole + "; END $$",
			// Writes inside PL/pgSQL and SQL bodies, however nested.
			"DO $$ DECLARE x text; BEGIN x := set_config('app.tenant_id', 't02', false); END $$",
			"DO $$ BEGIN IF true THEN BEGIN PERFORM 1/0; EXCEPTION WHEN others THEN SET app.tenant_id = 't02'; END; END IF; END $$",
			"DO $$ BEGIN EXECUTE 'SET app.tenant_id = ''t02'''; END $$",
			"DO $$ BEGIN EXECUTE format('SET %s = %L', 'app.tenant_id', 't02'); END $$",
			"DO $$ DECLARE q text := 'SET ROLE " + d.OwnerRole + "'; BEGIN EXECUTE q; END $$",
			"CREATE FUNCTION sneaky() RETURNS text LANGUAGE sql AS $f$ SELECT set_config('app.tenant_id', 't02', false) $f$",
			"CREATE FUNCTION sneaky() RETURNS text LANGUAGE plpgsql AS $f$ BEGIN RETURN set_config('app.tenant_id', 't02', false); END $f$",
			"CREATE FUNCTION sneaky() RETURNS text LANGUAGE sql SET app.tenant_id = 't02' AS $f$ SELECT 'x' $f$",
			// SQL inside SQL strings, run by the server.
			"SELECT query_to_xml('SELECT set_config(''app.tenant_id'', ''t02'', false)', true, false, '')",
			"SELECT * FROM ts_stat('SELECT to_tsvector(set_config(''app.tenant_id'', ''t02'', false))')",
			"SELECT query_to_xml(E'SELECT \\x73et_config(''app.tenant_id'', ''t02'', false)', true, false, '')",
			"SELECT query_to_xml($1, true, false, '')",
			// Settings that change how the server reads SQL text.
			"SET standard_conforming_strings = off",
			"SET client_encoding = 'SJIS'",
			marker + "SELECT set_config('app.tenant_id', 't02', false)",
			marker + "SET app.tenant_id = 't02'",
			marker + "RESET ALL",
		}
		for _, query := range attempts {
			wantOnly(t, tenantsSeen(t, db, ctxFor(1), "SELECT tenant_id FROM items"), 1, itemsOf(1))

			checks := map[string]error{}
			_, checks["Exec"] = db.ExecContext(ctxFor(1), query)
			// Whatever gets through is closed, so that a protection that
			// fails makes this test fail rather than wait for the one
			// connection.
			var rows *sql.Rows
			rows, checks["Query"] = db.QueryContext(ctxFor(1), query)
			if rows != nil {
				rows.Close()
			}
			var stmt *sql.Stmt
			stmt, checks["Prepare"] = db.PrepareContext(ctxFor(1), query)
			if stmt != nil {
				stmt.Close()
			}
			if tx, err := db.BeginTx(ctxFor(1), nil); err == nil {
				_, checks["Tx.Exec"] = tx.ExecContext(ctxFor(1), query)
				tx.Rollback()
			} else {
				t.Fatal(err)
			}
			for path, err := range checks {
				if !errors.Is(err, driver.ErrTamper) {
					t.Errorf("%s %q: err = %v, want ErrTamper", path, query, err)
				}
				if errors.Is(err, sqldriver.ErrBadConn) {
					t.Errorf("%s %q: tamper error looks like ErrBadConn", path, query)
				}
			}
			// The connection still runs tenant 1's statements as tenant 1,
			// and no-tenant statements as nobody.
			wantOnly(t, tenantsSeen(t, db, ctxFor(1), "SELECT tenant_id FROM items"), 1, itemsOf(1))
			wantNone(t, tenantsSeen(t, db, ctx, "SELECT tenant_id FROM items"))
		}
		if got := countEvents(t, admin); got["t01"] != 0 {
			t.Fatalf("a statement before the tampering ran: %v", got)
		}
	})
}

// TestInvalidSQL: SQL the driver must inspect is parsed, and refused before
// anything is sent if the parser rejects it; other SQL is not parsed, and
// the server reports its syntax errors as it would through plain pgx.
func TestInvalidSQL(t *testing.T) {
	d := schema(t)
	db := openApp(t, d)
	_, err := db.ExecContext(ctxFor(0), "UPDAT items SET val = 1; SELECT set_config('app.tenant_id', 't01', false")
	if !errors.Is(err, driver.ErrInvalidSQL) || !strings.Contains(err.Error(), "syntax error") {
		t.Fatalf("err = %v, want ErrInvalidSQL with the parser's message", err)
	}
	if errors.Is(err, sqldriver.ErrBadConn) {
		t.Fatal("parse error looks like ErrBadConn")
	}
	_, err = db.ExecContext(ctxFor(0), "SELEC tenant_id FROM items")
	if !isSyntaxError(err) {
		t.Fatalf("err = %v, want the server's syntax error (42601)", err)
	}
	wantOnly(t, tenantsSeen(t, db, ctxFor(0), "SELECT tenant_id FROM items"), 0, itemsOf(0))
}

func isSyntaxError(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42601"
}
