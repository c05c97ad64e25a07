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
func (c *checker) plpgsql(what string) bool {
	if c.text == "" {
		return false
	}
	js, err := pg_query.ParsePlPgSqlToJSON(c.text)
	if err != nil {
		return false
	}
	var tree any
	if err := json.Unmarshal([]byte(js), &tree); err != nil {
		return false
	}
	var exprs []plExpr
	collectExprs(tree, "", "", &exprs)

	var consts []string
	computed := false
	for _, e := range exprs {
		parsed, sql := parseExpr(e)
		if parsed == nil {
			// Not SQL the parser reads on its own: its words.
			c.words(e.query, what)
			consts = append(consts, e.query)
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
		} else {
			computed = true
		}
	}
	if computed {
		if reason := fragmentTamper(consts, c.setting); reason != "" {
			c.tamper(what + ": EXECUTE of computed SQL with a constant part " + reason)
		}
	}
	return true
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

// placeholder matches the words format() placeholders leave: %s, %I, %L
// and their positional forms %1$s.
var placeholder = regexp.MustCompile(`^([0-9]+\$)?[sil]$`)

// fragmentTamper returns why constant parts of computed dynamic SQL could
// write the setting or change the session, or "": a part that has such a
// form on its own (bodyTamper: set_config, SET or RESET of the setting, of
// the role or session authorization, DISCARD, RESET ALL, …), or a SET or
// RESET whose setting is named at run time (the part ends before the
// name, or names it with a format placeholder), which could be any
// setting. A SET of a setting the part names, other than those, passes.
func fragmentTamper(frags []string, setting string) string {
	for _, f := range frags {
		ws := bodyWords(f)
		if reason := bodyTamper(ws, setting); reason != "" {
			return reason
		}
		for i := range ws {
			var target string
			switch {
			case ws[i].w == "reset":
				target = next(ws, i)
			case gucSet(ws, i):
				target = afterScope(ws, i)
			default:
				continue
			}
			if target == "" || placeholder.MatchString(target) {
				return "that SETs or RESETs a setting named at run time"
			}
		}
	}
	return ""
}
