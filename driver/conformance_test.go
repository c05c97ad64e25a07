package driver_test

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// execModes are the pgx exec modes a DSN can select. cache_statement,
// cache_describe and exec are pipelined; simple_protocol and describe_exec
// take the general path.
var execModes = []string{"cache_statement", "cache_describe", "exec", "describe_exec", "simple_protocol"}

// typeMatrix is one row per PostgreSQL type database/sql users meet, each
// with a NULL row, selected from a table protected by RLS.
var typeMatrix = []struct{ name, typ, value string }{
	{"int2", "int2", "-32768"},
	{"int4", "int4", "2147483647"},
	{"int8", "int8", "-9223372036854775808"},
	{"numeric", "numeric(12,4)", "12345678.9012"},
	{"numeric nan", "numeric", "'NaN'"},
	{"float4", "float4", "3.14159"},
	{"float8", "float8", "2.718281828459045"},
	{"float8 inf", "float8", "'-Infinity'"},
	{"bool", "bool", "true"},
	{"text", "text", "'héllo, wörld'"},
	{"varchar", "varchar(20)", "'short'"},
	{"bpchar", "char(5)", "'ab'"},
	{"bytea", "bytea", `'\xdeadbeef00'`},
	{"uuid", "uuid", "'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"},
	{"json", "json", `'{"b": [1, 2], "a": null}'`},
	{"jsonb", "jsonb", `'{"b": [1, 2], "a": null}'`},
	{"timestamp", "timestamp", "'2024-02-29 13:14:15.123456'"},
	{"timestamptz", "timestamptz", "'2024-02-29 13:14:15.123456+05:30'"},
	{"date", "date", "'2024-02-29'"},
	{"date infinity", "date", "'infinity'"},
	{"time", "time", "'13:14:15.5'"},
	{"interval", "interval", "'1 year 2 mons 3 days 04:05:06.789'"},
	{"int4[]", "int4[]", "'{1,NULL,3}'"},
	{"text[]", "text[]", `'{"a b","c,d",NULL}'`},
	{"timestamptz[]", "timestamptz[]", "'{2024-01-01 00:00:00+00}'"},
	{"enum", "mood", "'happy'"},
	{"composite", "pair", "ROW(1, 'x')::pair"},
	{"inet", "inet", "'192.168.1.0/24'"},
	{"xml", "xml", "'<a>b</a>'"},
	{"oid", "oid", "4294967295"},
	{"int8range", "int8range", "'[1,10)'"},
	{"money", "money", "'12.34'"},
}

// TestConformance runs the same queries through plain pgx stdlib and through
// pgx-tenant (pipelined and general paths, every exec mode) and requires
// identical driver values and column metadata.
func TestConformance(t *testing.T) {
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	setup := []string{
		`CREATE TYPE mood AS ENUM ('sad', 'happy')`,
		`CREATE TYPE pair AS (n int, s text)`,
		`SET timezone = 'America/New_York'`,
	}
	for i, c := range typeMatrix {
		tbl := fmt.Sprintf("t_%d", i)
		setup = append(setup,
			fmt.Sprintf(`CREATE TABLE %s (tenant_id text NOT NULL, v %s)`, tbl, c.typ),
			fmt.Sprintf(`ALTER TABLE %s ENABLE ROW LEVEL SECURITY`, tbl),
			fmt.Sprintf(`CREATE POLICY p ON %s USING (`+policy+`)`, tbl),
			fmt.Sprintf(`INSERT INTO %s VALUES ('t01', %s), ('t01', NULL), ('t02', %s)`, tbl, c.value, c.value),
		)
	}
	if err := d.ExecOwner(ctx, setup...); err != nil {
		t.Fatal(err)
	}

	type result struct {
		cols  []string
		types []string
		rows  [][]any
	}
	collect := func(t *testing.T, db *sql.DB, ctx context.Context, query string, args ...any) result {
		t.Helper()
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		defer rows.Close()
		var r result
		r.cols, _ = rows.Columns()
		cts, err := rows.ColumnTypes()
		if err != nil {
			t.Fatal(err)
		}
		for _, ct := range cts {
			length, lok := ct.Length()
			prec, scale, pok := ct.DecimalSize()
			nullable, nok := ct.Nullable()
			r.types = append(r.types, fmt.Sprintf("%s len=%d/%v dec=%d,%d/%v null=%v/%v scan=%v",
				ct.DatabaseTypeName(), length, lok, prec, scale, pok, nullable, nok, ct.ScanType()))
		}
		for rows.Next() {
			vals := make([]any, len(r.cols))
			ptrs := make([]any, len(vals))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			r.rows = append(r.rows, vals)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return r
	}

	type query struct {
		name  string
		query string
		args  []any
	}
	var queries []query
	for i, c := range typeMatrix {
		queries = append(queries, query{c.name, fmt.Sprintf("SELECT tenant_id, v FROM t_%d ORDER BY v IS NULL", i), nil})
	}
	queries = append(queries,
		query{"params", "SELECT $1::int8 AS a, $2::text AS b, $3::timestamptz AS c, $4::bytea AS d, $5::int4[] AS e, $6::numeric AS f, $7::text AS g",
			[]any{int64(42), "x", time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC), []byte{1, 2}, []int32{1, 2}, "1.50", nil}},
		query{"named args", "SELECT @a::int AS a, @b::text AS b", []any{pgx.NamedArgs{"a": 7, "b": "seven"}}},
		query{"query exec mode option", "SELECT $1::int AS a", []any{pgx.QueryExecModeSimpleProtocol, 5}},
		query{"result formats option", "SELECT 1::int AS a, 'x'::text AS b", []any{pgx.QueryResultFormats{pgx.TextFormatCode, pgx.TextFormatCode}}},
		query{"no rows", "SELECT tenant_id FROM t_0 WHERE false", nil},
	)

	for _, mode := range execModes {
		t.Run(mode, func(t *testing.T) {
			tz := "timezone=America/New_York"
			std, err := sql.Open("pgx", withKeys(d.AppDSN, "default_query_exec_mode="+mode, tz, "app.tenant_id=t01"))
			if err != nil {
				t.Fatal(err)
			}
			defer std.Close()
			for _, scope := range scopes {
				db := openApp(t, d, "tenant_scope="+scope, "default_query_exec_mode="+mode, tz)
				for _, q := range queries {
					want := collect(t, std, ctx, q.query, q.args...)
					for round := 0; round < 3; round++ {
						// Alternate tenants so session scope pipelines too, and
						// repeat so cached statements are exercised.
						if round == 1 {
							collect(t, db, ctxFor(2), q.query, q.args...)
						}
						got := collect(t, db, ctxFor(1), q.query, q.args...)
						if !reflect.DeepEqual(got, want) {
							t.Errorf("%s/%s round %d:\n got  %#v\n want %#v", scope, q.name, round, got, want)
						}
					}
				}
			}
		})
	}
}
