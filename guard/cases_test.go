package guard_test

import (
	"strings"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/guardcases"
	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
	"github.com/pgx-tenant/pgx-tenant/internal/testcatalog"
)

// testCatalog is the catalog of guardcases.Schema.
func testCatalog() *guard.Catalog { return testcatalog.New() }

// decide runs the analysis and the decision as the driver does.
func decide(z *sqlcheck.Analyzer, cat *guard.Catalog, sql string, args []any) (rule, table string) {
	a, err := z.Analyze(sql)
	if err != nil {
		return guard.RuleSyntax, ""
	}
	if a.Scope == nil {
		return "allow", ""
	}
	var f *sqlcheck.Finding
	if a.Lifted {
		f = a.Scope.DecideLifted(cat, guardcases.Tenant, sqlcheck.Literals(sql), args)
	} else {
		f = a.Scope.Decide(cat, guardcases.Tenant, args)
	}
	if f == nil {
		return "allow", ""
	}
	return f.Rule, f.Table
}

func newAnalyzer(cat *guard.Catalog) *sqlcheck.Analyzer {
	z := sqlcheck.NewScopeAnalyzer("app.tenant_id", "tenant_id", 0)
	z.SetRelations(cat.Names())
	return z
}

// TestCases runs every case of testdata against the test catalog.
func TestCases(t *testing.T) {
	cat := testCatalog()
	z := newAnalyzer(cat)
	cases, err := guardcases.Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 400 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		rule, table := decide(z, cat, c.SQL, c.Args)
		if rule != c.Want || c.Table != "" && table != c.Table {
			t.Errorf("%s/%s: got %s %s, want %s %s\n%s", c.File, c.Name, rule, table, c.Want, c.Table, c.SQL)
		}
	}
	t.Logf("%d cases", len(cases))
}

// BenchmarkDecideCached is the guard's cost per statement of a cached
// text: the analysis cache hit and the decision with the argument check.
func BenchmarkDecideCached(b *testing.B) {
	cat := testCatalog()
	z := newAnalyzer(cat)
	sql := "SELECT i.id, c.name FROM invoices i JOIN customers c ON c.id = i.customer_id AND c.tenant_id = i.tenant_id WHERE i.tenant_id = $1 AND i.id = $2"
	args := []any{guardcases.Tenant, int64(5)}
	if rule, _ := decide(z, cat, sql, args); rule != "allow" {
		b.Fatal(rule)
	}
	b.ReportAllocs()
	for b.Loop() {
		a, _ := z.Analyze(sql)
		if a.Scope.Decide(cat, guardcases.Tenant, args) != nil {
			b.Fatal("refused")
		}
	}
}

// BenchmarkDecideOnly is the decision alone, on an analysis in hand.
func BenchmarkDecideOnly(b *testing.B) {
	cat := testCatalog()
	z := newAnalyzer(cat)
	sql := "SELECT i.id, c.name FROM invoices i JOIN customers c ON c.id = i.customer_id AND c.tenant_id = i.tenant_id WHERE i.tenant_id = $1 AND i.id = $2"
	args := []any{guardcases.Tenant, int64(5)}
	a, _ := z.Analyze(sql)
	b.ReportAllocs()
	for b.Loop() {
		if a.Scope.Decide(cat, guardcases.Tenant, args) != nil {
			b.Fatal("refused")
		}
	}
}

// TestFingerprint: one statement, whatever its white space and constants;
// another statement, another fingerprint; 16 hex digits.
func TestFingerprint(t *testing.T) {
	a := guard.Fingerprint("SELECT * FROM invoices WHERE id = 1")
	for _, same := range []string{"SELECT *  FROM invoices\n\tWHERE id = 1", "SELECT * FROM invoices WHERE id = 42"} {
		if got := guard.Fingerprint(same); got != a {
			t.Errorf("Fingerprint(%q) = %s, want %s", same, got, a)
		}
	}
	for _, other := range []string{"SELECT * FROM invoices WHERE id = $1", "SELECT * FROM invoice WHERE id = 1"} {
		if got := guard.Fingerprint(other); got == a {
			t.Errorf("Fingerprint(%q) = %s, the same as another statement's", other, got)
		}
	}
	if len(a) != 16 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Errorf("Fingerprint = %q, want 16 hex digits", a)
	}
}
