package lint

import (
	"os"
	"path/filepath"
	"regexp"
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
SELECT sqlc.narg('a') AS a, id FROM customers;
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
		// After a macro, the column is still the file's (the macro is padded).
		"q.sql:24:37: unscoped: customers is read without an equality between its tenant column and the tenant",
	}
	var lines []string
	for _, f := range got {
		lines = append(lines, f.String())
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if l.Stats.Statements != 14 || l.Stats.Ignored != 1 || l.Stats.Files != 1 {
		t.Errorf("stats %+v, want 14 statements, 1 ignored, 1 file", l.Stats)
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

// TestCorpus lints testdata/*.sql: realistic migrations and ORM output
// written against the guard cases' schema (internal/guardcases). A
// statement whose comments say "want: <rule>" must be reported with that
// rule; every other statement must pass — a correct statement refused is
// the second-worst bug.
func TestCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus: %v", err)
	}
	var pass, fail int
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		sts, err := split(string(src))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, st := range sts {
			if st.ignore != "" {
				continue
			}
			want := ""
			for _, c := range st.comments {
				if m := wantComment.FindStringSubmatch(c); m != nil {
					want = m[1]
				}
			}
			line, _ := lineCol(string(src), st.start)
			got := newLinter().File(f, st.text)
			var rules []string
			for _, g := range got {
				rules = append(rules, g.Rule)
			}
			switch {
			case want == "" && len(got) > 0:
				t.Errorf("%s:%d: false positive: %v\n%s", f, line, got, st.text)
			case want != "" && (len(rules) != 1 || rules[0] != want):
				t.Errorf("%s:%d: got %v, want %s\n%s", f, line, rules, want, st.text)
			}
			if want == "" {
				pass++
			} else {
				fail++
			}
		}
	}
	t.Logf("%d statements pass, %d reported", pass, fail)
	if pass < 100 || fail < 20 {
		t.Errorf("corpus too small: %d pass, %d reported", pass, fail)
	}
}

var wantComment = regexp.MustCompile(`want:\s*([a-z_]+)`)

// TestLiterals: literals compared with or written to tenant columns must
// agree — they cannot all be the tenant — while one literal, or the same one
// twice, passes.
func TestLiterals(t *testing.T) {
	for sql, want := range map[string]string{
		"UPDATE invoices SET tenant_id = 't02' WHERE tenant_id = 't01' AND id = 1":                                                                 "tenant_mismatch",
		"SELECT * FROM invoices WHERE tenant_id = 't01' OR tenant_id = 't02'":                                                                      "tenant_mismatch",
		"SELECT * FROM invoices WHERE tenant_id = 't01' UNION ALL SELECT * FROM invoices WHERE tenant_id = 't02'":                                  "tenant_mismatch",
		"DELETE FROM invoices WHERE tenant_id IN ('t01', 't02')":                                                                                   "tenant_mismatch",
		"INSERT INTO invoices (id, tenant_id) VALUES (1, 't01'), (2, 't02')":                                                                       "tenant_mismatch",
		"SELECT i.id FROM invoices i JOIN customers c ON c.tenant_id = 't02' AND c.id = i.customer_id WHERE i.tenant_id = 't01'":                   "tenant_mismatch",
		"INSERT INTO invoices (id, tenant_id) VALUES (1, 't01'), (2, 't01')":                                                                       "",
		"SELECT * FROM invoices WHERE tenant_id = 't01' AND id IN (SELECT invoice_id FROM line_items WHERE tenant_id = 't01')":                     "",
		"SELECT * FROM invoices WHERE tenant_id = $1 AND id IN (SELECT invoice_id FROM line_items WHERE tenant_id = 't01')":                        "",
		"SELECT * FROM invoices WHERE tenant_id = 't01' AND status = 'open' AND id IN (SELECT invoice_id FROM line_items WHERE tenant_id = 't01')": "",
	} {
		got := newLinter().File("q.sql", sql)
		switch {
		case want == "" && len(got) > 0:
			t.Errorf("%s: false positive %v", sql, got)
		case want != "" && (len(got) != 1 || got[0].Rule != want):
			t.Errorf("%s: got %v, want %s", sql, got, want)
		}
	}
}

// TestIgnoreMarker: only a comment that starts with the marker ignores.
func TestIgnoreMarker(t *testing.T) {
	l := newLinter()
	got := l.File("q.sql", "-- This file documents pgx-tenant:ignore markers.\nDELETE FROM invoices;\n/* pgx-tenant:ignore: owner backfill */ DELETE FROM customers;\n")
	if len(got) != 1 || got[0].Table != "invoices" || l.Stats.Ignored != 1 {
		t.Errorf("got %v, stats %+v; want invoices reported and customers ignored", got, l.Stats)
	}
}
