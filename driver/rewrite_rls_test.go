package driver_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/internal/guardcases"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// The rewrite's differential test: tenant_rewrite=on promises that a
// statement, rewritten and run on a database WITHOUT row-level security,
// returns and changes exactly the rows the statement as written returns and
// changes under RLS. The corpus (testdata/rewrite_differential.txtar) is
// written without tenant predicates (a few already scoped); every statement
// runs for tenants t01, t02 and t03 of guardSeed:
//
//   - original: as written, through plain pgx (database/sql "pgx"), as the
//     app role on the database with RLS, app.tenant_id set in the
//     transaction;
//   - rewritten: through the pgx-tenant driver, the keys in its DSN, as the
//     app role on the database without RLS, in a database/sql transaction
//     begun with the tenant's context: tenant_rewrite=on (guard off);
//     tenant_rewrite=on tenant_guard=enforce, which must accept every
//     statement; tenant_rewrite=on with default_query_exec_mode=
//     simple_protocol (the driver's general path); and tenant_rewrite=on
//     through tx.PrepareContext (a Stmt runs the rewritten text; not for
//     texts with pgx named arguments, which cannot be prepared);
//   - unrewritten: as written on the database without RLS through plain
//     pgx: only to show that the statement depends on the tenant's scope at
//     all (a statement that returns the same there cannot catch a rewrite
//     that forgot a predicate).
//
// Each run is a transaction rolled back. What is compared: the rows
// returned (sorted, as strings), the rows affected (RowsAffected, for a
// statement that returns no rows; RETURNING rows otherwise), and the state
// of every table after the statement, read in the same transaction: the
// whole table, every tenant's rows. Other tenants' rows must equal the seed
// on both sides; the tenant's rows and the global tables must be equal.
//
// How the whole table is read: on the database without RLS through the
// driver with a tenant.WithBypass context (the rewrite leaves a bypassed
// statement as written, so it reads every row; if it did not, the other
// tenants' rows would be missing and the comparison with the seed would
// fail). On the database with RLS the app role sees only its tenant's rows,
// and the usual ways around it do not work here: guardSchema sets FORCE ROW
// LEVEL SECURITY, so a SECURITY DEFINER function owned by the table owner
// is filtered like the app role, and with row_security=off it fails ("query
// would be affected by row-level security policy") instead of bypassing.
// So the state is read through a SECURITY DEFINER function created by the
// server's admin role (a superuser, which bypasses RLS even on FORCEd
// tables, like a BYPASSRLS role); it runs in the caller's transaction, so
// it sees the statement's uncommitted changes. The setup checks that it
// really returns every tenant's rows while the app role's own reads return
// one tenant's, and each run checks that the tenant's rows it returns are
// exactly the ones RLS shows the app role.
//
// A failure message shows the rewritten text (from an event of a third
// connector, tenant_rewrite=audit) and, per tenant and configuration, what
// differs. A statement with a "known:" header is a documented limit of the
// rewrite (README, Rewrite): it is expected to differ, is logged, and fails
// the test once it stops differing (so the header and the README go). The test also fails when
// the corpus has fewer than 80 statements, when fewer than 80 of them give
// other results as written without RLS (they could not catch a missing
// predicate), when one of the constructs the rewrite must handle has too
// few statements (diffConstructs, counted from the parse trees), or when
// not every statement was compared for every tenant and configuration.
//
// events' ids come from a sequence, which rollbacks do not reset: each run
// first sets it back to the seed's last id (as admin), and the state
// masks ids above it (rows inserted by one statement may take their ids in
// another order under another plan).

// rewriteCorpus is the corpus file.
const rewriteCorpus = "testdata/rewrite_differential.txtar"

// diffTenants are the tenants every statement runs for.
var diffTenants = []string{"t01", "t02", "t03"}

// diffCase is one statement of the corpus.
type diffCase struct {
	Name  string
	SQL   string
	Args  []any  // tenantArg stands for the run's tenant
	Known string // a documented limit: expected to differ
}

// tenantArg is the argument "tenant": the tenant of the run.
type tenantArg struct{}

// loadDiffCorpus reads the corpus: a comment, then one txtar file per
// statement, its name the statement's; header lines (args:, known:), a
// line "---", the SQL.
func loadDiffCorpus(path string) ([]diffCase, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out []diffCase
	seen := map[string]bool{}
	var cur *diffCase
	var body strings.Builder
	flush := func() error {
		if cur == nil {
			return nil
		}
		head, q, ok := strings.Cut("\n"+body.String(), "\n---\n")
		if !ok {
			return fmt.Errorf("%s: no --- line", cur.Name)
		}
		cur.SQL = strings.TrimSpace(q)
		for _, line := range strings.Split(head, "\n") {
			k, v, _ := strings.Cut(line, ":")
			v = strings.TrimSpace(v)
			switch strings.TrimSpace(k) {
			case "":
			case "args":
				if cur.Args, err = guardcases.ParseArgs(v, map[string]any{"tenant": tenantArg{}}); err != nil {
					return fmt.Errorf("%s: %w", cur.Name, err)
				}
			case "known":
				cur.Known = v
			default:
				return fmt.Errorf("%s: unknown header %q", cur.Name, line)
			}
		}
		if cur.SQL == "" {
			return fmt.Errorf("%s: no SQL", cur.Name)
		}
		if strings.Contains(strings.TrimSuffix(cur.SQL, ";"), ";") {
			return fmt.Errorf("%s: one statement per case", cur.Name)
		}
		out = append(out, *cur)
		return nil
	}
	for _, l := range strings.SplitAfter(string(data), "\n") {
		tl := strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(tl, "-- ") && strings.HasSuffix(tl, " --") && len(tl) > 6 {
			if err := flush(); err != nil {
				return nil, err
			}
			name := strings.TrimSpace(tl[3 : len(tl)-3])
			if seen[name] {
				return nil, fmt.Errorf("%s: duplicate case", name)
			}
			seen[name] = true
			cur = &diffCase{Name: name}
			body.Reset()
			continue
		}
		if cur != nil {
			body.WriteString(strings.TrimRight(l, "\r\n") + "\n")
		}
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// argsFor returns c's arguments for tenant tn (pgx.NamedArgs for named
// ones).
func (c diffCase) argsFor(tn string) []any {
	sub := func(v any) any {
		if _, ok := v.(tenantArg); ok {
			return tn
		}
		return v
	}
	out := make([]any, len(c.Args))
	for i, a := range c.Args {
		if m, ok := a.(pgx.NamedArgs); ok {
			cp := pgx.NamedArgs{}
			for k, v := range m {
				cp[k] = sub(v)
			}
			out[i] = cp
			continue
		}
		out[i] = sub(a)
	}
	return out
}

// diffStateSQL reads every table whole: (table, tenant, row as text).
// events' ids above the seed's (%d) read as NULL.
const diffStateSQL = `SELECT 'invoices'::text, t.tenant_id, t::text FROM public.invoices t
UNION ALL SELECT 'customers', t.tenant_id, t::text FROM public.customers t
UNION ALL SELECT 'line_items', t.tenant_id, t::text FROM public.line_items t
UNION ALL SELECT 'events', t.tenant_id, ROW(CASE WHEN t.id <= %d THEN t.id END, t.tenant_id, t.note)::text FROM public.events t
UNION ALL SELECT 'audit.log', t.tenant_id, t::text FROM audit.log t
UNION ALL SELECT 'countries', NULL, t::text FROM public.countries t
UNION ALL SELECT 'plans', NULL, t::text FROM public.plans t`

// diffVisibleSQL is what the app role sees of the tenant-owned tables
// (under RLS: its tenant's rows), in the form of diffStateSQL.
const diffVisibleSQL = `SELECT 'invoices'::text, t.tenant_id, t::text FROM public.invoices t
UNION ALL SELECT 'customers', t.tenant_id, t::text FROM public.customers t
UNION ALL SELECT 'line_items', t.tenant_id, t::text FROM public.line_items t
UNION ALL SELECT 'events', t.tenant_id, ROW(CASE WHEN t.id <= %d THEN t.id END, t.tenant_id, t.note)::text FROM public.events t
UNION ALL SELECT 'audit.log', t.tenant_id, t::text FROM audit.log t`

// stateRow is one row of a table, as text.
type stateRow struct{ table, tenant, row string }

func (r stateRow) String() string { return r.table + " " + r.row }

// outcome is what one run of a statement did.
type outcome struct {
	rows     []string // rows returned, sorted
	affected int64    // RowsAffected, for a statement that returns no rows
	state    []stateRow
	events   []event.Event // what the driver reported while running the statement
}

// diffSide runs statements on one database, one way.
type diffSide struct {
	name     string
	db       *sql.DB
	bind     bool   // set app.tenant_id itself (plain pgx); the driver binds it from the context
	stateSQL string // reads the state in the run's transaction
	visible  string // RLS side: what the app role sees, checked against the state
	admin    *sql.DB
	lastSeq  int64
	ev       *events // the driver's events, when it is the driver
	prepared bool    // run the statement as a prepared statement (tx.PrepareContext)
}

// run runs c for tenant tn in a transaction it rolls back; returnsRows
// says whether to read rows (Query) or the count of affected rows (Exec).
func (s *diffSide) run(tn string, c diffCase, returnsRows bool) (o outcome, err error) {
	ctx, cancel := context.WithTimeout(tenant.NewContext(context.Background(), tn), time.Minute)
	defer cancel()
	if _, err := s.admin.ExecContext(ctx, `SELECT setval('public.events_id_seq', $1)`, s.lastSeq); err != nil {
		return o, fmt.Errorf("resetting events' sequence: %w", err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return o, err
	}
	defer tx.Rollback()
	if s.bind {
		if _, err := tx.ExecContext(ctx, "SELECT set_config('app.tenant_id', $1, true)", tn); err != nil {
			return o, err
		}
	}
	args := c.argsFor(tn)
	if s.ev != nil {
		s.ev.take()
	}
	if err := s.statement(ctx, tx, c.SQL, args, returnsRows, &o); err != nil {
		return o, err
	}
	// The state is read as written: the bypass keeps the rewrite (and the
	// guard) off this one statement.
	if o.state, err = readState(tenant.WithBypass(ctx, "differential test: reads every tenant's rows"), tx, s.stateSQL); err != nil {
		return o, fmt.Errorf("reading the state: %w", err)
	}
	if s.visible != "" {
		vis, err := readState(ctx, tx, s.visible)
		if err != nil {
			return o, fmt.Errorf("reading what the app role sees: %w", err)
		}
		var mine []stateRow
		for _, r := range o.state {
			if r.tenant == tn {
				mine = append(mine, r)
			}
		}
		if !slices.Equal(vis, mine) {
			return o, fmt.Errorf("the oracle is broken: the app role sees %v but the state function shows the tenant %v", vis, mine)
		}
	}
	return o, nil
}

// applies reports whether c can run on s: pgx named arguments (@name) are
// replaced when a call runs, so a text with them cannot be prepared (with
// pgx's own stdlib driver neither).
func (s *diffSide) applies(c diffCase) bool {
	if !s.prepared {
		return true
	}
	for _, a := range c.Args {
		if _, ok := a.(pgx.NamedArgs); ok {
			return false
		}
	}
	return true
}

// statement runs the statement of a run, and takes the driver's events.
func (s *diffSide) statement(ctx context.Context, tx *sql.Tx, query string, args []any, returnsRows bool, o *outcome) (err error) {
	if s.ev != nil {
		defer func() {
			o.events = s.ev.take()
			if err != nil && len(o.events) > 0 {
				err = fmt.Errorf("%w (events: %s)", err, describeEvents(o.events))
			}
		}()
	}
	var q interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	} = tx
	if s.prepared {
		st, err := tx.PrepareContext(ctx, query)
		if err != nil {
			return err
		}
		defer st.Close()
		q = stmtRunner{st}
	}
	if returnsRows {
		rows, err := q.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		o.rows, err = readRows(rows)
		return err
	}
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return err
	}
	o.affected, err = res.RowsAffected()
	return err
}

// stmtRunner runs a prepared statement (the text is the statement's).
type stmtRunner struct{ *sql.Stmt }

func (s stmtRunner) QueryContext(ctx context.Context, _ string, args ...any) (*sql.Rows, error) {
	return s.Stmt.QueryContext(ctx, args...)
}

func (s stmtRunner) ExecContext(ctx context.Context, _ string, args ...any) (sql.Result, error) {
	return s.Stmt.ExecContext(ctx, args...)
}

// describeEvents lists events by kind and message.
func describeEvents(evs []event.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s: %s", e.Kind, e.Message))
	}
	return strings.Join(out, "; ")
}

// readRows reads rows as sorted strings and closes them.
func readRows(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			switch v := v.(type) {
			case nil:
				parts[i] = "NULL"
			case []byte:
				parts[i] = string(v)
			case time.Time:
				parts[i] = v.UTC().Format(time.RFC3339Nano)
			default:
				parts[i] = fmt.Sprint(v)
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(out)
	return out, nil
}

// readState reads (table, tenant, row) rows, sorted.
func readState(ctx context.Context, tx *sql.Tx, query string) ([]stateRow, error) {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []stateRow
	for rows.Next() {
		var r stateRow
		var tn sql.NullString
		if err := rows.Scan(&r.table, &tn, &r.row); err != nil {
			return nil, err
		}
		r.tenant = tn.String
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b stateRow) int {
		return strings.Compare(a.table+"\x00"+a.tenant+"\x00"+a.row, b.table+"\x00"+b.tenant+"\x00"+b.row)
	})
	return out, nil
}

// diffOutcomes describes how got (rewritten, without RLS) differs from
// want (as written, with RLS) for tenant tn; seed is the state before any
// statement. Empty when they agree.
func diffOutcomes(tn string, want, got outcome, returnsRows bool, seed []stateRow) string {
	var b strings.Builder
	if returnsRows && !slices.Equal(want.rows, got.rows) {
		fmt.Fprintf(&b, "\n  rows returned differ:\n    with RLS (%d):    %s\n    rewritten (%d): %s",
			len(want.rows), strings.Join(want.rows, "; "), len(got.rows), strings.Join(got.rows, "; "))
	}
	if !returnsRows && want.affected != got.affected {
		fmt.Fprintf(&b, "\n  rows affected: with RLS %d, rewritten %d", want.affected, got.affected)
	}
	others := func(st []stateRow) []stateRow {
		var out []stateRow
		for _, r := range st {
			if r.tenant != "" && r.tenant != tn {
				out = append(out, r)
			}
		}
		return out
	}
	own := func(st []stateRow) []stateRow {
		var out []stateRow
		for _, r := range st {
			if r.tenant == "" || r.tenant == tn {
				out = append(out, r)
			}
		}
		return out
	}
	if a, s := others(got.state), others(seed); !slices.Equal(a, s) {
		fmt.Fprintf(&b, "\n  other tenants' rows changed by the rewritten statement:%s", stateDiff(s, a, "seed", "rewritten"))
	}
	if a, s := others(want.state), others(seed); !slices.Equal(a, s) {
		fmt.Fprintf(&b, "\n  other tenants' rows changed under RLS (the oracle is broken):%s", stateDiff(s, a, "seed", "with RLS"))
	}
	if w, g := own(want.state), own(got.state); !slices.Equal(w, g) {
		fmt.Fprintf(&b, "\n  the tenant's rows (and global tables) after the statement differ:%s", stateDiff(w, g, "with RLS", "rewritten"))
	}
	return b.String()
}

// stateDiff lists the rows only in a and only in b.
func stateDiff(a, b []stateRow, an, bn string) string {
	count := map[stateRow]int{}
	for _, r := range a {
		count[r]++
	}
	for _, r := range b {
		count[r]--
	}
	var onlyA, onlyB []string
	for r, n := range count {
		for ; n > 0; n-- {
			onlyA = append(onlyA, r.String())
		}
		for ; n < 0; n++ {
			onlyB = append(onlyB, r.String())
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return fmt.Sprintf("\n    only %s: %s\n    only %s: %s", an, strings.Join(onlyA, "; "), bn, strings.Join(onlyB, "; "))
}

// diffEnv is the two databases and the ways of running a statement.
type diffEnv struct {
	original  *diffSide   // as written, with RLS
	raw       *diffSide   // as written, without RLS
	rewritten []*diffSide // through the driver, tenant_rewrite=on, without RLS
	audit     *diffSide   // tenant_rewrite=audit: its events show the rewritten text
	seed      []stateRow
}

func newDiffEnv(t *testing.T) *diffEnv {
	t.Helper()
	ctx := context.Background()
	withRLS := guardSchema(t)
	if err := withRLS.Exec(ctx, guardSeed...); err != nil {
		t.Fatal(err)
	}
	plain := noRLSCaseDB(t) // the same schema and seed, no RLS
	for _, d := range []*pgtest.Database{withRLS, plain} {
		if err := d.CheckAppRole(ctx); err != nil {
			t.Fatal(err)
		}
	}
	adminRLS, adminPlain := openAdmin(t, withRLS), openAdmin(t, plain)
	var lastRLS, lastPlain int64
	if err := adminRLS.QueryRow(`SELECT max(id) FROM events`).Scan(&lastRLS); err != nil {
		t.Fatal(err)
	}
	if err := adminPlain.QueryRow(`SELECT max(id) FROM events`).Scan(&lastPlain); err != nil {
		t.Fatal(err)
	}
	if lastRLS != lastPlain {
		t.Fatalf("events' seed ids differ: %d with RLS, %d without", lastRLS, lastPlain)
	}
	state := fmt.Sprintf(diffStateSQL, lastRLS)
	// The state function, created by the admin role (see the comment at
	// the top): it bypasses the FORCEd RLS the app role is held to.
	if err := withRLS.Exec(ctx,
		`CREATE FUNCTION public.rewrite_diff_state() RETURNS TABLE (tbl text, tenant text, line text)
		LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog AS $fn$`+state+`$fn$`,
		`REVOKE ALL ON FUNCTION public.rewrite_diff_state() FROM PUBLIC`,
		`GRANT EXECUTE ON FUNCTION public.rewrite_diff_state() TO `+withRLS.AppRole); err != nil {
		t.Fatal(err)
	}
	stdlib := func(d *pgtest.Database) *sql.DB {
		db, err := sql.Open("pgx", d.AppDSN)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	e := &diffEnv{
		original: &diffSide{name: "with RLS", db: stdlib(withRLS), bind: true, admin: adminRLS, lastSeq: lastRLS,
			stateSQL: `SELECT tbl, tenant, line FROM public.rewrite_diff_state()`, visible: fmt.Sprintf(diffVisibleSQL, lastRLS)},
		raw: &diffSide{name: "as written without RLS", db: stdlib(plain), bind: true, admin: adminPlain, lastSeq: lastPlain, stateSQL: state},
	}
	// The driver's configuration comes from the DSN keys; the event
	// handler only collects what it reports (instead of logging it).
	open := func(h event.Handler, keys ...string) *sql.DB {
		cfg, err := pgx.ParseConfig(withKeys(plain.AppDSN, keys...))
		if err != nil {
			t.Fatal(err)
		}
		c, err := driver.NewConnector(*cfg, driver.WithEventHandler(h))
		if err != nil {
			t.Fatal(err)
		}
		return sqlOpenDB(t, c)
	}
	for _, v := range []struct {
		keys     []string
		prepared bool
	}{
		{keys: []string{"tenant_rewrite=on"}},
		{keys: []string{"tenant_rewrite=on", "tenant_guard=enforce"}},
		{keys: []string{"tenant_rewrite=on", "default_query_exec_mode=simple_protocol"}},
		{keys: []string{"tenant_rewrite=on"}, prepared: true},
	} {
		ev := &events{}
		name := strings.Join(v.keys, " ")
		if v.prepared {
			name += ", prepared"
		}
		e.rewritten = append(e.rewritten, &diffSide{name: name, db: open(ev, v.keys...), ev: ev, prepared: v.prepared,
			admin: adminPlain, lastSeq: lastPlain, stateSQL: state})
	}
	auditEv := &events{}
	e.audit = &diffSide{name: "tenant_rewrite=audit", db: open(auditEv, "tenant_rewrite=audit"), ev: auditEv,
		admin: adminPlain, lastSeq: lastPlain, stateSQL: state}

	// The oracle works: under RLS the app role sees one tenant, the state
	// function all three, and both databases start equal.
	seedOf := func(s *diffSide) []stateRow {
		o, err := s.run("t01", diffCase{Name: "seed", SQL: "SELECT 1"}, true)
		if err != nil {
			t.Fatalf("%s: reading the seed: %v", s.name, err)
		}
		return o.state
	}
	e.seed = seedOf(e.original)
	tenants := map[string]int{}
	for _, r := range e.seed {
		tenants[r.tenant]++
	}
	if len(tenants) != 4 || tenants["t01"] == 0 || tenants["t02"] == 0 || tenants["t03"] == 0 {
		t.Fatalf("the state function does not see every tenant's rows under RLS: rows by tenant %v", tenants)
	}
	var seen int
	tx, err := e.original.db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.QueryRowContext(ctx, `SELECT set_config('app.tenant_id', 't02', true), (SELECT count(*) FROM invoices)`).Scan(new(string), &seen); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if seen != 3 {
		t.Fatalf("under RLS the app role sees %d invoices, want its tenant's 3", seen)
	}
	for _, s := range append([]*diffSide{e.raw}, e.rewritten...) {
		if st := seedOf(s); !slices.Equal(st, e.seed) {
			t.Fatalf("%s starts from another state:%s", s.name, stateDiff(e.seed, st, "with RLS", s.name))
		}
	}
	return e
}

// rewrittenSQL returns the text the rewrite runs in place of c (from the
// event of tenant_rewrite=audit), for failure messages.
func (e *diffEnv) rewrittenSQL(c diffCase, returnsRows bool) string {
	o, err := e.audit.run(diffTenants[0], c, returnsRows)
	for _, ev := range o.events {
		if ev.Kind == event.Rewrite {
			if ev.SQL != "" {
				return ev.SQL
			}
			return ev.Message
		}
	}
	if err != nil {
		return fmt.Sprintf("(not known: %v)", err)
	}
	return "(not rewritten)"
}

// TestRewriteDifferential: every statement of the corpus, rewritten and
// run without RLS, returns, affects and leaves exactly what it does as
// written under RLS, for three tenants (see the comment at the top).
func TestRewriteDifferential(t *testing.T) {
	cases, err := loadDiffCorpus(rewriteCorpus)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) < 80 {
		t.Fatalf("the corpus has %d statements, want at least 80", len(cases))
	}
	checkDiffCoverage(t, cases)
	e := newDiffEnv(t)
	compared, sensitive, ran := 0, 0, 0
	var failedKnown, failedNew []string
	var insensitive []string
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			ran++
			var returnsRows bool
			var problems []string
			fail := func(format string, args ...any) {
				problems = append(problems, fmt.Sprintf(format, args...))
			}
			defer func() {
				if len(problems) == 0 {
					if c.Known != "" && !t.Failed() {
						t.Errorf("marked known (%s) but no longer differs: remove the known: header", c.Known)
					}
					return
				}
				if c.Known != "" {
					failedKnown = append(failedKnown, c.Name)
				} else {
					failedNew = append(failedNew, c.Name)
				}
				if c.Known != "" {
					t.Logf("documented limit (%s): differs as expected", c.Known)
					return
				}
				t.Errorf("differs\n  SQL:       %s\n  rewritten: %s\n%s", c.SQL, e.rewrittenSQL(c, returnsRows), strings.Join(problems, "\n"))
			}()
			// Whether the statement returns rows decides Query or Exec
			// (RowsAffected) on every side.
			var err error
			returnsRows, err = diffReturnsRows(e.original, c)
			if err != nil {
				fail("as written, with RLS: %v", err)
				return
			}
			differs := false
			for _, tn := range diffTenants {
				want, err := e.original.run(tn, c, returnsRows)
				if err != nil {
					// Still show what the rewritten statement does.
					var did []string
					for _, s := range e.rewritten {
						if !s.applies(c) {
							continue
						}
						got, err := s.run(tn, c, returnsRows)
						switch {
						case err != nil:
							did = append(did, fmt.Sprintf("%s: %v", s.name, err))
						case returnsRows:
							did = append(did, fmt.Sprintf("%s: %d rows: %s", s.name, len(got.rows), strings.Join(got.rows, "; ")))
						default:
							did = append(did, fmt.Sprintf("%s: %d rows affected", s.name, got.affected))
						}
					}
					fail("tenant %s: as written, with RLS: %v\n  rewritten, without RLS: %s", tn, err, strings.Join(did, "\n                          "))
					continue
				}
				raw, err := e.raw.run(tn, c, returnsRows)
				if err != nil || diffOutcomes(tn, want, raw, returnsRows, e.seed) != "" {
					differs = true
				}
				for _, s := range e.rewritten {
					if !s.applies(c) {
						continue
					}
					got, err := s.run(tn, c, returnsRows)
					if err != nil {
						fail("tenant %s: rewritten (%s), without RLS: %v", tn, s.name, err)
						continue
					}
					if c.Known == "" {
						compared++
					}
					if d := diffOutcomes(tn, want, got, returnsRows, e.seed); d != "" {
						if len(got.events) > 0 {
							d += "\n  the driver's events: " + describeEvents(got.events)
						}
						fail("tenant %s: rewritten (%s) without RLS differs from the original with RLS:%s", tn, s.name, d)
					}
				}
			}
			if differs {
				sensitive++
			} else {
				insensitive = append(insensitive, c.Name)
			}
		})
	}
	if len(failedKnown)+len(failedNew) > 0 {
		t.Logf("statements that differ: %d unexpected (%s); %d known (%s)",
			len(failedNew), strings.Join(failedNew, ", "), len(failedKnown), strings.Join(failedKnown, ", "))
	}
	if ran < len(cases) {
		t.Logf("%d of %d statements ran (-run chose them): the counts are not checked", ran, len(cases))
		return
	}
	want := 0
	for _, c := range cases {
		if c.Known != "" {
			continue // documented limits: expected to differ
		}
		for _, s := range e.rewritten {
			if s.applies(c) {
				want += len(diffTenants)
			}
		}
	}
	if compared != want {
		t.Errorf("%d of %d runs compared", compared, want)
	}
	t.Logf("%d statements × %d tenants × %d driver configurations compared (%d runs; prepared: not the %d with named arguments)",
		len(cases), len(diffTenants), len(e.rewritten), compared, len(cases)*len(diffTenants)*len(e.rewritten)-want)
	t.Logf("%d statements give other results as written without RLS, so the rewrite's predicates decide them; %d do not: %s",
		sensitive, len(insensitive), strings.Join(insensitive, ", "))
	if sensitive < 80 {
		t.Errorf("only %d statements depend on the tenant's scope (as written, without RLS, they return or change the same): want at least 80", sensitive)
	}
}

// diffReturnsRows reports whether c returns rows (a result set, even an
// empty one), from a run as written with RLS for the first tenant.
func diffReturnsRows(s *diffSide, c diffCase) (bool, error) {
	ctx := tenant.NewContext(context.Background(), diffTenants[0])
	if _, err := s.admin.ExecContext(ctx, `SELECT setval('public.events_id_seq', $1)`, s.lastSeq); err != nil {
		return false, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, "SELECT set_config('app.tenant_id', $1, true)", diffTenants[0]); err != nil {
		return false, err
	}
	rows, err := tx.QueryContext(ctx, c.SQL, c.argsFor(diffTenants[0])...)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	return len(cols) > 0, err
}

// diffConstructs are the constructs the issue asks the corpus to cover,
// each found in a statement's parse tree, and how many statements each
// needs at least.
var diffConstructs = []struct {
	name string
	min  int
}{
	{"SELECT", 20}, {"INSERT", 8}, {"UPDATE", 8}, {"DELETE", 6}, {"MERGE", 6},
	{"inner join", 8}, {"outer join", 10}, {"FULL JOIN", 2},
	{"sub-select in FROM", 5}, {"sub-select in WHERE", 5}, {"sub-select in target list", 3},
	{"CTE", 6}, {"recursive CTE", 2}, {"LATERAL", 4}, {"set operation", 5},
	{"UPDATE … FROM", 3}, {"DELETE … USING", 3},
	{"INSERT … VALUES", 3}, {"INSERT … SELECT", 3}, {"ON CONFLICT", 3}, {"RETURNING", 10},
	{"aggregate", 8}, {"window function", 4}, {"EXISTS", 3}, {"IN sub-select", 3},
	{"DISTINCT ON", 2}, {"LIMIT", 3}, {"OFFSET", 2},
}

// checkDiffCoverage counts the constructs of the corpus (from its parse
// trees), logs the counts and fails when one has too few statements.
func checkDiffCoverage(t *testing.T, cases []diffCase) {
	t.Helper()
	counts := map[string]int{}
	for _, c := range cases {
		js, err := pg_query.ParseToJSON(c.SQL)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		var tree any
		if err := json.Unmarshal([]byte(js), &tree); err != nil {
			t.Fatal(err)
		}
		found := map[string]bool{}
		walkDiffTree(tree, "", found)
		for k := range found {
			counts[k]++
		}
	}
	var lines []string
	for _, k := range diffConstructs {
		lines = append(lines, fmt.Sprintf("%s %d", k.name, counts[k.name]))
		if counts[k.name] < k.min {
			t.Errorf("the corpus has %d statements with %s, want at least %d", counts[k.name], k.name, k.min)
		}
	}
	t.Logf("corpus: %d statements; by construct: %s", len(cases), strings.Join(lines, ", "))
}

// diffAggregates are the aggregate functions the corpus uses.
var diffAggregates = map[string]bool{"count": true, "sum": true, "avg": true, "min": true, "max": true,
	"string_agg": true, "array_agg": true, "bool_and": true, "bool_or": true}

// walkDiffTree records the constructs of a parse tree (pg_query's JSON);
// clause is the nearest clause of a statement the node is in.
func walkDiffTree(n any, clause string, found map[string]bool) {
	switch n := n.(type) {
	case []any:
		for _, v := range n {
			walkDiffTree(v, clause, found)
		}
	case map[string]any:
		for k, v := range n {
			m, _ := v.(map[string]any)
			switch k {
			case "SelectStmt":
				found["SELECT"] = true
				if m["op"] != nil && m["op"] != "SETOP_NONE" {
					found["set operation"] = true
				}
				if m["distinctClause"] != nil {
					if l, _ := m["distinctClause"].([]any); len(l) > 0 {
						if e, _ := l[0].(map[string]any); len(e) > 0 {
							found["DISTINCT ON"] = true
						}
					}
				}
				if m["limitCount"] != nil {
					found["LIMIT"] = true
				}
				if m["limitOffset"] != nil {
					found["OFFSET"] = true
				}
			case "InsertStmt":
				found["INSERT"] = true
				if m["onConflictClause"] != nil {
					found["ON CONFLICT"] = true
				}
				if m["returningList"] != nil {
					found["RETURNING"] = true
				}
				if sel, _ := m["selectStmt"].(map[string]any); sel != nil {
					if s, _ := sel["SelectStmt"].(map[string]any); s != nil {
						if s["valuesLists"] != nil {
							found["INSERT … VALUES"] = true
						} else {
							found["INSERT … SELECT"] = true
						}
					}
				}
			case "UpdateStmt":
				found["UPDATE"] = true
				if m["fromClause"] != nil {
					found["UPDATE … FROM"] = true
				}
				if m["returningList"] != nil {
					found["RETURNING"] = true
				}
			case "DeleteStmt":
				found["DELETE"] = true
				if m["usingClause"] != nil {
					found["DELETE … USING"] = true
				}
				if m["returningList"] != nil {
					found["RETURNING"] = true
				}
			case "MergeStmt":
				found["MERGE"] = true
			case "JoinExpr":
				switch m["jointype"] {
				case "JOIN_LEFT", "JOIN_RIGHT":
					found["outer join"] = true
				case "JOIN_FULL":
					found["outer join"] = true
					found["FULL JOIN"] = true
				default:
					found["inner join"] = true
				}
			case "RangeSubselect":
				found["sub-select in FROM"] = true
				if m["lateral"] == true {
					found["LATERAL"] = true
				}
			case "RangeFunction":
				if m["lateral"] == true {
					found["LATERAL"] = true
				}
			case "SubLink":
				switch clause {
				case "whereClause", "havingClause":
					found["sub-select in WHERE"] = true
				case "targetList":
					found["sub-select in target list"] = true
				}
				switch m["subLinkType"] {
				case "EXISTS_SUBLINK":
					found["EXISTS"] = true
				case "ANY_SUBLINK":
					found["IN sub-select"] = true
				}
			case "withClause":
				found["CTE"] = true
				if m["recursive"] == true {
					found["recursive CTE"] = true
				}
			case "FuncCall":
				if m["over"] != nil {
					found["window function"] = true
				} else if names, _ := m["funcname"].([]any); len(names) > 0 {
					last, _ := names[len(names)-1].(map[string]any)
					if s, _ := last["String"].(map[string]any); s != nil && diffAggregates[fmt.Sprint(s["sval"])] {
						found["aggregate"] = true
					}
				}
			}
			next := clause
			switch k {
			case "whereClause", "havingClause", "targetList", "fromClause", "usingClause", "joinCondition", "quals",
				"valuesLists", "returningList", "sortClause", "groupClause", "ctequery", "mergeWhenClauses", "onConflictClause":
				next = k
			}
			walkDiffTree(v, next, found)
		}
	}
}
