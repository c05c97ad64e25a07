package pgtest

import (
	"context"
	"errors"
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

// Unavailable skips tb because of err, or fails it under CI.
func Unavailable(tb testing.TB, err error) {
	tb.Helper()
	if os.Getenv("CI") != "" || !errors.Is(err, ErrUnavailable) {
		tb.Fatalf("PostgreSQL: %v", err)
	}
	tb.Skipf("PostgreSQL: %v", err)
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
// stopped when tb ends.
func StartPrivate(tb testing.TB) *Server {
	tb.Helper()
	if os.Getenv(EnvDSN) != "" {
		tb.Skip("a private server needs local PostgreSQL binaries, not " + EnvDSN)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	srv, err := Start(ctx)
	if err != nil {
		Unavailable(tb, err)
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
	if errors.Is(err, ErrNoPgBouncer) && os.Getenv("CI") == "" {
		tb.Skip(err)
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
