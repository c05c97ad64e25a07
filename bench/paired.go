package main

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// statistic is what one round measures of a method.
type statistic int

const (
	latency    statistic = iota // median latency of the round's operations: lower is better
	throughput                  // operations per second over the round: higher is better
)

// stat is the statistic of a shape: one goroutine on one connection
// measures latency; many goroutines over a pool measure throughput.
func (s shape) stat() statistic {
	if s.goroutines == 1 {
		return latency
	}
	return throughput
}

// spread is a distribution over rounds: the median, the quartiles, the
// lowest and the highest. On these machines a single round can land in a
// slow mode of the loopback round trip, so the lowest and highest say how
// wild single rounds got, the quartiles how much most rounds agree.
type spread struct{ med, q1, q3, lo, hi float64 }

func spreadOf(xs []float64) spread {
	s := slices.Clone(xs)
	slices.Sort(s)
	return spread{med: quantile(s, 0.5), q1: quantile(s, 0.25), q3: quantile(s, 0.75), lo: s[0], hi: s[len(s)-1]}
}

// quantile of sorted s, interpolating between neighbours.
func quantile(s []float64, q float64) float64 {
	x := q * float64(len(s)-1)
	i := int(x)
	if i+1 >= len(s) {
		return s[len(s)-1]
	}
	return s[i] + (x-float64(i))*(s[i+1]-s[i])
}

// String is "median× [first–third quartile] (lowest–highest)".
func (s spread) String() string {
	return fmt.Sprintf("%.2f× [%.2f–%.2f] (%.2f–%.2f)", s.med, s.q1, s.q3, s.lo, s.hi)
}

// row is what one method did over the rounds of one table.
type row struct {
	method   string
	ref      string
	perRound []float64       // the statistic, one per round
	lat      []time.Duration // every operation's latency, all rounds
	ops      int
	stmts    int
	mallocs  uint64
	// Ratios of the statistic, paired per round: to baseline A, to
	// baseline B and to the method's ref.
	vsA, vsB, vsRef spread
}

// p99 is the 99th percentile of every latency of every round.
func (r *row) p99() time.Duration {
	slices.Sort(r.lat)
	return r.lat[len(r.lat)*99/100]
}

// allocsPerStmt is the client's heap allocations per statement.
func (r *row) allocsPerStmt() float64 { return float64(r.mallocs) / float64(r.ops*r.stmts) }

// table is one workload × shape: rows[0] and rows[1] are the baselines.
type table struct {
	title  string
	stat   statistic
	rounds int
	rows   []*row
	noise  spread // baseline A / baseline B, paired per round
}

// measure runs w on shape s under every method of ms, each on a *sql.DB (or
// pool) of its own, warmed up first. Each round runs every method once for
// ops operations (× s.scale), round r starting at method r mod len(ms), and
// takes each method's statistic; every ratio is the median over rounds of
// the ratios within a round, so drift between rounds (a shared, noisy
// machine) cancels out. ms[0] and ms[1] are the baselines.
func measure(ctx context.Context, d *pgtest.Database, title string, w workload, s shape, ms []method, ops, rounds int) (*table, error) {
	n := len(ms)
	runners := make([]runner, n)
	t := &table{title: title, stat: s.stat(), rounds: rounds, rows: make([]*row, n)}
	for i, m := range ms {
		r, err := m.open(ctx, d, s.conns)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
		defer r.close()
		runners[i] = r
		t.rows[i] = &row{method: m.name, ref: m.ref, stmts: w.stmts}
		// Warm up: the pool's connections, statement caches, the binding.
		if _, err := chunk(ctx, r, m, w, s, max(ops/4, 20)*s.scale); err != nil {
			return nil, fmt.Errorf("%s: %w", m.name, err)
		}
	}
	for round := range rounds {
		for k := range n {
			i := (round + k) % n
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			res, err := chunk(ctx, runners[i], ms[i], w, s, ops*s.scale)
			runtime.ReadMemStats(&after)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", ms[i].name, err)
			}
			r := t.rows[i]
			r.perRound = append(r.perRound, res.statistic(t.stat))
			r.lat = append(r.lat, res.lat...)
			r.ops += len(res.lat)
			r.mallocs += after.Mallocs - before.Mallocs
		}
	}
	byName := make(map[string]*row, n)
	for _, r := range t.rows {
		byName[r.method] = r
	}
	a, b := t.rows[0], t.rows[1]
	for _, r := range t.rows {
		r.vsA, r.vsB = pairedRatio(r, a), pairedRatio(r, b)
		if r.ref != "" {
			ref, ok := byName[r.ref]
			if !ok {
				return nil, fmt.Errorf("%s: reference %q is not in the table", r.method, r.ref)
			}
			r.vsRef = pairedRatio(r, ref)
		}
	}
	t.noise = pairedRatio(a, b)
	return t, nil
}

// pairedRatio is the spread over rounds of x's statistic divided by base's
// in the same round.
func pairedRatio(x, base *row) spread {
	ratios := make([]float64, len(x.perRound))
	for i := range ratios {
		ratios[i] = x.perRound[i] / base.perRound[i]
	}
	return spreadOf(ratios)
}

// statistic of one round's chunk: median latency in nanoseconds, or
// operations per second.
func (c chunkResult) statistic(s statistic) float64 {
	if s == throughput {
		return float64(len(c.lat)) / c.wall.Seconds()
	}
	lat := slices.Clone(c.lat)
	slices.Sort(lat)
	return float64(lat[len(lat)/2])
}

// markdown writes t as a table, the noise floor under it.
func (t *table) markdown(b *strings.Builder) {
	var what, abs string
	switch t.stat {
	case latency:
		what = "Median latency of each round as a ratio to each baseline's in the same round (lower is better)"
		abs = "median"
	case throughput:
		what = "Throughput (operations/s) of each round as a ratio to each baseline's in the same round (higher is better)"
		abs = "ops/s"
	}
	fmt.Fprintf(b, "## %s\n\n%s: median over %d rounds [first–third quartile] (lowest–highest).\n\n", t.title, what, t.rounds)
	fmt.Fprintf(b, "| method | vs baseline A | vs baseline B | vs reference | %s | p99 latency | allocs/stmt |\n", abs)
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|\n")
	var refs []string
	for i, r := range t.rows {
		vsA, vsB, vsRef := r.vsA.String(), r.vsB.String(), "—"
		switch i {
		case 0:
			vsA = "—"
		case 1:
			vsB = "—"
		}
		if r.ref != "" {
			vsRef = r.vsRef.String()
			refs = append(refs, fmt.Sprintf("%s against %s", r.method, r.ref))
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %v | %.0f |\n", r.method, vsA, vsB, vsRef,
			t.absolute(r), r.p99().Round(time.Microsecond), r.allocsPerStmt())
	}
	fmt.Fprintf(b, "\nNoise floor (baseline A / baseline B, identical methods on connections of their own): %s.\n", t.noise)
	if len(refs) > 0 {
		fmt.Fprintf(b, "vs reference: %s.\n", strings.Join(refs, "; "))
	}
	b.WriteString("\n")
}

// absolute is the median over rounds of r's statistic, in its unit.
func (t *table) absolute(r *row) string {
	m := spreadOf(r.perRound).med
	if t.stat == throughput {
		return fmt.Sprintf("%.0f", m)
	}
	return time.Duration(m).Round(time.Microsecond).String()
}

// print writes t to the terminal, one line per method.
func (t *table) print() {
	fmt.Println(t.title)
	for _, r := range t.rows {
		ref := ""
		if r.ref != "" {
			ref = "  vs ref " + r.vsRef.String()
		}
		fmt.Printf("  %-55s vs A %-32s vs B %-32s%s\n", r.method, r.vsA, r.vsB, ref)
	}
	fmt.Printf("  noise floor (A/B) %s\n", t.noise)
}

// clearObjectsTables measure what tenant_clear_objects=true adds when the
// tenant changes on every operation (its worst case), against the same
// scope without it, 1 goroutine over 1 connection.
func clearObjectsTables(ctx context.Context, d *pgtest.Database, ops, rounds int, only string) ([]*table, error) {
	ms := []method{baseline(nameBaselineA), baseline(nameBaselineB)}
	for _, scope := range []string{"transaction", "session"} {
		name := "pgx-tenant " + scope + ", tenant changes"
		ms = append(ms,
			method{name: name, open: sqlMethod("pgx-tenant", "tenant_scope="+scope, tenantCtx)},
			method{name: name + ", clear objects", ref: name,
				open: sqlMethod("pgx-tenant", "tenant_scope="+scope+" tenant_clear_objects=true", tenantCtx)},
		)
	}
	return oneConnectionTables(ctx, d, "Clearing session objects (tenant_clear_objects=true)", workloads[:2], ms, ops, rounds, only)
}

// oneConnectionTables measures each workload of ws with methods ms on one
// connection, a table each titled "<topic>: <workload>, <shape>", leaving
// out the titles that do not contain only.
func oneConnectionTables(ctx context.Context, d *pgtest.Database, topic string, ws []workload, ms []method, ops, rounds int, only string) ([]*table, error) {
	var tables []*table
	for _, w := range ws {
		title := fmt.Sprintf("%s: %s, %s", topic, w.name, shapes[0])
		if !strings.Contains(title, only) {
			continue
		}
		t, err := measure(ctx, d, title, w, shapes[0], ms, ops, rounds)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", title, err)
		}
		tables = append(tables, t)
	}
	return tables, nil
}

// guardedPointSQL is the point select with its tenant equality, as the
// guard wants statements written.
const guardedPointSQL = "SELECT val FROM items WHERE tenant_id = $1 AND id = $2"

// inlinedSeq makes every inlined-values statement a text never seen before.
var inlinedSeq atomic.Int64

// guardWorkloads are scoped statements: parameterized (one text, cached),
// and with values inlined in the text as bun sends them (a new text every
// statement).
var guardWorkloads = []workload{
	{
		name: "guarded point select", stmts: 1,
		run: func(ctx context.Context, q querier, i, n int) error {
			var v int
			return q.QueryRowContext(ctx, guardedPointSQL, tenantID(i), rowID(i, n)).Scan(&v)
		},
	},
	{
		name: "guarded point select, values inlined (a new text each)", stmts: 1,
		run: func(ctx context.Context, q querier, i, n int) error {
			var v int
			sql := fmt.Sprintf("SELECT val FROM items WHERE tenant_id = '%s' AND id = %d AND val > -%d",
				tenantID(i), rowID(i, n), inlinedSeq.Add(1))
			return q.QueryRowContext(ctx, sql).Scan(&v)
		},
	},
}

// guardTables measures what the guard adds, against the same scope with
// the guard off, on statements it allows.
func guardTables(ctx context.Context, d *pgtest.Database, ops, rounds int, only string) ([]*table, error) {
	ms := againstOff("pgx-tenant transaction, tenant changes, guard off",
		variant{"pgx-tenant transaction, tenant changes, guard audit", "tenant_guard=audit"},
		variant{"pgx-tenant transaction, tenant changes, guard enforce", "tenant_guard=enforce"})
	return oneConnectionTables(ctx, d, "Guard (tenant_guard)", guardWorkloads, ms, ops, rounds, only)
}

// variant is a method of pgx-tenant: its name and its DSN keys.
type variant struct{ name, keys string }

// againstOff is the baselines, pgx-tenant in transaction scope with the
// tenant in the context (named off), and that with each of on's keys added,
// each measured against off.
func againstOff(off string, on ...variant) []method {
	ms := []method{baseline(nameBaselineA), baseline(nameBaselineB),
		{name: off, open: sqlMethod("pgx-tenant", "tenant_scope=transaction", tenantCtx)}}
	for _, v := range on {
		ms = append(ms, method{name: v.name, ref: off, open: sqlMethod("pgx-tenant", "tenant_scope=transaction "+v.keys, tenantCtx)})
	}
	return ms
}

// rewriteWorkloads are the same point selects without their tenant
// predicate, which the rewrite adds (RLS alone scopes them otherwise).
var rewriteWorkloads = []workload{
	{
		name: "unscoped point select", stmts: 1,
		run: func(ctx context.Context, q querier, i, n int) error {
			var v int
			return q.QueryRowContext(ctx, "SELECT val FROM items WHERE id = $1", rowID(i, n)).Scan(&v)
		},
	},
	{
		name: "unscoped point select, values inlined (a new text each)", stmts: 1,
		run: func(ctx context.Context, q querier, i, n int) error {
			var v int
			sql := fmt.Sprintf("SELECT val FROM items WHERE id = %d AND val > -%d", rowID(i, n), inlinedSeq.Add(1))
			return q.QueryRowContext(ctx, sql).Scan(&v)
		},
	},
}

// rewriteTables measures what the rewrite adds (the cached rewritten
// text, the appended argument, and the server's work on the predicate)
// against the same statements run as written under RLS.
func rewriteTables(ctx context.Context, d *pgtest.Database, ops, rounds int, only string) ([]*table, error) {
	ms := againstOff("pgx-tenant transaction, tenant changes, rewrite off (RLS alone)",
		variant{"pgx-tenant transaction, tenant changes, rewrite on", "tenant_rewrite=on"},
		variant{"pgx-tenant transaction, tenant changes, rewrite on, guard enforce", "tenant_rewrite=on tenant_guard=enforce"})
	return oneConnectionTables(ctx, d, "Rewrite (tenant_rewrite)", rewriteWorkloads, ms, ops, rounds, only)
}
