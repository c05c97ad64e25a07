package main

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/pgx-tenant/pgx-tenant/examples/internal/shop"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

func TestExampleRuns(t *testing.T) { shop.RunsAsProgram(t, run) }

// isolation writes and reads concurrently for every tenant through db and
// checks that each read only its own rows and counts are exact.
func isolation(t *testing.T, d *pgtest.Database, db *sql.DB) {
	t.Helper()
	const rounds = 10
	shop.Concurrently(t, rounds, func(ctx context.Context, id string, round int) error {
		if _, err := db.ExecContext(ctx, `INSERT INTO authors (name) VALUES ($1)`, fmt.Sprintf("%s-%d", id, round)); err != nil {
			return err
		}
		got, err := names(ctx, db)
		if err != nil {
			return err
		}
		if len(got) != round+1 {
			return fmt.Errorf("%d authors, want %d", len(got), round+1)
		}
		for _, n := range got {
			if !strings.HasPrefix(n, id+":"+id+"-") {
				return fmt.Errorf("tenant %s read %q", id, n)
			}
		}
		return nil
	})
	shop.WantCounts(t, d, rounds, 0)
}

func TestUnderOtelsql(t *testing.T) {
	for _, scope := range []string{"transaction", "session"} {
		t.Run(scope, func(t *testing.T) {
			d := shop.NewDatabase(t)
			recorder := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(recorder))
			db, err := openTraced(d.AppDSN+" tenant_scope="+scope, tp)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(2)
			isolation(t, d, db)

			var statements int
			for _, s := range recorder.Ended() {
				for _, kv := range s.Attributes() {
					if strings.HasPrefix(string(kv.Key), "db.") && strings.Contains(kv.Value.Emit(), "FROM authors") {
						statements++
					}
				}
			}
			if want := len(shop.Tenants) * 10; statements < want {
				t.Fatalf("%d spans carry the SELECT statement, want at least %d", statements, want)
			}
		})
	}
}

func TestUnderSqlmw(t *testing.T) {
	for _, scope := range []string{"transaction", "session"} {
		t.Run(scope, func(t *testing.T) {
			d := shop.NewDatabase(t)
			before := len(statements.Lines())
			db, err := openLogged(d.AppDSN + " tenant_scope=" + scope)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			db.SetMaxOpenConns(2)
			isolation(t, d, db)

			logged := statements.Lines()[before:]
			var inserts int
			for _, l := range logged {
				if strings.Contains(l, "INSERT INTO authors") && !strings.HasPrefix(l, "tenant= ") {
					inserts++
				}
			}
			if want := len(shop.Tenants) * 10; inserts != want {
				t.Fatalf("logged %d inserts with their tenant, want %d", inserts, want)
			}
		})
	}
}
