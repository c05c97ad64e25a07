// Command bench measures what tenant binding costs, against plain pgx stdlib
// and against what users write by hand, all in the same run on the embedded
// default database, and reports ratios (these machines are shared and noisy,
// so absolute times mean little).
//
//	go run ./bench                 # writes bench/out/report.md and report.png
//	go run ./bench -ops 5000 -rounds 5
//
// Workloads: a point select, a small insert, a 3-statement transaction; each
// at 1 goroutine over 1 connection and 64 goroutines over 8 connections.
// Methods are interleaved round by round so drift hits all alike.
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
	"slices"
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

var shapes = []shape{{1, 1, 1}, {64, 8, 5}}

// cell is the measurement of one method on one workload and shape.
type cell struct {
	method           string
	lat              []time.Duration
	wall             time.Duration
	ops              int
	mallocs          uint64
	stmts            int // statements per operation
	median, p99      time.Duration
	throughput       float64 // operations per second
	allocsPerStmt    float64
	medRatio, tRatio float64
}

func main() {
	ops := flag.Int("ops", 1000, "operations per method, workload, shape and round")
	rounds := flag.Int("rounds", 6, "rounds (methods are interleaved within each)")
	out := flag.String("out", filepath.Join("bench", "out"), "directory for report.md and report.png")
	flag.Parse()
	if err := run(*ops, *rounds, *out); err != nil {
		log.Fatal(err)
	}
}

func run(ops, rounds int, out string) error {
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
	fmt.Printf("PostgreSQL (%s), %d ops × %d rounds per cell, GOMAXPROCS=%d\n", srv.Source, ops, rounds, runtime.GOMAXPROCS(0))

	var report strings.Builder
	fmt.Fprintf(&report, "# pgx-tenant benchmark\n\n%s, GOMAXPROCS=%d, PostgreSQL on loopback (%s).\n",
		time.Now().UTC().Format("2006-01-02"), runtime.GOMAXPROCS(0), srv.Source)
	fmt.Fprintf(&report, "%d operations × %d interleaved rounds per cell. Ratios are to pgx stdlib with no binding, measured in the same run.\n\n", ops, rounds)

	var groups []group
	for _, w := range workloads {
		for _, s := range shapes {
			cells, err := measure(ctx, d, w, s, ops, rounds)
			if err != nil {
				return fmt.Errorf("%s, %d/%d: %w", w.name, s.goroutines, s.conns, err)
			}
			g := group{title: fmt.Sprintf("%s, %d goroutine(s) / %d conn(s)", w.name, s.goroutines, s.conns), cells: cells}
			groups = append(groups, g)
			table(&report, g)
			fmt.Print(g.title + "\n")
			for _, c := range cells {
				fmt.Printf("  %-42s median %.2fx  p99 %8v  throughput %.2fx\n", c.method, c.medRatio, c.p99.Round(time.Microsecond), c.tRatio)
			}
		}
	}
	clearing, err := clearObjectsCost(ctx, d, ops, rounds)
	if err != nil {
		return err
	}
	report.WriteString(clearing)
	scan, hit, cold := analysisCost()
	fmt.Fprintf(&report, "## Statement analysis (tamper check; guard and rewrite will share it)\n\n"+
		"| | time |\n|---|---|\n| word scan, no parse needed | %v |\n| cache hit | %v |\n| cold parse (cache miss) | %v |\n",
		scan, hit, cold)
	fmt.Printf("statement analysis: word scan %v, cache hit %v, cold parse %v\n", scan, hit, cold)

	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "report.md"), []byte(report.String()), 0o644); err != nil {
		return err
	}
	if err := chart(filepath.Join(out, "report.png"), groups); err != nil {
		return err
	}
	fmt.Printf("wrote %s and %s\n", filepath.Join(out, "report.md"), filepath.Join(out, "report.png"))
	return nil
}

type group struct {
	title string
	cells []*cell
}

func table(b *strings.Builder, g group) {
	fmt.Fprintf(b, "## %s\n\n| method | median | p99 | median ratio | throughput ratio | allocs/stmt |\n|---|---:|---:|---:|---:|---:|\n", g.title)
	for _, c := range g.cells {
		fmt.Fprintf(b, "| %s | %v | %v | %.2f× | %.2f× | %.0f |\n", c.method,
			c.median.Round(time.Microsecond), c.p99.Round(time.Microsecond), c.medRatio, c.tRatio, c.allocsPerStmt)
	}
	b.WriteString("\n")
}

func measure(ctx context.Context, d *pgtest.Database, w workload, s shape, ops, rounds int) ([]*cell, error) {
	runners := make([]runner, len(methods))
	cells := make([]*cell, len(methods))
	for i, m := range methods {
		r, err := m.open(ctx, d, s.conns)
		if err != nil {
			return nil, err
		}
		defer r.close()
		runners[i] = r
		cells[i] = &cell{method: m.name, stmts: 1}
		if w.name == "3-statement tx" {
			cells[i].stmts = 3
		}
		if _, err := chunk(ctx, r, m, w, s, ops/4); err != nil { // warm up: connections, statement caches
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
	}
	for round := 0; round < rounds; round++ {
		for k := range methods {
			i := (k + round) % len(methods) // rotate who goes first
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := chunk(ctx, runners[i], methods[i], w, s, ops*s.scale)
			runtime.ReadMemStats(&after)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", methods[i].name, err)
			}
			c := cells[i]
			c.lat = append(c.lat, res.lat...)
			c.wall += res.wall
			c.ops += len(res.lat)
			c.mallocs += after.Mallocs - before.Mallocs
		}
	}
	for _, c := range cells {
		slices.Sort(c.lat)
		c.median = c.lat[len(c.lat)/2]
		c.p99 = c.lat[len(c.lat)*99/100]
		c.throughput = float64(c.ops) / c.wall.Seconds()
		c.allocsPerStmt = float64(c.mallocs) / float64(c.ops*c.stmts)
	}
	base := cells[0]
	for _, c := range cells {
		c.medRatio = float64(c.median) / float64(base.median)
		c.tRatio = c.throughput / base.throughput
	}
	return cells, nil
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
