package audit

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// exprReport is what the audit reads from one policy expression (a USING
// or a WITH CHECK), as PostgreSQL prints it with pg_get_expr.
type exprReport struct {
	// Scoped: every row the expression accepts has the tenant column equal
	// to the setting (or, in an OR branch, NULL: see AllowsNull). An AND
	// needs one scoped operand, an OR needs every operand scoped.
	Scoped bool
	// AllowsNull: an OR branch accepts rows whose tenant column IS NULL
	// (the permissive rollout stage's global rows).
	AllowsNull bool
	// Opaque: the tenant column is compared with something the audit cannot
	// read (a function other than current_setting, a sub-select with a FROM
	// clause), so whether the expression is scoped is unknown.
	Opaque bool
	// Reads: the expression reads the setting with current_setting.
	Reads bool
	// NoNullif: a read of the setting that is not the first argument of
	// NULLIF(…, ''): after a reset the setting is '' rather than NULL.
	NoNullif bool
	// PerRow: a read of the setting that is not inside a scalar sub-select,
	// so the server may evaluate it once per row instead of once per
	// statement (an InitPlan).
	PerRow bool
}

// analyzeExpr parses expr (a pg_get_expr text) as "SELECT <expr>" with the
// PostgreSQL parser and reports how it uses column and the setting. Calls
// of helpers (see sqlHelpers) are replaced by their bodies first.
func analyzeExpr(expr, column, setting string, helpers map[string]*pg_query.Node) (exprReport, error) {
	root, err := parseExpr("SELECT " + expr)
	if err != nil {
		return exprReport{}, fmt.Errorf("policy expression: %w", err)
	}
	inline(root, helpers, maxInlineDepth)
	a := exprAnalyzer{column: column, setting: setting}
	var r exprReport
	r.Scoped, r.AllowsNull, r.Opaque = a.scoped(root)
	a.reads(root, false, false, &r)
	return r, nil
}

// parseExpr parses sel, a SELECT of one value without FROM or WHERE, and
// returns the value.
func parseExpr(sel string) (*pg_query.Node, error) {
	tree, err := pg_query.Parse(sel)
	if err != nil {
		return nil, err
	}
	stmts := tree.GetStmts()
	if len(stmts) != 1 {
		return nil, fmt.Errorf("%d statements", len(stmts))
	}
	s := stmts[0].GetStmt().GetSelectStmt()
	if s == nil || len(s.GetTargetList()) != 1 || len(s.GetFromClause()) != 0 || s.GetWhereClause() != nil ||
		s.GetOp() != pg_query.SetOperation_SETOP_NONE || s.GetWithClause() != nil || len(s.GetGroupClause()) != 0 ||
		s.GetHavingClause() != nil || s.GetLimitCount() != nil || s.GetLimitOffset() != nil {
		return nil, fmt.Errorf("not a single expression: %q", sel)
	}
	return s.GetTargetList()[0].GetResTarget().GetVal(), nil
}

// maxInlineDepth bounds helpers calling helpers (a helper calling itself
// stays a call, which is opaque).
const maxInlineDepth = 8

// inline replaces, in place, every call without arguments of a helper by
// a copy of the helper's body, as the planner inlines a SQL function: a
// helper is then judged by what it returns (tenant_id = current_tenant()
// reads the setting once per row; (SELECT current_tenant()) once per
// statement).
func inline(n *pg_query.Node, helpers map[string]*pg_query.Node, depth int) {
	if n == nil || len(helpers) == 0 || depth == 0 {
		return
	}
	if f := n.GetFuncCall(); f != nil && len(f.GetArgs()) == 0 && !f.GetAggStar() && f.GetOver() == nil {
		if body, ok := helpers[qualifiedName(f.GetFuncname())]; ok {
			n.Node = proto.Clone(body).(*pg_query.Node).Node
			inline(n, helpers, depth-1)
			return
		}
	}
	eachChild(n.ProtoReflect(), func(c *pg_query.Node) { inline(c, helpers, depth) })
}

// qualifiedName joins a parsed name's parts with dots, as sqlHelpers keys
// them.
func qualifiedName(names []*pg_query.Node) string {
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n.GetString_().GetSval()
	}
	return strings.Join(parts, ".")
}

type exprAnalyzer struct{ column, setting string }

// scoped reports whether n restricts rows to the tenant's: see
// exprReport.Scoped.
func (a exprAnalyzer) scoped(n *pg_query.Node) (scoped, allowsNull, opaque bool) {
	switch {
	case n.GetBoolExpr() != nil:
		b := n.GetBoolExpr()
		switch b.GetBoolop() {
		case pg_query.BoolExprType_AND_EXPR:
			for _, arg := range b.GetArgs() {
				s, nul, o := a.scoped(arg)
				if s && !nul {
					return true, false, false
				}
				if s {
					scoped, allowsNull = true, true
				}
				opaque = opaque || o
			}
			if scoped {
				opaque = false
			}
			return scoped, allowsNull, opaque
		case pg_query.BoolExprType_OR_EXPR:
			scoped, anyTenant := true, false
			for _, arg := range b.GetArgs() {
				if a.isNullTest(arg) {
					allowsNull = true
					continue
				}
				s, nul, o := a.scoped(arg)
				if !s {
					scoped = false
				} else {
					anyTenant = true
				}
				allowsNull = allowsNull || nul
				opaque = opaque || o
			}
			if scoped && anyTenant {
				return true, allowsNull, false
			}
			return false, false, opaque
		}
		return false, false, false
	case n.GetSubLink() != nil:
		// tenant_id IN (SELECT … FROM memberships …): a lookup the audit
		// cannot judge.
		sl := n.GetSubLink()
		return false, false, sl.GetSubLinkType() == pg_query.SubLinkType_ANY_SUBLINK && a.isColumn(sl.GetTestexpr())
	case n.GetAExpr() != nil:
		e := n.GetAExpr()
		if e.GetKind() == pg_query.A_Expr_Kind_AEXPR_OP_ANY && opName(e.GetName()) == "=" && a.isColumn(e.GetLexpr()) {
			// tenant_id = ANY(string_to_array(current_setting(…), ',')):
			// several tenants per session, which the audit cannot judge;
			// an array that does not come from the setting opens the rows
			// it lists to every session.
			var r exprReport
			a.reads(e.GetRexpr(), false, false, &r)
			return false, false, r.Reads
		}
		if e.GetKind() != pg_query.A_Expr_Kind_AEXPR_OP || opName(e.GetName()) != "=" {
			return false, false, false
		}
		l, r := e.GetLexpr(), e.GetRexpr()
		if a.isColumn(r) {
			l, r = r, l
		}
		if !a.isColumn(l) {
			return false, false, false
		}
		switch {
		case a.isSettingValue(r):
			return true, false, false
		case isConstant(r), rowDependent(unwrapValue(r)), a.constantFallback(unwrapValue(r)):
			// tenant_id = tenant_id, tenant_id = COALESCE(<setting>,
			// tenant_id): true for every row (when no tenant is set).
			return false, false, false
		default:
			return false, false, true
		}
	}
	return false, false, false
}

// isColumn: n is the tenant column, possibly cast.
func (a exprAnalyzer) isColumn(n *pg_query.Node) bool {
	n = stripCasts(n)
	cr := n.GetColumnRef()
	if cr == nil || len(cr.GetFields()) == 0 {
		return false
	}
	f := cr.GetFields()
	return f[len(f)-1].GetString_().GetSval() == a.column
}

func (a exprAnalyzer) isNullTest(n *pg_query.Node) bool {
	t := n.GetNullTest()
	return t != nil && t.GetNulltesttype() == pg_query.NullTestType_IS_NULL && a.isColumn(t.GetArg())
}

// isSettingValue: n is the setting's value — current_setting(setting, …),
// possibly inside casts, NULLIF against the empty string, COALESCE or a scalar sub-select
// without FROM.
func (a exprAnalyzer) isSettingValue(n *pg_query.Node) bool {
	n = stripCasts(n)
	switch {
	case n.GetFuncCall() != nil:
		return a.isSettingRead(n.GetFuncCall())
	case n.GetAExpr() != nil && n.GetAExpr().GetKind() == pg_query.A_Expr_Kind_AEXPR_NULLIF:
		return a.isSettingValue(n.GetAExpr().GetLexpr())
	case n.GetCoalesceExpr() != nil:
		// COALESCE(<setting>, <fallback>) is the setting only when every
		// fallback is too (or NULL): with a tenant column or a constant
		// as the fallback, a statement without a tenant sees every row, or
		// that constant tenant's.
		args := n.GetCoalesceExpr().GetArgs()
		for i, arg := range args {
			if !a.isSettingValue(arg) && (i == 0 || !isNull(arg)) {
				return false
			}
		}
		return len(args) > 0
	case n.GetSubLink() != nil:
		sl := n.GetSubLink()
		sel := sl.GetSubselect().GetSelectStmt()
		if sl.GetSubLinkType() != pg_query.SubLinkType_EXPR_SUBLINK || sel == nil ||
			len(sel.GetFromClause()) != 0 || sel.GetWhereClause() != nil || len(sel.GetTargetList()) != 1 {
			return false
		}
		return a.isSettingValue(sel.GetTargetList()[0].GetResTarget().GetVal())
	}
	return false
}

// isSettingRead: f is current_setting('<setting>', …).
func (a exprAnalyzer) isSettingRead(f *pg_query.FuncCall) bool {
	if funcName(f) != "current_setting" || len(f.GetArgs()) == 0 {
		return false
	}
	name, ok := constString(f.GetArgs()[0])
	// Setting names are case-insensitive.
	return ok && strings.EqualFold(name, a.setting)
}

// reads walks the whole tree for reads of the setting, recording whether
// each is inside a NULLIF against the empty string and inside a scalar sub-select.
func (a exprAnalyzer) reads(n *pg_query.Node, inNullif, inSubselect bool, r *exprReport) {
	if n == nil {
		return
	}
	switch {
	case n.GetFuncCall() != nil && a.isSettingRead(n.GetFuncCall()):
		r.Reads = true
		if !inNullif {
			r.NoNullif = true
		}
		if !inSubselect {
			r.PerRow = true
		}
		return
	case n.GetAExpr() != nil && n.GetAExpr().GetKind() == pg_query.A_Expr_Kind_AEXPR_NULLIF:
		e := n.GetAExpr()
		s, ok := constString(e.GetRexpr())
		a.reads(e.GetLexpr(), inNullif || ok && s == "", inSubselect, r)
		a.reads(e.GetRexpr(), false, inSubselect, r)
		return
	case n.GetTypeCast() != nil:
		// A cast of the read keeps it the first argument of a NULLIF:
		// NULLIF(current_setting(…)::uuid, '') is not what we look for,
		// but NULLIF(current_setting(…), '')::uuid is; only casts between
		// them and the read are transparent.
		a.reads(n.GetTypeCast().GetArg(), inNullif, inSubselect, r)
		return
	case n.GetSubLink() != nil:
		sl := n.GetSubLink()
		a.reads(sl.GetTestexpr(), false, inSubselect, r)
		a.reads(sl.GetSubselect(), false, inSubselect || sl.GetSubLinkType() == pg_query.SubLinkType_EXPR_SUBLINK, r)
		return
	}
	// Any other node: its children, outside any NULLIF.
	eachChild(n.ProtoReflect(), func(c *pg_query.Node) { a.reads(c, false, inSubselect, r) })
}

// eachChild calls fn for every *pg_query.Node directly below m (through
// messages that are not Nodes themselves, such as a SelectStmt).
func eachChild(m protoreflect.Message, fn func(*pg_query.Node)) {
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		visit := func(cm protoreflect.Message) {
			if node, ok := cm.Interface().(*pg_query.Node); ok {
				fn(node)
				return
			}
			eachChild(cm, fn)
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				visit(l.Get(i).Message())
			}
		case fd.IsMap():
		default:
			visit(v.Message())
		}
		return true
	})
}

func stripCasts(n *pg_query.Node) *pg_query.Node {
	for n.GetTypeCast() != nil {
		n = n.GetTypeCast().GetArg()
	}
	return n
}

// unwrapValue strips casts and scalar sub-selects without FROM or WHERE
// ((SELECT <expr>)): what is left is the value compared.
func unwrapValue(n *pg_query.Node) *pg_query.Node {
	for {
		n = stripCasts(n)
		sl := n.GetSubLink()
		if sl == nil || sl.GetSubLinkType() != pg_query.SubLinkType_EXPR_SUBLINK {
			return n
		}
		sel := sl.GetSubselect().GetSelectStmt()
		if sel == nil || len(sel.GetFromClause()) != 0 || sel.GetWhereClause() != nil || len(sel.GetTargetList()) != 1 {
			return n
		}
		n = sel.GetTargetList()[0].GetResTarget().GetVal()
	}
}

// constantFallback: n is COALESCE(<setting>, …, <constant>): a statement
// without a tenant sees the constant tenant's rows.
func (a exprAnalyzer) constantFallback(n *pg_query.Node) bool {
	c := stripCasts(n).GetCoalesceExpr()
	if c == nil || len(c.GetArgs()) < 2 || !a.isSettingValue(c.GetArgs()[0]) {
		return false
	}
	for _, arg := range c.GetArgs()[1:] {
		if !a.isSettingValue(arg) && !isConstant(arg) {
			return false
		}
	}
	return true
}

// rowDependent: n reads a column of the row outside any function call or
// sub-select (a bare column, or one inside COALESCE, CASE, an operator…),
// so comparing the tenant column with it does not restrict the rows to a
// tenant. Function arguments and sub-selects are lookups the audit cannot
// judge (opaque).
func rowDependent(n *pg_query.Node) bool {
	if n == nil {
		return false
	}
	switch {
	case n.GetColumnRef() != nil:
		return true
	case n.GetFuncCall() != nil, n.GetSubLink() != nil:
		return false
	}
	found := false
	eachChild(n.ProtoReflect(), func(c *pg_query.Node) { found = found || rowDependent(c) })
	return found
}

func isNull(n *pg_query.Node) bool {
	c := stripCasts(n).GetAConst()
	return c != nil && c.GetIsnull()
}

func isConstant(n *pg_query.Node) bool {
	return stripCasts(n).GetAConst() != nil
}

func constString(n *pg_query.Node) (string, bool) {
	c := stripCasts(n).GetAConst()
	if c == nil || c.GetSval() == nil {
		return "", false
	}
	return c.GetSval().GetSval(), true
}

func funcName(f *pg_query.FuncCall) string {
	names := f.GetFuncname()
	if len(names) == 0 {
		return ""
	}
	if len(names) == 2 && names[0].GetString_().GetSval() != "pg_catalog" {
		return ""
	}
	return names[len(names)-1].GetString_().GetSval()
}

func opName(names []*pg_query.Node) string {
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1].GetString_().GetSval()
}
