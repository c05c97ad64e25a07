package main

import (
	"context"
	"database/sql"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	tenantdriver "github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// The planner mode (go run ./bench -planner) asks whether the rewrite
// (tenant_rewrite=on) helps PostgreSQL's planner on searches that Row-Level
// Security alone makes slow: a LIKE and a full-text search over a large
// tenant-owned table, the same statements run by the driver with the rewrite
// off (RLS alone) and on (RLS + the rewrite's own tenant_id = $n), paired per
// round in the same run, with both plans captured as the app role with the
// tenant bound. It builds a table of its own (-rows rows over -tenants
// tenants of skewed sizes), so it is opt-in, never part of the default report.

// plannerPolicy is the product's recommended policy (examples/internal/shop).
const plannerPolicy = `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`

// plannerVocabulary is the number of distinct search words (w0 … w4999).
const plannerVocabulary = 5000

// plannerQuery is one statement of the planner mode and its argument for a
// search word.
type plannerQuery struct {
	name string
	sql  string
	arg  func(word string) string
}

var plannerQueries = []plannerQuery{
	{
		name: "LIKE",
		sql:  "SELECT id, title FROM documents WHERE body LIKE $1",
		arg:  func(w string) string { return "%" + w + "%" },
	},
	{
		name: "full-text search",
		sql:  "SELECT id, title FROM documents WHERE tsv @@ plainto_tsquery('english', $1)",
		arg:  func(w string) string { return w },
	},
}

// plannerVariants are the ways the driver runs the statements. The first
// two are identical (RLS alone), for the noise floor.
var plannerVariants = []variant{
	{"RLS alone A (tenant_rewrite=off)", "tenant_rewrite=off"},
	{"RLS alone B (tenant_rewrite=off)", "tenant_rewrite=off"},
	{"RLS + rewrite (tenant_rewrite=on)", "tenant_rewrite=on"},
}

func plannerTenant(i int) string { return fmt.Sprintf("t%d", i) }

// plannerWord is the search word of query q for tenant ti in round r: the
// same for every variant of a round, different across rounds and tenants.
func plannerWord(r, ti, q int) string {
	return fmt.Sprintf("w%d", (r*7919+ti*31+q*13)%plannerVocabulary)
}

// plannerSchema creates and fills documents as its owner: rows are loaded
// before RLS is forced on (the owner is subject to a forced policy), the
// indexes built after the load. Row g belongs to tenant floor(T·u³), u a
// fixed pseudo-random number in [0, 1): tenant t0 holds about a quarter of
// the rows, the last tenant about 0.6% (with 60 tenants), and every tenant's
// rows are spread over the whole table, as rows inserted over time are.
// Titles and bodies are made of words w0 … w4999 (each in about 1 row in 600).
func plannerSchema(rows, tenants int) []string {
	return []string{
		`SET maintenance_work_mem = '256MB'`,
		`CREATE TABLE documents (
			id bigserial PRIMARY KEY,
			tenant_id text NOT NULL,
			title text NOT NULL,
			body text NOT NULL,
			tsv tsvector GENERATED ALWAYS AS (to_tsvector('english', title || ' ' || body)) STORED)`,
		fmt.Sprintf(`INSERT INTO documents (tenant_id, title, body)
		SELECT 't' || least(%[2]d - 1, floor(%[2]d * power(((g * 2654435761) %% 1000003) / 1000003.0, 3)))::int,
			'document ' || g || ' w' || (g * 7919 %% 5000),
			'w' || (g * 31 %% 5000) || ' w' || (g * 17 %% 4999) || ' w' || (g * 13 %% 4997) || ' w' || (g * 11 %% 4993) ||
			' lorem ipsum dolor sit amet w' || (g * 101 %% 4991) || ' w' || (g * 103 %% 4987) || ' w' || (g * 107 %% 4973)
		FROM generate_series(1::bigint, %[1]d) g`, rows, tenants),
		`CREATE INDEX documents_tenant_idx ON documents (tenant_id)`,
		`CREATE INDEX documents_tenant_id_id_idx ON documents (tenant_id, id)`,
		`CREATE INDEX documents_tsv_idx ON documents USING gin (tsv)`,
		`ALTER TABLE documents ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE documents FORCE ROW LEVEL SECURITY`,
		`CREATE POLICY isolation ON documents USING (` + plannerPolicy + `) WITH CHECK (` + plannerPolicy + `)`,
		`ANALYZE documents`,
	}
}

// plannerData is the loaded table, as the admin role sees it.
type plannerData struct {
	d       *pgtest.Database
	rows    int
	tenants int
	sizes   []int // rows of each tenant
	bySize  []int // tenant indexes, largest first
	version string
	size    string // table size with its indexes
	load    time.Duration
}

// plannerFixture creates a database with the documents table and reads
// back its tenants' sizes.
func plannerFixture(ctx context.Context, srv *pgtest.Server, rows, tenants int) (*plannerData, error) {
	d, err := srv.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	p := &plannerData{d: d, rows: rows, tenants: tenants, sizes: make([]int, tenants)}
	start := time.Now()
	if err := d.ExecOwner(ctx, plannerSchema(rows, tenants)...); err != nil {
		d.Drop(ctx)
		return nil, err
	}
	p.load = time.Since(start)
	if err := p.readBack(ctx); err != nil {
		d.Drop(ctx)
		return nil, err
	}
	return p, nil
}

func (p *plannerData) readBack(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.d.AdminDSN)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if err := conn.QueryRow(ctx, `SELECT current_setting('server_version'), pg_size_pretty(pg_total_relation_size('documents'))`).Scan(&p.version, &p.size); err != nil {
		return err
	}
	rs, err := conn.Query(ctx, `SELECT substr(tenant_id, 2)::int, count(*) FROM documents GROUP BY 1`)
	if err != nil {
		return err
	}
	defer rs.Close()
	for rs.Next() {
		var t, n int
		if err := rs.Scan(&t, &n); err != nil {
			return err
		}
		p.sizes[t] = n
	}
	if err := rs.Err(); err != nil {
		return err
	}
	p.bySize = make([]int, p.tenants)
	for i := range p.bySize {
		p.bySize[i] = i
	}
	slices.SortStableFunc(p.bySize, func(a, b int) int { return p.sizes[b] - p.sizes[a] })
	return nil
}

// runPlanner starts a server, loads the table and writes
// out/rewrite-planner.md.
func runPlanner(rows, tenants, rounds int, only, out string) error {
	ctx := context.Background()
	srv, err := pgtest.Start(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Printf("PostgreSQL (%s): loading %d rows over %d tenants…\n", srv.Source, rows, tenants)
	p, err := plannerFixture(ctx, srv, rows, tenants)
	if err != nil {
		return err
	}
	defer p.d.Drop(context.Background())
	fmt.Printf("loaded in %v (%s with indexes)\n", p.load.Round(time.Second), p.size)
	md, err := planner(ctx, p, rounds, only)
	if err != nil {
		return err
	}
	md = fmt.Sprintf("# pgx-tenant: the planner with RLS alone and with the rewrite\n\n"+
		"%s, PostgreSQL %s on loopback (%s), GOMAXPROCS=%d, %d rounds. Reproduce with "+
		"`go run ./bench -planner -rows %d -tenants %d -rounds %d -out bench/results` (from the repository root).\n\n",
		time.Now().UTC().Format("2006-01-02"), p.version, srv.Source, runtime.GOMAXPROCS(0), rounds, rows, tenants, rounds) + md
	return writeReport(out, "rewrite-planner.md", md)
}

// plannerRegime is how PostgreSQL plans the prepared statements of every
// variant: its default plan cache, or a plan with the values every time.
type plannerRegime struct{ name, keys, about string }

var plannerRegimes = []plannerRegime{
	{
		name: "default plan cache (plan_cache_mode=auto)",
		about: "what an application gets: pgx prepares each text once per connection, and PostgreSQL plans it with its values five times, " +
			"then keeps a generic plan if that costs no more than the average of the custom ones so far — a choice made per connection, " +
			"from the tenants it served first",
	},
	{
		name:  "custom plans (plan_cache_mode=force_custom_plan)",
		keys:  "plan_cache_mode=force_custom_plan",
		about: "every statement planned with its values (as with pgx's exec or simple-protocol modes): the predicate's own effect on the planner",
	},
}

// plannerTable is one query under one regime: each variant's time per
// round (a pass over every tenant), and the same for the largest tenant and
// for the smaller half of the tenants; the plans PostgreSQL's plan cache
// made on the variant's connections.
type plannerTable struct {
	query                 plannerQuery
	regime                plannerRegime
	all, largest, smaller [][]float64 // [variant][round], nanoseconds
	generic, custom       []int64     // [variant], summed over rounds
	genericRounds         []int       // [variant]: rounds whose connection ran a generic plan
	rewriteGeneric        []bool      // [round]: the rewrite's connection ran a generic plan
	sent                  []string    // [variant]: the text its connections prepared
}

// plannerPlan is EXPLAIN (ANALYZE, BUFFERS) of one statement for one tenant.
type plannerPlan struct {
	title, sql, call, plan string
}

// planner measures every query of plannerQueries whose name contains only,
// under every regime, and returns the markdown report.
func planner(ctx context.Context, p *plannerData, rounds int, only string) (string, error) {
	var b strings.Builder
	smaller := p.bySize[len(p.bySize)-len(p.bySize)/2:]
	fmt.Fprintf(&b, "Table `documents(id bigserial, tenant_id text, title text, body text, tsv tsvector generated from title and body)`: "+
		"%d rows over %d tenants, skewed (largest %s: %d rows; median %s: %d; smallest %s: %d), each tenant's rows spread over the whole table; "+
		"%s with its indexes: primary key, `(tenant_id)`, `(tenant_id, id)` and a GIN on `tsv`. "+
		"Row-Level Security enabled and forced with the recommended policy `USING (%s)`, then ANALYZE. "+
		"Loaded as the owner with INSERT … SELECT generate_series in %v.\n\n",
		p.rows, p.tenants, plannerTenant(p.bySize[0]), p.sizes[p.bySize[0]],
		plannerTenant(p.bySize[len(p.bySize)/2]), p.sizes[p.bySize[len(p.bySize)/2]],
		plannerTenant(p.bySize[len(p.bySize)-1]), p.sizes[p.bySize[len(p.bySize)-1]],
		p.size, plannerPolicy, p.load.Round(time.Second))
	fmt.Fprintf(&b, "Method: the variants are pgx-tenant with its defaults (transaction scope, pgx exec mode cache_statement), the tenant in the context, "+
		"each a *sql.DB of its own with one connection of the app role (NOSUPERUSER NOBYPASSRLS, owner of nothing): "+
		"RLS alone A and B (tenant_rewrite=off, identical: their ratio is the noise floor) and RLS + rewrite (tenant_rewrite=on). "+
		"After one warm-up pass each, every round runs each variant once, the order rotated every round, each on a fresh connection "+
		"(so that PostgreSQL's plan cache starts anew every round, as it does on every connection of a pool). "+
		"A run is one pass over every tenant, one statement each, starting at a tenant that moves every round (round × 37 mod %d), "+
		"searching for a word that changes with the round and the tenant and is the same for every variant of a round; "+
		"every variant must return the same rows for every tenant. "+
		"A ratio is the median over rounds of rewrite ÷ RLS alone *in the same round* (below 1: the rewrite is faster), "+
		"with [first–third quartile] and (lowest–highest). Every query runs under two plan-cache regimes:\n\n", p.tenants)
	for _, r := range plannerRegimes {
		fmt.Fprintf(&b, "- %s: %s.\n", r.name, r.about)
	}
	b.WriteString("\nPlans: EXPLAIN (ANALYZE, BUFFERS) EXECUTE of each statement PREPAREd on a connection of the app role, the tenant bound by the driver " +
		"(tenant_rewrite=off), with plan_cache_mode=force_custom_plan and then force_generic_plan, the second of two runs. " +
		"The rewritten statement is the SQL of the driver's audit event (tenant_rewrite=audit, driver.WithEventHandler) " +
		"with the tenant as its appended parameter; it is checked to be the very text the tenant_rewrite=on connections prepared " +
		"(the driver refuses EXECUTE of its own prepared statements, so those cannot be EXPLAINed themselves).\n\n")

	for qi, q := range plannerQueries {
		if !strings.Contains(q.name, only) {
			continue
		}
		var tables []*plannerTable
		for _, r := range plannerRegimes {
			t, err := measurePlanner(ctx, p, qi, q, r, rounds, smaller)
			if err != nil {
				return "", fmt.Errorf("%s, %s: %w", q.name, r.name, err)
			}
			t.print()
			tables = append(tables, t)
		}
		event, err := rewrittenSQL(ctx, p.d, q)
		if err != nil {
			return "", fmt.Errorf("%s: %w", q.name, err)
		}
		// The event's SQL has its constants redacted ('english' is ?):
		// the text to EXPLAIN is the one the connections prepared, which
		// must be the event's with its constants.
		on := len(plannerVariants) - 1
		rw := tables[0].sent[on]
		for _, t := range tables {
			if t.sent[on] != rw || sqlcheck.Redact(t.sent[on]) != event {
				return "", fmt.Errorf("%s: the audit event's SQL %q is not what tenant_rewrite=on prepared: %q", q.name, event, t.sent[on])
			}
		}
		plans, err := capturePlans(ctx, p, qi, q, rw)
		if err != nil {
			return "", fmt.Errorf("%s: plans: %w", q.name, err)
		}
		plannerMarkdown(&b, p, q, rw, tables, plans, len(smaller))
	}
	b.WriteString(plannerExplanation)
	return b.String(), nil
}

// openVariant opens a one-connection *sql.DB of pgx-tenant as the app role.
func openVariant(d *pgtest.Database, keys string) (*sql.DB, error) {
	return openSQL(tenantdriver.DriverName, d.AppDSN+" "+keys, 1)
}

// pass runs q once for every tenant, starting at tenant start, with the
// words of round, and returns each tenant's time and row count.
func pass(ctx context.Context, db *sql.DB, p *plannerData, qi int, q plannerQuery, round, start int) ([]time.Duration, []int, error) {
	lat := make([]time.Duration, p.tenants)
	n := make([]int, p.tenants)
	for j := range p.tenants {
		ti := (start + j) % p.tenants
		tctx := tenant.NewContext(ctx, plannerTenant(ti))
		t0 := time.Now()
		rs, err := db.QueryContext(tctx, q.sql, q.arg(plannerWord(round, ti, qi)))
		if err != nil {
			return nil, nil, err
		}
		for rs.Next() {
			var id int64
			var title string
			if err := rs.Scan(&id, &title); err != nil {
				rs.Close()
				return nil, nil, err
			}
			n[ti]++
		}
		if err := rs.Close(); err != nil {
			return nil, nil, err
		}
		if err := rs.Err(); err != nil {
			return nil, nil, err
		}
		lat[ti] = time.Since(t0)
	}
	return lat, n, nil
}

// freshConn replaces db's connection with a new one, connected before
// anything is timed.
func freshConn(ctx context.Context, db *sql.DB) error {
	db.SetMaxIdleConns(0) // closes the idle connection
	db.SetMaxIdleConns(1)
	return db.PingContext(ctx)
}

// planCounts reads what the plan cache did for the query on db's
// connection: the text prepared, and its generic and custom plans.
func planCounts(ctx context.Context, db *sql.DB) (sent string, generic, custom int64, err error) {
	err = db.QueryRowContext(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements
		WHERE statement LIKE '%FROM documents%' AND statement NOT LIKE '%pg_prepared_statements%'`,
	).Scan(&sent, &generic, &custom)
	return sent, generic, custom, err
}

// measurePlanner runs the paired, rotated rounds of one query under one
// regime.
func measurePlanner(ctx context.Context, p *plannerData, qi int, q plannerQuery, r plannerRegime, rounds int, smaller []int) (*plannerTable, error) {
	nv := len(plannerVariants)
	t := &plannerTable{
		query: q, regime: r,
		all: make([][]float64, nv), largest: make([][]float64, nv), smaller: make([][]float64, nv),
		generic: make([]int64, nv), custom: make([]int64, nv), genericRounds: make([]int, nv), sent: make([]string, nv),
	}
	dbs := make([]*sql.DB, nv)
	for i, v := range plannerVariants {
		db, err := openVariant(p.d, v.keys+" "+r.keys)
		if err != nil {
			return nil, err
		}
		defer db.Close()
		dbs[i] = db
		if _, _, err := pass(ctx, db, p, qi, q, rounds, 0); err != nil { // warm-up: the data, the driver's catalog
			return nil, fmt.Errorf("%s: %w", v.name, err)
		}
	}
	fmt.Printf("%s, %s: %d rounds ", q.name, r.name, rounds)
	for round := range rounds {
		start := round * 37 % p.tenants
		var want []int
		for k := range nv {
			i := (round + k) % nv
			v := plannerVariants[i]
			if err := freshConn(ctx, dbs[i]); err != nil {
				return nil, fmt.Errorf("%s: %w", v.name, err)
			}
			lat, n, err := pass(ctx, dbs[i], p, qi, q, round, start)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", v.name, err)
			}
			if want == nil {
				want = n
			} else if ti := mismatch(want, n); ti >= 0 {
				return nil, fmt.Errorf("round %d, tenant %s: %s returned %d rows, the variant before it %d",
					round, plannerTenant(ti), v.name, n[ti], want[ti])
			}
			sent, generic, custom, err := planCounts(tenant.NewContext(ctx, plannerTenant(start)), dbs[i])
			if err != nil {
				return nil, fmt.Errorf("%s: pg_prepared_statements: %w", v.name, err)
			}
			if t.sent[i] != "" && t.sent[i] != sent {
				return nil, fmt.Errorf("%s prepared %q, then %q", v.name, t.sent[i], sent)
			}
			t.sent[i] = sent
			t.generic[i] += generic
			t.custom[i] += custom
			if generic > 0 {
				t.genericRounds[i]++
			}
			if i == len(plannerVariants)-1 {
				t.rewriteGeneric = append(t.rewriteGeneric, generic > 0)
			}
			var all, small time.Duration
			for ti, l := range lat {
				all += l
				if slices.Contains(smaller, ti) {
					small += l
				}
			}
			t.all[i] = append(t.all[i], float64(all))
			t.largest[i] = append(t.largest[i], float64(lat[p.bySize[0]]))
			t.smaller[i] = append(t.smaller[i], float64(small))
		}
		fmt.Print(".")
	}
	fmt.Println()
	return t, nil
}

// mismatch is the first index where a and b differ, or -1.
func mismatch(a, b []int) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// rewrittenSQL runs q once under tenant_rewrite=audit and returns the SQL
// of the rewrite event the driver emits.
func rewrittenSQL(ctx context.Context, d *pgtest.Database, q plannerQuery) (string, error) {
	cfg, err := pgx.ParseConfig(d.AppDSN + " tenant_rewrite=audit")
	if err != nil {
		return "", err
	}
	var mu sync.Mutex
	var got []string
	h := event.HandlerFunc(func(_ context.Context, e event.Event) {
		if e.Kind == event.Rewrite && e.SQL != "" {
			mu.Lock()
			got = append(got, e.SQL)
			mu.Unlock()
		}
	})
	c, err := tenantdriver.NewConnector(*cfg, tenantdriver.WithEventHandler(h))
	if err != nil {
		return "", err
	}
	db := sql.OpenDB(c)
	defer db.Close()
	rs, err := db.QueryContext(tenant.NewContext(ctx, plannerTenant(0)), q.sql, q.arg("w1"))
	if err != nil {
		return "", err
	}
	if err := rs.Close(); err != nil {
		return "", err
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		return "", fmt.Errorf("tenant_rewrite=audit emitted %d rewrite events for %q, want 1", len(got), q.sql)
	}
	return got[0], nil
}

// capturePlans EXPLAINs q as written (RLS alone) and rw, its rewrite, for
// the largest tenant and the median one, custom and generic plans, as the
// app role with the tenant bound by the driver (tenant_rewrite=off; rw
// carries its own tenant_id = $n, bound to the same tenant), then the
// reference plan without RLS.
func capturePlans(ctx context.Context, p *plannerData, qi int, q plannerQuery, rw string) ([]plannerPlan, error) {
	var plans []plannerPlan
	for _, kind := range []string{"custom", "generic"} {
		db, err := openVariant(p.d, "tenant_rewrite=off plan_cache_mode=force_"+kind+"_plan")
		if err != nil {
			return nil, err
		}
		defer db.Close()
		conn, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		defer conn.Close()
		for _, s := range []struct {
			what, name, sql string
			withTenant      bool // the tenant is an argument too (the rewrite's $n)
		}{
			{"RLS alone", "bench_rls", q.sql, false},
			{"RLS + rewrite", "bench_rewrite", rw, true},
		} {
			types := "text"
			if s.withTenant {
				types = "text, text"
			}
			if _, err := conn.ExecContext(ctx, "PREPARE "+s.name+"("+types+") AS "+s.sql); err != nil {
				return nil, fmt.Errorf("%s: %w", s.what, err)
			}
			for _, ti := range []int{p.bySize[0], p.bySize[len(p.bySize)/2]} {
				id := plannerTenant(ti)
				call := "EXECUTE " + s.name + "(" + quoteLiteral(q.arg(plannerWord(0, ti, qi)))
				if s.withTenant {
					call += ", " + quoteLiteral(id)
				}
				call += ")"
				plan, err := explain(tenant.NewContext(ctx, id), conn, call)
				if err != nil {
					return nil, fmt.Errorf("%s, %s: %w", s.what, id, err)
				}
				plans = append(plans, plannerPlan{
					title: fmt.Sprintf("%s, %s plan, tenant %s (%d rows)", s.what, kind, id, p.sizes[ti]),
					sql:   s.sql, call: call, plan: plan,
				})
			}
		}
	}
	ref, err := referencePlan(ctx, p, qi, q)
	if err != nil {
		return nil, fmt.Errorf("without RLS: %w", err)
	}
	return append(plans, ref), nil
}

// referencePlan is the plan PostgreSQL chooses without RLS: the statement
// with its tenant predicate written in, as the admin role (which bypasses
// RLS), for the largest tenant. It is not part of the pairs.
func referencePlan(ctx context.Context, p *plannerData, qi int, q plannerQuery) (plannerPlan, error) {
	db, err := openSQL("pgx", p.d.AdminDSN, 1)
	if err != nil {
		return plannerPlan{}, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return plannerPlan{}, err
	}
	defer conn.Close()
	ti := p.bySize[0]
	sqlText := q.sql + " AND tenant_id = $2"
	arg := q.arg(plannerWord(0, ti, qi))
	plan, err := explain(ctx, conn, sqlText, arg, plannerTenant(ti))
	if err != nil {
		return plannerPlan{}, err
	}
	return plannerPlan{
		title: fmt.Sprintf("Reference, not paired: without RLS, tenant %s (%d rows)", plannerTenant(ti), p.sizes[ti]),
		sql:   sqlText,
		call:  fmt.Sprintf("$1 = %s, $2 = %s, as the admin role (bypasses RLS), parameters bound", quoteLiteral(arg), quoteLiteral(plannerTenant(ti))),
		plan:  plan,
	}, nil
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on: the driver pins it).
func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// explain runs EXPLAIN (ANALYZE, BUFFERS) of query with args twice on conn
// and returns the second plan (the first warms the caches as the timed runs
// had them).
func explain(ctx context.Context, conn *sql.Conn, query string, args ...any) (string, error) {
	var plan []string
	for range 2 {
		plan = plan[:0]
		rs, err := conn.QueryContext(ctx, "EXPLAIN (ANALYZE, BUFFERS) "+query, args...)
		if err != nil {
			return "", err
		}
		for rs.Next() {
			var line string
			if err := rs.Scan(&line); err != nil {
				rs.Close()
				return "", err
			}
			plan = append(plan, line)
		}
		if err := rs.Close(); err != nil {
			return "", err
		}
		if err := rs.Err(); err != nil {
			return "", err
		}
	}
	return strings.Join(plan, "\n"), nil
}

// ratio is the paired spread of x ÷ base over rounds.
func ratio(x, base []float64) spread {
	return pairedRatio(&row{perRound: x}, &row{perRound: base})
}

func medianDuration(xs []float64) time.Duration {
	return time.Duration(spreadOf(xs).med).Round(100 * time.Microsecond)
}

// split is the ratio of x ÷ base over the rounds where pick is true, or
// "" when there are none.
func split(x, base []float64, pick []bool, want bool) string {
	var xs, bs []float64
	for i := range x {
		if pick[i] == want {
			xs, bs = append(xs, x[i]), append(bs, base[i])
		}
	}
	if len(xs) == 0 {
		return ""
	}
	return fmt.Sprintf("%s over %d rounds", ratio(xs, bs), len(xs))
}

// verdict reads a ratio against both baselines and the noise floor: a
// difference only when the middle half of the rounds is on the same side
// of 1 against both baselines, and outside the noise floor's middle half.
func verdict(vsA, vsB, noise spread) string {
	lo, hi := min(noise.q1, 1/noise.q3), max(noise.q3, 1/noise.q1)
	switch {
	case vsA.q3 < lo && vsB.q3 < lo:
		return fmt.Sprintf("the rewrite is faster (%.2f×)", vsA.med)
	case vsA.q1 > hi && vsB.q1 > hi:
		return fmt.Sprintf("the rewrite is slower (%.2f×)", vsA.med)
	}
	return "no difference beyond the noise floor"
}

func (t *plannerTable) print() {
	on := len(plannerVariants) - 1
	fmt.Printf("%s, %s\n", t.query.name, t.regime.name)
	fmt.Printf("  rewrite / RLS alone A %s, / B %s; noise floor A/B %s: %s\n",
		ratio(t.all[on], t.all[0]), ratio(t.all[on], t.all[1]), ratio(t.all[0], t.all[1]),
		verdict(ratio(t.all[on], t.all[0]), ratio(t.all[on], t.all[1]), ratio(t.all[0], t.all[1])))
	fmt.Printf("  largest tenant: rewrite / A %s; smaller half: rewrite / A %s\n",
		ratio(t.largest[on], t.largest[0]), ratio(t.smaller[on], t.smaller[0]))
	if g, c := split(t.all[on], t.all[0], t.rewriteGeneric, true), split(t.all[on], t.all[0], t.rewriteGeneric, false); g != "" && c != "" {
		fmt.Printf("  rewrite / A, rounds where the rewrite went generic: %s; the others: %s\n", g, c)
	}
	for i, v := range plannerVariants {
		fmt.Printf("  %-36s generic/custom plans %d/%d, generic in %d of %d rounds\n", v.name, t.generic[i], t.custom[i], t.genericRounds[i], len(t.all[i]))
	}
}

// plannerMarkdown writes one query's section: the ratios under every
// regime, each variant's times and plan-cache counts, the rewritten
// statement and the plans.
func plannerMarkdown(b *strings.Builder, p *plannerData, q plannerQuery, rw string, tables []*plannerTable, plans []plannerPlan, nSmaller int) {
	on := len(plannerVariants) - 1
	fmt.Fprintf(b, "## %s: `%s`\n\n", q.name, q.sql)
	fmt.Fprintf(b, "Time of each round's pass, paired per round (below 1: the rewrite is faster): median over %d rounds [first–third quartile] (lowest–highest). "+
		"A pass is one statement for each of the %d tenants; the largest tenant is %s, the smaller half the %d tenants with the fewest rows.\n\n",
		len(tables[0].all[0]), p.tenants, plannerTenant(p.bySize[0]), nSmaller)
	b.WriteString("| plan cache | ratio | every tenant (one pass) | largest tenant | smaller half of the tenants |\n|---|---|---:|---:|---:|\n")
	for _, t := range tables {
		fmt.Fprintf(b, "| %s | **RLS + rewrite ÷ RLS alone A** | **%s** | %s | %s |\n", t.regime.name,
			ratio(t.all[on], t.all[0]), ratio(t.largest[on], t.largest[0]), ratio(t.smaller[on], t.smaller[0]))
		fmt.Fprintf(b, "| | RLS + rewrite ÷ RLS alone B | %s | %s | %s |\n",
			ratio(t.all[on], t.all[1]), ratio(t.largest[on], t.largest[1]), ratio(t.smaller[on], t.smaller[1]))
		fmt.Fprintf(b, "| | noise floor: RLS alone A ÷ B | %s | %s | %s |\n",
			ratio(t.all[0], t.all[1]), ratio(t.largest[0], t.largest[1]), ratio(t.smaller[0], t.smaller[1]))
	}
	b.WriteString("\n")
	for _, t := range tables {
		fmt.Fprintf(b, "- %s, every tenant: %s.\n", t.regime.name,
			verdict(ratio(t.all[on], t.all[0]), ratio(t.all[on], t.all[1]), ratio(t.all[0], t.all[1])))
	}
	for _, t := range tables {
		g, c := split(t.all[on], t.all[0], t.rewriteGeneric, true), split(t.all[on], t.all[0], t.rewriteGeneric, false)
		if g == "" || c == "" {
			continue
		}
		fmt.Fprintf(b, "- %s, every tenant, RLS + rewrite ÷ RLS alone A: in the rounds where the rewrite's connection switched to a generic plan %s; in the others %s.\n",
			t.regime.name, g, c)
	}
	b.WriteString("\n| plan cache | variant | median time of a pass | largest tenant | smaller half | generic / custom plans (all rounds) | rounds with a generic plan |\n|---|---|---:|---:|---:|---:|---:|\n")
	for _, t := range tables {
		for i, v := range plannerVariants {
			regime := ""
			if i == 0 {
				regime = t.regime.name
			}
			fmt.Fprintf(b, "| %s | %s | %v | %v | %v | %d / %d | %d of %d |\n", regime, v.name,
				medianDuration(t.all[i]), medianDuration(t.largest[i]), medianDuration(t.smaller[i]),
				t.generic[i], t.custom[i], t.genericRounds[i], len(t.all[i]))
		}
	}
	fmt.Fprintf(b, "\nGeneric / custom plans: `pg_prepared_statements` on each round's connection after its pass. "+
		"The rewritten statement (the audit event's SQL, and the text every tenant_rewrite=on connection prepared):\n\n```sql\n%s\n```\n\n", rw)
	for _, pl := range plans {
		fmt.Fprintf(b, "### %s\n\n`%s` — `%s`\n\n```\n%s\n```\n\n", pl.title, pl.sql, pl.call, pl.plan)
	}
}

// plannerExplanation is the mechanism behind the numbers above.
const plannerExplanation = `## Why

The rewrite was expected to win because RLS would keep PostgreSQL from using the tenant index; it does not. PostgreSQL evaluates a policy's condition before any condition of the query that is not LEAKPROOF — ` + "`LIKE` (textlike) and `@@` (ts_match_vq) are not" + ` — so that a query cannot learn about another tenant's rows through an error or a side effect. But the policy's own ` + "`tenant_id = (SELECT NULLIF(current_setting(…), ''))`" + ` is an equality with an InitPlan parameter, and it is the Index Cond of the tenant index by itself: every RLS-alone plan above is a Bitmap Index Scan on ` + "`(tenant_id)`" + ` with the search as a Filter over the tenant's rows. The rewrite adds a second, leakproof ` + "`tenant_id = $n`" + `; PostgreSQL merges the two equalities (the ` + "`One-Time Filter: ($0 = …)`" + ` of the rewritten plans) and scans the same index with the same Filter over the same rows and buffers. What RLS does take away is an index on the searched column: a condition that is not leakproof cannot be an index condition while a policy must be applied first, so the GIN index on ` + "`tsv`" + ` is out of reach under RLS — with the rewrite too, since the policy is still there and ` + "`@@`" + ` is still not leakproof — where without RLS the full-text search starts from the GIN index and reads a small fraction of the buffers (the full-text reference plan). A ` + "`LIKE '%…%'`" + ` has no index to use here with or without RLS (its reference plan reads the same rows). The one thing the rewrite's bound ` + "`$n`" + ` changes is the estimate: the planner sees the tenant's own share of the table instead of 1/number-of-tenants (compare the estimated rows of the Bitmap Index Scans in the custom plans). That can change the shape of a plan for a tenant far from the average (a parallel scan for the largest), and it moves the plan cache's choice between custom and generic plans, per connection: a connection whose first statements were for large tenants finds the generic plan no costlier than its custom plans so far and keeps it, one that began with small tenants keeps planning with the values — where RLS alone, whose estimate is the same for every tenant, makes the same choice on every connection (see the generic/custom counts). For the full-text search that costs time, because its generic plan evaluates ` + "`plainto_tsquery('english', $1)`" + ` for every row it filters (and starts parallel workers), where a custom plan has folded it into a constant: see the rounds where the rewrite's connection switched to a generic plan. So on these statements the rewrite brings no planner win on top of RLS: the time is in filtering the tenant's rows, which both variants do alike.
`
