package backfill

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configure NewPlan, and through the plan, Apply.
type Options struct {
	// Column is the tenant column. Default "tenant_id".
	Column string
	// Tables limits the backfill to these tables ("name" or "schema.name").
	// Default: every tenant-owned table. Parents outside the list are read,
	// never written: their NULL tenants stay NULL.
	Tables []string
	// BatchSize is the most rows one batch (one transaction) updates.
	// Default 5000.
	BatchSize int
	// LockTimeout bounds every lock wait of Apply (batches and ALTER TABLE);
	// a batch that times out is retried, twice. Default 5s.
	LockTimeout time.Duration
	// ApplyConstraints makes Apply also run the index and foreign-key
	// migrations, once every table is backfilled. Default false: they are
	// returned for the user to run.
	ApplyConstraints bool
	// Sample is how many keys of unresolved rows are reported per reason.
	// Default 10.
	Sample int
}

func (o Options) withDefaults() (Options, error) {
	if o.Column == "" {
		o.Column = "tenant_id"
	}
	if o.BatchSize == 0 {
		o.BatchSize = 5000
	}
	if o.BatchSize < 0 {
		return o, fmt.Errorf("backfill: batch size %d: must be positive", o.BatchSize)
	}
	if o.LockTimeout == 0 {
		o.LockTimeout = 5 * time.Second
	}
	if o.LockTimeout < time.Millisecond {
		return o, fmt.Errorf("backfill: lock timeout %v: must be at least 1ms", o.LockTimeout)
	}
	if o.Sample <= 0 {
		o.Sample = 10
	}
	return o, nil
}

// Plan is what a backfill would do, read from the catalog and the data by
// NewPlan. It holds no connection and no context.
type Plan struct {
	Options Options
	// Tables are the tenant-owned tables the backfill covers, in the order it
	// processes them: every table after the tables it derives tenants from.
	Tables []*Table
	// Skipped are tenant-owned tables the backfill does not handle.
	Skipped []Skipped
	// Unused are foreign keys between tenant-owned tables that are not used
	// to derive tenants, and why.
	Unused []Unused
	// Migrations are the statements to run once the tables are backfilled:
	// SET NOT NULL (Apply runs these itself), tenant-led indexes and
	// composite foreign keys (Apply runs these with ApplyConstraints).
	Migrations []Migration

	all       []*Table
	fks       []*foreignKey
	relations map[string]bool // relation names of the tables' schemas, "schema.name"
}

// Table is one tenant-owned table.
type Table struct {
	Schema, Name string
	// Column is the tenant column; Nullable reports it may hold NULL (it is
	// not NOT NULL yet).
	Column   string
	Nullable bool
	// Key is the primary key; empty when the table has none (batches then
	// go by ctid).
	Key []string
	// Sources are the foreign keys a NULL tenant is derived through, in
	// preference order.
	Sources []Source
	// NullRows counts rows whose tenant is NULL; Resolvable those of them
	// whose tenant the backfill derives (counting tenants it derives for
	// parents first); Unresolved the others, by reason.
	NullRows, Resolvable int64
	Unresolved           []Unresolved
	// Conflicts are rows whose tenant is set but differs from the tenant of
	// the row they reference through a source, per source: counted for the
	// tables whose rows NULL tenants are derived from (a parent of a table
	// with a nullable tenant column), because those NULLs would inherit
	// them. Apply stops before a table whose parents have any.
	Conflicts []Conflict
	// Batch is the statement each batch of Apply runs: $1 is the batch
	// size, the following parameters the primary key of the last row of the
	// previous batch.
	Batch string

	oid         uint32
	indexes     []index
	constraints []string // every constraint name of the table
	inherited   bool     // other tables inherit from it (not partitions)
}

// String is the table's name, schema-qualified outside public.
func (t *Table) String() string {
	if t.Schema == "public" {
		return t.Name
	}
	return t.Schema + "." + t.Name
}

func (t *Table) ident() string { return pgx.Identifier{t.Schema, t.Name}.Sanitize() }

// only is ONLY t: the rows of t itself, not those of the tables inheriting
// from it, as foreign keys see it (they are not inherited; their checks
// read ONLY the referenced table).
func (t *Table) only() string { return "ONLY " + t.ident() }

// Source is a foreign key a row's tenant is derived through: the tenant of
// the row it references.
type Source struct {
	Constraint string
	Parent     *Table
	// Columns of the child referencing RefColumns of the parent (the tenant
	// pair of a composite key left out).
	Columns, RefColumns []string
	// NotNull: every column of Columns is NOT NULL.
	NotNull bool

	collations []string // per column: see foreignKey.collations
}

func (s Source) String() string {
	return fmt.Sprintf("%s (%s → %s.%s)", s.Constraint, strings.Join(s.Columns, ", "), s.Parent, strings.Join(s.RefColumns, ", "))
}

// Skipped is a tenant-owned table the backfill does not handle.
type Skipped struct{ Table, Why string }

// Unused is a foreign key between tenant-owned tables that is not used to
// derive tenants.
type Unused struct{ Constraint, Table, Why string }

// Reason says why a row's tenant cannot be derived.
type Reason int

// The reasons, in the order a row is classified: the first that applies.
const (
	// ParentsDisagree: two referenced rows have different tenants. The
	// backfill never picks one.
	ParentsDisagree Reason = iota + 1
	// ParentTenantNull: a foreign key column is set, but no referenced row
	// has a tenant, and none can be derived for it (or the row is missing
	// under a NOT VALID key).
	ParentTenantNull
	// ForeignKeyNull: every foreign key column of the row is NULL.
	ForeignKeyNull
	// NoForeignKey: the table has no foreign key to a tenant-owned table to
	// derive a tenant through.
	NoForeignKey
)

func (r Reason) String() string {
	switch r {
	case ParentsDisagree:
		return "the rows it references have different tenants"
	case ParentTenantNull:
		return "the row it references has no tenant, and none can be derived for it"
	case ForeignKeyNull:
		return "its foreign key columns are NULL"
	case NoForeignKey:
		return "the table has no foreign key to a tenant-owned table"
	}
	return fmt.Sprintf("reason(%d)", int(r))
}

// Unresolved counts the rows of one table whose tenant cannot be derived
// for one reason, with a sample of their primary keys (as text; ctids for a
// table without a primary key), lowest first.
type Unresolved struct {
	Reason Reason
	Rows   int64
	Sample []string
}

// Conflict counts the rows of a table whose tenant is set and differs from
// the tenant of the row they reference through one foreign key, with a
// sample of their primary keys (as in Unresolved). Rows referencing them
// would inherit a tenant their own parent contradicts, and the composite
// key would not validate.
type Conflict struct {
	Constraint string
	Parent     *Table
	Rows       int64
	Sample     []string
}

// NewPlan reads the tenant-owned tables (tables having opts.Column), the
// foreign keys between them and their NULL tenants, and derives the
// backfill. conn must see every row: see the package doc (RLS); NewPlan
// sets row_security off on it and returns a *RowSecurityError when RLS
// applies to its role. NewPlan writes nothing; it scans every table with a
// nullable tenant column.
func NewPlan(ctx context.Context, conn *pgx.Conn, opts Options) (*Plan, error) {
	p, err := build(ctx, conn, opts)
	if err != nil {
		return nil, err
	}
	transitive := map[*Table]bool{}
	for _, t := range p.Tables {
		transitive[t] = true
	}
	for _, t := range p.Tables {
		if !t.Nullable {
			continue
		}
		if err := count(ctx, conn, t, transitive, p.Options.Sample); err != nil {
			return nil, err
		}
	}
	for _, t := range p.derivedFrom() {
		if err := conflicts(ctx, conn, t, p.Options.Sample); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// derivedFrom are the tables NULL tenants are derived from (the parents of
// the tables with a nullable tenant column) that themselves have sources,
// in the plan's order, then by name.
func (p *Plan) derivedFrom() []*Table {
	var out []*Table
	seen := map[*Table]bool{}
	for _, t := range p.Tables {
		if !t.Nullable {
			continue
		}
		for _, s := range t.Sources {
			if !seen[s.Parent] && len(s.Parent.Sources) > 0 {
				seen[s.Parent] = true
				out = append(out, s.Parent)
			}
		}
	}
	return out
}

// conflicts fills t.Conflicts.
func conflicts(ctx context.Context, conn *pgx.Conn, t *Table, sample int) error {
	t.Conflicts = nil
	k, order := keyText(t, "c")
	vals := (&builder{}).values(t, "c")
	for i, s := range t.Sources {
		where := fmt.Sprintf("FROM %s c WHERE %s IS NOT NULL AND %s <> %s", t.only(), col("c", t.Column), vals[i], col("c", t.Column))
		c := Conflict{Constraint: s.Constraint, Parent: s.Parent}
		if err := conn.QueryRow(ctx, "SELECT count(*) "+where).Scan(&c.Rows); err != nil {
			return wrapRead(t, "counting tenants that differ from their parents'", err)
		}
		if c.Rows == 0 {
			continue
		}
		rows, err := conn.Query(ctx, "SELECT "+k+" "+where+" ORDER BY "+strings.Join(order, ", ")+" LIMIT $1", sample)
		if err != nil {
			return wrapRead(t, "sampling tenants that differ from their parents'", err)
		}
		if c.Sample, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
			return wrapRead(t, "sampling tenants that differ from their parents'", err)
		}
		t.Conflicts = append(t.Conflicts, c)
	}
	return nil
}

// build reads the catalog and orders the tables; it reads no rows.
func build(ctx context.Context, conn *pgx.Conn, opts Options) (*Plan, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, "SET row_security = off"); err != nil {
		return nil, fmt.Errorf("backfill: SET row_security = off: %w", err)
	}
	all, skipped, fks, err := load(ctx, conn, opts.Column)
	if err != nil {
		return nil, err
	}
	p := &Plan{Options: opts, Skipped: skipped, all: all, fks: fks}
	if p.relations, err = relations(ctx, conn, all); err != nil {
		return nil, err
	}
	selected, err := p.selected()
	if err != nil {
		return nil, err
	}
	p.derive()
	p.Tables = order(selected)
	for _, t := range p.Tables {
		t.Batch = batchSQL(t)
	}
	if err := checkRowSecurity(ctx, conn, p.reads()); err != nil {
		return nil, err
	}
	p.Migrations = p.migrations()
	return p, nil
}

// selected resolves Options.Tables.
func (p *Plan) selected() (map[*Table]bool, error) {
	sel := map[*Table]bool{}
	if len(p.Options.Tables) == 0 {
		for _, t := range p.all {
			sel[t] = true
		}
		return sel, nil
	}
	for _, name := range p.Options.Tables {
		var found []*Table
		for _, t := range p.all {
			if name == t.Name || name == t.Schema+"."+t.Name {
				found = append(found, t)
			}
		}
		switch len(found) {
		case 0:
			return nil, fmt.Errorf("backfill: %q is not a tenant-owned table (a table with a column %q)", name, p.Options.Column)
		case 1:
			sel[found[0]] = true
		default:
			return nil, fmt.Errorf("backfill: %q names tables in several schemas: qualify it", name)
		}
	}
	return sel, nil
}

// derive sets the Sources of every table: its foreign keys to tenant-owned
// tables, except those on a cycle of such keys, NOT NULL ones first, then
// by constraint name.
func (p *Plan) derive() {
	type edge struct {
		fk                *foreignKey
		cols, refs, colls []string
		notNull           bool
	}
	edges := map[*Table][]edge{}
	for _, fk := range p.fks {
		cols, refs, colls, notNull, ok := fk.lookupColumns()
		switch {
		case !ok && fk.oddTenant:
			p.Unused = append(p.Unused, Unused{fk.name, fk.child.String(), fmt.Sprintf("it references %s.%s with the tenant column, not the tenant column", fk.parent, fk.refColumns[slices.Index(fk.columns, fk.child.Column)])})
		case !ok:
			p.Unused = append(p.Unused, Unused{fk.name, fk.child.String(), "its columns other than the tenant column are not a unique key of " + fk.parent.String()})
		case fk.child == fk.parent:
			p.Unused = append(p.Unused, Unused{fk.name, fk.child.String(), "it references its own table: fill these rows by hand"})
		default:
			edges[fk.child] = append(edges[fk.child], edge{fk, cols, refs, colls, notNull})
		}
	}
	// Strongly connected components (Tarjan): keys inside one are a cycle.
	comp := map[*Table]int{}
	index, low, onStack := map[*Table]int{}, map[*Table]int{}, map[*Table]bool{}
	var stack []*Table
	next, ncomp := 0, 0
	var visit func(t *Table)
	visit = func(t *Table) {
		index[t], low[t] = next, next
		next++
		stack = append(stack, t)
		onStack[t] = true
		for _, e := range edges[t] {
			u := e.fk.parent
			if _, seen := index[u]; !seen {
				visit(u)
				low[t] = min(low[t], low[u])
			} else if onStack[u] {
				low[t] = min(low[t], index[u])
			}
		}
		if low[t] == index[t] {
			for {
				u := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				onStack[u] = false
				comp[u] = ncomp
				if u == t {
					break
				}
			}
			ncomp++
		}
	}
	for _, t := range p.all {
		if _, seen := index[t]; !seen {
			visit(t)
		}
	}
	for _, t := range p.all {
		for _, e := range edges[t] {
			if comp[e.fk.parent] == comp[t] {
				p.Unused = append(p.Unused, Unused{e.fk.name, t.String(), fmt.Sprintf("it is on a cycle of foreign keys (%s ⇄ %s): fill these rows by hand, or drop the key while backfilling", t, e.fk.parent)})
				continue
			}
			t.Sources = append(t.Sources, Source{Constraint: e.fk.name, Parent: e.fk.parent, Columns: e.cols, RefColumns: e.refs, NotNull: e.notNull, collations: e.colls})
		}
		slices.SortStableFunc(t.Sources, func(a, b Source) int {
			if a.NotNull != b.NotNull {
				if a.NotNull {
					return -1
				}
				return 1
			}
			return strings.Compare(a.Constraint, b.Constraint)
		})
	}
	slices.SortFunc(p.Unused, func(a, b Unused) int {
		return cmp.Or(strings.Compare(a.Table, b.Table), strings.Compare(a.Constraint, b.Constraint))
	})
}

// order sorts the selected tables so that each comes after the selected
// tables it derives tenants from (Kahn; ties by name, so the order is
// stable). Sources have no cycle, so every table is placed.
func order(sel map[*Table]bool) []*Table {
	waiting := map[*Table]int{}
	children := map[*Table][]*Table{}
	for t := range sel {
		seen := map[*Table]bool{}
		for _, s := range t.Sources {
			if sel[s.Parent] && !seen[s.Parent] {
				seen[s.Parent] = true
				waiting[t]++
				children[s.Parent] = append(children[s.Parent], t)
			}
		}
	}
	var ready, out []*Table
	for t := range sel {
		if waiting[t] == 0 {
			ready = append(ready, t)
		}
	}
	for len(ready) > 0 {
		slices.SortFunc(ready, func(a, b *Table) int {
			return cmp.Or(strings.Compare(a.Schema, b.Schema), strings.Compare(a.Name, b.Name))
		})
		t := ready[0]
		ready = ready[1:]
		out = append(out, t)
		for _, c := range children[t] {
			if waiting[c]--; waiting[c] == 0 {
				ready = append(ready, c)
			}
		}
	}
	return out
}

// reads are the tables the backfill reads: the selected ones and their
// parents.
func (p *Plan) reads() []*Table {
	var out []*Table
	seen := map[*Table]bool{}
	add := func(t *Table) {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	for _, t := range p.Tables {
		add(t)
		for _, s := range t.Sources {
			add(s.Parent)
		}
	}
	return out
}

// count fills t's NullRows, Resolvable and Unresolved. transitive are the
// tables whose NULL tenants count as derived (those backfilled before t).
func count(ctx context.Context, conn *pgx.Conn, t *Table, transitive map[*Table]bool, sample int) error {
	inner := classifySQL(t, transitive)
	rows, err := conn.Query(ctx, "SELECT r.reason, count(*) FROM ("+inner+") r GROUP BY r.reason ORDER BY r.reason")
	if err != nil {
		return wrapRead(t, "counting NULL tenants", err)
	}
	t.NullRows, t.Resolvable, t.Unresolved = 0, 0, nil
	for rows.Next() {
		var reason int
		var n int64
		if err := rows.Scan(&reason, &n); err != nil {
			return wrapRead(t, "counting NULL tenants", err)
		}
		t.NullRows += n
		if reason == 0 {
			t.Resolvable = n
			continue
		}
		t.Unresolved = append(t.Unresolved, Unresolved{Reason: Reason(reason), Rows: n})
	}
	if err := rows.Err(); err != nil {
		return wrapRead(t, "counting NULL tenants", err)
	}
	order := "r.o1"
	for i := 2; i <= max(1, len(t.Key)); i++ {
		order += fmt.Sprintf(", r.o%d", i)
	}
	for i := range t.Unresolved {
		u := &t.Unresolved[i]
		rows, err := conn.Query(ctx, "SELECT r.k FROM ("+inner+") r WHERE r.reason = $1 ORDER BY "+order+" LIMIT $2", int(u.Reason), sample)
		if err != nil {
			return wrapRead(t, "sampling unresolved rows", err)
		}
		u.Sample, err = pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return wrapRead(t, "sampling unresolved rows", err)
		}
	}
	return nil
}

// wrapRead puts a table in err, and turns the server's refusal under
// row_security = off into a *RowSecurityError.
func wrapRead(t *Table, doing string, err error) error {
	if rls := rowSecurityFromServer(err); rls != nil {
		return rls
	}
	return fmt.Errorf("backfill: %s: %s: %w", t, doing, err)
}
