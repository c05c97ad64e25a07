package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

var shared *pgtest.Database

func db(tb testing.TB) *pgtest.Database {
	tb.Helper()
	if shared == nil {
		d, err := fixture(context.Background(), pgtest.Shared(tb))
		if err != nil {
			tb.Fatal(err)
		}
		shared = d
	}
	return shared
}

// BenchmarkMethods runs every workload under every method, one connection,
// one goroutine; compare each sub-benchmark's ns/op with the first
// ("pgx stdlib (no binding)"), which runs in the same invocation.
func BenchmarkMethods(b *testing.B) {
	d := db(b)
	ctx := context.Background()
	for _, w := range workloads {
		for _, m := range methods {
			b.Run(w.name+"/"+m.name, func(b *testing.B) {
				r, err := m.open(ctx, d, 1)
				if err != nil {
					b.Fatal(err)
				}
				defer r.close()
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					i := 3
					if !m.sameTenant {
						i = n % tenants
					}
					if err := r.run(ctx, w, i, n); err != nil {
						b.Fatal(err)
					}
					n++
				}
			})
		}
	}
}

// BenchmarkParallel is the point select from 64 goroutines over 8
// connections: throughput at saturation, where client and server share the
// machine's cores.
func BenchmarkParallel(b *testing.B) {
	d := db(b)
	ctx := context.Background()
	for _, m := range methods {
		b.Run(m.name, func(b *testing.B) {
			r, err := m.open(ctx, d, 8)
			if err != nil {
				b.Fatal(err)
			}
			defer r.close()
			b.SetParallelism(32) // × GOMAXPROCS 2 = 64 goroutines here
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				n := 0
				for pb.Next() {
					i := 3
					if !m.sameTenant {
						i = n % tenants
					}
					if err := r.run(ctx, workloads[0], i, n); err != nil {
						b.Error(err)
						return
					}
					n++
				}
			})
		})
	}
}

// BenchmarkAnalyze is the statement analysis every statement goes through.
func BenchmarkAnalyze(b *testing.B) {
	// q needs no parse; u does (UPDATE … SET), so it is parsed once, then cached.
	q := "SELECT i.id, i.val FROM items i JOIN events e ON e.tenant_id = i.tenant_id WHERE i.id = $1"
	u := "UPDATE items i SET val = e.id FROM events e WHERE e.tenant_id = i.tenant_id AND i.id = $1"
	b.Run("cache hit", func(b *testing.B) {
		z := sqlcheck.NewAnalyzer("app.tenant_id", 0)
		z.Analyze(u)
		for b.Loop() {
			z.Analyze(u)
		}
	})
	b.Run("word scan only", func(b *testing.B) {
		z := sqlcheck.NewAnalyzer("app.tenant_id", 0)
		for b.Loop() {
			z.Analyze(q)
		}
	})
	b.Run("cold parse", func(b *testing.B) {
		for b.Loop() {
			sqlcheck.NewAnalyzer("app.tenant_id", 0).Analyze(u)
		}
	})
}

// TestReportSmoke runs the report on a few operations so it cannot rot.
func TestReportSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	pgtest.Shared(t) // skip or fail like every database test
	dir := t.TempDir()
	if err := run(40, 1, "", dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"report.md", "report.png"} {
		if st, err := os.Stat(dir + "/" + f); err != nil || st.Size() == 0 {
			t.Fatalf("%s not written: %v", f, err)
		}
	}
}

// TestMemorySmoke runs the memory mode on a few texts: it must work through
// the driver's public API, and every path must leave named statements.
func TestMemorySmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	md, err := memory(context.Background(), db(t), 3, "")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(md, "error:") {
		t.Fatalf("a connection failed:\n%s", md)
	}
	for _, want := range []string{"pgx-tenant, transaction scope | after 3 texts", "pgx-tenant, session scope | after 3 texts"} {
		if !strings.Contains(md, want) {
			t.Errorf("no row %q in:\n%s", want, md)
		}
	}
}

// TestPlannerSmoke runs the planner mode (-planner) on a small table so it
// cannot rot: every variant must return the same rows, the rewrite must
// scope both statements, and every plan must be in the report.
func TestPlannerSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("needs PostgreSQL")
	}
	ctx := context.Background()
	p, err := plannerFixture(ctx, pgtest.Shared(t), 3000, 50)
	if err != nil {
		t.Fatal(err)
	}
	defer p.d.Drop(context.Background())
	md, err := planner(ctx, p, 2, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"SELECT id, title FROM documents WHERE body LIKE $1 AND documents.tenant_id = $2",
		"SELECT id, title FROM documents WHERE tsv @@ plainto_tsquery('english', $1) AND documents.tenant_id = $2",
		"### RLS alone, custom plan", "### RLS + rewrite, custom plan",
		"### RLS alone, generic plan", "### RLS + rewrite, generic plan",
		"### Reference, not paired: without RLS",
		"Index Cond: (tenant_id = $0)", // the policy's own predicate uses the tenant index
	} {
		if !strings.Contains(md, want) {
			t.Errorf("no %q in the report:\n%s", want, md)
		}
	}
}
