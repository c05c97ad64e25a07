package sqlcheck

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// sqlFuncs are the functions that run SQL handed to them as text (by
// unqualified, lower-case name). The server parses that text only when the
// function runs, so the check parses it here and holds it to the same rules
// as the statement itself; text it cannot see (a parameter, a column, an
// expression) is refused. The names are prefilter trigger words.
var sqlFuncs = []string{
	// core: XML export and text-search statistics of a query
	"query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "ts_stat", "ts_rewrite",
	// contrib dblink: the SQL runs in another session, which the driver
	// has not bound and which may set the tenant itself
	"dblink", "dblink_exec", "dblink_open", "dblink_send_query",
	// contrib tablefunc (a trusted extension) and xml2: crosstab runs its
	// source queries; connectby and xpath_table splice names and a
	// condition into a query of their own, unquoted
	"crosstab", "crosstab2", "crosstab3", "crosstab4", "connectby", "xpath_table",
}

func isSQLFunc(name string) bool {
	for _, f := range sqlFuncs {
		if name == f {
			return true
		}
	}
	return false
}

// runsSQL checks a call to the function name (unqualified, lower case)
// when it is one of sqlFuncs. Overloads differ in the number and types of
// their arguments, so which argument holds SQL depends on the call; where
// the call leaves it open, every argument that could hold SQL is checked.
func (c *checker) runsSQL(name string, args []*pg_query.Node) {
	if !isSQLFunc(name) {
		return
	}
	// Arguments given by name (f(query => '…')) follow the positional
	// ones. A name not known to hold something else is taken for SQL:
	// most of these functions declare no parameter names, and the server
	// refuses such calls anyway.
	var pos []*pg_query.Node
	var named []*pg_query.NamedArgExpr
	for _, a := range args {
		if na := a.GetNamedArgExpr(); na != nil {
			named = append(named, na)
		} else {
			pos = append(pos, a)
		}
	}
	if name == "connectby" || name == "xpath_table" {
		c.splicedArgs(name, pos, named, len(args))
		return
	}
	for _, a := range sqlArgs(name, pos, len(args)) {
		c.nestedSQL("SQL passed to "+name, a, "")
	}
	for _, na := range named {
		if !plainParam(name, strings.ToLower(na.Name)) {
			c.nestedSQL("SQL passed to "+name, na.Arg, "")
		}
	}
}

// sqlArgs picks the positional arguments that hold SQL in a call with n
// arguments in all.
func sqlArgs(name string, pos []*pg_query.Node, n int) []*pg_query.Node {
	var sql []*pg_query.Node
	at := func(i int) {
		if i < len(pos) {
			sql = append(sql, pos[i])
		}
	}
	switch name {
	case "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "ts_stat":
		at(0) // (query, …), ts_stat(query [, weights])
	case "ts_rewrite":
		// (query, target, substitute) takes three tsqueries; only
		// (query, select) runs SQL.
		if n == 2 {
			at(1)
		}
	case "dblink", "dblink_exec":
		// (sql), (sql, fail_on_error), (conn, sql), (conn, sql,
		// fail_on_error). With two arguments the second decides; unless it
		// is surely a boolean it is taken for the SQL, and when it is not
		// a constant it is refused, whichever it is.
		if n == 1 || n == 2 && isBool(argAt(pos, 1)) {
			at(0)
		} else {
			at(1)
		}
	case "dblink_open":
		// (cursor, sql), (cursor, sql, fail_on_error), (conn, cursor,
		// sql), (conn, cursor, sql, fail_on_error)
		if n == 2 || n == 3 && isBool(argAt(pos, 2)) {
			at(1)
		} else {
			at(2)
		}
	case "dblink_send_query":
		at(1) // (conn, sql)
	case "crosstab", "crosstab2", "crosstab3", "crosstab4":
		// (source_sql), (source_sql, category_sql), (source_sql, N)
		at(0)
		if n >= 2 && !isInt(argAt(pos, 1)) {
			at(1)
		}
	}
	return sql
}

// plainParam reports whether a declared parameter of fn holds something
// other than SQL.
func plainParam(fn, param string) bool {
	switch fn {
	case "query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema":
		return param == "nulls" || param == "tableforest" || param == "targetns"
	case "ts_stat":
		return param == "weights"
	}
	return false
}

// splicedArgs checks connectby and xpath_table, which build a query by
// pasting arguments into it:
//
//	connectby(relname, keyid_fld, parent_keyid_fld [, orderby_fld], start_with, max_depth [, branch_delim])
//	xpath_table(key, document, relation, xpaths, criteria)
//
// Field and relation arguments must be plain (possibly qualified) names;
// xpath_table's criteria, pasted after WHERE at the end, is analysed as
// the query it completes.
func (c *checker) splicedArgs(name string, pos []*pg_query.Node, named []*pg_query.NamedArgExpr, n int) {
	nameArgs := []int{0, 1, 2}
	switch {
	case name == "xpath_table":
		if len(pos) > 4 {
			c.nestedSQL("condition passed to "+name, pos[4], "SELECT 1 FROM t WHERE ")
		}
	case n == 7 || n == 6 && !isInt(argAt(pos, 4)):
		// With six arguments, an integer fifth one is max_depth and there
		// is no orderby_fld; otherwise the fourth one is orderby_fld.
		nameArgs = append(nameArgs, 3)
	}
	for _, i := range nameArgs {
		if i < len(pos) {
			c.splicedName(name, pos[i])
		}
	}
	for _, na := range named {
		c.splicedName(name, na.Arg)
	}
}

// splicedName checks an argument that a function pastes into its query as a
// name.
func (c *checker) splicedName(fn string, n *pg_query.Node) {
	if isNull(n) {
		return
	}
	s, ok := rawConstString(n)
	switch {
	case !ok:
		c.tamper("name passed to " + fn + " is not a constant")
	case !isNameChain(s):
		c.tamper("name passed to " + fn + " is not a plain name")
	}
}

// nestedSQL analyses the SQL text in argument n (what names it in reasons),
// after prefix, the start of the query that the function completes with it.
func (c *checker) nestedSQL(what string, n *pg_query.Node, prefix string) {
	if isNull(n) {
		return // strict: runs nothing
	}
	sql, ok := rawConstString(n)
	if !ok {
		c.tamper(what + " is not a constant")
		return
	}
	if c.depth >= maxNesting {
		c.tamper(fmt.Sprintf("%s nested more than %d levels deep", what, maxNesting))
		return
	}
	a, err := analyzeAt(prefix+sql, c.setting, c.depth+1)
	switch {
	case err != nil:
		c.tamper(what + " does not parse")
	case a.Tamper != "":
		c.tamper(a.Tamper + " in " + what)
	}
}

func argAt(pos []*pg_query.Node, i int) *pg_query.Node {
	if i < len(pos) {
		return pos[i]
	}
	return nil
}

func isNull(n *pg_query.Node) bool {
	return n != nil && uncast(n).GetAConst().GetIsnull()
}

// isBool reports whether n is surely of type boolean: a boolean constant, a
// cast to boolean, or an expression that only yields one.
func isBool(n *pg_query.Node) bool {
	if n == nil {
		return false
	}
	if tc := n.GetTypeCast(); tc != nil {
		return isCatalogType(tc.TypeName, "bool")
	}
	switch x := n.Node.(type) {
	case *pg_query.Node_AConst:
		_, ok := x.AConst.Val.(*pg_query.A_Const_Boolval)
		return ok
	case *pg_query.Node_BoolExpr, *pg_query.Node_NullTest, *pg_query.Node_BooleanTest:
		return true
	}
	return false
}

// isInt reports whether n is surely an integer: an integer constant or a
// cast to an integer type.
func isInt(n *pg_query.Node) bool {
	if n == nil {
		return false
	}
	if tc := n.GetTypeCast(); tc != nil {
		return isCatalogType(tc.TypeName, "int2") || isCatalogType(tc.TypeName, "int4") || isCatalogType(tc.TypeName, "int8")
	}
	_, ok := n.GetAConst().GetVal().(*pg_query.A_Const_Ival)
	return ok
}

// isCatalogType reports whether t names the built-in type typ (as the
// parser spells it: boolean is pg_catalog.bool, integer pg_catalog.int4).
func isCatalogType(t *pg_query.TypeName, typ string) bool {
	if t == nil || len(t.ArrayBounds) > 0 {
		return false
	}
	switch len(t.Names) {
	case 1:
		return strings.ToLower(t.Names[0].GetString_().GetSval()) == typ
	case 2:
		return strings.ToLower(t.Names[0].GetString_().GetSval()) == "pg_catalog" &&
			strings.ToLower(t.Names[1].GetString_().GetSval()) == typ
	}
	return false
}

// isNameChain reports whether s is a name as SQL writes it: unquoted or
// double-quoted identifiers joined by dots, with spaces around. Pasted into
// a query it cannot end the statement, open a comment or a string, or add a
// clause.
func isNameChain(s string) bool {
	i := 0
	skipSpace := func() {
		for i < len(s) && strings.IndexByte(" \t\n\r\f", s[i]) >= 0 {
			i++
		}
	}
	for {
		skipSpace()
		switch {
		case i < len(s) && s[i] == '"':
			i++
			for {
				j := strings.IndexByte(s[i:], '"')
				if j < 0 {
					return false
				}
				i += j + 1
				if i < len(s) && s[i] == '"' {
					i++ // "" inside quotes
					continue
				}
				break
			}
		case i < len(s) && isIdentStart(s[i]):
			for i < len(s) && (isIdentStart(s[i]) || s[i] >= '0' && s[i] <= '9' || s[i] == '$') {
				i++
			}
		default:
			return false
		}
		skipSpace()
		if i == len(s) {
			return true
		}
		if s[i] != '.' {
			return false
		}
		i++
	}
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}
