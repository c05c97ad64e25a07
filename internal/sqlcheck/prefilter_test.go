package sqlcheck

import (
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
)

func TestMustParse(t *testing.T) {
	for _, tt := range []struct {
		sql  string
		want bool
	}{
		{"SELECT id, total FROM invoices WHERE status = $1", false},
		{"INSERT INTO books (author_id, title) VALUES (1, 'Offset and asset'), (2, 'x')", false},
		{"SELECT * FROM t ORDER BY id LIMIT 10 OFFSET 20", false},
		{"UPDATE items SET val = 1", true},
		{"select SET_CONFIG('a.b', 'c', false)", true},
		{"SELECT 1; SELECT 2", true},
		{"SELECT 'a;b'", true}, // conservative: the ';' is data
		{"INSERT INTO notes VALUES ('please reset me')", true},
		{`SELECT U&"\0061"`, true},
		{"SELECT u&'x'", true},
		{"  \n\t", true},
		{"", true},
		{"VACUUM items", true},
		{"BEGIN", true},
		{"DO $$ $$", true},
		{"CALL p()", true},
		{"SELECT x_set FROM settings", false},
		{"SELECT 1 -- note", true},
		{"SELECT /* c */ 1", true},
		{"EXECUTE p(1)", true},
		{"DEALLOCATE p", true},
		{"SELECT * FROM dblink('c', 'SELECT 1') AS t(a int)", true},
		{"SELECT query_to_xml_and_xmlschema('SELECT 1', true, true, '')", true},
		{"SELECT role, authorization FROM grants", false}, // no longer triggers
		{"SELECT * FROM pg_settings WHERE name = 'work_mem'", false},
		// Older servers split a number or a parameter from a word glued to
		// it; the parser here rejects such text, so the prefilter must not
		// let it skip.
		{"ALTER ROUTINE r() COST 1SET app.tenant_id = 'x'", true},
		{"SELECT 1e5set_config", true},
		{"SELECT 1.5end", true},
		{"SELECT $1set", true},
		{"SELECT x FROM t WHERE a = $1", false},
		{"SELECT v1_set, col2end_x FROM t", false},
		{"SELECT 0x1F, 1_000, 1e5", false},
	} {
		if got := mustParse(tt.sql); got != tt.want {
			t.Errorf("mustParse(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}

// triggerWitnesses holds, for every trigger word, a text in which it is the
// only reason to parse and whose analysis is not plain: removing the word
// from isTrigger would let that text skip the parser with the wrong answer.
var triggerWitnesses = map[string]string{
	"set":        "SET app.tenant_id = 'x'",
	"reset":      "RESET app.tenant_id",
	"set_config": "SELECT set_config('app.tenant_id', 'x', false)",
	"discard":    "DISCARD ALL",
	"do":         "DO 'x'",
	"call":       "CALL p()",
	"function":   `CREATE FUNCTION f() RETURNS int LANGUAGE sql AS E'DE\x41LLOCATE ALL'`,
	"procedure":  `CREATE PROCEDURE p() LANGUAGE sql AS E'DE\x41LLOCATE ALL'`,
	"copy":       "COPY t TO STDOUT",
	"begin":      "BEGIN",
	"start":      "START TRANSACTION",
	"commit":     "COMMIT",
	"end":        "END",
	"rollback":   "ROLLBACK",
	"abort":      "ABORT",
	"savepoint":  "SAVEPOINT a",
	"release":    "RELEASE a",
	"prepare":    "PREPARE TRANSACTION 'x'",
	"execute":    "EXECUTE pgxtenant_set_local",
	"deallocate": "DEALLOCATE ALL",

	"query_to_xml":               "SELECT query_to_xml($1, true, true, '')",
	"query_to_xmlschema":         "SELECT query_to_xmlschema($1, true, true, '')",
	"query_to_xml_and_xmlschema": "SELECT query_to_xml_and_xmlschema($1, true, true, '')",
	"ts_stat":                    "SELECT * FROM ts_stat($1)",
	"ts_rewrite":                 "SELECT ts_rewrite(q, $1) FROM t",
	"dblink":                     "SELECT * FROM dblink($1) AS t(a int)",
	"dblink_exec":                "SELECT dblink_exec($1)",
	"dblink_open":                "SELECT dblink_open('c', $1)",
	"dblink_send_query":          "SELECT dblink_send_query('c', $1)",
	"crosstab":                   "SELECT * FROM crosstab($1) AS t(a int)",
	"crosstab2":                  "SELECT * FROM crosstab2($1)",
	"crosstab3":                  "SELECT * FROM crosstab3($1)",
	"crosstab4":                  "SELECT * FROM crosstab4($1)",
	"connectby":                  "SELECT * FROM connectby($1, 'id', 'parent', '1', 0) AS t(id int)",
	"xpath_table":                "SELECT * FROM xpath_table('id', 'doc', 'docs', '/a', $1)",

	"vacuum":       "VACUUM t",
	"concurrently": "CREATE INDEX CONCURRENTLY i ON t (c)",
	"database":     "CREATE DATABASE x",
	"tablespace":   "DROP TABLESPACE x",
	"cluster":      "CLUSTER",
	"subscription": "DROP SUBSCRIPTION s",
	"reindex":      "REINDEX SYSTEM",
}

// switchWords returns the words of the switch in isTrigger, read from the
// source, so that the witness table cannot fall behind it.
func switchWords(tb testing.TB) []string {
	tb.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "prefilter.go", nil, 0)
	if err != nil {
		tb.Fatal(err)
	}
	var words []string
	for _, d := range f.Decls {
		fd, ok := d.(*ast.FuncDecl)
		if !ok || fd.Name.Name != "isTrigger" {
			continue
		}
		ast.Inspect(fd.Body, func(n ast.Node) bool {
			cc, ok := n.(*ast.CaseClause)
			if !ok {
				return true
			}
			for _, e := range cc.List {
				lit, ok := e.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					tb.Fatalf("isTrigger case %v is not a string literal", e)
				}
				w, err := strconv.Unquote(lit.Value)
				if err != nil {
					tb.Fatal(err)
				}
				words = append(words, w)
			}
			return true
		})
	}
	if len(words) == 0 {
		tb.Fatal("no case words found in isTrigger")
	}
	sort.Strings(words)
	return words
}

// wordsOf returns the prefilter's words of sql.
func wordsOf(sql string) []string {
	return strings.FieldsFunc(sql, func(r rune) bool { return r > 0x7f || !isWordByte(byte(r)) })
}

func TestEveryTriggerWordHasWitness(t *testing.T) {
	words := switchWords(t)
	var table []string
	for w := range triggerWitnesses {
		table = append(table, w)
	}
	sort.Strings(table)
	if !reflect.DeepEqual(words, table) {
		t.Errorf("isTrigger accepts %v;\nwitnesses cover %v", words, table)
	}
	for _, w := range words {
		if !isTrigger(w) || !isTrigger(strings.ToUpper(w)) {
			t.Errorf("isTrigger(%q) = false for a word of its switch", w)
		}
	}
	for word, sql := range triggerWitnesses {
		// (i) the word is the only reason to parse the witness.
		for _, other := range wordsOf(sql) {
			if hasTrigger(other) && !strings.EqualFold(other, word) {
				t.Errorf("witness of %q, %q, also contains trigger %q", word, sql, other)
			}
		}
		if strings.TrimSpace(sql) == "" || strings.ContainsAny(sql, ";\x00") || strings.Contains(sql, "--") ||
			strings.Contains(sql, "/*") || strings.Contains(strings.ToLower(sql), "u&") {
			t.Errorf("witness of %q, %q, needs the parser for a reason other than the word", word, sql)
		}
		// (ii) the prefilter sends it to the parser.
		if !mustParse(sql) {
			t.Errorf("mustParse(%q) = false", sql)
		}
		// (iii) and the parser finds more than one plain statement.
		a, err := analyze(sql, "app.tenant_id")
		if err != nil {
			t.Errorf("witness of %q, %q: %v", word, sql, err)
			continue
		}
		if reflect.DeepEqual(a, plain) {
			t.Errorf("witness of %q, %q, analyses as plain", word, sql)
		}
	}
}

// TestSQLFuncsAreTriggers: a call to a function that runs SQL text must
// reach the parser.
func TestSQLFuncsAreTriggers(t *testing.T) {
	for _, f := range sqlFuncs {
		if !isTrigger(f) {
			t.Errorf("%s is not a trigger word", f)
		}
	}
}

// checkSkipped holds the prefilter to its promise for one text: when it
// lets the text skip the parser, the parser either rejects the text or finds
// one plain statement. It reports whether the text was skipped and parsed.
func checkSkipped(tb testing.TB, sql string) bool {
	tb.Helper()
	if mustParse(sql) {
		return false
	}
	a, err := analyze(sql, "app.tenant_id")
	if err != nil {
		if !errors.Is(err, ErrSyntax) {
			tb.Fatalf("analyze(%q): %v", sql, err)
		}
		return false
	}
	if !reflect.DeepEqual(a, plain) {
		tb.Fatalf("prefilter skipped %q, whose analysis is %+v", sql, *a)
	}
	return true
}

// prefilterCorpus generates texts around every trigger word and every name
// the checks look for: each word in statement templates, in variants that
// the parser may or may not read as that word (case, quotes, glued digits
// and dollars, escapes, dots).
func prefilterCorpus() []string {
	words := append([]string{}, sqlFuncs...)
	for w := range triggerWitnesses {
		words = append(words, w)
	}
	words = append(words,
		// names the checks match that are not trigger words themselves
		"role", "authorization", "session_authorization", "pg_settings", "prepared", "system", "transaction",
		"names", "client_encoding", "standard_conforming_strings", "backslash_quote", "app.tenant_id",
		"pgxtenant_set_local", "all", "local", "session", "snapshot", "chain", "work", "only", "atomic")
	sort.Strings(words)
	variants := func(w string) []string {
		up := strings.ToUpper(w)
		mixed := strings.ToUpper(w[:1]) + w[1:]
		return []string{
			w, up, mixed, `"` + w + `"`, `"` + up + `"`,
			w + "1", "1" + w, "x" + w, w + "x", "$" + w, w + "$", "_" + w, w + "_",
			"x." + w, w + ".x", "é" + w, w + "é", "'" + w + "'", "E'" + w + "'",
			"$q$" + w + "$q$", w[:len(w)/2] + " " + w[len(w)/2:],
		}
	}
	templates := []string{
		"%s",
		"SELECT %s",
		"SELECT %s()",
		"SELECT %s FROM t",
		"SELECT * FROM %s",
		"SELECT %s('app.tenant_id', 'x', false)",
		"SELECT %s($1)",
		"SELECT * FROM %s($1, $2) AS t(a int)",
		"SELECT a FROM t WHERE b = %s",
		"%s app.tenant_id = 'x'",
		"%s app.tenant_id",
		"%s ROLE admin",
		"%s SESSION AUTHORIZATION admin",
		"%s ALL",
		"%s TRANSACTION",
		"%s p",
		"%s p AS SELECT 1",
		"%s t",
		"%s x",
		"CREATE %s f() RETURNS int LANGUAGE sql AS 'SELECT pgxtenant_x()'",
		"CREATE %s p() LANGUAGE sql AS 'SELECT pgxtenant_x()'",
		"%s 'x'",
		"%s p()",
		"%s TRANSACTION 'x'",
		"%s pgxtenant_set_local",
		"%s SYSTEM",
		"CREATE INDEX %s i ON t (c)",
		"UPDATE t %s a = 1",
		"UPDATE %s SET setting = 'x'",
		"INSERT INTO t VALUES (%s)",
		"ALTER ROUTINE r() COST 1 %s app.tenant_id = 'x'",
		"ALTER ROLE admin %s app.tenant_id = 'x'",
		"DROP %s x",
		"CREATE %s x",
		"TABLE %s",
	}
	var corpus []string
	for _, w := range words {
		for _, v := range variants(w) {
			for _, tpl := range templates {
				corpus = append(corpus, strings.ReplaceAll(tpl, "%s", v))
			}
		}
	}
	return corpus
}

// TestPrefilterCorpus runs the property of FuzzPrefilter over a generated
// corpus, so that it holds in every go test run, not only under -fuzz.
func TestPrefilterCorpus(t *testing.T) {
	corpus := prefilterCorpus()
	skipped := 0
	for _, sql := range corpus {
		if checkSkipped(t, sql) {
			skipped++
		}
	}
	// Most texts hold a trigger word; enough must skip, and parse, for the
	// test to say something about the prefilter.
	if len(corpus) < 5000 || skipped < 500 {
		t.Fatalf("corpus of %d texts, %d skipped the parser and parsed: too few", len(corpus), skipped)
	}
	t.Logf("%d texts, %d skipped the parser and parsed", len(corpus), skipped)
}

// FuzzPrefilter checks the prefilter's promise: whenever it lets a text skip
// the parser, parsing would have found nothing but one plain statement (or
// a syntax error, which the server reports).
func FuzzPrefilter(f *testing.F) {
	for _, s := range []string{
		// texts that skip the parser, for the fuzzer to mutate into ones
		// that should not
		"SELECT 1", "SELECT id, total FROM invoices WHERE status = $1", "SELECT role FROM members",
		"INSERT INTO t (a) VALUES ('x')", "SELECT * FROM pg_settings", "SELECT 1e5, 0x1F, $1::text",
		`SELECT "Set_Config" FROM t`, "TABLE items", "SELECT pgxtenant_x()",
		// texts that need it
		"UPDATE t SET v = 1", "SELECT set_config('app.tenant_id','x',false)",
		"DO $$ BEGIN END $$", "BEGIN", "RESET ALL", "SELECT 1;", `SELECT U&"\0073et_config"('a.b','c',false)`,
		"VACUUM t", "-- comment only", "SELECT /* set */ 1", "DISCARD ALL", "CALL p()",
		"CREATE INDEX CONCURRENTLY i ON t (c)", "UPDATE pg_settings SET setting = 'x'",
		"EXECUTE pgxtenant_set_local", "DEALLOCATE ALL", "SELECT query_to_xml($1, true, true, '')",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		checkSkipped(t, sql)
	})
}
