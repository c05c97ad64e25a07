package sqlcheck

import (
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// plExpr is one piece of SQL inside PL/pgSQL code: a statement (INSERT …,
// SET …, PERFORM as SELECT …), an expression (IF conditions, RETURN, RAISE
// parameters, defaults of variables), or an assignment (x := …).
type plExpr struct {
	query string
	mode  int // PostgreSQL's RawParseMode: 0 a statement, 2 an expression, 3–5 an assignment
	// dynamic is set for the string expression of EXECUTE, FOR … IN
	// EXECUTE, RETURN QUERY EXECUTE and OPEN … FOR EXECUTE: SQL that runs
	// the text the expression yields.
	dynamic bool
}

// plpgsql checks the PL/pgSQL code of the statement being checked (a DO
// block or CREATE FUNCTION … LANGUAGE plpgsql). Every statement and
// expression gets the checks a top-level statement gets. The SQL run by
// EXECUTE is checked as SQL when it is a constant string; when it is
// computed, the parts of it the code spells out — every string constant of
// the body, since a variable can carry one to EXECUTE — are checked for the
// forms that write (fragmentTamper). It reports false when the PL/pgSQL
// parser rejects the code, leaving it to the word check.
func (c *checker) plpgsql(what, src string) bool {
	if c.text == "" {
		return false
	}
	code, texts, recordDefault, ok := scanSource(src)
	if !ok || recordDefault {
		return false
	}
	js, err := pg_query.ParsePlPgSqlToJSON(c.text)
	if err != nil {
		return false
	}
	var tree any
	if err := json.Unmarshal([]byte(js), &tree); err != nil || !hasAction(tree) {
		return false
	}
	var exprs []plExpr
	collectExprs(tree, "", "", &exprs)

	var consts []string
	computed := false
	unread := false // a computed EXECUTE whose skeleton could not be read
	for _, e := range exprs {
		parsed, sql := parseExpr(e)
		if parsed == nil {
			// Not SQL the parser reads on its own: its words.
			c.words(e.query, what)
			consts = append(consts, e.query)
			if e.dynamic {
				computed, unread = true, true
			}
			continue
		}
		if a := analyzeTree(parsed, sql, c.setting, c.depth+1); a.Tamper != "" {
			c.tamper(what + ": " + a.Tamper)
			return true
		}
		consts = append(consts, stringConsts(parsed)...)
		if !e.dynamic {
			continue
		}
		if s, ok := soleString(parsed); ok {
			c.dynamicSQL(s, what)
			continue
		}
		computed = true
		// The SQL the expression builds, its computed parts replaced by a
		// name: 'UPDATE ' || t || ' SET ' || c || ' = NULL' reads as an
		// UPDATE, 'SET ' || n || ' = …' as a SET of a setting named at
		// run time.
		skel, ok := skeleton(parsed)
		if !ok {
			unread = true
			continue
		}
		reason, parsedOK := c.skeletonTamper(skel)
		if reason != "" {
			c.tamper(what + ": EXECUTE of computed SQL " + reason)
			return true
		}
		unread = unread || !parsedOK
	}
	if computed {
		// A computed EXECUTE can run text from anywhere in the body (a
		// variable, a RAISE message, a comment or an identifier read
		// back): each of the body's texts is checked for the forms that
		// write.
		if reason := fragmentTamper(append(consts, texts...), c.setting, unread); reason != "" {
			c.tamper(what + ": EXECUTE of computed SQL, with a part of the body " + reason)
			return true
		}
	}
	// A safety net under the parse: the words of the code, outside its
	// strings and comments, must not write (what an expression's parse
	// could miss: a subscript of an assigned array element, say). Names of
	// functions that run SQL are left to the parse, which reads their
	// arguments.
	if reason := bodyTamperWrites(code, c.setting); reason != "" {
		c.tamper(what + " " + reason)
	}
	return true
}

// hasAction reports whether pg_query compiled a function body (it returns
// an empty function for a language name it does not take for plpgsql).
func hasAction(tree any) bool {
	fs, ok := tree.([]any)
	if !ok || len(fs) == 0 {
		return false
	}
	for _, f := range fs {
		m, _ := f.(map[string]any)
		fn, _ := m["PLpgSQL_function"].(map[string]any)
		if fn == nil || fn["action"] == nil {
			return false
		}
	}
	return true
}

// runTimeName stands for the computed parts of dynamic SQL in a skeleton.
const runTimeName = "pgxtenant_runtime_name"

// skeleton returns the SQL an EXECUTE expression builds, its string
// constants as they are and every computed part (a variable, quote_ident(…),
// a format() placeholder) replaced by runTimeName; false when the
// expression has a shape it does not follow.
func skeleton(tree *pg_query.ParseResult) (string, bool) {
	sel := tree.Stmts[0].GetStmt().GetSelectStmt()
	if sel == nil || len(sel.TargetList) != 1 {
		return "", false
	}
	var b strings.Builder
	ok := skel(sel.TargetList[0].GetResTarget().GetVal(), &b)
	return b.String(), ok
}

func skel(n *pg_query.Node, b *strings.Builder) bool {
	if n == nil {
		return false
	}
	switch x := n.Node.(type) {
	case *pg_query.Node_TypeCast:
		return skel(x.TypeCast.Arg, b)
	case *pg_query.Node_AConst:
		if s, ok := x.AConst.Val.(*pg_query.A_Const_Sval); ok {
			b.WriteString(s.Sval.GetSval())
			return true
		}
	case *pg_query.Node_AExpr:
		if x.AExpr.Kind == pg_query.A_Expr_Kind_AEXPR_OP && opName(x.AExpr.Name) == "||" {
			return skel(x.AExpr.Lexpr, b) && skel(x.AExpr.Rexpr, b)
		}
	case *pg_query.Node_FuncCall:
		if funcName(x.FuncCall.Funcname) == "format" && len(x.FuncCall.Args) > 0 {
			tmpl, ok := rawConstString(x.FuncCall.Args[0])
			if !ok {
				return false
			}
			b.WriteString(formatSpec.ReplaceAllString(strings.ReplaceAll(tmpl, "%%", "%"), " "+runTimeName+" "))
			return true
		}
	}
	b.WriteString(" " + runTimeName + " ")
	return true
}

// formatSpec matches format()'s placeholders: %[position$][-][width]type.
var formatSpec = regexp.MustCompile(`%([0-9]+\$)?-?([0-9]+|\*([0-9]+\$)?)?[sILsil]`)

// skeletonTamper checks the skeleton of dynamic SQL: what a constant text
// would be refused for, and a SET or RESET of a setting whose name is
// computed (it could be any setting).
func (c *checker) skeletonTamper(skel string) (reason string, parsed bool) {
	tree, err := pg_query.Parse(skel)
	if err != nil {
		return "", false // the fragment check decides
	}
	if a := analyzeTree(tree, skel, c.setting, c.depth+1); a.Tamper != "" {
		return "(" + a.Tamper + ")", true
	}
	walk(tree.ProtoReflect(), func(m protoreflect.ProtoMessage) {
		if v, ok := m.(*pg_query.VariableSetStmt); ok && strings.Contains(strings.ToLower(v.Name), runTimeName) {
			reason = "that SETs or RESETs a setting named at run time"
		}
	})
	return reason, true
}

// dynamicSQL checks the constant text an EXECUTE runs.
func (c *checker) dynamicSQL(sql, what string) {
	a, err := analyzeAt(sql, c.setting, c.depth+1)
	switch {
	case err != nil:
		// The server would refuse it too, unless it is not the SQL it
		// looks like: its words, as for code the parser cannot read.
		c.words(sql, what+" EXECUTE of text")
	case a.Tamper != "":
		c.tamper(what + ": " + a.Tamper + " in SQL run by EXECUTE")
	}
}

// collectExprs gathers the SQL of a PL/pgSQL parse tree (the JSON of
// pg_query's PL/pgSQL parser) in a fixed order: stmt is the PL/pgSQL
// statement being walked, field the member of it.
func collectExprs(v any, stmt, field string, out *[]plExpr) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			collectExprs(e, stmt, field, out)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			switch {
			case k == "PLpgSQL_expr":
				e, _ := x[k].(map[string]any)
				q, _ := e["query"].(string)
				mode, _ := e["parseMode"].(float64)
				dynamic := field == "dynquery" ||
					field == "query" && (stmt == "PLpgSQL_stmt_dynexecute" || stmt == "PLpgSQL_stmt_dynfors")
				*out = append(*out, plExpr{query: q, mode: int(mode), dynamic: dynamic})
			case strings.HasPrefix(k, "PLpgSQL_stmt_"):
				collectExprs(x[k], k, "", out)
			default:
				collectExprs(x[k], stmt, k, out)
			}
		}
	}
}

// parseExpr parses e as SQL the way PL/pgSQL runs it and returns the tree
// and the text parsed, or nil when the parser cannot read it.
func parseExpr(e plExpr) (*pg_query.ParseResult, string) {
	var candidates []string
	switch e.mode {
	case 0: // a whole statement
		candidates = []string{e.query}
	default: // an expression, or an assignment "target := expression"
		candidates = []string{"SELECT " + e.query}
		if i := strings.Index(e.query, ":="); i >= 0 {
			candidates = append(candidates, "SELECT "+e.query[i+2:])
		}
	}
	for _, sql := range candidates {
		if tree, err := pg_query.Parse(sql); err == nil {
			return tree, sql
		}
	}
	return nil, ""
}

// soleString returns the value of "SELECT '<text>'", the tree of an
// expression that is one string constant.
func soleString(tree *pg_query.ParseResult) (string, bool) {
	if len(tree.Stmts) != 1 {
		return "", false
	}
	sel := tree.Stmts[0].GetStmt().GetSelectStmt()
	if sel == nil || len(sel.TargetList) != 1 || sel.FromClause != nil {
		return "", false
	}
	return rawConstString(sel.TargetList[0].GetResTarget().GetVal())
}

// stringConsts returns every string constant in tree.
func stringConsts(tree *pg_query.ParseResult) []string {
	var out []string
	walk(tree.ProtoReflect(), func(m protoreflect.ProtoMessage) {
		if ac, ok := m.(*pg_query.A_Const); ok && !ac.Isnull {
			if sv, ok := ac.Val.(*pg_query.A_Const_Sval); ok {
				out = append(out, sv.Sval.GetSval())
			}
		}
	})
	return out
}

// fragmentTamper returns why constant parts of computed dynamic SQL could
// write the setting or change the session, or "": a part that has such a
// form on its own (bodyTamper: set_config, SET or RESET of the setting, of
// the role or session authorization, DISCARD, RESET ALL, …). With runTime
// (the SQL's skeleton could not be read), also a SET or RESET whose
// setting is named at run time: the part ends before the name, names it
// with a format placeholder, or ends inside a qualified name.
func fragmentTamper(frags []string, setting string, runTime bool) string {
	for _, f := range frags {
		ws := bodyWords(f)
		if reason := bodyTamper(ws, setting); reason != "" {
			return reason
		}
		if !runTime {
			continue
		}
		if runTimeSet.MatchString(f) {
			return "that SETs or RESETs a setting named at run time"
		}
		for i := range ws {
			if (ws[i].w == "reset" || gucSet(ws, i)) && i == len(ws)-1 {
				return "that SETs or RESETs a setting named at run time"
			}
		}
	}
	return ""
}

// runTimeSet matches SET or RESET (LOCAL, SESSION) followed by a format
// placeholder, or by a name cut short at a dot at the end of the text.
var runTimeSet = regexp.MustCompile(`(?is)\b(set|reset)\s+((local|session)\s+)?(%|[a-z_"][\w"$]*\.\s*$)`)
