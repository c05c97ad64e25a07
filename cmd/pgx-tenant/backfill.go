package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgx-tenant/pgx-tenant/internal/backfill"
)

func init() {
	register(&command{
		name:     "backfill plan",
		findings: "when rows remain whose tenant cannot be derived, or a parent's tenant conflicts with its own parent's",
		summary: "Show how NULL tenants would be filled. For each tenant-owned table, in order: NULL counts, " +
			"the foreign keys a tenant is derived through, the rows whose tenant cannot be derived (why, sample keys), " +
			"the statement each batch runs, and the migrations to run after (NOT NULL, tenant-led indexes, composite " +
			"foreign keys). Writes nothing. Exits 1 when some rows cannot be derived.",
		flags: func(fs *flag.FlagSet) func() error { return backfillFlags(fs, false).validate },
		run:   runBackfillPlan,
	})
	register(&command{
		name:     "backfill apply",
		findings: "when it stopped at rows whose tenant cannot be derived, or at a parent whose tenant conflicts",
		summary: "Fill NULL tenants from the foreign-key graph and make the columns NOT NULL. " +
			"Parents first, in batches of short transactions (resumable: run it again after a stop); " +
			"each table it leaves without NULLs is made NOT NULL. " +
			"Stops with exit 1 at the first table holding rows whose tenant cannot be derived. " +
			"UPDATE batches fire the tables' triggers. Needs a superuser or BYPASSRLS role, or the tables' owner when RLS is not FORCEd.",
		flags: func(fs *flag.FlagSet) func() error { return backfillFlags(fs, true).validate },
		run:   runBackfillApply,
	})
}

// backfillOpts are the flags of both backfill commands.
type backfillOpts struct {
	db     dbFlags
	tables backfillTables
	batch  int
	apply  bool // the apply command
	// apply only:
	constraints bool
	lockTimeout time.Duration
}

func backfillFlags(fs *flag.FlagSet, apply bool) *backfillOpts {
	o := &backfillOpts{apply: apply}
	o.db.registerConn(fs) // the backfill reads no setting
	fs.Var(&o.tables, "table", "limit to this table (name or schema.name; repeat or comma-separate; default every tenant-owned table)")
	fs.IntVar(&o.batch, "batch-size", 5000, "the most rows one batch (one transaction) updates")
	if apply {
		fs.BoolVar(&o.constraints, "apply-constraints", false, "also create the tenant-led indexes (CONCURRENTLY) and the composite foreign keys, once every table is done")
		fs.DurationVar(&o.lockTimeout, "lock-timeout", 5*time.Second, "lock_timeout of batches and ALTER TABLE (each retried twice)")
	}
	return o
}

// backfillOptsOf reads the parsed flags back from fs (run gets the flag
// set, not the struct the flags were declared on).
func backfillOptsOf(fs *flag.FlagSet) *backfillOpts {
	get := func(name string) any { return fs.Lookup(name).Value.(flag.Getter).Get() }
	o := &backfillOpts{
		db:     *fsDB(fs),
		tables: get("table").(backfillTables),
		batch:  get("batch-size").(int),
	}
	if fs.Lookup("apply-constraints") != nil {
		o.apply, o.constraints, o.lockTimeout = true, flagValue[bool](fs, "apply-constraints"), get("lock-timeout").(time.Duration)
	}
	return o
}

// backfillTables is the --table flag: repeated or comma-separated names.
type backfillTables []string

func (l *backfillTables) String() string { return strings.Join(*l, ",") }
func (l *backfillTables) Get() any       { return *l }
func (l *backfillTables) Set(s string) error {
	*l = append(*l, commaList(s)...)
	return nil
}

func (o *backfillOpts) validate() error {
	if err := o.db.validate(); err != nil {
		return err
	}
	if o.batch < 1 {
		return fmt.Errorf("--batch-size: %d: must be at least 1", o.batch)
	}
	if o.apply && o.lockTimeout < time.Millisecond {
		return fmt.Errorf("--lock-timeout: %v: must be at least 1ms", o.lockTimeout)
	}
	return nil
}

func (o *backfillOpts) options() backfill.Options {
	return backfill.Options{Column: o.db.column, Tables: o.tables, BatchSize: o.batch, LockTimeout: o.lockTimeout, ApplyConstraints: o.constraints}
}

// backfillPlan connects and plans; on an error it reports it, closes the
// connection and returns nil. The caller closes conn.
func backfillPlan(ctx context.Context, e *env, fs *flag.FlagSet) (*pgx.Conn, *backfill.Plan) {
	o := backfillOptsOf(fs)
	conn, err := o.db.connect(ctx, e)
	if err != nil {
		e.errorf("%v", err)
		return nil, nil
	}
	p, err := backfill.NewPlan(ctx, conn, o.options())
	if err != nil {
		e.errorf("%v", err)
		conn.Close(context.Background())
		return nil, nil
	}
	return conn, p
}

func runBackfillPlan(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		e.errorf("backfill plan: unexpected arguments %q", args)
		return exitError
	}
	conn, p := backfillPlan(ctx, e, fs)
	if p == nil {
		return exitError
	}
	defer conn.Close(context.Background())
	backfillWritePlan(e.stdout, p)
	for _, t := range p.Tables {
		if len(t.Unresolved) > 0 {
			return exitFindings
		}
	}
	if len(backfillConflicts(p)) > 0 {
		return exitFindings
	}
	return exitOK
}

// backfillConflicts are the tables NULL tenants are derived from that hold
// rows whose tenant differs from their parent's, in the plan's order.
func backfillConflicts(p *backfill.Plan) []*backfill.Table {
	var out []*backfill.Table
	seen := map[*backfill.Table]bool{}
	for _, t := range p.Tables {
		for _, s := range t.Sources {
			if len(s.Parent.Conflicts) > 0 && !seen[s.Parent] {
				seen[s.Parent] = true
				out = append(out, s.Parent)
			}
		}
	}
	return out
}

func backfillWriteConflicts(w io.Writer, cs []backfill.Conflict) {
	for _, c := range cs {
		more := ""
		if int64(len(c.Sample)) < c.Rows {
			more = ", …"
		}
		fmt.Fprintf(w, "     %s whose tenant differs from the row they reference through %s → %s (keys: %s%s)\n",
			backfillRows(c.Rows), c.Constraint, c.Parent, strings.Join(c.Sample, ", "), more)
	}
}

func backfillWritePlan(w io.Writer, p *backfill.Plan) {
	fmt.Fprintf(w, "Backfill plan for %s: %d tenant-owned tables, parents first:\n", p.Options.Column, len(p.Tables))
	var fill, unresolved int64
	stop := ""
	for i, t := range p.Tables {
		fmt.Fprintf(w, "\n%d. %s: ", i+1, t)
		switch {
		case !t.Nullable:
			fmt.Fprintf(w, "%s is NOT NULL already\n", t.Column)
			continue
		case t.NullRows == 0:
			fmt.Fprintf(w, "no NULL %s\n", t.Column)
		default:
			fmt.Fprintf(w, "%d NULL, %d resolvable", t.NullRows, t.Resolvable)
			if n := t.NullRows - t.Resolvable; n > 0 {
				fmt.Fprintf(w, ", %d unresolved", n)
			}
			fmt.Fprintln(w)
		}
		fill += t.Resolvable
		unresolved += t.NullRows - t.Resolvable
		backfillWriteSources(w, t)
		for _, s := range t.Sources {
			if stop == "" && t.NullRows > 0 && len(s.Parent.Conflicts) > 0 {
				stop = t.String()
				fmt.Fprintf(w, "   apply stops before this table: %s has tenants that differ from their parent's (below)\n", s.Parent)
			}
		}
		if len(t.Unresolved) > 0 {
			if stop == "" {
				stop = t.String()
			}
			backfillWriteUnresolved(w, t.Unresolved)
		}
		if t.NullRows > 0 && t.Batch != "" {
			fmt.Fprintf(w, "   each batch (at most %d rows; $1 = batch size, then the last key of the previous batch):\n", p.Options.BatchSize)
			fmt.Fprintln(w, backfillIndent(t.Batch, "     "))
		}
	}
	if cs := backfillConflicts(p); len(cs) > 0 {
		fmt.Fprintln(w, "\nTenants that differ from their parent's, in tables NULL tenants are derived from (the rows referencing them would inherit them: apply stops before those; correct them first):")
		for _, t := range cs {
			fmt.Fprintf(w, "  %s:\n", t)
			backfillWriteConflicts(w, t.Conflicts)
		}
	}
	if len(p.Unused) > 0 {
		fmt.Fprintln(w, "\nForeign keys not used to derive tenants:")
		for _, u := range p.Unused {
			fmt.Fprintf(w, "  %s on %s: %s\n", u.Constraint, u.Table, u.Why)
		}
	}
	if len(p.Skipped) > 0 {
		fmt.Fprintln(w, "\nSkipped tables:")
		for _, s := range p.Skipped {
			fmt.Fprintf(w, "  %s: %s\n", s.Table, s.Why)
		}
	}
	backfillWriteMigrations(w, "Migrations after the backfill (apply runs the NOT NULL ones itself, the others with --apply-constraints):", p.Migrations)
	fmt.Fprintf(w, "\n%s to fill", backfillRows(fill))
	if unresolved > 0 {
		fmt.Fprintf(w, "; %s whose tenant cannot be derived", backfillRows(unresolved))
	}
	if stop != "" {
		fmt.Fprintf(w, ": apply would stop at %s", stop)
	}
	fmt.Fprintln(w, ".")
}

func backfillWriteSources(w io.Writer, t *backfill.Table) {
	if len(t.Sources) == 0 || t.NullRows == 0 {
		return
	}
	label := "tenant from"
	if len(t.Sources) > 1 {
		label = "tenant from (COALESCE in this order; parents that disagree leave the row unresolved)"
	}
	fmt.Fprintf(w, "   %s:\n", label)
	for _, s := range t.Sources {
		nn := ""
		if s.NotNull {
			nn = ", NOT NULL"
		}
		fmt.Fprintf(w, "     %s%s\n", s, nn)
	}
}

func backfillWriteUnresolved(w io.Writer, us []backfill.Unresolved) {
	fmt.Fprintln(w, "   unresolved:")
	for _, u := range us {
		more := ""
		if int64(len(u.Sample)) < u.Rows {
			more = ", …"
		}
		fmt.Fprintf(w, "     %s: %s (keys: %s%s)\n", backfillRows(u.Rows), u.Reason, strings.Join(u.Sample, ", "), more)
	}
}

func backfillWriteMigrations(w io.Writer, title string, ms []backfill.Migration) {
	if len(ms) == 0 {
		return
	}
	fmt.Fprintf(w, "\n%s\n", title)
	for _, m := range ms {
		fmt.Fprintf(w, "\n  -- %s: %s\n", m.Table, m.Why)
		for _, s := range m.Statements {
			fmt.Fprintf(w, "  %s;\n", s)
		}
	}
}

func backfillRows(n int64) string {
	if n == 1 {
		return "1 row"
	}
	return fmt.Sprintf("%d rows", n)
}

func backfillIndent(s, prefix string) string {
	return prefix + strings.ReplaceAll(s, "\n", "\n"+prefix)
}

func runBackfillApply(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		e.errorf("backfill apply: unexpected arguments %q", args)
		return exitError
	}
	conn, p := backfillPlan(ctx, e, fs)
	if p == nil {
		return exitError
	}
	defer conn.Close(context.Background())
	res, err := backfill.Apply(ctx, conn, p, backfillProgress(e))
	if res != nil {
		for _, tr := range res.Tables {
			switch {
			case tr.AlreadyNotNull:
				fmt.Fprintf(e.stdout, "%s: %s is NOT NULL already\n", tr.Table, p.Options.Column)
			case tr.SetNotNull && tr.NullRows == 0:
				fmt.Fprintf(e.stdout, "%s: no NULL %s; %s is NOT NULL now\n", tr.Table, p.Options.Column, p.Options.Column)
			case tr.SetNotNull:
				fmt.Fprintf(e.stdout, "%s: filled %d of %d NULL in %v (%.0f rows/s); %s is NOT NULL now\n",
					tr.Table, tr.Filled, tr.NullRows, tr.Elapsed.Round(time.Millisecond), tr.RowsPerSecond(), p.Options.Column)
			case tr.NullRows > 0:
				fmt.Fprintf(e.stdout, "%s: filled %d of %d NULL\n", tr.Table, tr.Filled, tr.NullRows)
			}
		}
	}
	var ue *backfill.UnresolvedError
	var ce *backfill.ConflictError
	switch {
	case errors.As(err, &ce):
		fmt.Fprintf(e.stdout, "%s: stopped before it: its %s is derived from %s, where rows have a %s that differs from the row they reference:\n", ce.Table, ce.Table.Column, ce.Parent, ce.Parent.Column)
		backfillWriteConflicts(e.stdout, ce.Conflicts)
		fmt.Fprintf(e.stdout, "Correct them and run apply again; it goes on from here.")
		if len(ce.Untouched) > 0 {
			fmt.Fprintf(e.stdout, " Not touched: %s.", strings.Join(ce.Untouched, ", "))
		}
		fmt.Fprintln(e.stdout)
		return exitFindings
	case errors.As(err, &ue):
		var n int64
		for _, u := range ue.Unresolved {
			n += u.Rows
		}
		fmt.Fprintf(e.stdout, "%s: stopped: %s whose %s cannot be derived\n", ue.Table, backfillRows(n), ue.Table.Column)
		backfillWriteUnresolved(e.stdout, ue.Unresolved)
		fmt.Fprintf(e.stdout, "Set their %s (or their foreign keys) and run apply again; it goes on from here.", ue.Table.Column)
		if len(ue.Untouched) > 0 {
			fmt.Fprintf(e.stdout, " Not touched: %s.", strings.Join(ue.Untouched, ", "))
		}
		fmt.Fprintln(e.stdout)
		return exitFindings
	case errors.Is(err, context.Canceled):
		e.errorf("backfill apply: interrupted; every batch done is committed: run it again to go on")
		return exitError
	case err != nil:
		e.errorf("%v", err)
		return exitError
	}
	if res.ConstraintsApplied {
		fmt.Fprintf(e.stdout, "applied %d index and foreign-key migrations\n", len(res.Migrations))
	} else {
		backfillWriteMigrations(e.stdout, "Still to run (or run apply again with --apply-constraints):", res.Migrations)
	}
	return exitOK
}

// backfillProgress draws a carriage-return progress line on a terminal,
// and otherwise logs a line when a table starts, every 10 seconds, and
// when it ends.
func backfillProgress(e *env) func(backfill.Progress) {
	var last time.Time
	return func(p backfill.Progress) {
		if p.Total == 0 {
			return
		}
		if e.terminal {
			fmt.Fprintf(e.stderr, "\r\033[K%s: %d/%d rows, %.0f rows/s", p.Table, p.Done, p.Total, p.RowsPerSecond())
			if p.Finished {
				fmt.Fprintln(e.stderr)
			}
			return
		}
		switch {
		case p.Done == 0 && !p.Finished:
			last = time.Now()
			fmt.Fprintf(e.stderr, "pgx-tenant: backfill: %s: %d NULL %s\n", p.Table, p.Total, "rows to look at")
		case p.Finished:
			fmt.Fprintf(e.stderr, "pgx-tenant: backfill: %s: filled %d/%d rows in %v, %.0f rows/s\n", p.Table, p.Done, p.Total, p.Elapsed.Round(time.Millisecond), p.RowsPerSecond())
		case time.Since(last) >= 10*time.Second:
			last = time.Now()
			fmt.Fprintf(e.stderr, "pgx-tenant: backfill: %s: %d/%d rows, %.0f rows/s\n", p.Table, p.Done, p.Total, p.RowsPerSecond())
		}
	}
}
