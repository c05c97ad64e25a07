package sqlcheck

import (
	"regexp"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Scope is the scope analysis of a text: every relation it references and
// the tenant constraints that apply to each. It does not know which
// relations are tenant-owned; the guard decides that with its catalog, the
// statement's arguments and the context's tenant, so one Scope serves every
// tenant and every refresh of the catalog.
type Scope struct {
	Column string // the tenant column
	// Named are the pgx named arguments of the text, in pgx's order: the
	// analysed text has $k in place of @Named[k-1].
	Named  []string
	Refs   []Ref
	Blocks []Block
	Writes []Write
	// Unverifiable holds what the statement runs that the analysis cannot
	// see: EXECUTE of an SQL-prepared statement, functions that run SQL
	// text or dump tables by name, a change of the search_path.
	Unverifiable []Unverified
}

// Unverified is a construct whose effect on tenant rows the text does not
// show.
type Unverified struct {
	Pos    int
	Detail string
}

// RefKind says how a statement uses a relation.
type RefKind uint8

const (
	RefRead     RefKind = iota // read by a query (FROM, JOIN, sub-select, USING)
	RefInsert                  // the target of INSERT (or MERGE … INSERT)
	RefUpdate                  // the target of UPDATE (or MERGE)
	RefDelete                  // the target of DELETE
	RefTruncate                // TRUNCATE
	RefCopy                    // COPY table TO/FROM
	RefLock                    // LOCK
	RefPrepared                // inside SQL PREPARE: runs later with values the text does not show
	RefOpaque                  // named in the source of a DO block, whose statements the parser does not see
	RefRule                    // in the action of a CREATE RULE: runs later, inside other statements
)

func (k RefKind) String() string {
	return [...]string{"read", "insert", "update", "delete", "truncate", "copy", "lock", "prepare", "do", "rule"}[k]
}

// Ref is one reference to a relation.
type Ref struct {
	Schema string // "" when unqualified
	Name   string // as PostgreSQL reads it (unquoted names folded to lower case)
	Pos    int    // byte offset in the text
	Kind   RefKind
	// Block is the query block whose predicates can scope the reference;
	// -1 for references no predicate scopes (TRUNCATE, COPY, LOCK, INSERT
	// targets, whose tenant is in Writes).
	Block int
	// Join names how the reference joins its block ("LEFT JOIN", …), for
	// messages; "" for FROM and targets.
	Join string
	// Colnames are the column names of its alias (FROM t AS a(x, y)),
	// which rename its first columns.
	Colnames []string
}

// Block is a query block: one SELECT (each branch of a set operation, each
// sub-select and CTE is its own), or the scope of an UPDATE, DELETE or
// MERGE.
type Block struct {
	Outer int // the enclosing block whose references a correlated predicate may name; -1
	Refs  []int
	// Where holds the conjuncts that apply to every reference of the
	// block (WHERE, and the ON clauses of inner joins).
	Where []Pred
	// On holds conjuncts that apply to some references only (the
	// nullable side of an outer join).
	On []OnPreds
	// Merged are the inner and left joins USING (or NATURAL on) the
	// tenant column: an unqualified tenant column names their left side's.
	Merged []Merged
}

// Merged is a join that merges its sides' tenant columns into one.
type Merged struct{ Left, Right []int }

// OnPreds are join conjuncts and the references they can scope.
type OnPreds struct {
	Refs  []int
	Preds []Pred
}

// Pred is one conjunct: an equality Col = Val, or a disjunction whose
// every branch (a list of conjuncts) must scope a reference for the Pred to.
type Pred struct {
	Col Col
	Val Operand
	Or  [][]Pred
}

// Col is a reference to the tenant column: of Ref when Ref >= 0, else of
// the only tenant-owned reference among Among (unqualified, or USING),
// looking in Block's enclosing blocks when there is none.
type Col struct {
	Ref   int
	Among []int
	Block int
}

// OperandKind says where a compared value comes from.
type OperandKind uint8

const (
	OperandOther    OperandKind = iota // anything else: never the tenant
	OperandParam                       // $n, checked against the argument at execution
	OperandLiteral                     // a string constant
	OperandSetting                     // current_setting(<the tenant setting>), in any of its forms
	OperandCol                         // the tenant column of a reference
	OperandNull                        // NULL, or DEFAULT where no default reads the setting
	OperandDefault                     // DEFAULT (the column default decides)
	OperandInserted                    // the tenant of the row being inserted (ON CONFLICT on the tenant column)
	OperandNamed                       // @name, a pgx.NamedArgs argument
)

// Operand is a compared or written value.
type Operand struct {
	Kind    OperandKind
	Param   int
	Name    string // OperandNamed
	Literal string
	Col     Col
	Pos     int
	// Derived: the tenant column of a derived table or CTE, standing for
	// what its query puts there. It can be a compared or written value,
	// never the column a predicate scopes (a filter outside a sub-select
	// does not scope the rows the sub-select reads).
	Derived bool
}

// Write is a value written to the tenant column of a target reference.
type Write struct {
	Ref    int
	Update bool      // SET tenant = …, rather than an inserted row
	Vals   []Operand // one per inserted row, or the SET value
	// Missing is set when an INSERT names columns without the tenant
	// column (the default decides); Positional when it names none, so the
	// tenant column's position decides and Rows holds every value.
	Missing    bool
	Positional bool
	Rows       [][]Operand
}

// scoper builds a Scope from a parse tree.
type scoper struct {
	s       *Scope
	src     string // the parsed text: pgx named arguments are read from it
	column  string // the tenant column
	setting string
	ctes    [][]string // CTE names visible, innermost last
	// names maps, per block, the names a column may be qualified with to
	// a reference index, or -1 for a sub-select or a CTE.
	names []map[string]int
	// blockOf is the block of each plain SELECT.
	blockOf map[*pg_query.SelectStmt]int
	// mainBlock is the block of each UPDATE and DELETE.
	mainBlock map[any]int
	// derived maps, per block, a derived table's alias to what its tenant
	// column holds; cteCols, per WITH level, a CTE's.
	derived []map[string]Operand
	cteCols []map[string]Operand

	// For a rewrite (sites is non-nil): where each block's conditions
	// live, where each reference's tenant predicate would go, and the
	// statement each Write belongs to.
	rw     bool
	slots  []**pg_query.Node
	sites  []site
	wsites []wsite
	// tenantParam, when not 0, is the parameter the rewrite appended: the
	// tenant itself.
	tenantParam int32
	// fixed > 0 while walking SQL the rewrite must not change (a view's
	// definition).
	fixed int
}

// leaves returns the plain SELECTs of a set operation, left to right.
func leaves(sel *pg_query.SelectStmt, out []*pg_query.SelectStmt) []*pg_query.SelectStmt {
	if sel == nil {
		return out
	}
	if sel.Op == pg_query.SetOperation_SETOP_NONE {
		return append(out, sel)
	}
	return leaves(sel.Rarg, leaves(sel.Larg, out))
}

// scope analyses tree, the parse of src, for the tenant column and
// setting.
func scope(tree *pg_query.ParseResult, src, column, setting string) *Scope {
	return newScoper(src, column, setting, false, 0).run(tree)
}

func newScoper(src, column, setting string, rw bool, tenantParam int32) *scoper {
	return &scoper{s: &Scope{Column: column}, src: src, column: column, setting: setting, blockOf: map[*pg_query.SelectStmt]int{},
		mainBlock: map[any]int{}, rw: rw, tenantParam: tenantParam}
}

func (sc *scoper) run(tree *pg_query.ParseResult) *Scope {
	for _, raw := range tree.Stmts {
		sc.stmt(raw.GetStmt(), -1)
	}
	return sc.s
}

func (sc *scoper) stmt(n *pg_query.Node, outer int) {
	if n == nil {
		return
	}
	switch x := n.Node.(type) {
	case *pg_query.Node_SelectStmt:
		sc.selectStmt(x.SelectStmt, outer)
	case *pg_query.Node_InsertStmt:
		sc.insert(x.InsertStmt, outer)
	case *pg_query.Node_UpdateStmt:
		sc.update(x.UpdateStmt, outer)
	case *pg_query.Node_DeleteStmt:
		sc.delete(x.DeleteStmt, outer)
	case *pg_query.Node_MergeStmt:
		sc.merge(x.MergeStmt, outer)
	case *pg_query.Node_CopyStmt:
		if x.CopyStmt.Relation != nil {
			sc.ref(x.CopyStmt.Relation, RefCopy, -1, "")
		}
		sc.fixed++ // COPY takes no parameters: never rewritten
		sc.stmt(x.CopyStmt.Query, outer)
		sc.fixed--
	case *pg_query.Node_TruncateStmt:
		for _, r := range x.TruncateStmt.Relations {
			if rv := r.GetRangeVar(); rv != nil {
				sc.ref(rv, RefTruncate, -1, "")
			}
		}
	case *pg_query.Node_LockStmt:
		for _, r := range x.LockStmt.Relations {
			if rv := r.GetRangeVar(); rv != nil {
				sc.ref(rv, RefLock, -1, "")
			}
		}
	case *pg_query.Node_ExplainStmt:
		sc.stmt(x.ExplainStmt.Query, outer)
	case *pg_query.Node_CreateTableAsStmt:
		if x.CreateTableAsStmt.Into.GetSkipData() {
			// WITH NO DATA: the query's columns are read, not its rows.
			return
		}
		// A materialized view holds no parameters: never rewritten.
		matview := x.CreateTableAsStmt.Objtype == pg_query.ObjectType_OBJECT_MATVIEW
		if matview {
			sc.fixed++
		}
		sc.stmt(x.CreateTableAsStmt.Query, outer)
		if matview {
			sc.fixed--
		}
	case *pg_query.Node_DeclareCursorStmt:
		sc.stmt(x.DeclareCursorStmt.Query, outer)
	case *pg_query.Node_PrepareStmt:
		first := len(sc.s.Refs)
		sc.stmt(x.PrepareStmt.Query, outer)
		for i := first; i < len(sc.s.Refs); i++ {
			sc.s.Refs[i].Kind = RefPrepared
		}
	case *pg_query.Node_RuleStmt:
		// A rule's actions run inside later statements on its table,
		// under whoever runs them: references in them are not this
		// statement's to scope.
		first := len(sc.s.Refs)
		for _, a := range x.RuleStmt.Actions {
			sc.stmt(a, outer)
		}
		for i := first; i < len(sc.s.Refs); i++ {
			sc.s.Refs[i].Kind = RefRule
		}
	case *pg_query.Node_DoStmt:
		// The block's statements are PL/pgSQL the scope analysis does not
		// parse: every relation its source names is a reference the guard
		// cannot verify.
		for _, o := range x.DoStmt.Args {
			if d := o.GetDefElem(); d != nil && d.Defname == "as" {
				for _, name := range sourceNames(d.Arg.GetString_().GetSval()) {
					sc.ref(&pg_query.RangeVar{Schemaname: name[0], Relname: name[1]}, RefOpaque, -1, "")
				}
			}
		}
	case *pg_query.Node_ExecuteStmt:
		sc.unverified(0, "SQL EXECUTE runs a statement the guard cannot see")
	case *pg_query.Node_ViewStmt:
		// A temporary view shadows any table of its name at once (pg_temp
		// comes first on the search_path), so its query must be scoped
		// as written. A permanent one is a migration: the catalog learns
		// it on RefreshCatalog. A view holds no parameter: never
		// rewritten.
		if x.ViewStmt.View.GetRelpersistence() == "t" {
			sc.fixed++
			sc.stmt(x.ViewStmt.Query, outer)
			sc.fixed--
		}
	case *pg_query.Node_VariableSetStmt:
		if strings.EqualFold(x.VariableSetStmt.Name, "search_path") {
			sc.unverified(0, "changes the search_path, by which the guard resolves table names")
		}
	}
}

func (sc *scoper) unverified(pos int, detail string) {
	sc.s.Unverifiable = append(sc.s.Unverifiable, Unverified{Pos: pos, Detail: detail})
}

// block opens a query block whose conditions are in *slot (nil for none).
func (sc *scoper) block(outer int, slot **pg_query.Node) int {
	sc.s.Blocks = append(sc.s.Blocks, Block{Outer: outer})
	sc.names = append(sc.names, map[string]int{})
	sc.derived = append(sc.derived, nil)
	if sc.rw {
		sc.slots = append(sc.slots, slot)
	}
	return len(sc.s.Blocks) - 1
}

// withClause makes the CTEs of w visible and analyses their bodies; the
// caller pops them.
func (sc *scoper) withClause(w *pg_query.WithClause, outer int) {
	var names []string
	var bodies []*pg_query.Node
	for _, c := range w.GetCtes() {
		if cte := c.GetCommonTableExpr(); cte != nil {
			names = append(names, cte.Ctename)
			bodies = append(bodies, cte.Ctequery)
		}
	}
	// In WITH RECURSIVE every name is visible in every body; otherwise a
	// body sees only the CTEs before it: its own name there is the table.
	sc.ctes = append(sc.ctes, nil)
	sc.cteCols = append(sc.cteCols, map[string]Operand{})
	top := len(sc.ctes) - 1
	for i, body := range bodies {
		if w.Recursive {
			sc.ctes[top] = names
		} else {
			sc.ctes[top] = names[:i]
		}
		sc.stmt(body, outer)
		if !w.Recursive { // a recursive body's tenant column depends on itself
			if o, ok := sc.tenantOut(body); ok {
				sc.cteCols[top][names[i]] = o
			}
		}
	}
	sc.ctes[top] = names
}

// tenantOut returns what the tenant column of a statement's output holds,
// when its query says: the operand of the one output column named like
// the tenant column (or of a * over one tenant-owned reference) of a plain
// SELECT, or of the RETURNING of an UPDATE or DELETE; the inserted row's
// tenant for INSERT … RETURNING.
func (sc *scoper) tenantOut(n *pg_query.Node) (Operand, bool) {
	var targets []*pg_query.Node
	b := -1
	switch x := n.GetNode().(type) {
	case *pg_query.Node_SelectStmt:
		sel := x.SelectStmt
		if sel.Op != pg_query.SetOperation_SETOP_NONE || len(sel.ValuesLists) > 0 {
			return Operand{}, false
		}
		b, targets = sc.blockOf[sel], sel.TargetList
	case *pg_query.Node_UpdateStmt:
		b, targets = sc.mainBlock[x.UpdateStmt], x.UpdateStmt.ReturningList
	case *pg_query.Node_DeleteStmt:
		b, targets = sc.mainBlock[x.DeleteStmt], x.DeleteStmt.ReturningList
	case *pg_query.Node_InsertStmt:
		for _, t := range x.InsertStmt.ReturningList {
			if cr := t.GetResTarget().GetVal().GetColumnRef(); cr != nil && (t.GetResTarget().GetName() == "" || t.GetResTarget().GetName() == sc.column) {
				if last := cr.Fields[len(cr.Fields)-1]; last.GetString_().GetSval() == sc.column || last.GetAStar() != nil {
					return Operand{Kind: OperandInserted, Derived: true}, true
				}
			}
		}
		return Operand{}, false
	default:
		return Operand{}, false
	}
	var found *pg_query.Node
	count := 0
	for _, t := range targets {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		name := rt.Name
		if cr := rt.Val.GetColumnRef(); cr != nil && name == "" && len(cr.Fields) > 0 {
			last := cr.Fields[len(cr.Fields)-1]
			if last.GetAStar() != nil {
				count++
				found = rt.Val
				continue
			}
			name = last.GetString_().GetSval()
		}
		if name == sc.column {
			count++
			found = rt.Val
		}
	}
	if count != 1 {
		return Operand{}, false // none, or ambiguous
	}
	var o Operand
	if cr := found.GetColumnRef(); cr != nil && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
		if len(cr.Fields) == 1 {
			o = Operand{Kind: OperandCol, Col: Col{Ref: -1, Block: b}}
		} else {
			q := cr.Fields[len(cr.Fields)-2].GetString_().GetSval()
			i, ok := sc.names[b][q]
			if !ok || i < 0 {
				return Operand{}, false
			}
			o = Operand{Kind: OperandCol, Col: Col{Ref: i, Block: b}}
		}
	} else {
		o = sc.operand(found, b)
	}
	if o.Kind == OperandOther {
		return Operand{}, false
	}
	o.Derived = true
	return o, true
}

// cteOut returns what the tenant column of the CTE name holds.
func (sc *scoper) cteOut(name string) (Operand, bool) {
	for i := len(sc.ctes) - 1; i >= 0; i-- {
		for _, n := range sc.ctes[i] {
			if n == name {
				o, ok := sc.cteCols[i][name]
				return o, ok
			}
		}
	}
	return Operand{}, false
}

// derive records that alias, a FROM item of block b, has a tenant column
// holding o.
func (sc *scoper) derive(b int, alias string, o Operand) {
	if sc.derived[b] == nil {
		sc.derived[b] = map[string]Operand{}
	}
	sc.derived[b][alias] = o
}

func (sc *scoper) popWith() {
	sc.ctes = sc.ctes[:len(sc.ctes)-1]
	sc.cteCols = sc.cteCols[:len(sc.cteCols)-1]
}

func (sc *scoper) isCTE(rv *pg_query.RangeVar) bool {
	if rv.Schemaname != "" {
		return false
	}
	for i := len(sc.ctes) - 1; i >= 0; i-- {
		for _, n := range sc.ctes[i] {
			if n == rv.Relname {
				return true
			}
		}
	}
	return false
}

func (sc *scoper) selectStmt(sel *pg_query.SelectStmt, outer int) {
	if sel == nil {
		return
	}
	if sel.WithClause != nil {
		sc.withClause(sel.WithClause, outer)
		defer sc.popWith()
	}
	if sel.Op != pg_query.SetOperation_SETOP_NONE {
		sc.selectStmt(sel.Larg, outer)
		sc.selectStmt(sel.Rarg, outer)
		// ORDER BY, LIMIT and OFFSET of the whole set operation may hold
		// sub-selects of their own.
		sc.exprs(outer, sel.SortClause)
		sc.expr(sel.LimitCount, outer)
		sc.expr(sel.LimitOffset, outer)
		return
	}
	b := sc.block(outer, &sel.WhereClause)
	sc.blockOf[sel] = b
	for _, f := range sel.FromClause {
		sc.from(f, b, outer, nil)
	}
	sc.where(sel.WhereClause, b)
	sc.exprs(b, sel.TargetList, sel.GroupClause, sel.SortClause, sel.WindowClause, sel.DistinctClause)
	sc.expr(sel.HavingClause, b)
	sc.expr(sel.LimitCount, b)
	sc.expr(sel.LimitOffset, b)
	for _, row := range sel.ValuesLists {
		sc.expr(row, b)
	}
}

// from adds the items of a FROM clause to block b. on collects, for the
// ON clause of an enclosing outer join, the references it can scope.
func (sc *scoper) from(n *pg_query.Node, b, outer int, join *string) (refs []int) {
	switch x := n.Node.(type) {
	case *pg_query.Node_RangeVar:
		rv := x.RangeVar
		name := rv.Relname
		if rv.Alias != nil {
			name = rv.Alias.Aliasname
		}
		if sc.isCTE(rv) {
			sc.register(b, name)
			if o, ok := sc.cteOut(rv.Relname); ok && (rv.Alias == nil || len(rv.Alias.Colnames) == 0) {
				sc.derive(b, name, o)
			}
			return nil
		}
		via := ""
		if join != nil {
			via = *join
		}
		i := sc.ref(rv, RefRead, b, via)
		if sc.rw && sc.fixed == 0 {
			sc.sites[i].node = n
		}
		if prev, dup := sc.names[b][name]; dup {
			// Two items of one level with one name: PostgreSQL refuses the
			// statement; nothing resolves to either, nor is rewritten.
			sc.names[b][name] = -1
			sc.unrewritable(prev)
			sc.unrewritable(i)
		} else {
			sc.names[b][name] = i
		}
		if rv.Alias == nil && rv.Schemaname != "" {
			sc.names[b][rv.Schemaname+"."+rv.Relname] = i
		}
		return []int{i}
	case *pg_query.Node_RangeTableSample:
		ts := x.RangeTableSample
		refs = sc.from(ts.Relation, b, outer, join)
		if sc.rw {
			for _, i := range refs {
				sc.sites[i].node = nil // TABLESAMPLE needs the table itself
			}
		}
		sc.exprs(b, ts.Args)
		sc.expr(ts.Repeatable, b)
		return refs
	case *pg_query.Node_RangeSubselect:
		rs := x.RangeSubselect
		sub := outer
		if rs.Lateral {
			sub = b
		}
		sc.stmt(rs.Subquery, sub)
		if rs.Alias != nil {
			sc.register(b, rs.Alias.Aliasname)
			if o, ok := sc.tenantOut(rs.Subquery); ok && len(rs.Alias.Colnames) == 0 {
				sc.derive(b, rs.Alias.Aliasname, o)
			}
		}
	case *pg_query.Node_RangeFunction:
		rf := x.RangeFunction
		for _, f := range rf.Functions {
			sc.expr(f, b)
		}
		if rf.Alias != nil {
			sc.register(b, rf.Alias.Aliasname)
		} else if len(rf.Functions) == 1 {
			// Without an alias the function's name qualifies its columns.
			if l := rf.Functions[0].GetList(); l != nil && len(l.Items) > 0 {
				if fc := l.Items[0].GetFuncCall(); fc != nil {
					sc.register(b, funcName(fc.Funcname))
				}
			}
		}
	case *pg_query.Node_RangeTableFunc:
		sc.expr(n, b) // XMLTABLE: sub-selects in its document and columns
		if x.RangeTableFunc.Alias != nil {
			sc.register(b, x.RangeTableFunc.Alias.Aliasname)
		}
	case *pg_query.Node_JoinExpr:
		j := x.JoinExpr
		kind := joinName(j)
		left := sc.from(j.Larg, b, outer, &kind)
		right := sc.from(j.Rarg, b, outer, &kind)
		var preds []Pred
		if j.Quals != nil {
			preds = sc.conjuncts(j.Quals, b)
		}
		equate := func() {
			l, r := Col{Ref: -1, Among: left, Block: b}, Col{Ref: -1, Among: right, Block: b}
			preds = append(preds,
				Pred{Col: l, Val: Operand{Kind: OperandCol, Col: r}},
				Pred{Col: r, Val: Operand{Kind: OperandCol, Col: l}})
			if j.Jointype == pg_query.JoinType_JOIN_INNER || j.Jointype == pg_query.JoinType_JOIN_LEFT {
				// The unqualified column now names the merged one: the
				// left side's.
				sc.s.Blocks[b].Merged = append(sc.s.Blocks[b].Merged, Merged{Left: left, Right: right})
			}
		}
		for _, u := range j.UsingClause {
			if u.GetString_().GetSval() == sc.column {
				equate()
			}
		}
		if j.IsNatural {
			equate()
		}
		var scoped []int
		switch j.Jointype {
		case pg_query.JoinType_JOIN_INNER:
			sc.s.Blocks[b].Where = append(sc.s.Blocks[b].Where, preds...)
		case pg_query.JoinType_JOIN_LEFT:
			scoped = right
			sc.nullable(right, j)
		case pg_query.JoinType_JOIN_RIGHT:
			scoped = left
			sc.nullable(left, j)
		case pg_query.JoinType_JOIN_FULL:
			sc.nullable(left, nil)
			sc.nullable(right, nil)
		}
		if len(scoped) > 0 && len(preds) > 0 {
			sc.s.Blocks[b].On = append(sc.s.Blocks[b].On, OnPreds{Refs: scoped, Preds: preds})
		}
		if j.Alias != nil && sc.names[b] != nil {
			// (a JOIN b) AS j hides a and b: only j qualifies columns, so
			// the rewrite scopes them inside (an inner join's ON, or a
			// sub-select each).
			sc.hidden(append(left, right...), j)
			for _, i := range append(left, right...) {
				for name, r := range sc.names[b] {
					if r == i {
						delete(sc.names[b], name)
					}
				}
			}
			sc.names[b][j.Alias.Aliasname] = -1
		}
		return append(left, right...)
	default:
		sc.expr(n, b) // any other FROM item: its sub-selects at least
	}
	return nil
}

func joinName(j *pg_query.JoinExpr) string {
	switch j.Jointype {
	case pg_query.JoinType_JOIN_LEFT:
		return "LEFT JOIN"
	case pg_query.JoinType_JOIN_RIGHT:
		return "RIGHT JOIN"
	case pg_query.JoinType_JOIN_FULL:
		return "FULL JOIN"
	}
	return "JOIN"
}

// ref records a reference to rv.
func (sc *scoper) ref(rv *pg_query.RangeVar, kind RefKind, b int, join string) int {
	sc.s.Refs = append(sc.s.Refs, Ref{Schema: rv.Schemaname, Name: rv.Relname, Pos: int(rv.Location), Kind: kind, Block: b, Join: join})
	i := len(sc.s.Refs) - 1
	if rv.Alias != nil {
		for _, c := range rv.Alias.Colnames {
			sc.s.Refs[i].Colnames = append(sc.s.Refs[i].Colnames, c.GetString_().GetSval())
		}
	}
	if b >= 0 {
		sc.s.Blocks[b].Refs = append(sc.s.Blocks[b].Refs, i)
	}
	if sc.rw {
		st := site{rv: rv}
		if b >= 0 && sc.fixed == 0 {
			st.slot = sc.slots[b]
		}
		st.joined = sc.fixed > 0
		sc.sites = append(sc.sites, st)
	}
	return i
}

// excludedRef stands, in names, for ON CONFLICT's EXCLUDED row.
const excludedRef = -2

// isStar reports whether n is x.* or (expr).*, which expands into columns:
// the positions of what follows it in a list are unknown.
func isStar(n *pg_query.Node) bool {
	if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) > 0 {
		return cr.Fields[len(cr.Fields)-1].GetAStar() != nil
	}
	if ind := n.GetAIndirection(); ind != nil && len(ind.Indirection) > 0 {
		return ind.Indirection[len(ind.Indirection)-1].GetAStar() != nil
	}
	return false
}

// starUpTo reports whether items[0..i] holds a star.
func starUpTo(items []*pg_query.Node, i int, val func(*pg_query.Node) *pg_query.Node) bool {
	for k := 0; k <= i && k < len(items); k++ {
		if isStar(val(items[k])) {
			return true
		}
	}
	return false
}

func self(n *pg_query.Node) *pg_query.Node   { return n }
func resVal(n *pg_query.Node) *pg_query.Node { return n.GetResTarget().GetVal() }

// register makes name, a FROM item that is no reference (a sub-select,
// a function, a CTE), qualify nothing in block b. A name already there is
// two items of one level with one name, which PostgreSQL refuses: the
// reference holding it is then not rewritten either.
func (sc *scoper) register(b int, name string) {
	if prev, dup := sc.names[b][name]; dup {
		sc.unrewritable(prev)
	}
	sc.names[b][name] = -1
}

// whereSlot is where the rewrite ANDs an UPDATE's or DELETE's predicates:
// its WHERE, or nowhere for WHERE CURRENT OF (the cursor's query is
// scoped, and the clause takes no AND).
func whereSlot(where **pg_query.Node) **pg_query.Node {
	if (*where).GetCurrentOfExpr() != nil {
		return nil
	}
	return where
}

// unrewritable leaves reference i (if any) to the guard.
func (sc *scoper) unrewritable(i int) {
	if sc.rw && i >= 0 {
		sc.sites[i] = site{rv: sc.sites[i].rv, joined: true}
	}
}

// hidden places, for a rewrite, the predicates of references inside a
// join with an alias, which the enclosing query block cannot name.
func (sc *scoper) hidden(refs []int, j *pg_query.JoinExpr) {
	if !sc.rw {
		return
	}
	inner := j.Jointype == pg_query.JoinType_JOIN_INNER && j.Quals != nil && len(j.UsingClause) == 0 && !j.IsNatural
	for _, i := range refs {
		st := &sc.sites[i]
		if st.joined {
			continue
		}
		st.joined = true
		if inner {
			st.slot = &j.Quals
		} else {
			st.slot, st.replace = nil, true
		}
	}
}

// write records a Write and, for a rewrite, its statement.
func (sc *scoper) write(w Write, ws wsite) {
	sc.s.Writes = append(sc.s.Writes, w)
	if sc.rw {
		sc.wsites = append(sc.wsites, ws)
	}
}

// nullable notes, for a rewrite, that refs are on the nullable side of the
// outer join j (innermost first): a predicate in j's ON filters them
// without dropping the preserved side's rows. A join without an ON (USING,
// NATURAL) or a FULL join (j nil: no side is filtered by ON) scopes them
// in sub-selects of their own instead.
func (sc *scoper) nullable(refs []int, j *pg_query.JoinExpr) {
	if !sc.rw {
		return
	}
	for _, i := range refs {
		st := &sc.sites[i]
		if st.joined {
			continue
		}
		st.joined = true
		if j != nil && len(j.UsingClause) == 0 && !j.IsNatural {
			st.slot = &j.Quals
		} else {
			st.slot, st.replace = nil, true
		}
	}
}

func (sc *scoper) where(n *pg_query.Node, b int) {
	if n == nil {
		return
	}
	sc.s.Blocks[b].Where = append(sc.s.Blocks[b].Where, sc.conjuncts(n, b)...)
}

// conjuncts turns a condition into Preds, and analyses its sub-selects.
func (sc *scoper) conjuncts(n *pg_query.Node, b int) []Pred {
	sc.expr(n, b)
	return sc.preds(n, b)
}

func (sc *scoper) preds(n *pg_query.Node, b int) []Pred {
	switch x := n.Node.(type) {
	case *pg_query.Node_BoolExpr:
		switch x.BoolExpr.Boolop {
		case pg_query.BoolExprType_AND_EXPR:
			var out []Pred
			for _, a := range x.BoolExpr.Args {
				out = append(out, sc.preds(a, b)...)
			}
			return out
		case pg_query.BoolExprType_OR_EXPR:
			p := Pred{Col: Col{Ref: -1}}
			for _, a := range x.BoolExpr.Args {
				p.Or = append(p.Or, sc.preds(a, b))
			}
			return []Pred{p}
		case pg_query.BoolExprType_NOT_EXPR:
			// NOT (tenant <> x) is tenant = x.
			if len(x.BoolExpr.Args) == 1 {
				if e := x.BoolExpr.Args[0].GetAExpr(); e != nil && e.Kind == pg_query.A_Expr_Kind_AEXPR_OP && opName(e.Name) == "<>" {
					return sc.equality(e.Lexpr, e.Rexpr, b)
				}
			}
		}
	case *pg_query.Node_AExpr:
		e := x.AExpr
		switch {
		case e.Kind == pg_query.A_Expr_Kind_AEXPR_OP && opName(e.Name) == "=",
			// IS NOT DISTINCT FROM is = for the non-null values that can
			// equal a tenant.
			e.Kind == pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT:
			return sc.equality(e.Lexpr, e.Rexpr, b)
		case e.Kind == pg_query.A_Expr_Kind_AEXPR_IN && opName(e.Name) == "=":
			if l := e.Rexpr.GetList(); l != nil {
				return sc.in(e.Lexpr, l.Items, b)
			}
		}
	}
	return nil
}

// in returns the Preds of l IN (items): one equality, or a disjunction of
// one branch per item (each must scope). A row on the left, as ORMs write
// composite keys — (tenant_id, id) IN (($1, $2), ($3, $4)) — compares
// element by element.
func (sc *scoper) in(l *pg_query.Node, items []*pg_query.Node, b int) []Pred {
	if len(items) == 1 {
		return sc.equality(l, items[0], b)
	}
	p := Pred{Col: Col{Ref: -1}}
	some := false
	for _, it := range items {
		branch := sc.equality(l, it, b)
		some = some || len(branch) > 0
		p.Or = append(p.Or, branch)
	}
	if !some {
		return nil
	}
	return []Pred{p}
}

// equality returns the Pred of l = r when either side is the tenant column;
// rows of equal length, (tenant_id, id) = ($1, $2), compare element by
// element.
func (sc *scoper) equality(l, r *pg_query.Node, b int) []Pred {
	if lr, rr := l.GetRowExpr(), r.GetRowExpr(); lr != nil || rr != nil {
		if lr == nil || rr == nil || len(lr.Args) != len(rr.Args) ||
			starUpTo(lr.Args, len(lr.Args)-1, self) || starUpTo(rr.Args, len(rr.Args)-1, self) {
			return nil // a star expands: the elements do not pair up
		}
		var out []Pred
		for i := range lr.Args {
			out = append(out, sc.equality(lr.Args[i], rr.Args[i], b)...)
		}
		return out
	}
	lo, ro := sc.operand(l, b), sc.operand(r, b)
	var out []Pred
	if lo.Kind == OperandCol && !lo.Derived {
		out = append(out, Pred{Col: lo.Col, Val: ro})
	}
	if ro.Kind == OperandCol && !ro.Derived {
		out = append(out, Pred{Col: ro.Col, Val: lo})
	}
	return out
}

// opName is the name of an operator written unqualified or in pg_catalog
// (OPERATOR(pg_catalog.=)), or "": an operator of another schema
// (pg_temp.=) may mean anything.
func opName(names []*pg_query.Node) string {
	return builtin(names, false)
}

// builtinFunc is the lower-case name of a function written unqualified or
// in pg_catalog, or "". An unqualified name cannot reach pg_temp (which is
// never searched for functions or operators), and pg_catalog comes first
// unless the search_path says otherwise (which the guard does not let a
// statement change).
func builtinFunc(names []*pg_query.Node) string {
	return builtin(names, true)
}

func builtin(names []*pg_query.Node, lower bool) string {
	switch len(names) {
	case 1:
	case 2:
		if names[0].GetString_().GetSval() != "pg_catalog" {
			return ""
		}
	default:
		return ""
	}
	n := names[len(names)-1].GetString_().GetSval()
	if lower {
		n = strings.ToLower(n)
	}
	return n
}

// safeCast reports whether a cast keeps the tenant equality exact: to
// text, varchar or character varying without a length, uuid, or an
// integer type (for integer tenant columns). Other casts can merge tenants
// ('t01'::varchar(2) is 't0', citext ignores case, bool and float round).
func safeCast(tn *pg_query.TypeName) bool {
	if tn == nil || len(tn.Typmods) > 0 || len(tn.ArrayBounds) > 0 || tn.Setof {
		return false
	}
	switch builtinFunc(tn.Names) {
	case "text", "varchar", "uuid", "int2", "int4", "int8", "smallint", "integer", "bigint", "int":
		return true
	}
	return false
}

// operand classifies a value compared with, or written to, the tenant
// column.
func (sc *scoper) operand(n *pg_query.Node, b int) Operand {
	if n == nil {
		return Operand{}
	}
	switch x := n.Node.(type) {
	case *pg_query.Node_TypeCast:
		if !safeCast(x.TypeCast.TypeName) {
			return Operand{Kind: OperandOther}
		}
		return sc.operand(x.TypeCast.Arg, b)
	case *pg_query.Node_ParamRef:
		if sc.tenantParam != 0 && x.ParamRef.Number == sc.tenantParam {
			// The rewrite's parameter: the driver binds the tenant to it.
			return Operand{Kind: OperandSetting, Pos: int(x.ParamRef.Location)}
		}
		return Operand{Kind: OperandParam, Param: int(x.ParamRef.Number), Pos: int(x.ParamRef.Location)}
	case *pg_query.Node_AConst:
		if x.AConst.Isnull {
			return Operand{Kind: OperandNull, Pos: int(x.AConst.Location)}
		}
		switch v := x.AConst.Val.(type) {
		case *pg_query.A_Const_Sval:
			return Operand{Kind: OperandLiteral, Literal: v.Sval.GetSval(), Pos: int(x.AConst.Location)}
		case *pg_query.A_Const_Ival:
			// An integer tenant column compared with a number.
			return Operand{Kind: OperandLiteral, Literal: strconv.FormatInt(int64(v.Ival.GetIval()), 10), Pos: int(x.AConst.Location)}
		case *pg_query.A_Const_Fval:
			return Operand{Kind: OperandLiteral, Literal: canonicalNumber(v.Fval.GetFval()), Pos: int(x.AConst.Location)}
		}
	case *pg_query.Node_SetToDefault:
		return Operand{Kind: OperandDefault, Pos: int(x.SetToDefault.Location)}
	case *pg_query.Node_ColumnRef:
		return sc.columnRef(x.ColumnRef, b)
	case *pg_query.Node_FuncCall:
		f := x.FuncCall
		switch builtinFunc(f.Funcname) {
		case "current_setting":
			if len(f.Args) >= 1 {
				if name, ok := constString(f.Args[0]); ok && name == sc.setting {
					return Operand{Kind: OperandSetting, Pos: int(f.Location)}
				}
			}
		case "nullif":
			if len(f.Args) == 2 {
				if o := sc.operand(f.Args[0], b); o.Kind == OperandSetting {
					return o
				}
			}
		}
	case *pg_query.Node_CoalesceExpr:
		// NULLIF is parsed as a NullIfExpr only after analysis; here it
		// is a FuncCall (above) or an A_Expr of kind NULLIF.
	case *pg_query.Node_AExpr:
		// pgx.NamedArgs: @name reads as the prefix operator @ on a column.
		if e := x.AExpr; e.Kind == pg_query.A_Expr_Kind_AEXPR_OP && e.Lexpr == nil && opName(e.Name) == "@" {
			if cr := e.Rexpr.GetColumnRef(); cr != nil && len(cr.Fields) == 1 {
				if name, ok := namedArgAt(sc.src, int(e.Location), int(cr.Location)); ok {
					return Operand{Kind: OperandNamed, Name: name, Pos: int(e.Location)}
				}
				return Operand{} // @ "x", @ x: the absolute value, for pgx
			}
		}
		if x.AExpr.Kind == pg_query.A_Expr_Kind_AEXPR_NULLIF {
			if o := sc.operand(x.AExpr.Lexpr, b); o.Kind == OperandSetting {
				return o
			}
		}
	case *pg_query.Node_SubLink:
		sl := x.SubLink
		if sl.SubLinkType == pg_query.SubLinkType_EXPR_SUBLINK {
			if sel := sl.Subselect.GetSelectStmt(); sel != nil && len(sel.FromClause) == 0 && sel.WhereClause == nil &&
				len(sel.TargetList) == 1 && sel.Op == pg_query.SetOperation_SETOP_NONE {
				if o := sc.operand(sel.TargetList[0].GetResTarget().GetVal(), b); o.Kind == OperandSetting {
					return o
				}
			}
		}
	}
	return Operand{Kind: OperandOther}
}

// namedArgAt returns the pgx named argument written at op (the @) when pgx
// reads it as one: @ immediately followed by a letter or _, then letters,
// digits and _, taken as written (pgx does not fold case; the parser
// does).
func namedArgAt(src string, op, name int) (string, bool) {
	if op < 0 || name != op+1 || name >= len(src) || src[op] != '@' {
		return "", false
	}
	c := src[name]
	if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_') {
		return "", false
	}
	end := name
	for end < len(src) && (isWordByte(src[end]) && src[end] != '$') {
		end++
	}
	return src[name:end], true
}

// column resolves a column reference: the tenant column of a reference of
// block b (or of an enclosing block), or something else.
func (sc *scoper) columnRef(cr *pg_query.ColumnRef, b int) Operand {
	var parts []string
	for _, f := range cr.Fields {
		s := f.GetString_()
		if s == nil {
			return Operand{} // a.* or similar
		}
		parts = append(parts, s.Sval)
	}
	if len(parts) == 0 || parts[len(parts)-1] != sc.column {
		return Operand{}
	}
	pos := int(cr.Location)
	if len(parts) == 1 {
		// A block reading only one derived table or CTE: its column.
		if b >= 0 && len(sc.s.Blocks[b].Refs) == 0 && len(sc.derived[b]) == 1 {
			for _, o := range sc.derived[b] {
				o.Pos = pos
				return o
			}
		}
		return Operand{Kind: OperandCol, Col: Col{Ref: -1, Block: b}, Pos: pos}
	}
	qual := parts[len(parts)-2]
	if len(parts) >= 3 {
		qual = parts[len(parts)-3] + "." + qual
	}
	for blk := b; blk >= 0; blk = sc.s.Blocks[blk].Outer {
		if i, ok := sc.names[blk][qual]; ok {
			if i == excludedRef {
				// EXCLUDED.tenant_id of ON CONFLICT: the inserted row's
				// tenant, which the INSERT's own check holds to the tenant.
				return Operand{Kind: OperandInserted, Pos: pos}
			}
			if i < 0 {
				if o, ok := sc.derived[blk][qual]; ok {
					o.Pos = pos
					return o
				}
				return Operand{}
			}
			return Operand{Kind: OperandCol, Col: Col{Ref: i, Block: blk}, Pos: pos}
		}
		// schema.table.column names only a reference written
		// schema-qualified and without an alias (registered so above);
		// PostgreSQL matches nothing else, an alias equal to the table
		// name included.
	}
	return Operand{}
}

// exprs analyses the sub-selects of lists of expressions.
func (sc *scoper) exprs(b int, lists ...[]*pg_query.Node) {
	for _, l := range lists {
		for _, n := range l {
			sc.expr(n, b)
		}
	}
}

// expr analyses every sub-select below n as a block correlated with b.
func (sc *scoper) expr(n *pg_query.Node, b int) {
	if n == nil {
		return
	}
	walkUntil(n.ProtoReflect(), func(m protoreflect.ProtoMessage) bool {
		switch x := m.(type) {
		case *pg_query.SubLink:
			sc.expr(x.Testexpr, b)
			sc.stmt(x.Subselect, b)
			return false
		case *pg_query.SelectStmt:
			sc.selectStmt(x, b)
			return false
		case *pg_query.FuncCall:
			name := funcName(x.Funcname)
			switch {
			case isSQLFunc(name):
				sc.unverified(int(x.Location), name+" runs SQL text, whose tables the guard does not check")
			case isDumpFunc(name):
				sc.unverified(int(x.Location), name+" reads whole tables by name")
			case name == "set_config":
				if len(x.Args) > 0 {
					if v, ok := constString(x.Args[0]); !ok || v == "search_path" {
						sc.unverified(int(x.Location), "set_config may change the search_path, by which the guard resolves table names")
					}
				}
			}
		}
		return true
	})
}

// dumpFuncs read every row of the tables (or schemas, or the database)
// they are given by name.
var dumpFuncs = []string{
	"table_to_xml", "table_to_xmlschema", "table_to_xml_and_xmlschema",
	"schema_to_xml", "schema_to_xmlschema", "schema_to_xml_and_xmlschema",
	"database_to_xml", "database_to_xmlschema", "database_to_xml_and_xmlschema",
}

func isDumpFunc(name string) bool {
	for _, f := range dumpFuncs {
		if name == f {
			return true
		}
	}
	return false
}

// UnverifiableFuncs are the function names whose mention makes a text
// worth the scope analysis although it names no table (SetRelations).
func UnverifiableFuncs() []string { return append(append([]string(nil), sqlFuncs...), dumpFuncs...) }

func (sc *scoper) insert(ins *pg_query.InsertStmt, outer int) {
	if ins.WithClause != nil {
		sc.withClause(ins.WithClause, outer)
		defer sc.popWith()
	}
	target := sc.ref(ins.Relation, RefInsert, -1, "")
	w := Write{Ref: target}
	col := -1
	for i, c := range ins.Cols {
		if c.GetResTarget().GetName() == sc.column {
			col = i
		}
	}
	w.Positional = len(ins.Cols) == 0
	w.Missing = len(ins.Cols) > 0 && col < 0
	sel := ins.SelectStmt.GetSelectStmt()
	switch {
	case sel == nil: // DEFAULT VALUES
		w.Missing = true
	case len(sel.ValuesLists) > 0:
		b := sc.block(outer, nil)
		for _, row := range sel.ValuesLists {
			items := row.GetList().GetItems()
			sc.exprs(b, items)
			switch {
			case starUpTo(items, len(items)-1, self) && (w.Positional || col >= 0):
				// (row).* expands: which value lands in the tenant
				// column is unknown.
				if w.Positional {
					w.Rows = append(w.Rows, nil)
				} else {
					w.Vals = append(w.Vals, Operand{})
				}
			case w.Positional:
				var ops []Operand
				for _, it := range items {
					ops = append(ops, sc.operand(it, b))
				}
				w.Rows = append(w.Rows, ops)
			case col >= 0 && col < len(items):
				w.Vals = append(w.Vals, sc.operand(items[col], b))
			case col >= 0:
				w.Vals = append(w.Vals, Operand{}) // fewer values than columns
			}
		}
	default:
		// INSERT … SELECT: the value is the output column of every branch.
		sc.selectStmt(sel, outer)
		for _, leaf := range leaves(sel, nil) {
			lb, ok := sc.blockOf[leaf]
			var ops []Operand
			starred := starUpTo(leaf.TargetList, len(leaf.TargetList)-1, resVal)
			for _, t := range leaf.TargetList {
				if ok && !starred {
					ops = append(ops, sc.operand(t.GetResTarget().GetVal(), lb))
				} else {
					ops = append(ops, Operand{}) // unknown, or shifted by a star
				}
			}
			for _, row := range leaf.ValuesLists {
				var rops []Operand
				items := row.GetList().GetItems()
				starredRow := starUpTo(items, len(items)-1, self)
				for _, it := range items {
					if starredRow {
						rops = append(rops, Operand{})
					} else {
						rops = append(rops, sc.operand(it, lb))
					}
				}
				if w.Positional {
					if starredRow {
						rops = nil
					}
					w.Rows = append(w.Rows, rops)
				} else if col >= 0 && col < len(rops) {
					w.Vals = append(w.Vals, rops[col])
				}
			}
			if len(leaf.ValuesLists) > 0 {
				continue
			}
			switch {
			case w.Positional && starred:
				w.Rows = append(w.Rows, nil) // unknown: see decision.write
			case w.Positional:
				w.Rows = append(w.Rows, ops)
			case col >= 0 && col < len(ops):
				w.Vals = append(w.Vals, ops[col])
			case col >= 0:
				w.Vals = append(w.Vals, Operand{}) // SELECT * and the like: unknown
			}
		}
	}
	sc.write(w, wsite{ins: ins})
	if oc := ins.OnConflictClause; oc != nil && oc.Action == pg_query.OnConflictAction_ONCONFLICT_UPDATE {
		b := sc.block(outer, &oc.WhereClause)
		r := sc.ref(ins.Relation, RefUpdate, b, "ON CONFLICT DO UPDATE")
		sc.names[b][aliasOf(ins.Relation)] = r
		sc.names[b]["excluded"] = excludedRef
		inferred := false
		if oc.Infer != nil {
			for _, e := range oc.Infer.IndexElems {
				if e.GetIndexElem().GetName() == sc.column {
					inferred = true
				}
			}
		}
		if inferred {
			sc.s.Blocks[b].Where = append(sc.s.Blocks[b].Where, Pred{Col: Col{Ref: r, Block: b}, Val: Operand{Kind: OperandInserted}})
		}
		sc.where(oc.WhereClause, b)
		sc.sets(oc.TargetList, r, b)
	}
	sc.exprs(outer, ins.ReturningList)
}

func aliasOf(rv *pg_query.RangeVar) string {
	if rv.Alias != nil {
		return rv.Alias.Aliasname
	}
	return rv.Relname
}

// sets records SET tenant_column = … of an UPDATE of reference r.
func (sc *scoper) sets(targets []*pg_query.Node, r, b int) {
	for _, t := range targets {
		rt := t.GetResTarget()
		if rt == nil {
			continue
		}
		sc.expr(rt.Val, b)
		if rt.Name != sc.column {
			continue
		}
		val := rt.Val
		// SET (a, tenant_id) = (x, y): the tenant's element of the row.
		if ma := val.GetMultiAssignRef(); ma != nil {
			val = nil
			if row := ma.Source.GetRowExpr(); row != nil && int(ma.Colno) >= 1 && int(ma.Colno) <= len(row.Args) &&
				!starUpTo(row.Args, int(ma.Colno)-1, self) {
				val = row.Args[ma.Colno-1]
			}
		}
		sc.write(Write{Ref: r, Update: true, Vals: []Operand{sc.operand(val, b)}}, wsite{})
	}
}

func (sc *scoper) update(u *pg_query.UpdateStmt, outer int) {
	if u.WithClause != nil {
		sc.withClause(u.WithClause, outer)
		defer sc.popWith()
	}
	b := sc.block(outer, whereSlot(&u.WhereClause))
	sc.mainBlock[u] = b
	r := sc.ref(u.Relation, RefUpdate, b, "")
	sc.names[b][aliasOf(u.Relation)] = r
	for _, f := range u.FromClause {
		sc.from(f, b, outer, nil)
	}
	sc.where(u.WhereClause, b)
	sc.sets(u.TargetList, r, b)
	sc.exprs(b, u.ReturningList)
}

func (sc *scoper) delete(d *pg_query.DeleteStmt, outer int) {
	if d.WithClause != nil {
		sc.withClause(d.WithClause, outer)
		defer sc.popWith()
	}
	b := sc.block(outer, whereSlot(&d.WhereClause))
	sc.mainBlock[d] = b
	r := sc.ref(d.Relation, RefDelete, b, "")
	sc.names[b][aliasOf(d.Relation)] = r
	for _, f := range d.UsingClause {
		sc.from(f, b, outer, nil)
	}
	sc.where(d.WhereClause, b)
	sc.exprs(b, d.ReturningList)
}

func (sc *scoper) merge(m *pg_query.MergeStmt, outer int) {
	if m.WithClause != nil {
		sc.withClause(m.WithClause, outer)
		defer sc.popWith()
	}
	b := sc.block(outer, &m.JoinCondition)
	r := sc.ref(m.Relation, RefUpdate, b, "MERGE")
	sc.names[b][aliasOf(m.Relation)] = r
	source := sc.from(m.SourceRelation, b, outer, nil)
	if sc.rw {
		// A predicate on the source in the ON would turn its other
		// tenants' rows into NOT MATCHED ones: the source is scoped in
		// a sub-select of its own.
		for _, i := range source {
			sc.sites[i].slot, sc.sites[i].replace = nil, true
		}
	}
	// WHEN NOT MATCHED acts on the source rows the ON condition rejected,
	// so there the ON scopes only the target: a source row of another
	// tenant fails it and is inserted. Without such a clause only rows
	// that satisfy the ON are used.
	notMatched := false
	for _, wc := range m.MergeWhenClauses {
		if c := wc.GetMergeWhenClause(); c != nil && !c.Matched {
			notMatched = true
		}
	}
	if notMatched && m.JoinCondition != nil {
		sc.s.Blocks[b].On = append(sc.s.Blocks[b].On, OnPreds{Refs: []int{r}, Preds: sc.conjuncts(m.JoinCondition, b)})
	} else {
		sc.where(m.JoinCondition, b)
	}
	// WHEN NOT MATCHED sees the source only (the target row does not
	// exist): its values and condition are read in a block without the
	// target, so an unqualified tenant_id there is the source's.
	sourceOnly := -1
	for _, wc := range m.MergeWhenClauses {
		c := wc.GetMergeWhenClause()
		if c == nil {
			continue
		}
		b := b
		if !c.Matched {
			if sourceOnly < 0 {
				sourceOnly = sc.block(outer, nil)
				sc.s.Blocks[sourceOnly].Refs = append([]int(nil), source...)
				for name, i := range sc.names[b] {
					if i != r {
						sc.names[sourceOnly][name] = i
					}
				}
				for name, o := range sc.derived[b] {
					sc.derive(sourceOnly, name, o)
				}
			}
			b = sourceOnly
		}
		sc.expr(c.Condition, b)
		switch c.CommandType {
		case pg_query.CmdType_CMD_UPDATE:
			sc.sets(c.TargetList, r, b)
		case pg_query.CmdType_CMD_INSERT:
			w := Write{Ref: r}
			col := -1
			for i, t := range c.TargetList {
				if t.GetResTarget().GetName() == sc.column {
					col = i
				}
			}
			w.Positional = len(c.TargetList) == 0
			w.Missing = len(c.TargetList) > 0 && col < 0
			var ops []Operand
			starred := starUpTo(c.Values, len(c.Values)-1, self)
			for _, v := range c.Values {
				sc.expr(v, b)
				if starred {
					ops = append(ops, Operand{})
				} else {
					ops = append(ops, sc.operand(v, b))
				}
			}
			switch {
			case w.Positional && starred:
				w.Rows = append(w.Rows, nil) // unknown: see decision.write
			case w.Positional:
				w.Rows = append(w.Rows, ops)
			case col >= 0 && col < len(ops):
				w.Vals = append(w.Vals, ops[col])
			case col >= 0 && len(c.Values) > 0:
				w.Vals = append(w.Vals, Operand{}) // fewer values than columns: a star
			}
			if len(c.Values) == 0 && !w.Missing { // INSERT DEFAULT VALUES
				w.Positional, w.Missing = false, true
			}
			sc.write(w, wsite{merge: c})
		}
	}
}

// sourceWord matches a name in procedural source, qualified or not, quoted
// or not: group 1 is the first part, group 2 the second.
var sourceWord = regexp.MustCompile(`("(?:[^"]|"")+"|[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*)(?:\s*\.\s*("(?:[^"]|"")+"|[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*))?`)

// maxSourceNames bounds the references one DO block adds.
const maxSourceNames = 4096

// sourceNames returns the (schema, name) pairs the words of src could
// name, as PostgreSQL would fold them — in code, strings (EXECUTE 'TRUNCATE
// invoices') and comments alike: conservative, since what runs cannot be
// told from the words. A qualified name counts qualified and as its last
// part alone.
func sourceNames(src string) [][2]string {
	seen := map[[2]string]bool{}
	var out [][2]string
	add := func(k [2]string) {
		if !seen[k] && len(out) < maxSourceNames {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, m := range sourceWord.FindAllStringSubmatch(src, -1) {
		if m[2] != "" {
			add([2]string{foldName(m[1]), foldName(m[2])})
			add([2]string{"", foldName(m[2])})
		}
		add([2]string{"", foldName(m[1])})
	}
	return out
}

// foldName reads an identifier as PostgreSQL does: quoted as written,
// unquoted in lower case.
func foldName(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
	}
	return strings.ToLower(s)
}
