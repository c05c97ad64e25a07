package sqlcheck

import (
	sqldriver "database/sql/driver"
	"fmt"
	"reflect"
	"slices"

	"github.com/jackc/pgx/v5"
)

// TableInfo is what the decision needs to know of a relation.
type TableInfo struct {
	// Name is how findings name it (schema-qualified unless in public).
	Name string
	// Owned: it has the tenant column (a table, partitioned table, or a
	// view exposing the column). Hidden: a view over tenant-owned tables
	// that does not expose the column.
	Owned, Hidden bool
	// Position is the tenant column's 1-based position among the columns
	// (INSERT without a column list).
	Position int
	// DefaultReadsSetting: the tenant column's default reads the setting.
	DefaultReadsSetting bool
	// Type is the tenant column's type ("" when unknown).
	Type string
}

// Tables resolves a reference (schema "" when unqualified) to what the
// catalog knows of it; ok is false for relations it does not know (global
// tables, CTEs of other texts, tables created since).
type Tables interface {
	Lookup(schema, name string) (TableInfo, bool)
}

// Finding is why a statement is not scoped to the tenant.
type Finding struct {
	Rule   string // unscoped, tenant_mismatch, insert_tenant, update_tenant, truncate, copy, lock, hidden_view, unverifiable
	Table  string
	Pos    int // byte offset of the reference in the text
	Detail string
}

// Rules of a Finding.
const (
	RuleUnscoped       = "unscoped"
	RuleTenantMismatch = "tenant_mismatch"
	RuleInsertTenant   = "insert_tenant"
	RuleUpdateTenant   = "update_tenant"
	RuleTruncate       = "truncate"
	RuleCopy           = "copy"
	RuleLock           = "lock"
	RuleHiddenView     = "hidden_view"
	RuleUnverifiable   = "unverifiable"
)

// Decide returns the first reason the statement is not scoped to tenant,
// given the arguments it runs with (named values of database/sql, or
// positional values), or nil when every reference to a tenant-owned
// relation is.
func (s *Scope) Decide(t Tables, tenant string, args []any) (f *Finding) {
	defer recoverFinding(&f)
	d := decision{s: s, t: t, tenant: tenant, args: args}
	return d.run()
}

// recoverFinding turns a fault of the decision into an unverifiable
// finding: refused under enforce, never a panic in the caller.
func recoverFinding(f **Finding) {
	if r := recover(); r != nil {
		*f = &Finding{Rule: RuleUnverifiable, Detail: fmt.Sprintf("the guard's decision failed: %v", r)}
	}
}

// DecideLifted is Decide for the scope of a text's shape (Analysis.Lifted):
// the parameters are the text's literals, lits; args are the statement's
// own arguments (a lifted text has no $n, but may have @name ones).
func (s *Scope) DecideLifted(t Tables, tenant string, lits []string, args []any) (f *Finding) {
	defer recoverFinding(&f)
	all := make([]any, 0, len(lits)+len(args))
	for _, l := range lits {
		all = append(all, l)
	}
	args = append(all, args...)
	d := decision{s: s, t: t, tenant: tenant, args: args, lifted: true, lits: len(lits)}
	return d.run()
}

// Lint returns the first reason the statement could not be scoped to a
// tenant whatever its arguments: a parameter, named argument or literal
// compared with (or written to) the tenant column counts as the tenant,
// since a file does not say which values a statement runs with. It is the
// question of "pgx-tenant lint", asked of SQL files before they run.
//
// One exception: the literals compared with or written to tenant columns
// must all be the same value, since they cannot all be the tenant. lits are
// the literals of a lifted text (Analysis.Lifted: Literals of the text),
// nil otherwise.
func (s *Scope) Lint(t Tables, lits []string) (f *Finding) {
	defer recoverFinding(&f)
	d := decision{s: s, t: t, structural: true, lint: true, lifted: lits != nil, lits: len(lits)}
	for _, l := range lits {
		d.args = append(d.args, l)
	}
	return d.run()
}

type decision struct {
	s      *Scope
	t      Tables
	tenant string
	args   []any
	lifted bool // the parameters are the text's literals
	lits   int  // how many (lifted)
	// structural: any parameter or literal compared with the tenant column
	// counts as the tenant (the rewrite's question: could a predicate
	// scope the reference, whatever the values?).
	structural bool
	// lint: structural, except that the literals compared with tenant
	// columns must agree (lintTenant is the first one seen).
	lint       bool
	lintTenant *string
	refs       []refState
}

// refState is what the decision knows of one reference.
type refState struct {
	info   TableInfo
	known  bool
	scoped bool
	// mismatch is a tenant equality of the reference that named another
	// tenant.
	mismatch *Finding
}

func (d *decision) run() *Finding {
	var small [8]refState
	if n := len(d.s.Refs); n <= len(small) {
		d.refs = small[:n]
	} else {
		d.refs = make([]refState, n)
	}
	for i, r := range d.s.Refs {
		d.refs[i].info, d.refs[i].known = d.t.Lookup(r.Schema, r.Name)
	}
	for i, r := range d.s.Refs {
		if !d.refs[i].known {
			continue
		}
		info := d.refs[i].info
		if info.Hidden {
			return d.finding(RuleHiddenView, i, "is a view that hides the tenant column of the tables it reads; expose the column and filter on it")
		}
		if !info.Owned {
			continue
		}
		switch r.Kind {
		case RefTruncate:
			return d.finding(RuleTruncate, i, "TRUNCATE removes every tenant's rows")
		case RefCopy:
			return d.finding(RuleCopy, i, "COPY of the table reads or writes every tenant's rows; COPY (SELECT … WHERE tenant = …) instead")
		case RefLock:
			return d.finding(RuleLock, i, "LOCK takes every tenant's rows")
		case RefPrepared:
			return d.finding(RuleUnverifiable, i, "is used by an SQL PREPARE, whose arguments the guard cannot see")
		case RefOpaque:
			return d.finding(RuleUnverifiable, i, "is named in a DO block, whose statements the guard cannot see")
		case RefRule:
			return d.finding(RuleUnverifiable, i, "is used by the action of a rule, which runs inside other statements")
		}
	}
	if len(d.s.Unverifiable) > 0 {
		u := d.s.Unverifiable[0]
		return &Finding{Rule: RuleUnverifiable, Pos: u.Pos, Detail: u.Detail}
	}

	d.scopeAll()
	for i, r := range d.s.Refs {
		if d.refs[i].scoped || r.Block < 0 || !d.owned(i) {
			continue
		}
		if f := d.refs[i].mismatch; f != nil {
			return f
		}
		detail := "is read without an equality between its tenant column and the tenant"
		switch r.Kind {
		case RefUpdate:
			detail = "is updated without an equality between its tenant column and the tenant"
		case RefDelete:
			detail = "is deleted from without an equality between its tenant column and the tenant"
		}
		if r.Join != "" {
			detail += " (" + r.Join + ")"
		}
		return d.finding(RuleUnscoped, i, detail)
	}
	for _, w := range d.s.Writes {
		if f := d.write(w); f != nil {
			return f
		}
	}
	return nil
}

// scopeAll scopes references until nothing changes: a reference scoped by
// an equality to another's tenant column waits for that one.
func (d *decision) scopeAll() {
	for changed := true; changed; {
		changed = false
		for i, r := range d.s.Refs {
			if d.refs[i].scoped || r.Block < 0 || !d.owned(i) {
				continue
			}
			if d.scopes(i) {
				d.refs[i].scoped, changed = true, true
			}
		}
	}
}

// exposed reports whether reference i shows its tenant column under the
// tenant column's name: an alias's column list (t AS a(x, y, …)) renames
// the first columns, so the name may belong to another column.
func (d *decision) exposed(i int) bool {
	cols := d.s.Refs[i].Colnames
	if len(cols) == 0 {
		return true
	}
	p := d.refs[i].info.Position
	switch {
	case p < 1:
		return false
	case p <= len(cols):
		return cols[p-1] == d.s.Column
	}
	for _, c := range cols {
		if c == d.s.Column {
			return false
		}
	}
	return true
}

func (d *decision) owned(i int) bool { return d.refs[i].known && d.refs[i].info.Owned }

func (d *decision) finding(rule string, i int, detail string) *Finding {
	name := d.s.Refs[i].Name
	if d.refs[i].known && d.refs[i].info.Name != "" {
		name = d.refs[i].info.Name
	}
	return &Finding{Rule: rule, Table: name, Pos: d.s.Refs[i].Pos, Detail: detail}
}

// scopes reports whether a predicate that applies to reference i scopes it.
func (d *decision) scopes(i int) bool {
	b := d.s.Blocks[d.s.Refs[i].Block]
	if d.anyScopes(b.Where, i) {
		return true
	}
	for _, on := range b.On {
		for _, r := range on.Refs {
			if r == i && d.anyScopes(on.Preds, i) {
				return true
			}
		}
	}
	return false
}

func (d *decision) anyScopes(ps []Pred, i int) bool {
	for _, p := range ps {
		if d.predScopes(p, i) {
			return true
		}
	}
	return false
}

func (d *decision) predScopes(p Pred, i int) bool {
	if p.Or != nil {
		for _, branch := range p.Or {
			if !d.anyScopes(branch, i) {
				return false
			}
		}
		return len(p.Or) > 0
	}
	if d.resolve(p.Col) != i || !d.exposed(i) {
		return false
	}
	ok, mismatch := d.valid(p.Val)
	if mismatch != "" && d.refs[i].mismatch == nil {
		d.refs[i].mismatch = &Finding{Rule: RuleTenantMismatch, Table: d.tableName(i), Pos: p.Val.Pos, Detail: mismatch}
	}
	return ok
}

func (d *decision) tableName(i int) string {
	if d.refs[i].known && d.refs[i].info.Name != "" {
		return d.refs[i].info.Name
	}
	return d.s.Refs[i].Name
}

// resolve returns the reference a tenant column names, or -1.
func (d *decision) resolve(c Col) int {
	if c.Ref >= 0 {
		return c.Ref
	}
	if c.Among != nil {
		return d.only(c.Among)
	}
	for b := c.Block; b >= 0; b = d.s.Blocks[b].Outer {
		refs := d.s.Blocks[b].Refs
		owned := 0
		for _, r := range refs {
			if d.owned(r) {
				owned++
			}
		}
		if owned > 1 {
			return d.merged(b, refs)
		}
		if owned > 0 {
			return d.only(refs)
		}
	}
	return -1
}

// merged resolves an unqualified tenant column among several tenant-owned
// references of block b: when joins USING the tenant column merge them all,
// it is the left side's (recursively), else ambiguous (-1).
func (d *decision) merged(b int, refs []int) int {
	want := d.ownedIn(refs)
	for _, m := range d.s.Blocks[b].Merged {
		right := d.ownedIn(m.Right)
		if right == 0 || d.ownedIn(m.Left)+right != want || !d.covers(m, refs) {
			continue
		}
		if l := d.only(m.Left); l >= 0 {
			return l
		}
		return d.merged(b, m.Left) // fewer references each time
	}
	return -1
}

func (d *decision) ownedIn(refs []int) int {
	n := 0
	for _, r := range refs {
		if d.owned(r) {
			n++
		}
	}
	return n
}

// covers reports whether every tenant-owned reference of refs is on a
// side of m.
func (d *decision) covers(m Merged, refs []int) bool {
	for _, r := range refs {
		if d.owned(r) && !slices.Contains(m.Left, r) && !slices.Contains(m.Right, r) {
			return false
		}
	}
	return true
}

// only returns the one tenant-owned reference among refs, or -1 when
// there is none or the column would be ambiguous.
func (d *decision) only(refs []int) int {
	found := -1
	for _, r := range refs {
		if d.owned(r) {
			if found >= 0 {
				return -1
			}
			found = r
		}
	}
	return found
}

// literal returns the value of o when the text spells it out: a literal,
// or a parameter of a lifted text that stands for one.
func (d *decision) literal(o Operand) (string, bool) {
	switch {
	case o.Kind == OperandLiteral:
		return o.Literal, true
	case o.Kind == OperandParam && d.lifted && o.Param >= 1 && o.Param <= d.lits:
		v, ok := d.args[o.Param-1].(string)
		return v, ok
	}
	return "", false
}

// valid reports whether o is the tenant; mismatch describes o when it
// names another tenant.
func (d *decision) valid(o Operand) (ok bool, mismatch string) {
	if d.structural {
		switch o.Kind {
		case OperandLiteral, OperandParam, OperandNamed:
			if v, ok := d.literal(o); ok && d.lint {
				if d.lintTenant == nil {
					d.lintTenant = &v
				} else if *d.lintTenant != v {
					return false, "compares or writes the tenant column with two different tenant literals"
				}
			}
			return true, ""
		}
	}
	switch o.Kind {
	case OperandSetting, OperandInserted:
		return true, ""
	case OperandLiteral:
		if o.Literal == d.tenant {
			return true, ""
		}
		return false, "compares the tenant column with a literal naming another tenant"
	case OperandParam:
		if o.Param >= 1 && o.Param <= len(d.s.Named) {
			return d.valid(Operand{Kind: OperandNamed, Name: d.s.Named[o.Param-1], Pos: o.Pos})
		}
		if (!d.lifted || o.Param > d.lits) && d.hasNamed() {
			// With pgx named arguments, pgx numbers the parameters
			// itself and drops positional arguments: $n is not args[n].
			return false, ""
		}
		v, ok := d.arg(o.Param)
		if !ok {
			return false, ""
		}
		if v == d.tenant {
			return true, ""
		}
		if d.lifted {
			return false, "compares the tenant column with a literal naming another tenant"
		}
		return false, fmt.Sprintf("compares the tenant column with $%d, whose value is not the context's tenant", o.Param)
	case OperandNamed:
		v, ok := d.named(o.Name)
		if !ok {
			return false, ""
		}
		if v == d.tenant {
			return true, ""
		}
		return false, "compares the tenant column with @" + o.Name + ", whose value is not the context's tenant"
	case OperandCol:
		r := d.resolve(o.Col)
		return r >= 0 && d.refs[r].scoped, ""
	}
	return false, ""
}

// namedArgs returns the pgx named arguments among the arguments: a
// pgx.NamedArgs or pgx.StrictNamedArgs (pgx.StructArgs makes one), the
// only values pgx rewrites a text's @names with. Any other map is a value
// (a jsonb argument, say).
func (d *decision) namedArgs() (map[string]any, bool) {
	for _, a := range d.args {
		if nv, ok := a.(sqldriver.NamedValue); ok {
			a = nv.Value
		}
		switch m := a.(type) {
		case pgx.NamedArgs:
			return m, true
		case pgx.StrictNamedArgs:
			return m, true
		}
	}
	return nil, false
}

// hasNamed reports whether the arguments hold pgx named arguments.
func (d *decision) hasNamed() bool {
	_, ok := d.namedArgs()
	return ok
}

// named returns the named argument name (pgx folds nothing: @Tenant and
// "tenant" are different names).
func (d *decision) named(name string) (string, bool) {
	m, ok := d.namedArgs()
	if !ok {
		return "", false
	}
	v, ok := m[name]
	if !ok {
		return "", false
	}
	return stringValue(v)
}

// arg returns argument n (1-based) as a string, when it is one.
func (d *decision) arg(n int) (string, bool) {
	if n < 1 || n > len(d.args) {
		return "", false
	}
	return stringValue(d.args[n-1])
}

// stringValue returns an argument as the text the server compares: a
// string, bytes, an integer, a Stringer (uuid types), what a
// driver.Valuer (sql.NullString) gives, through pointers; ok is false for
// anything else, and for NULL.
func stringValue(v any) (string, bool) {
	for range 8 { // Valuers and pointers, a few levels deep
		switch x := v.(type) {
		case nil:
			return "", false
		case sqldriver.NamedValue:
			v = x.Value
			continue
		case string:
			return x, true
		case []byte:
			return string(x), true
		case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
			return fmt.Sprint(x), true
		case sqldriver.Valuer:
			if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
				return "", false
			}
			val, err := x.Value()
			if err != nil {
				return "", false
			}
			v = val
			continue
		case fmt.Stringer:
			return x.String(), true
		}
		rv := reflect.ValueOf(v)
		if rv.Kind() != reflect.Pointer || rv.IsNil() {
			return "", false
		}
		v = rv.Elem().Interface()
	}
	return "", false
}

// write checks the values written to a tenant column.
func (d *decision) write(w Write) *Finding {
	if !d.owned(w.Ref) {
		return nil
	}
	info := d.refs[w.Ref].info
	if w.Update {
		for _, v := range w.Vals {
			if ok, mismatch := d.valid(v); !ok {
				if mismatch != "" {
					return &Finding{Rule: RuleTenantMismatch, Table: d.tableName(w.Ref), Pos: v.Pos, Detail: "sets the tenant column to another tenant"}
				}
				return &Finding{Rule: RuleUpdateTenant, Table: d.tableName(w.Ref), Pos: d.s.Refs[w.Ref].Pos, Detail: "changes the tenant column"}
			}
		}
		return nil
	}
	vals := w.Vals
	switch {
	case w.Missing:
		if info.DefaultReadsSetting {
			return nil
		}
		return &Finding{Rule: RuleInsertTenant, Table: d.tableName(w.Ref), Pos: d.s.Refs[w.Ref].Pos, Detail: "inserts rows without the tenant column, and its default does not read the tenant setting"}
	case w.Positional:
		vals = nil
		for _, row := range w.Rows {
			if row == nil {
				return &Finding{Rule: RuleInsertTenant, Table: d.tableName(w.Ref), Pos: d.s.Refs[w.Ref].Pos, Detail: "inserts rows whose values a * expands: which lands in the tenant column is unknown"}
			}
			if info.Position < 1 || info.Position > len(row) {
				if info.DefaultReadsSetting {
					continue
				}
				return &Finding{Rule: RuleInsertTenant, Table: d.tableName(w.Ref), Pos: d.s.Refs[w.Ref].Pos, Detail: "inserts rows without the tenant column"}
			}
			vals = append(vals, row[info.Position-1])
		}
	}
	for _, v := range vals {
		if v.Kind == OperandDefault && info.DefaultReadsSetting {
			continue
		}
		if ok, mismatch := d.valid(v); !ok {
			if mismatch != "" {
				return &Finding{Rule: RuleTenantMismatch, Table: d.tableName(w.Ref), Pos: v.Pos, Detail: "inserts a row of another tenant"}
			}
			return &Finding{Rule: RuleInsertTenant, Table: d.tableName(w.Ref), Pos: d.s.Refs[w.Ref].Pos, Detail: "inserts a tenant column value that is not the tenant (a parameter, current_setting or a scoped tenant column)"}
		}
	}
	return nil
}
