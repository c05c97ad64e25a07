package pgtest

import (
	"context"
	"errors"
	"os"
	"runtime"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestWithConn(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://admin:pw@db:5432/postgres?sslmode=disable", "postgres://app:s3@db:5432/x?sslmode=disable"},
		{"host=db port=5432 user=admin dbname=postgres", "host=db port=5432 user=admin dbname=postgres dbname=x user=app password=s3"},
	}
	for _, tt := range tests {
		got, err := withConn(tt.in, "app", "s3", "x")
		if err != nil || got != tt.want {
			t.Errorf("withConn(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		cfg, err := pgx.ParseConfig(got)
		if err != nil || cfg.User != "app" || cfg.Database != "x" || cfg.Password != "s3" {
			t.Errorf("%q parses to user=%q db=%q: %v", got, cfg.User, cfg.Database, err)
		}
	}
}

// TestAppRoleIsOrdinary checks what every RLS test relies on: the app role
// is subject to policies on tables the owner created, and cannot escape them.
func TestAppRoleIsOrdinary(t *testing.T) {
	d := NewDatabase(t)
	ctx := context.Background()
	if err := d.ExecOwner(ctx,
		`CREATE TABLE secrets (tenant_id text, v int)`,
		`ALTER TABLE secrets ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY p ON secrets USING (tenant_id = current_setting('app.tenant_id', true))`,
		`INSERT INTO secrets VALUES ('a', 1), ('b', 2)`,
	); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM secrets`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("app role without tenant sees %d rows (%v), want 0", n, err)
	}
	for _, escape := range []string{
		`ALTER TABLE secrets DISABLE ROW LEVEL SECURITY`,
		`SET ROLE ` + d.OwnerRole,
	} {
		_, err := conn.Exec(ctx, escape)
		var pe *pgconn.PgError
		if !errors.As(err, &pe) {
			t.Fatalf("%s: err = %v, want a server refusal", escape, err)
		}
	}
	// row_security=off may be set, but then a protected read fails instead
	// of bypassing the policy.
	if _, err := conn.Exec(ctx, `SET row_security = off`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `SELECT * FROM secrets`); err == nil {
		t.Fatal("read with row_security=off succeeded")
	}
	if err := d.CheckAppRole(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestMissingFailsUnderCI checks the rule every skip of the harness
// follows: a missing dependency skips locally and fails under CI.
func TestMissingFailsUnderCI(t *testing.T) {
	for _, tt := range []struct{ ci, want string }{{"", "skip"}, {"true", "fatal"}} {
		t.Setenv("CI", tt.ci)
		tb := &outcomeTB{TB: t}
		done := make(chan struct{})
		go func() { defer close(done); missing(tb, "no %s", "pgbouncer") }()
		<-done
		if tb.outcome != tt.want {
			t.Errorf("CI=%q: missing dependency led to %q, want %q", tt.ci, tb.outcome, tt.want)
		}
	}
}

// outcomeTB records whether a helper skipped or failed, without doing either.
type outcomeTB struct {
	testing.TB
	outcome string
}

func (tb *outcomeTB) Helper()               {}
func (tb *outcomeTB) Skip(...any)           { tb.outcome = "skip"; runtime.Goexit() }
func (tb *outcomeTB) Fatal(...any)          { tb.outcome = "fatal"; runtime.Goexit() }
func (tb *outcomeTB) Skipf(string, ...any)  { tb.Skip() }
func (tb *outcomeTB) Fatalf(string, ...any) { tb.Fatal() }
