package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// TestLint runs lint with the tenant-owned tables discovered from a real
// database: the sqlc example's queries pass, a file with unscoped
// statements is reported with file:line and exit code 1.
func TestLint(t *testing.T) {
	d := pgtest.NewDatabase(t)
	schema, err := os.ReadFile("../../examples/sqlc/schema.sql")
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ExecOwner(context.Background(), string(schema)); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "queries", "bad.sql")
	os.MkdirAll(filepath.Dir(bad), 0o755)
	os.WriteFile(bad, []byte("-- name: AllBooks :many\nSELECT *\nFROM books;\n\n-- name: Mine :many\nSELECT * FROM books WHERE tenant_id = $1;\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("SELECT * FROM books;"), 0o644) // not *.sql: skipped

	r := runCLI(t, nil, "lint", "--dsn", d.OwnerDSN, "../../examples/sqlc")
	if r.code != exitOK || r.stdout != "" || !strings.Contains(r.stderr, "0 finding(s) in 10 statement(s) of 2 file(s)") {
		t.Errorf("sqlc example: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	r = runCLI(t, []string{"DATABASE_URL=" + d.OwnerDSN}, "lint", dir)
	want := bad + ":3:6: unscoped [AllBooks]: books is read without an equality between its tenant column and the tenant\n"
	if r.code != exitFindings || r.stdout != want {
		t.Errorf("bad file: code %d, stdout %q, stderr %q; want code 1 and %q", r.code, r.stdout, r.stderr, want)
	}

	r = runCLI(t, nil, "lint", "--json", "--tables", "books", bad)
	var found []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &found); err != nil || r.code != exitFindings || len(found) != 1 ||
		found[0]["rule"] != "unscoped" || found[0]["table"] != "books" || found[0]["line"] != 3.0 || found[0]["query"] != "AllBooks" {
		t.Errorf("--json --tables: code %d, %v, stdout %s", r.code, err, r.stdout)
	}
	// --tables with a database: exactly those tables, described by the
	// catalog (authors' tenant column defaults to the setting, so the
	// example's INSERT INTO authors (name) passes); without one, the
	// default is unknown and the INSERT is reported.
	r = runCLI(t, nil, "lint", "--dsn", d.OwnerDSN, "--tables", "authors", "../../examples/sqlc", bad)
	if r.code != exitOK || !strings.Contains(r.stderr, "tenant-owned: public.authors\n") {
		t.Errorf("--dsn --tables: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "lint", "--tables", "authors", "../../examples/sqlc")
	if r.code != exitFindings || !strings.Contains(r.stdout, "insert_tenant [CreateAuthor]") {
		t.Errorf("--tables alone: code %d, stdout %q", r.code, r.stdout)
	}
	r = runCLI(t, nil, "lint", "--dsn", d.OwnerDSN, "--tables", "nope", bad)
	if r.code != exitError || !strings.Contains(r.stderr, `"nope" not found`) {
		t.Errorf("--dsn --tables nope: code %d, stderr %q", r.code, r.stderr)
	}

	r = runCLI(t, nil, "lint", "--json", "--tables", "authors", bad)
	if r.code != exitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("--json clean: code %d, stdout %q", r.code, r.stdout)
	}
}

func TestLintUsage(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "q.sql")
	os.WriteFile(f, []byte("SELECT 1;"), 0o644)
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"lint", f}, "pass --dsn (or set DATABASE_URL)"},
		{[]string{"lint", "--tables", "t"}, "name the .sql files"},
		{[]string{"lint", "--tables", "a.b.c", f}, `"a.b.c" is not [schema.]table`},
		{[]string{"lint", "--tables", "t", filepath.Join(dir, "missing.sql")}, "no such file"},
		{[]string{"lint", "--dsn", "postgres://nobody@127.0.0.1:1/x?connect_timeout=2", f}, "connecting"},
		{[]string{"lint", "--setting", "tenant", "--tables", "t", f}, "not a custom setting name"},
	} {
		r := runCLI(t, nil, tc.args...)
		if r.code != exitError || !strings.Contains(r.stderr, tc.wantErr) {
			t.Errorf("%q: code %d, stderr %q; want 2 and %q", tc.args, r.code, r.stderr, tc.wantErr)
		}
	}
}
