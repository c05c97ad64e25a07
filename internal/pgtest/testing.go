package pgtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

var shared struct {
	once sync.Once
	srv  *Server
	err  error
}

// Main runs the tests of a package and stops the shared server afterwards.
// Call it from TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if shared.srv != nil {
		shared.srv.Close()
	}
	return code
}

// Shared returns the server shared by the tests of this process, starting it
// on first use. It skips tb when none is available, or fails it when the CI
// environment variable is set.
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		shared.srv, shared.err = Start(ctx)
	})
	if shared.err != nil {
		Unavailable(tb, shared.err)
	}
	return shared.srv
}

// Unavailable skips tb because of err, or fails it under CI. Errors other
// than ErrUnavailable (a server that exists but fails) always fail tb.
func Unavailable(tb testing.TB, err error) {
	tb.Helper()
	if !errors.Is(err, ErrUnavailable) {
		tb.Fatalf("PostgreSQL: %v", err)
	}
	missing(tb, "PostgreSQL: %v", err)
}

// missing skips tb for want of a dependency, or fails it when the CI
// environment variable is set: CI must run every test.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		tb.Fatal(msg + " (CI is set: a missing dependency fails the test instead of skipping it)")
	}
	tb.Skip(msg)
}

// NewDatabase returns a fresh database on the shared server, dropped when
// tb ends.
func NewDatabase(tb testing.TB) *Database {
	tb.Helper()
	return NewDatabaseOn(tb, Shared(tb))
}

// NewDatabaseOn returns a fresh database on srv, dropped when tb ends.
func NewDatabaseOn(tb testing.TB, srv *Server) *Database {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := srv.NewDatabase(ctx)
	if err != nil {
		tb.Fatalf("pgtest: new database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Drop(ctx); err != nil {
			tb.Logf("pgtest: drop database: %v", err)
		}
	})
	return d
}

// StartPrivate starts a server for tb alone (for tests that restart it),
// stopped when tb ends. Only a local cluster can be restarted, so it starts
// one even when EnvDSN names a server; without PostgreSQL binaries it skips
// tb, or fails it under CI.
func StartPrivate(tb testing.TB) *Server {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := startLocalServer(ctx)
	if errors.Is(err, errNoBinaries) {
		missing(tb, "a server a test restarts must be a local cluster, and no initdb/postgres binaries were found on PATH or under /usr/lib/postgresql/*/bin")
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	return srv
}

// NewPgBouncer starts PgBouncer (transaction pooling, poolSize server
// connections) in front of d, stopped when tb ends. It skips tb when
// PgBouncer is not installed, or fails it under CI.
func NewPgBouncer(tb testing.TB, d *Database, poolSize int) *PgBouncer {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	b, err := StartPgBouncer(ctx, d, poolSize)
	if errors.Is(err, ErrNoPgBouncer) {
		missing(tb, "%v", err)
	}
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { b.Close() })
	return b
}

// Exit is TestMain for packages that only need the shared server:
// func TestMain(m *testing.M) { pgtest.Exit(m) }.
func Exit(m *testing.M) { os.Exit(Main(m)) }
