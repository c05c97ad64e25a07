package sqlcheck

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// The rewrite scopes a statement instead of refusing it: every reference
// to a tenant-owned relation that no predicate of the statement scopes gets
// "tenant_column = $N", $N one parameter appended to the statement, which
// the driver binds to the tenant; an INSERT that leaves out the tenant
// column gets it, with $N. It works on the parse tree the scope analysis
// reads (the same parse), records where each reference's predicate goes
// while the analysis walks the tree, and deparses the changed tree once per
// text (or per shape, for texts with inlined values).
//
// Where the predicate goes:
//   - a reference of a query block (FROM, an inner JOIN, the target and
//     FROM of UPDATE, the target and USING of DELETE): the block's WHERE;
//   - the nullable side of a LEFT or RIGHT JOIN: that join's ON (the
//     innermost outer join the reference is nullable in), so the preserved
//     side keeps its rows;
//   - either side of a FULL JOIN, the nullable side of a join by USING or
//     NATURAL, a MERGE source, and a reference whose alias renames its
//     columns: a sub-select of its own, (SELECT * FROM t WHERE
//     t.tenant = $N) AS t, as a row-level-security policy does;
//   - the target of MERGE: its ON; of ON CONFLICT DO UPDATE: the WHERE of
//     the DO UPDATE.
//
// References some predicate scopes are left alone, whatever its value: the
// guard checks at execution that a parameter or literal compared with the
// tenant column is the tenant (a mismatch is a violation, never rewritten).

// site is where the rewrite puts a reference's tenant predicate.
type site struct {
	rv   *pg_query.RangeVar
	node *pg_query.Node  // the FROM item holding rv, when it can become a sub-select
	slot **pg_query.Node // the condition the predicate is ANDed into
	// replace: the reference becomes a scoped sub-select; joined: its
	// outer join is known (the innermost one decides).
	replace, joined bool
}

// wsite is the statement of a Write: an INSERT, or a MERGE's WHEN NOT
// MATCHED THEN INSERT.
type wsite struct {
	ins   *pg_query.InsertStmt
	merge *pg_query.MergeWhenClause
}

// TenantArg is the name of the tenant's argument in a rewritten statement
// run with pgx.NamedArgs (@TenantArg).
const TenantArg = "pgx_tenant_rewrite"

// Rewrite is a text's scoped form.
type Rewrite struct {
	// Scope is the analysis of the rewritten statement (of Display, as
	// parsed), in which the appended parameter reads as the tenant: the
	// guard decides the rewritten statement with it and the original's
	// literals and arguments. Its positions are offsets in Display.
	Scope *Scope
	// Tables names the relations that got a predicate or a tenant column
	// (as the catalog names them), for events.
	Tables []string
	// Left names the tenant-owned relations the rewrite could not scope
	// (a TABLESAMPLE on a nullable side, a name used twice, a view's
	// definition): the guard decides them.
	Left []string
	// Display is the rewritten text as events show it: parameters as
	// $n, constants as ?, never a value.
	Display string
	// Printed is the rewritten text as deparsed (parameters $k, named
	// arguments too): Scope's positions are offsets in it.
	Printed string

	pieces []piece
	text   string // the rewritten text when it has no holes to fill
	param  int    // the appended parameter's number in the analysed text
	first  int    // its number in a text run with positional arguments
	lifted bool
}

// piece is a run of the deparsed text and the hole after it: a parameter
// number of the deparsed text (0 for none).
type piece struct {
	text string
	hole int
	name string // the @name a hole of a named argument stands for
}

// Param is the number of the appended tenant parameter of a text run with
// positional arguments: one more than the highest of the original text.
func (r *Rewrite) Param() int {
	if r.lifted {
		return 1 // a lifted text has no parameters of its own
	}
	return r.first
}

// Named reports whether the rewritten text has @name arguments (pgx named
// arguments, or the @ operator on a column).
func (r *Rewrite) Named() bool {
	for _, p := range r.pieces {
		if p.name != "" {
			return true
		}
	}
	return false
}

// SQL returns the text to run in place of orig, whose analysis holds r;
// named says the statement's arguments are pgx named arguments, so that
// the tenant is @TenantArg rather than $Param().
func (r *Rewrite) SQL(orig string, named bool) string {
	if r.text != "" && !named {
		return r.text
	}
	var lits []span
	if r.lifted {
		_, lits, _ = lift(orig)
	}
	var b strings.Builder
	b.Grow(len(orig) + 32)
	for i, p := range r.pieces {
		b.WriteString(p.text)
		switch {
		case p.hole == 0:
		case p.name != "":
			b.WriteByte('@')
			b.WriteString(p.name)
		case p.hole == r.param:
			if named {
				b.WriteString("@" + TenantArg)
			} else {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(r.Param()))
			}
		case r.lifted && p.hole <= len(lits):
			l := lits[p.hole-1]
			lit := orig[l.start:l.end]
			// A literal where the deparser glued the parameter to a name
			// or a dot ($1.f) would read differently: (5).f, ('x').f.
			if gluedBefore(b.String()) || i+1 < len(r.pieces) && gluedAfter(r.pieces[i+1].text) {
				lit = "(" + lit + ")"
			}
			b.WriteString(lit)
		default:
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(p.hole))
		}
	}
	return b.String()
}

func gluedBefore(out string) bool {
	return out != "" && (isWordByte(out[len(out)-1]) || out[len(out)-1] == '.')
}

func gluedAfter(next string) bool {
	return next != "" && (isWordByte(next[0]) || next[0] == '.')
}

// rewriteTree scopes tree (the parse of a text, or of its shape when
// lifted) and returns its rewrite, or nil when nothing needs one. The tree
// is changed.
//
// names are the pgx named arguments the text had, in the order pgx numbers
// them: tree and src have $1, $2, … in their place (see pgxNamed), which
// the rewritten text turns back into @name.
func rewriteTree(tree *pg_query.ParseResult, src string, names []string, column, setting string, t Tables, lifted bool) (*Rewrite, error) {
	sc := newScoper(src, column, setting, true, 0)
	s := sc.run(tree)
	refs, writes := s.needs(t)
	if len(tree.Stmts) > 1 && (slices.Contains(refs, true) || slices.Contains(writes, true)) {
		// Several statements run only without parameters (the simple
		// protocol): the tenant cannot be appended.
		return nil, errors.New("a text of several statements cannot take the tenant as a parameter")
	}
	// A reference made a sub-select loses its system columns (xmin,
	// ctid, …): with one named in the text, such references are left to
	// the guard.
	sysCols := mentionsSystemColumn(src)
	n := maxParam(tree) + 1
	if n > 65535 {
		// PostgreSQL takes at most 65535 parameters.
		return nil, errors.New("the text has too many parameters to append the tenant")
	}
	// The named arguments' stand-ins come first: without pgx named
	// arguments the text has none of its own parameters before the tenant.
	r := &Rewrite{param: int(n), first: int(n) - len(names), lifted: lifted}
	seen := map[string]bool{}
	changed := func(i int) {
		name := tableName(t, s.Refs[i])
		if !seen[name] {
			seen[name] = true
			r.Tables = append(r.Tables, name)
		}
	}
	for i := range s.Refs {
		if !refs[i] {
			continue
		}
		st := sc.sites[i]
		renames := st.rv.Alias != nil && len(st.rv.Alias.Colnames) > 0
		switch {
		case (st.replace || renames) && st.node != nil && !sysCols:
			st.node.Node = scopedSubselect(st.rv, column, n)
		case st.slot != nil && !renames:
			and(st.slot, tenantEq(aliasOf(st.rv), column, n))
		default:
			// TABLESAMPLE on a nullable side, say: left to the guard.
			r.Left = append(r.Left, tableName(t, s.Refs[i]))
			continue
		}
		changed(i)
	}
	for i, w := range s.Writes {
		if !writes[i] {
			continue
		}
		ws := sc.wsites[i]
		switch {
		case ws.ins != nil:
			addInsertTenant(ws.ins, column, n, tenantType(t, s.Refs[w.Ref]))
		case ws.merge != nil:
			ws.merge.TargetList = append(ws.merge.TargetList, resTarget(column, nil))
			ws.merge.Values = append(ws.merge.Values, pg_query.MakeParamRefNode(n, -1))
		default:
			continue
		}
		changed(w.Ref)
	}
	if len(r.Tables) == 0 {
		return nil, nil
	}
	out, err := pg_query.Deparse(tree)
	if err != nil {
		return nil, err
	}
	out = fixLocking(out)
	// The deparser has other faults ((ARRAY[…])[1:1] printed without its
	// parentheses): a text that does not print back to itself is not
	// rewritten.
	printed, err := pg_query.Parse(out)
	if err != nil {
		return nil, fmt.Errorf("the deparsed text does not parse: %v", err)
	}
	if out2, err := pg_query.Deparse(printed); err != nil || fixLocking(out2) != out {
		return nil, fmt.Errorf("the deparsed text does not survive a round trip")
	}
	if err := r.template(out, names); err != nil {
		return nil, err
	}
	// The guard decides what will run: the deparsed text as parsed
	// above (once per text), not the tree it was printed from.
	r.Scope = newScoper(out, column, setting, false, n).run(printed)
	r.Scope.Named = names
	return r, nil
}

// mentionsSystemColumn reports whether src has a word naming a system
// column.
func mentionsSystemColumn(src string) bool {
	for i := 0; i < len(src); {
		if !isWordByte(src[i]) {
			i++
			continue
		}
		j := i
		for j < len(src) && isWordByte(src[j]) {
			j++
		}
		switch strings.ToLower(src[i:j]) {
		case "xmin", "xmax", "cmin", "cmax", "ctid", "tableoid":
			return true
		}
		i = j
	}
	return false
}

// Redact replaces the constants of sql (strings, numbers, bit strings)
// by ?, for events, which never carry values; "" when sql does not scan.
func Redact(sql string) string { return redact(sql) }

func redact(sql string) string {
	res, err := pg_query.Scan(sql)
	if err != nil {
		return ""
	}
	var b strings.Builder
	last := 0
	for _, tok := range res.Tokens {
		switch tok.Token {
		case pg_query.Token_SCONST, pg_query.Token_USCONST, pg_query.Token_BCONST, pg_query.Token_XCONST,
			pg_query.Token_ICONST, pg_query.Token_FCONST:
			b.WriteString(sql[last:tok.Start])
			b.WriteByte('?')
			last = int(tok.End)
		}
	}
	b.WriteString(sql[last:])
	return b.String()
}

// fixLocking mends a fault of the deparser: FOR UPDATE OF t SKIP LOCKED
// (or NOWAIT) comes out as "OF tSKIP LOCKED". The deparser writes unquoted
// names in lower case and keywords in upper case, so an unquoted name
// ending in SKIP or NOWAIT is that fault, and gets its space back.
func fixLocking(out string) string {
	if !strings.Contains(out, "SKIP LOCKED") && !strings.Contains(out, "NOWAIT") {
		return out
	}
	res, err := pg_query.Scan(out)
	if err != nil {
		return out
	}
	var b strings.Builder
	last := 0
	for _, tok := range res.Tokens {
		word := out[tok.Start:tok.End]
		if tok.Token != pg_query.Token_IDENT || word[0] == '"' {
			continue
		}
		for _, kw := range []string{"SKIP", "NOWAIT"} {
			if len(word) > len(kw) && strings.HasSuffix(word, kw) {
				cut := int(tok.End) - len(kw)
				b.WriteString(out[last:cut])
				b.WriteByte(' ')
				last = cut
			}
		}
	}
	if last == 0 {
		return out
	}
	b.WriteString(out[last:])
	return b.String()
}

// template cuts the deparsed text at its parameters: the appended one,
// the stand-ins for @name arguments (numbered after it) and, in a lifted
// text, the literals.
func (r *Rewrite) template(out string, named []string) error {
	res, err := pg_query.Scan(out)
	if err != nil {
		return err
	}
	var disp strings.Builder
	last := 0
	holes := false
	for _, tok := range res.Tokens {
		if tok.Token != pg_query.Token_PARAM {
			continue
		}
		k, err := strconv.Atoi(out[tok.Start+1 : tok.End])
		if err != nil {
			continue
		}
		p := piece{text: out[last:tok.Start], hole: k}
		if k <= len(named) {
			p.name = named[k-1]
		}
		if p.name != "" || r.lifted || k == r.param {
			holes = holes || p.name != "" || r.lifted
			r.pieces = append(r.pieces, p)
			last = int(tok.End)
			disp.WriteString(p.text)
			if p.name != "" {
				disp.WriteString("@" + p.name)
			} else {
				disp.WriteString(out[tok.Start:tok.End])
			}
		}
	}
	r.pieces = append(r.pieces, piece{text: out[last:]})
	disp.WriteString(out[last:])
	r.Display = redact(disp.String())
	r.Printed = out
	if !holes {
		r.text = out
	}
	return nil
}

// needs returns which references want a tenant predicate and which writes
// the tenant column: tenant-owned relations that no predicate could scope
// whatever the arguments' values.
func (s *Scope) needs(t Tables) (refs, writes []bool) {
	d := decision{s: s, t: t, structural: true, refs: make([]refState, len(s.Refs))}
	for i, r := range s.Refs {
		d.refs[i].info, d.refs[i].known = t.Lookup(r.Schema, r.Name)
	}
	d.scopeAll()
	refs = make([]bool, len(s.Refs))
	for i, r := range s.Refs {
		switch r.Kind {
		case RefRead, RefUpdate, RefDelete:
		default:
			continue
		}
		refs[i] = r.Block >= 0 && d.owned(i) && !d.refs[i].info.Hidden && !d.refs[i].scoped
	}
	writes = make([]bool, len(s.Writes))
	for i, w := range s.Writes {
		// A default that reads the setting already writes the tenant.
		writes[i] = !w.Update && w.Missing && d.owned(w.Ref) && !d.refs[w.Ref].info.DefaultReadsSetting
	}
	return refs, writes
}

func tableName(t Tables, r Ref) string {
	if info, ok := t.Lookup(r.Schema, r.Name); ok && info.Name != "" {
		return info.Name
	}
	return r.Name
}

// tenantEq is qual.column = $n.
func tenantEq(qual, column string, n int32) *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_AExpr{AExpr: &pg_query.A_Expr{
		Kind:     pg_query.A_Expr_Kind_AEXPR_OP,
		Name:     []*pg_query.Node{pg_query.MakeStrNode("=")},
		Lexpr:    pg_query.MakeColumnRefNode([]*pg_query.Node{pg_query.MakeStrNode(qual), pg_query.MakeStrNode(column)}, -1),
		Rexpr:    pg_query.MakeParamRefNode(n, -1),
		Location: -1,
	}}}
}

// and makes *slot "*slot AND p".
func and(slot **pg_query.Node, p *pg_query.Node) {
	if *slot == nil {
		*slot = p
		return
	}
	if be := (*slot).GetBoolExpr(); be != nil && be.Boolop == pg_query.BoolExprType_AND_EXPR {
		be.Args = append(be.Args, p)
		return
	}
	*slot = pg_query.MakeBoolExprNode(pg_query.BoolExprType_AND_EXPR, []*pg_query.Node{*slot, p}, -1)
}

// scopedSubselect is (SELECT * FROM rv WHERE rv.column = $n) AS alias:
// the relation as a row-level-security policy would show it.
func scopedSubselect(rv *pg_query.RangeVar, column string, n int32) *pg_query.Node_RangeSubselect {
	inner := &pg_query.RangeVar{Catalogname: rv.Catalogname, Schemaname: rv.Schemaname, Relname: rv.Relname,
		Inh: rv.Inh, Relpersistence: rv.Relpersistence, Location: rv.Location}
	alias := rv.Alias
	if alias == nil {
		alias = &pg_query.Alias{Aliasname: rv.Relname}
	}
	sel := &pg_query.SelectStmt{
		TargetList:  []*pg_query.Node{resTarget("", pg_query.MakeColumnRefNode([]*pg_query.Node{{Node: &pg_query.Node_AStar{AStar: &pg_query.A_Star{}}}}, -1))},
		FromClause:  []*pg_query.Node{{Node: &pg_query.Node_RangeVar{RangeVar: inner}}},
		WhereClause: tenantEq(rv.Relname, column, n),
	}
	return &pg_query.Node_RangeSubselect{RangeSubselect: &pg_query.RangeSubselect{
		Subquery: &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: sel}},
		Alias:    alias,
	}}
}

func resTarget(name string, val *pg_query.Node) *pg_query.Node {
	return &pg_query.Node{Node: &pg_query.Node_ResTarget{ResTarget: &pg_query.ResTarget{Name: name, Val: val, Location: -1}}}
}

// addInsertTenant adds the tenant column, valued $n, to an INSERT that
// names its columns without it (or inserts DEFAULT VALUES).
//
// In a SELECT (a branch of a UNION, say) nothing gives the parameter the
// column's type, so it is cast to typ there (when known).
func addInsertTenant(ins *pg_query.InsertStmt, column string, n int32, typ *pg_query.TypeName) {
	ins.Cols = append(ins.Cols, resTarget(column, nil))
	sel := ins.SelectStmt.GetSelectStmt()
	if sel == nil { // DEFAULT VALUES
		row := &pg_query.Node{Node: &pg_query.Node_List{List: &pg_query.List{Items: []*pg_query.Node{pg_query.MakeParamRefNode(n, -1)}}}}
		ins.SelectStmt = &pg_query.Node{Node: &pg_query.Node_SelectStmt{SelectStmt: &pg_query.SelectStmt{ValuesLists: []*pg_query.Node{row}}}}
		return
	}
	for _, leaf := range leaves(sel, nil) {
		if len(leaf.ValuesLists) > 0 {
			for _, row := range leaf.ValuesLists {
				if l := row.GetList(); l != nil {
					l.Items = append(l.Items, pg_query.MakeParamRefNode(n, -1))
				}
			}
			continue
		}
		val := pg_query.MakeParamRefNode(n, -1)
		if typ != nil {
			val = &pg_query.Node{Node: &pg_query.Node_TypeCast{TypeCast: &pg_query.TypeCast{Arg: val, TypeName: typ, Location: -1}}}
		}
		leaf.TargetList = append(leaf.TargetList, resTarget("", val))
	}
}

// tenantType is the parsed type of r's tenant column, or nil.
func tenantType(t Tables, r Ref) *pg_query.TypeName {
	info, ok := t.Lookup(r.Schema, r.Name)
	if !ok || info.Type == "" {
		return nil
	}
	tree, err := pg_query.Parse("SELECT NULL::" + info.Type)
	if err != nil || len(tree.Stmts) != 1 {
		return nil
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil || len(sel.TargetList) != 1 {
		return nil
	}
	if tc := sel.TargetList[0].GetResTarget().GetVal().GetTypeCast(); tc != nil {
		return tc.TypeName
	}
	return nil
}

// maxParam returns the highest $n of tree.
func maxParam(tree *pg_query.ParseResult) int32 {
	var max int32
	walkUntil(tree.ProtoReflect(), func(m protoreflect.ProtoMessage) bool {
		if p, ok := m.(*pg_query.ParamRef); ok && p.Number > max {
			max = p.Number
		}
		return true
	})
	return max
}

// pgxNamed returns sql as pgx sends it with named arguments (pgx.NamedArgs
// and the like): each @name replaced by $k, k numbering the names in order
// of first use; and the names. It returns "" when sql has no @name, or has
// parameters of its own ($1), which pgx would confuse with them.
func pgxNamed(sql string) (string, []string) {
	if strings.IndexByte(sql, '@') < 0 {
		return "", nil
	}
	sub, _, err := pgx.NamedArgs(nil).RewriteQuery(context.Background(), nil, sql, nil)
	if err != nil || sub == sql {
		return "", nil
	}
	if res, err := pg_query.Scan(sql); err == nil {
		for _, tok := range res.Tokens {
			if tok.Token == pg_query.Token_PARAM {
				return "", nil
			}
		}
	}
	// Walk both texts: they differ only where @name became $k.
	var names []string
	i, j := 0, 0
	for i < len(sql) && j < len(sub) {
		if sql[i] == sub[j] {
			i, j = i+1, j+1
			continue
		}
		if sql[i] != '@' || sub[j] != '$' {
			return "", nil
		}
		start := i + 1
		i = start
		for i < len(sql) && isWordByte(sql[i]) && sql[i] != '$' { // pgx: ASCII letters, digits, _
			i++
		}
		j++
		k := 0
		for j < len(sub) && sub[j] >= '0' && sub[j] <= '9' {
			k = k*10 + int(sub[j]-'0')
			j++
		}
		switch {
		case k == len(names)+1:
			names = append(names, sql[start:i])
		case k < 1 || k > len(names) || names[k-1] != sql[start:i]:
			return "", nil
		}
	}
	if i != len(sql) || j != len(sub) {
		return "", nil
	}
	return sub, names
}

// hasNamedArg reports whether sql may hold a pgx named argument: an @
// followed by a letter or _.
func hasNamedArg(sql string) bool {
	for i := strings.IndexByte(sql, '@'); i >= 0 && i+1 < len(sql); {
		c := sql[i+1]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' {
			return true
		}
		j := strings.IndexByte(sql[i+1:], '@')
		if j < 0 {
			break
		}
		i += 1 + j
	}
	return false
}
