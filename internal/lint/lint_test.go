package lint

import (
	"os"
	"strings"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/guardcases"
	"github.com/pgx-tenant/pgx-tenant/internal/testcatalog"
)

func newLinter() *Linter {
	cat := testcatalog.New()
	return New("app.tenant_id", "tenant_id", cat, cat.Names())
}

// TestFile: what a file reports, where, and what it lets through.
func TestFile(t *testing.T) {
	src := `-- name: GetInvoice :one
SELECT id, total FROM invoices WHERE tenant_id = sqlc.arg(tenant_id) AND id = sqlc.arg('id');

-- name: ListAll :many
SELECT id,
       total
  FROM invoices
 ORDER BY id;

-- pgx-tenant:ignore the backfill runs as the owner, over every tenant
UPDATE invoices SET total = 0;

SELECT set_config('app.tenant_id', 'x', false);
TRUNCATE customers;
SELECT * FROM countries;
SELECT 'a;b' FROM invoices WHERE tenant_id = 'acme';
CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END;
INSERT INTO invoices (id, total) VALUES (@id, @total);
/* a C comment; with a semicolon */ SELECT * FROM invoice_summary WHERE tenant_id = $1;
SELECT sqlc.embed(i) FROM invoices i WHERE i.tenant_id = sqlc.narg(t) AND i.id IN (sqlc.slice(ids));
SELECT * FROM revenue;
-- pgx-tenant:ignore
DELETE FROM line_items;
`
	l := newLinter()
	got := l.File("q.sql", src)
	want := []string{
		"q.sql:7:8: unscoped [ListAll]: invoices is read without an equality between its tenant column and the tenant",
		"q.sql:13:1: tamper: writes the tenant setting or the session's identity (set_config of app.tenant_id); the driver refuses it",
		"q.sql:14:10: truncate: customers: TRUNCATE removes every tenant's rows",
		"q.sql:18:13: insert_tenant: invoices inserts rows without the tenant column, and its default does not read the tenant setting",
		"q.sql:21:15: hidden_view: revenue is a view that hides the tenant column of the tables it reads; expose the column and filter on it",
		"q.sql:23:1: ignore: pgx-tenant:ignore needs a reason after it; the statement was linted",
		"q.sql:23:13: unscoped: line_items is deleted from without an equality between its tenant column and the tenant",
	}
	var lines []string
	for _, f := range got {
		lines = append(lines, f.String())
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if l.Stats.Statements != 13 || l.Stats.Ignored != 1 || l.Stats.Files != 1 {
		t.Errorf("stats %+v, want 13 statements, 1 ignored, 1 file", l.Stats)
	}
}

// TestSplit: statements end at semicolons outside strings, comments,
// dollar quotes and BEGIN ATOMIC bodies; a last statement needs none.
func TestSplit(t *testing.T) {
	src := "SELECT ';' ; SELECT $$a;b$$;\nCREATE FUNCTION g() RETURNS int BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END;\n-- c;\nSELECT 2 /* ; */"
	sts, err := split(src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, s := range sts {
		got = append(got, s.text)
		if src[s.start:s.start+len(s.text)] != s.text {
			t.Errorf("statement %q does not start at %d", s.text, s.start)
		}
	}
	want := []string{"SELECT ';'", "SELECT $$a;b$$", "CREATE FUNCTION g() RETURNS int BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 1 END; END", "SELECT 2"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("split:\n%q\nwant\n%q", got, want)
	}
}

// TestSqlcExample: the sqlc example's schema and queries — real sqlc
// input, scoped by hand — pass, with the catalog discovery builds for them.
func TestSqlcExample(t *testing.T) {
	cat := guard.NewCatalog("tenant_id", nil,
		guard.Relation{Schema: "public", Name: "authors", Owned: true, Position: 2, DefaultReadsSetting: true},
		guard.Relation{Schema: "public", Name: "books", Owned: true, Position: 2, DefaultReadsSetting: true})
	l := New("app.tenant_id", "tenant_id", cat, cat.Names())
	for _, f := range []string{"../../examples/sqlc/schema.sql", "../../examples/sqlc/query.sql"} {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got := l.File(f, string(src))
		for _, g := range got {
			t.Errorf("false positive: %s", g)
		}
	}
	if l.Stats.Statements < 10 {
		t.Fatalf("linted %d statements; the example has more", l.Stats.Statements)
	}
}

// TestGuardCases holds lint to the guard's cases: every statement the guard
// allows at run time passes lint (a parameter stands for any value, so lint
// can only be more lenient), and every statement refused for a reason that
// does not depend on the values is reported.
func TestGuardCases(t *testing.T) {
	cases, err := guardcases.Load("../../guard/testdata")
	if err != nil {
		t.Fatal(err)
	}
	// Refusals that depend on the values: a tenant mismatch, an update of
	// the tenant column to another value, and these.
	byValue := map[string]bool{
		"not-distinct-from-null":      true, // $1 may be NULL
		"named-mixed-with-positional": true, // pgx renumbers $n when named args are present
	}
	var allowed, refused int
	for _, c := range cases {
		l := newLinter()
		got := l.File(c.Name, c.SQL)
		switch {
		case c.Want == "allow":
			allowed++
			for _, g := range got {
				t.Errorf("%s/%s: allowed by the guard, reported by lint: %s\n%s", c.File, c.Name, g, c.SQL)
			}
		case c.Want == "tenant_mismatch" || c.Want == "update_tenant" || byValue[c.Name]:
		default:
			refused++
			if len(got) == 0 {
				t.Errorf("%s/%s: refused by the guard (%s), not reported by lint\n%s", c.File, c.Name, c.Want, c.SQL)
			}
		}
	}
	if allowed < 200 || refused < 200 {
		t.Fatalf("only %d allowed and %d structurally refused cases: the corpus did not load", allowed, refused)
	}
}
