// Command bench measures what tenant binding costs, against plain pgx stdlib
// and against what users write by hand, all in the same run on the embedded
// default database, and reports ratios (these machines are shared and noisy,
// so absolute times mean little).
//
//	go run ./bench                          # writes bench/out/report.md and report.png
//	go run ./bench -rounds 10 -only "point select"   # a quicker run
//	go run ./bench -out bench/results       # the committed report
//	go run ./bench -memory                  # prepared statements and server memory per connection
//	go run ./bench -planner -rounds 30 -out bench/results   # the planner with RLS alone and with the rewrite
//
// The planner mode (-planner, opt-in: it loads 1,000,000 rows over 60 tenants,
// about 500 MB, and takes 10–20 minutes on 2 cores) runs a LIKE and a
// full-text search through the driver with tenant_rewrite=off (RLS alone,
// twice, for the noise floor) and tenant_rewrite=on, paired per round, under
// PostgreSQL's default plan cache and with custom plans, and writes
// rewrite-planner.md with the ratios and both EXPLAIN (ANALYZE, BUFFERS)
// plans of each statement. -rows and -tenants size the table; -only picks a
// query ("LIKE" or "full-text"). CI runs it on 3,000 rows (TestPlannerSmoke).
//
// Workloads: a point select, a small insert, a 3-statement transaction; each
// at 1 goroutine over 1 connection (latency) and 64 goroutines over 8
// connections (throughput).
//
// Method: every method runs on a *sql.DB (or pgxpool) of its own, so no two
// share a connection; two of them are identical plain-stdlib baselines, A
// and B. Each round runs every method once, the order rotated every round,
// and each ratio is the median over rounds of the ratio of a method's
// statistic to a baseline's in the same round. The baselines' ratio to each
// other is printed under every table as its noise floor.
//
// The go test benchmarks in this directory measure the same methods one at a
// time: go test ./bench -run '^$' -bench .
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
)

// shape is a concurrency setting: goroutines sharing conns connections.
// scale multiplies the operations per chunk: a concurrent chunk finishes
// quickly, and short chunks measure start-up more than steady state.
type shape struct{ goroutines, conns, scale int }

var shapes = []shape{{1, 1, 1}, {64, 8, 10}}

func (s shape) String() string {
	plural := func(n int, what string) string {
		if n == 1 {
			return fmt.Sprintf("1 %s", what)
		}
		return fmt.Sprintf("%d %ss", n, what)
	}
	return plural(s.goroutines, "goroutine") + " / " + plural(s.conns, "connection")
}

func main() {
	ops := flag.Int("ops", 100, "operations per method and round (×10 at 64 goroutines)")
	rounds := flag.Int("rounds", 40, "rounds; every method runs once per round, the order rotated")
	out := flag.String("out", filepath.Join("bench", "out"), "directory to write to (bench/out is scratch; -out bench/results writes the committed report)")
	memory := flag.Bool("memory", false, "instead of the report: server-side prepared statements and backend memory of one connection per scope")
	texts := flag.Int("texts", 600, "with -memory: distinct query texts")
	only := flag.String("only", "", "run only the tables whose title contains this (e.g. \"point select, 1 goroutine\")")
	keys := flag.String("keys", "", "with -memory: more DSN keys for the pgx-tenant connections (e.g. tenant_pooler=transaction)")
	plannerMode := flag.Bool("planner", false, "instead of the report: LIKE and full-text search over a large table, RLS alone vs RLS + tenant_rewrite=on, with both plans (writes rewrite-planner.md; -only picks a query)")
	rows := flag.Int("rows", 1_000_000, "with -planner: rows of the documents table")
	nTenants := flag.Int("tenants", 60, "with -planner: tenants the rows are spread over (skewed sizes)")
	flag.Parse()
	var err error
	switch {
	case *memory:
		err = runMemory(*texts, *keys, *out)
	case *plannerMode:
		err = runPlanner(*rows, *nTenants, *rounds, *only, *out)
	default:
		err = run(*ops, *rounds, *only, *out)
	}
	if err != nil {
		log.Fatal(err)
	}
}

func run(ops, rounds int, only, out string) error {
	ctx := context.Background()
	srv, err := pgtest.Start(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()
	d, err := fixture(ctx, srv)
	if err != nil {
		return err
	}
	defer d.Drop(context.Background())
	fmt.Printf("PostgreSQL (%s), %d ops × %d rounds per method and table, GOMAXPROCS=%d\n", srv.Source, ops, rounds, runtime.GOMAXPROCS(0))

	var report strings.Builder
	fmt.Fprintf(&report, "# pgx-tenant benchmark\n\n%s, GOMAXPROCS=%d, PostgreSQL on loopback (%s).\n\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOMAXPROCS(0), srv.Source)
	fmt.Fprintf(&report, "Every method runs on a *sql.DB (or pgxpool) of its own — 1 connection, or a pool of 8 at 64 goroutines — "+
		"warmed up first. Baselines A and B are identical: plain pgx stdlib, the tenant fixed at connection start-up (nothing bound per statement). "+
		"Each of %d rounds runs every method once for %d operations (×10 at 64 goroutines), the order rotated every round; "+
		"a ratio is the median over rounds of the ratio to a baseline in the same round, with the quartiles and the lowest and highest. "+
		"The baselines' ratio to each other, under each table, is the noise floor: read differences within it as none.\n\n", rounds, ops)

	var tables []*table
	for _, w := range workloads {
		for _, s := range shapes {
			title := fmt.Sprintf("%s, %s", w.name, s)
			if !strings.Contains(title, only) {
				continue
			}
			t, err := measure(ctx, d, title, w, s, methods, ops, rounds)
			if err != nil {
				return fmt.Errorf("%s: %w", title, err)
			}
			tables = append(tables, t)
			t.markdown(&report)
			t.print()
		}
	}
	for _, more := range []func(context.Context, *pgtest.Database, int, int, string) ([]*table, error){
		clearObjectsTables, guardTables, rewriteTables,
	} {
		ts, err := more(ctx, d, ops, rounds, only)
		if err != nil {
			return err
		}
		for _, t := range ts {
			t.markdown(&report)
			t.print()
		}
	}
	scan, hit, cold := analysisCost()
	fmt.Fprintf(&report, "## Statement analysis (tamper check; guard and rewrite will share it)\n\n"+
		"| | time |\n|---|---|\n| word scan, no parse needed | %v |\n| cache hit | %v |\n| cold parse (cache miss) | %v |\n",
		scan, hit, cold)
	fmt.Printf("statement analysis: word scan %v, cache hit %v, cold parse %v\n", scan, hit, cold)

	if err := writeReport(out, "report.md", report.String()); err != nil {
		return err
	}
	if err := chart(filepath.Join(out, "report.png"), tables); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", filepath.Join(out, "report.png"))
	return nil
}

// writeReport writes md to out/name, creating out, and says so.
func writeReport(out, name, md string) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(out, name)
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", path)
	return nil
}

type chunkResult struct {
	lat  []time.Duration
	wall time.Duration
}

// chunk runs ops operations of w over s.goroutines goroutines.
func chunk(ctx context.Context, r runner, m method, w workload, s shape, ops int) (chunkResult, error) {
	per := max(1, ops/s.goroutines)
	lats := make([][]time.Duration, s.goroutines)
	errs := make([]error, s.goroutines)
	var wg sync.WaitGroup
	start := time.Now()
	for g := 0; g < s.goroutines; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			lat := make([]time.Duration, 0, per)
			for k := 0; k < per; k++ {
				n := g*per + k
				i := 3
				if !m.sameTenant {
					i = n % tenants
				}
				t0 := time.Now()
				if err := r.run(ctx, w, i, n); err != nil {
					errs[g] = err
					return
				}
				lat = append(lat, time.Since(t0))
			}
			lats[g] = lat
		}(g)
	}
	wg.Wait()
	res := chunkResult{wall: time.Since(start)}
	for g := range lats {
		if errs[g] != nil {
			return res, errs[g]
		}
		res.lat = append(res.lat, lats[g]...)
	}
	return res, nil
}

// analysisCost measures the statement analysis every statement goes
// through: the word scan alone (texts that cannot tamper), a cache hit, and
// a parse of a text not seen before.
func analysisCost() (scan, hit, cold time.Duration) {
	plain := "SELECT i.id, i.val FROM items i JOIN events e ON e.tenant_id = i.tenant_id WHERE i.id = $1 AND e.note <> $2"
	q := "UPDATE items i SET val = e.id FROM events e WHERE e.tenant_id = i.tenant_id AND i.id = $1"
	s := testing.Benchmark(func(b *testing.B) {
		z := sqlcheck.NewAnalyzer("app.tenant_id", 0)
		for b.Loop() {
			z.Analyze(plain)
		}
	})
	h := testing.Benchmark(func(b *testing.B) {
		z := sqlcheck.NewAnalyzer("app.tenant_id", 0)
		z.Analyze(q)
		for b.Loop() {
			z.Analyze(q)
		}
	})
	c := testing.Benchmark(func(b *testing.B) {
		for b.Loop() {
			sqlcheck.NewAnalyzer("app.tenant_id", 0).Analyze(q)
		}
	})
	return time.Duration(s.NsPerOp()), time.Duration(h.NsPerOp()), time.Duration(c.NsPerOp())
}
