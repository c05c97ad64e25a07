// Package shop is the schema and checks the ORM examples share: authors and
// their books, owned by tenants, protected by Row-Level Security.
//
// tenant_id defaults to the tenant setting, so application code (and ORM
// models) never write it: the row belongs to whichever tenant the driver
// bound. The composite foreign key keeps a book from pointing at another
// tenant's author.
package shop

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// Policy is the RLS predicate from the README.
const Policy = `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`

// Schema creates the tables; run it as the database owner.
var Schema = []string{
	`CREATE TABLE authors (
		id bigserial PRIMARY KEY,
		tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
		name text NOT NULL,
		UNIQUE (tenant_id, id))`,
	`CREATE TABLE books (
		id bigserial PRIMARY KEY,
		tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id', true),
		author_id bigint NOT NULL,
		title text NOT NULL,
		FOREIGN KEY (tenant_id, author_id) REFERENCES authors (tenant_id, id) ON DELETE CASCADE)`,
	`CREATE INDEX ON books (tenant_id, author_id)`,
	`ALTER TABLE authors ENABLE ROW LEVEL SECURITY`,
	`ALTER TABLE books ENABLE ROW LEVEL SECURITY`,
	`ALTER TABLE authors FORCE ROW LEVEL SECURITY`,
	`ALTER TABLE books FORCE ROW LEVEL SECURITY`,
	`CREATE POLICY isolation ON authors USING (` + Policy + `) WITH CHECK (` + Policy + `)`,
	`CREATE POLICY isolation ON books USING (` + Policy + `) WITH CHECK (` + Policy + `)`,
}

// Configs are the driver settings every isolation test runs under: both
// tenant scopes, each with the guard off and enforcing. Under enforce the
// driver refuses any statement that reads or writes authors or books without
// constraining tenant_id to the context's tenant, so every query the example
// (and its ORM) sends must carry the predicate.
//
// With the rewrite on as well (tenant_rewrite=on), a statement without the
// predicate gets it added instead of being refused.
var Configs = []struct {
	Name, DSN      string
	Guard, Rewrite bool // tenant_guard=enforce, tenant_rewrite=on
}{
	{"transaction", "tenant_scope=transaction", false, false},
	{"session", "tenant_scope=session", false, false},
	{"transaction/guard", "tenant_scope=transaction tenant_guard=enforce", true, false},
	{"session/guard", "tenant_scope=session tenant_guard=enforce", true, false},
	{"transaction/rewrite", "tenant_scope=transaction tenant_guard=enforce tenant_rewrite=on", true, true},
	{"session/rewrite", "tenant_scope=session tenant_guard=enforce tenant_rewrite=on", true, true},
}

// Tenants are the tenants the examples and tests serve.
var Tenants = []string{"acme", "globex", "initech", "umbrella"}

// Setup creates the schema in d as its owner.
func Setup(ctx context.Context, d *pgtest.Database) error { return d.ExecOwner(ctx, Schema...) }

// Open starts (or finds) PostgreSQL and creates a database with the schema,
// for the runnable examples. Call the returned function when done.
func Open(ctx context.Context) (*pgtest.Database, func(), error) {
	srv, err := pgtest.Start(ctx)
	if err != nil {
		return nil, nil, err
	}
	d, err := srv.NewDatabase(ctx)
	if err != nil {
		srv.Close()
		return nil, nil, err
	}
	if err := Setup(ctx, d); err != nil {
		d.Drop(context.Background())
		srv.Close()
		return nil, nil, err
	}
	fmt.Printf("PostgreSQL (%s): database %s; the app connects as %s (not superuser, not owner)\n", srv.Source, d.Name, d.AppRole)
	return d, func() { d.Drop(context.Background()); srv.Close() }, nil
}

// NewDatabase is Setup on a fresh test database.
func NewDatabase(t *testing.T) *pgtest.Database {
	t.Helper()
	d := pgtest.NewDatabase(t)
	if err := Setup(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return d
}

// Concurrently runs f for every tenant in parallel, rounds times each, with
// the tenant in the context, and fails t on the first error.
func Concurrently(t *testing.T, rounds int, f func(ctx context.Context, id string, round int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(Tenants)*rounds)
	for _, id := range Tenants {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			ctx := tenant.NewContext(context.Background(), id)
			for r := 0; r < rounds; r++ {
				if err := f(ctx, id, r); err != nil {
					errs <- fmt.Errorf("tenant %s round %d: %w", id, r, err)
					return
				}
			}
		}(id)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// Counts returns, per tenant, the authors and books really stored
// (read as the admin role, which bypasses RLS).
func Counts(t *testing.T, d *pgtest.Database) (authors, books map[string]int) {
	t.Helper()
	authors, books = map[string]int{}, map[string]int{}
	conn, err := pgx.Connect(context.Background(), d.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for table, m := range map[string]map[string]int{"authors": authors, "books": books} {
		rows, err := conn.Query(context.Background(), "SELECT tenant_id, count(*) FROM "+table+" GROUP BY tenant_id")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			var n int
			if err := rows.Scan(&id, &n); err != nil {
				t.Fatal(err)
			}
			m[id] = n
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return authors, books
}

// WantCounts fails t unless every tenant has exactly the given numbers of
// authors and books, and no other tenant (or empty tenant) has rows.
func WantCounts(t *testing.T, d *pgtest.Database, authors, books int) {
	t.Helper()
	a, b := Counts(t, d)
	for _, id := range Tenants {
		if a[id] != authors || b[id] != books {
			t.Errorf("tenant %s: %d authors, %d books; want %d, %d", id, a[id], b[id], authors, books)
		}
	}
	if len(a) > len(Tenants) || len(b) > len(Tenants) {
		t.Errorf("rows of unexpected tenants: authors %v, books %v", a, b)
	}
}

// Own fails unless every tenant ID read equals the context's tenant.
func Own(id string, read ...string) error {
	for _, r := range read {
		if r != id {
			return fmt.Errorf("tenant %s read a row of tenant %q", id, r)
		}
	}
	return nil
}

// Unscoped checks what a read without a tenant predicate did: with the
// guard off it relied on RLS alone, and with the rewrite on it ran with the
// predicate added: either way it must have returned only tenant id's rows
// (read holds their tenant IDs); under the guard alone it must have been
// refused with a *guard.Violation before reaching the server.
func Unscoped(id string, guarded, rewritten bool, err error, read ...string) error {
	if guarded && !rewritten {
		var v *guard.Violation
		if !errors.As(err, &v) {
			return fmt.Errorf("unscoped read under the guard: got %v, want a *guard.Violation", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("unscoped read: %w", err)
	}
	if len(read) == 0 {
		return fmt.Errorf("unscoped read returned no rows for tenant %s", id)
	}
	return Own(id, read...)
}

// RunsAsProgram is each example's TestExampleRuns: the example's run, as
// `go run` would execute it, on the harness's database.
func RunsAsProgram(t *testing.T, run func(context.Context) error) {
	t.Helper()
	pgtest.Shared(t) // skip or fail like every database test
	if err := run(context.Background()); err != nil {
		t.Fatal(err)
	}
}
