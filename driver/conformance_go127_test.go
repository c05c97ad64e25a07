//go:build go1.27

package driver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// mood is a named string type: database/sql converts into it.
type mood string

// srcRecorder is a sql.Scanner that records what it was given.
type srcRecorder struct{ got string }

func (s *srcRecorder) Scan(src any) error {
	s.got = fmt.Sprintf("%T %v", src, src)
	return nil
}

// orNull is a query of expr and then of a NULL of its type.
func orNull(expr string) string { return "SELECT " + expr + " AS v UNION ALL SELECT NULL" }

// scanCases are single columns scanned into destinations. As of Go 1.27
// pgx stdlib scans each column itself: Go slices, pgtype.Array, ranges and
// other pgx types directly with pgx's type map; scalars, sql.Scanners and
// *any through database/sql's conversions of the driver.Value, as before.
var scanCases = []struct {
	name, query string
	dest        func() any // a fresh destination
}{
	{"int8[] into []int64", orNull(`'{1,2,3}'::int8[]`), func() any { return new([]int64) }},
	{"int4[] into []*int32", orNull(`'{1,NULL,3}'::int4[]`), func() any { return new([]*int32) }},
	{"text[] into []string", orNull(`'{"a b","c,d"}'::text[]`), func() any { return new([]string) }},
	{"text[] into []sql.NullString", orNull(`'{a,NULL}'::text[]`), func() any { return new([]sql.NullString) }},
	{"int8[][] into pgtype.Array", orNull(`'{{1,2,3},{4,5,6}}'::int8[]`), func() any { return new(pgtype.Array[int64]) }},
	{"int2[] into pgtype.FlatArray[byte]", orNull(`'{1,2,3}'::int2[]`), func() any { return new(pgtype.FlatArray[byte]) }},
	{"int8[] into any", orNull(`'{1,2,3}'::int8[]`), func() any { return new(any) }},
	{"int4range into pgtype.Range", orNull(`'[1,10)'::int4range`), func() any { return new(pgtype.Range[pgtype.Int4]) }},
	{"empty int4range into pgtype.Range", `SELECT 'empty'::int4range`, func() any { return new(pgtype.Range[pgtype.Int4]) }},
	{"tstzrange into pgtype.Range", orNull(`tstzrange('2024-02-29 13:14:15+05:30', NULL)`), func() any { return new(pgtype.Range[pgtype.Timestamptz]) }},
	{"int8multirange into pgtype.Multirange", orNull(`'{[1,3),[7,9)}'::int8multirange`), func() any { return new(pgtype.Multirange[pgtype.Range[pgtype.Int8]]) }},
	{"int4range into any", orNull(`'[1,10)'::int4range`), func() any { return new(any) }},
	{"jsonb into map", orNull(`'{"a": [1, 2]}'::jsonb`), func() any { return new(map[string]any) }},
	{"jsonb into json.RawMessage", orNull(`'{"a": [1, 2]}'::jsonb`), func() any { return new(json.RawMessage) }},
	{"uuid into [16]byte", `SELECT 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid`, func() any { return new([16]byte) }},
	{"uuid into string", orNull(`'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid`), func() any { return new(string) }},
	{"int8 into int64", orNull(`'-9223372036854775808'::int8`), func() any { return new(int64) }},
	{"int8 into *int64", orNull(`42::int8`), func() any { return new(*int64) }},
	{"int4 into string", orNull(`42::int4`), func() any { return new(string) }},
	{"bool into string", `SELECT true UNION ALL SELECT false`, func() any { return new(string) }},
	{"date into string", `SELECT '2024-02-29'::date`, func() any { return new(string) }},
	{"numeric into float64", orNull(`12345678.9012::numeric(12,4)`), func() any { return new(float64) }},
	{"numeric into pgtype.Numeric", orNull(`'NaN'::numeric`), func() any { return new(pgtype.Numeric) }},
	{"text into int64", `SELECT 'abc'::text`, func() any { return new(int64) }},
	{"text into sql.NullString", orNull(`'héllo'::text`), func() any { return new(sql.NullString) }},
	{"int4 into sql.Null[int32]", orNull(`7::int4`), func() any { return new(sql.Null[int32]) }},
	{"int8 into pgtype.Int8", orNull(`7::int8`), func() any { return new(pgtype.Int8) }},
	{"enum-like text into a named string", orNull(`'happy'::text`), func() any { return new(mood) }},
	{"bytea into a named string", orNull(`'\x6162'::bytea`), func() any { return new(mood) }},
	{"int4 into a sql.Scanner", orNull(`42::int4`), func() any { return new(srcRecorder) }},
	{"timestamptz into a sql.Scanner", `SELECT '2024-02-29 13:14:15+00'::timestamptz`, func() any { return new(srcRecorder) }},
	{"timestamptz into time.Time", orNull(`'2024-02-29 13:14:15.123456+05:30'::timestamptz`), func() any { return new(time.Time) }},
	{"bytea into sql.RawBytes", orNull(`'\xdeadbeef'::bytea`), func() any { return new(sql.RawBytes) }},
	{"into a nil *int64", `SELECT 1::int8`, func() any { return (*int64)(nil) }},
	{"into a nil *[]int64", `SELECT '{1}'::int8[]`, func() any { return (*[]int64)(nil) }},
	{"into nil", `SELECT 1::int8`, func() any { return nil }},
}

// scanned is what scanning one query gave: per row, the destination or
// the Scan error; then rows.Err.
type scanned struct {
	rows []any
	err  string
}

// scanInto returns a function that scans query results into destinations
// made by dest.
func scanInto(dest func() any) func(*sql.Rows, error) scanned {
	return func(rows *sql.Rows, err error) scanned { return scanRows(rows, err, dest) }
}

func scanRows(rows *sql.Rows, err error, dest func() any) scanned {
	if err != nil {
		return scanned{err: "query: " + err.Error()}
	}
	defer rows.Close()
	var s scanned
	for rows.Next() {
		d := dest()
		if err := rows.Scan(d); err != nil {
			s.rows = append(s.rows, "error: "+err.Error())
			continue
		}
		v := reflect.ValueOf(d).Elem().Interface()
		if rb, ok := v.(sql.RawBytes); ok {
			v = string(rb) // valid only until Next
		}
		s.rows = append(s.rows, v)
	}
	if err := rows.Err(); err != nil {
		s.err = err.Error()
	}
	return s
}

// TestConformanceScanColumn scans into Go values through plain pgx stdlib
// and through pgx-tenant, and requires identical results on every path:
// pgx-tenant's pipelined rows, its general path's rows (which end the
// statement's transaction) and stdlib's rows handed through as they are.
func TestConformanceScanColumn(t *testing.T) {
	d := pgtest.NewDatabase(t)
	tz := "timezone=America/New_York"
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		std, err := sql.Open("pgx", withKeys(d.AppDSN, "default_query_exec_mode="+cfg.mode, tz))
		if err != nil {
			t.Fatal(err)
		}
		defer std.Close()
		db := openApp(t, d, cfg.keys(tz)...)
		ctx := context.Background()

		var ints []int64
		if err := std.QueryRowContext(ctx, `SELECT '{1,2}'::int8[]`).Scan(&ints); err != nil {
			t.Fatalf("pgx stdlib does not scan columns itself, so this test proves nothing: %v", err)
		}

		for _, c := range scanCases {
			scan := scanInto(c.dest)
			want := scan(std.QueryContext(ctx, c.query))
			check := func(path string, got scanned) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s, %s:\n got  %#v\n want %#v", c.name, path, got, want)
				}
			}
			// Pipelined modes give pipeRows; the general path gives the
			// rows of its own transaction (transaction scope) or stdlib's
			// (session scope, and inside a transaction).
			check("t01", scan(db.QueryContext(ctxFor(1), c.query)))
			check("t01 again", scan(db.QueryContext(ctxFor(1), c.query)))
			check("t02", scan(db.QueryContext(ctxFor(2), c.query)))

			// The first statement of a transaction binds it, the next
			// does not.
			tx, err := db.BeginTx(ctxFor(1), nil)
			if err != nil {
				t.Fatal(err)
			}
			check("tx", scan(tx.QueryContext(ctxFor(1), c.query)))
			check("tx again", scan(tx.QueryContext(ctxFor(1), c.query)))
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}

			stmt, err := db.PrepareContext(ctx, c.query)
			if err != nil {
				t.Fatal(err)
			}
			check("prepared", scan(stmt.QueryContext(ctxFor(1))))
			stmt.Close()
		}
	})
}

// TestConformanceCommitAtEnd checks that an error of the commit that ends
// a query's rows (a deferred constraint) reaches rows.Err on every path
// after the rows that came before it, as it does through plain stdlib.
func TestConformanceCommitAtEnd(t *testing.T) {
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	err := d.ExecOwner(ctx,
		`CREATE TABLE deferred (tenant_id text NOT NULL, k int,
			CONSTRAINT deferred_k UNIQUE (k) DEFERRABLE INITIALLY DEFERRED)`,
		`ALTER TABLE deferred ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY p ON deferred USING (`+policy+`) WITH CHECK (`+policy+`)`,
	)
	if err != nil {
		t.Fatal(err)
	}
	const insert = `INSERT INTO deferred (tenant_id, k) VALUES ($1, 1), ($1, 1) RETURNING k`
	run := func(rows *sql.Rows, err error) (ks []int, code string) {
		if err != nil {
			t.Fatalf("query: %v", err)
		}
		defer rows.Close()
		for rows.Next() {
			var k int
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			ks = append(ks, k)
		}
		var pe *pgconn.PgError
		if err := rows.Err(); !errors.As(err, &pe) {
			t.Fatalf("rows.Err() = %v, want the commit's server error", err)
		}
		return ks, pe.Code
	}
	forEachConfig(t, func(t *testing.T, cfg testConfig) {
		std, err := sql.Open("pgx", withKeys(d.AppDSN, "default_query_exec_mode="+cfg.mode, "app.tenant_id=t01"))
		if err != nil {
			t.Fatal(err)
		}
		defer std.Close()
		wantKs, wantCode := run(std.QueryContext(ctx, insert, "t01"))
		if wantCode != "23505" {
			t.Fatalf("stdlib: SQLSTATE %s, want 23505", wantCode)
		}
		db := openApp(t, d, cfg.keys()...)
		for _, i := range []int{1, 1, 2} {
			ks, code := run(db.QueryContext(ctxFor(i), insert, tenantName(i)))
			if !reflect.DeepEqual(ks, wantKs) || code != wantCode {
				t.Errorf("%s: rows %v, SQLSTATE %s; want %v, %s", tenantName(i), ks, code, wantKs, wantCode)
			}
		}
		var n int
		if err := db.QueryRowContext(ctxFor(1), `SELECT count(*) FROM deferred`).Scan(&n); err != nil || n != 0 {
			t.Errorf("rows left: %d, %v; want none", n, err)
		}
	})
}
