package rewrite_test

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgx-tenant/pgx-tenant/internal/guardcases"
	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
	"github.com/pgx-tenant/pgx-tenant/internal/testcatalog"
)

// checkOutput checks what the rewrite made of sql: the rewritten text
// parses; read by the guard (a fresh analysis of the text, not the
// rewrite's own), no reference is left unscoped when every parameter is
// the tenant; the rewrite's own analysis agrees; and rewriting it again
// changes nothing (no duplicate predicates).
func checkOutput(t *testing.T, z, plain *sqlcheck.Analyzer, sql string) {
	a, err := z.Analyze(sql)
	if err != nil && strings.Contains(err.Error(), "the analysis failed") {
		t.Fatalf("the analysis panicked: %v", err) // recovered in production, a bug all the same
	}
	if err != nil || a.Rewrite == nil {
		return
	}
	named := a.Rewrite.Named()
	out := a.Rewrite.SQL(sql, named)
	sent := out // as pgx sends it: named arguments numbered
	if named {
		sent, _, _ = pgx.NamedArgs(nil).RewriteQuery(context.Background(), nil, out, nil)
	}
	if _, err := pg_query.Parse(sent); err != nil {
		t.Fatalf("rewritten text does not parse: %v\n in:  %s\n out: %s", err, sql, out)
	}
	cat := testcatalog.New()
	g, err := plain.Analyze(out)
	if err != nil {
		t.Fatalf("guard cannot analyse the rewritten text: %v\n out: %s", err, out)
	}
	if g.Scope == nil {
		return
	}
	args := make([]any, max(64, a.Rewrite.Param()))
	for i := range args {
		args[i] = guardcases.Tenant
	}
	if named { // every named argument the tenant, as every positional one
		m := pgx.NamedArgs{sqlcheck.TenantArg: guardcases.Tenant}
		for _, n := range g.Scope.Named {
			m[n] = guardcases.Tenant
		}
		args = []any{m}
	}
	var f *sqlcheck.Finding
	if g.Lifted {
		f = g.Scope.DecideLifted(cat, guardcases.Tenant, sqlcheck.Literals(out), nil)
	} else {
		f = g.Scope.Decide(cat, guardcases.Tenant, args)
	}
	if f != nil && f.Rule == sqlcheck.RuleUnscoped && !slices.Contains(a.Rewrite.Left, f.Table) {
		t.Fatalf("rewritten text is unscoped (%s %s: %s)\n in:  %s\n out: %s", f.Rule, f.Table, f.Detail, sql, out)
	}
	again, err := z.Analyze(out)
	if err == nil && again.Rewrite != nil {
		t.Fatalf("rewriting the rewritten text changes it again\n in:   %s\n out:  %s\n out2: %s", sql, out, again.Rewrite.SQL(out, false))
	}
}

// FuzzRewrite: whatever the rewrite outputs parses, passes the guard and
// is a fixed point of the rewrite. Seeded with the guard's cases and the
// golden inputs.
func FuzzRewrite(f *testing.F) {
	cases, err := guardcases.Load("../guard/testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		f.Add(c.SQL)
	}
	files, _ := filepath.Glob("testdata/*.txtar")
	for _, file := range files {
		_, gs, err := loadGolden(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, g := range gs {
			f.Add(g.in)
		}
	}
	z := newAnalyzer()
	plain := sqlcheck.NewScopeAnalyzer("app.tenant_id", "tenant_id", 0)
	plain.SetRelations(testcatalog.New().Names())
	f.Fuzz(func(t *testing.T, sql string) {
		if strings.ContainsRune(sql, 0) || !utf8.ValidString(sql) {
			return // the server refuses both (client_encoding is pinned to UTF8)
		}
		checkOutput(t, z, plain, sql)
	})
}

// TestRewriteOutputs is FuzzRewrite's check over the seeds, run every time.
func TestRewriteOutputs(t *testing.T) {
	z := newAnalyzer()
	plain := sqlcheck.NewScopeAnalyzer("app.tenant_id", "tenant_id", 0)
	plain.SetRelations(testcatalog.New().Names())
	cases, err := guardcases.Load("../guard/testdata")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, c := range cases {
		checkOutput(t, z, plain, c.SQL)
		n++
	}
	files, _ := filepath.Glob("testdata/*.txtar")
	if len(files) == 0 {
		t.Fatal("no testdata/*.txtar")
	}
	for _, file := range files {
		_, gs, err := loadGolden(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range gs {
			checkOutput(t, z, plain, g.in)
			n++
		}
	}
	t.Logf("%d statements", n)
}

// BenchmarkRewrite is the rewrite's cost per execution, beside its
// baseline (analyze-cached: the analysis cache hit alone). rewrite-cached
// adds the rewritten text of a cached text (the driver adds the
// argument); rewrite-lifted is a text with inlined values (a new text
// every time, one shape): the lift, the cache hit and the literals put
// back into the rewritten text.
func BenchmarkRewrite(b *testing.B) {
	cached := []string{"SELECT i.id, c.name FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.id = $1"}
	lifted := make([]string, 1024)
	for i := range lifted {
		lifted[i] = "SELECT i.id, c.name FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.id = " + strings.Repeat("1", 1+i%7) + " AND i.status = 'open'"
	}
	run := func(b *testing.B, texts []string, rewrite bool) {
		z := newAnalyzer()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			sql := texts[i%len(texts)]
			i++
			a, err := z.Analyze(sql)
			if err != nil || a.Rewrite == nil {
				b.Fatal(err)
			}
			if rewrite {
				_ = a.Rewrite.SQL(sql, false)
			}
		}
	}
	b.Run("analyze-cached", func(b *testing.B) { run(b, cached, false) })
	b.Run("rewrite-cached", func(b *testing.B) { run(b, cached, true) })
	b.Run("rewrite-lifted", func(b *testing.B) { run(b, lifted, true) })
}

// BenchmarkRewriteSQL is what the rewrite adds to a cached analysis: the
// rewritten text of a parameterized statement, and of a text with inlined
// values (its literals put back).
func BenchmarkRewriteSQL(b *testing.B) {
	z := newAnalyzer()
	for _, sql := range []string{
		"SELECT i.id, c.name FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.id = $1",
		"SELECT i.id, c.name FROM invoices i JOIN customers c ON c.id = i.customer_id WHERE i.id = 42 AND i.status = 'open'",
	} {
		a, err := z.Analyze(sql)
		if err != nil || a.Rewrite == nil {
			b.Fatal(err)
		}
		name := "parameterized"
		if a.Lifted {
			name = "inlined"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = a.Rewrite.SQL(sql, false)
			}
		})
	}
}
