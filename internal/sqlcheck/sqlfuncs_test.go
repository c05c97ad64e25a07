package sqlcheck

import (
	"strings"
	"testing"
)

// TestSQLPassedToFunctions covers functions that run SQL handed to them as
// text: what they run is held to the same rules as the statement itself.
func TestSQLPassedToFunctions(t *testing.T) {
	const setTenant = `SELECT set_config(''app.tenant_id'', ''b'', false)`
	tests := []struct {
		sql        string
		wantTamper string // substring of the reason; "" means clean
	}{
		// query_to_xml and friends: argument 1.
		{"SELECT query_to_xml('" + setTenant + "', true, true, '')", "set_config of app.tenant_id in SQL passed to query_to_xml"},
		{"SELECT query_to_xmlschema('" + setTenant + "', true, true, '')", "in SQL passed to query_to_xmlschema"},
		{"SELECT query_to_xml_and_xmlschema('" + setTenant + "', true, true, '')", "in SQL passed to query_to_xml_and_xmlschema"},
		{"SELECT pg_catalog.QUERY_TO_XML('" + setTenant + "', true, true, '')", "in SQL passed to query_to_xml"},
		{`SELECT "query_to_xml"('` + setTenant + `', true, true, '')`, "in SQL passed to query_to_xml"},
		{`SELECT U&"\0071uery_to_xml"('` + setTenant + `', true, true, '')`, "in SQL passed to query_to_xml"},
		{"SELECT query_to_xml('" + setTenant + "'::text, true, true, '')", "in SQL passed to query_to_xml"},
		{"SELECT query_to_xml(E'SELECT set_config(\\'app.tenant_id\\', \\'b\\', false)', true, true, '')", "in SQL passed to query_to_xml"},
		{"SELECT query_to_xml($q$SELECT set_config('app.tenant_id', 'b', false)$q$, true, true, '')", "in SQL passed to query_to_xml"},
		{"SELECT query_to_xml(U&'SELECT \\0073et_config(''app.tenant_id'', ''b'', false)', true, true, '')", "in SQL passed to query_to_xml"},
		{"SELECT query_to_xml(query => '" + setTenant + "', nulls => true, tableforest => true, targetns => '')", "in SQL passed to query_to_xml"},
		{"SELECT query_to_xml(nulls => true, tableforest => true, targetns => '', query => '" + setTenant + "')", "in SQL passed to query_to_xml"},
		{"SELECT query_to_xml('SET ROLE admin', true, true, '')", "SET ROLE in SQL passed to query_to_xml"},
		{"SELECT query_to_xml('RESET ALL', true, true, '')", "RESET ALL in SQL passed"},
		{"SELECT query_to_xml('SELECT 1; DISCARD ALL', true, true, '')", "DISCARD in SQL passed"},
		{"SELECT query_to_xml('EXECUTE pgxtenant_set_local', true, true, '')", "EXECUTE of a statement named pgxtenant_"},
		{"SELECT query_to_xml($1, true, true, '')", "SQL passed to query_to_xml is not a constant"},
		{"SELECT query_to_xml(q, true, true, '') FROM saved_queries", "is not a constant"},
		{"SELECT query_to_xml('SELECT ' || 'set_config(1)', true, true, '')", "is not a constant"},
		{"SELECT query_to_xml(format('SELECT %s', $1), true, true, '')", "is not a constant"},
		{"SELECT query_to_xml('SELEC 1', true, true, '')", "SQL passed to query_to_xml does not parse"},
		{"SELECT * FROM items WHERE EXISTS (SELECT query_to_xml($1, true, true, ''))", "is not a constant"},
		{"SELECT query_to_xml('SELECT * FROM items', true, true, '')", ""},
		{"SELECT query_to_xml('SELECT current_setting(''app.tenant_id'', true)', true, false, '')", ""},
		{"SELECT query_to_xml(query => 'SELECT 1', nulls => true, tableforest => false, targetns => 'urn:x')", ""},
		{"SELECT query_to_xml(NULL, true, true, '')", ""},
		{"SELECT cursor_to_xml('c', 10, true, true, '')", ""}, // a cursor name, not SQL
		{"SELECT table_to_xml('items', true, true, '')", ""},

		// Text search.
		{"SELECT * FROM ts_stat('" + setTenant + "')", "in SQL passed to ts_stat"},
		{"SELECT * FROM ts_stat('" + setTenant + "', 'ab')", "in SQL passed to ts_stat"},
		{"SELECT * FROM ts_stat($1)", "SQL passed to ts_stat is not a constant"},
		{"SELECT * FROM ts_stat('SELECT vector FROM apod')", ""},
		{"SELECT * FROM ts_stat('SELECT vector FROM apod', 'ab')", ""},
		{"SELECT ts_rewrite('a & b'::tsquery, '" + setTenant + "')", "in SQL passed to ts_rewrite"},
		{"SELECT ts_rewrite(q, $1) FROM t", "SQL passed to ts_rewrite is not a constant"},
		{"SELECT ts_rewrite('a & b'::tsquery, 'SELECT t, s FROM aliases')", ""},
		{"SELECT ts_rewrite('a & b'::tsquery, 'a'::tsquery, 'c'::tsquery)", ""},
		{"SELECT ts_rewrite(q, t, s) FROM rules", ""},

		// dblink: the SQL is the last text argument.
		{"SELECT * FROM dblink('" + setTenant + "') AS t(v text)", "in SQL passed to dblink"},
		{"SELECT * FROM dblink('" + setTenant + "', true) AS t(v text)", "in SQL passed to dblink"},
		{"SELECT * FROM dblink('" + setTenant + "', 'x'::boolean) AS t(v text)", "in SQL passed to dblink"},
		{"SELECT * FROM dblink('dbname=prod', '" + setTenant + "') AS t(v text)", "in SQL passed to dblink"},
		{"SELECT * FROM dblink('conn', '" + setTenant + "', false) AS t(v text)", "in SQL passed to dblink"},
		{"SELECT * FROM dblink('dbname=prod', $1) AS t(v text)", "SQL passed to dblink is not a constant"},
		{"SELECT * FROM dblink($1, $2) AS t(v text)", "SQL passed to dblink is not a constant"},
		{"SELECT * FROM dblink($1) AS t(v text)", "SQL passed to dblink is not a constant"},
		{"SELECT * FROM dblink($1, true) AS t(v text)", "SQL passed to dblink is not a constant"},
		{"SELECT * FROM public.dblink('dbname=prod', 'SELECT id FROM items') AS t(id int)", ""},
		{"SELECT * FROM dblink('SELECT id FROM items', false) AS t(id int)", ""},
		{"SELECT * FROM dblink($1, 'SELECT id FROM items') AS t(id int)", ""}, // the connection may vary
		{"SELECT * FROM dblink('conn', 'SELECT id FROM items', $1::bool) AS t(id int)", ""},
		{"SELECT dblink_exec('" + setTenant + "')", "in SQL passed to dblink_exec"},
		{"SELECT dblink_exec('conn', 'SET app.tenant_id = ''b''')", "SET/RESET of app.tenant_id in SQL passed to dblink_exec"},
		{"SELECT dblink_exec('conn', 'SET ROLE admin', true)", "SET ROLE in SQL passed to dblink_exec"},
		{"SELECT dblink_exec('conn', $1)", "SQL passed to dblink_exec is not a constant"},
		{"SELECT dblink_exec('conn', 'UPDATE items SET val = 1')", ""},
		{"SELECT dblink_open('c', '" + setTenant + "')", "in SQL passed to dblink_open"},
		{"SELECT dblink_open('c', '" + setTenant + "', true)", "in SQL passed to dblink_open"},
		{"SELECT dblink_open('conn', 'c', '" + setTenant + "')", "in SQL passed to dblink_open"},
		{"SELECT dblink_open('conn', 'c', '" + setTenant + "', false)", "in SQL passed to dblink_open"},
		{"SELECT dblink_open('conn', 'c', $1)", "SQL passed to dblink_open is not a constant"},
		{"SELECT dblink_open('c', 'SELECT id FROM items')", ""},
		{"SELECT dblink_open('conn', 'c', 'SELECT id FROM items', true)", ""},
		{"SELECT dblink_send_query('conn', '" + setTenant + "')", "in SQL passed to dblink_send_query"},
		{"SELECT dblink_send_query('conn', $1)", "SQL passed to dblink_send_query is not a constant"},
		{"SELECT dblink_send_query('conn', 'SELECT 1')", ""},
		{"SELECT dblink_connect('conn', 'dbname=prod')", ""},
		{"SELECT * FROM dblink_fetch('c', 5) AS t(id int)", ""},

		// tablefunc and xml2.
		{"SELECT * FROM crosstab('" + setTenant + "') AS t(a text)", "in SQL passed to crosstab"},
		{"SELECT * FROM crosstab('SELECT 1', '" + setTenant + "') AS t(a text)", "in SQL passed to crosstab"},
		{"SELECT * FROM crosstab3('" + setTenant + "')", "in SQL passed to crosstab3"},
		{"SELECT * FROM crosstab('SELECT r, c, v FROM t ORDER BY 1', $1) AS t(a text)", "is not a constant"},
		{"SELECT * FROM crosstab('SELECT r, c, v FROM t ORDER BY 1', 3) AS t(a text, b int, c int, d int)", ""},
		{"SELECT * FROM crosstab('SELECT r, c, v FROM t ORDER BY 1', 'SELECT DISTINCT c FROM t ORDER BY 1') AS t(a text, b int)", ""},
		{"SELECT * FROM connectby('tree', 'id', 'parent', '1', 0) AS t(id text, parent text, level int)", ""},
		{`SELECT * FROM connectby('app."Tree"', 'id', 'parent', 'pos', '1', 0, '~') AS t(id text)`, ""},
		{"SELECT * FROM connectby('tree', 'id', 'parent', $1, 0, '~') AS t(id text)", ""}, // start_with is quoted by connectby
		{"SELECT * FROM connectby('tree WHERE false UNION SELECT set_config(''app.tenant_id'', ''b'', false), null --', 'id', 'parent', '1', 0) AS t(id text)", "name passed to connectby is not a plain name"},
		{"SELECT * FROM connectby($1, 'id', 'parent', '1', 0) AS t(id text)", "name passed to connectby is not a constant"},
		{"SELECT * FROM connectby('tree', 'id', 'parent', 'pos; DISCARD ALL', '1', 0) AS t(id text)", "not a plain name"},
		{"SELECT * FROM xpath_table('id', 'xml', 'docs', '/a', 'true')", ""},
		{"SELECT * FROM xpath_table('id', 'xml', 'docs', '/a', 'true; SELECT set_config(''app.tenant_id'', ''b'', false)')", "in condition passed to xpath_table"},
		{"SELECT * FROM xpath_table('id', 'xml', 'docs d, pg_settings s', '/a', 'true')", "not a plain name"},
		{"SELECT * FROM xpath_table('id', 'xml', 'docs', '/a', $1)", "condition passed to xpath_table is not a constant"},

		// Nesting.
		{"SELECT query_to_xml('SELECT query_to_xml(''" + strings.ReplaceAll(setTenant, "'", "''") + "'', true, true, '''')', true, true, '')",
			"set_config of app.tenant_id in SQL passed to query_to_xml in SQL passed to query_to_xml"},
		{"SELECT query_to_xml('SELECT dblink_exec(''conn'', $1)', true, true, '')", "SQL passed to dblink_exec is not a constant in SQL passed to query_to_xml"},
		{"PREPARE p AS SELECT query_to_xml($1, true, true, '')", "is not a constant"},
		{nest(maxNesting, "SELECT 1"), ""},
		{nest(maxNesting+1, "SELECT 1"), "nested more than 8 levels deep"},
	}
	for _, tt := range tests {
		a, err := NewAnalyzer("app.tenant_id", 0).Analyze(tt.sql)
		if err != nil {
			t.Errorf("Analyze(%q): %v", tt.sql, err)
			continue
		}
		switch {
		case tt.wantTamper == "" && a.Tamper != "":
			t.Errorf("Analyze(%q): false tamper %q", tt.sql, a.Tamper)
		case tt.wantTamper != "" && !strings.Contains(a.Tamper, tt.wantTamper):
			t.Errorf("Analyze(%q): tamper %q, want %q", tt.sql, a.Tamper, tt.wantTamper)
		}
	}
}

// nest returns sql passed through query_to_xml depth times.
func nest(depth int, sql string) string {
	for i := 0; i < depth; i++ {
		sql = "SELECT query_to_xml('" + strings.ReplaceAll(sql, "'", "''") + "', true, true, '')"
	}
	return sql
}

func TestIsNameChain(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want bool
	}{
		{"tree", true},
		{"app.tree", true},
		{` app . "Tree" `, true},
		{`"we""ird"`, true},
		{"t$1", true},
		{"_x", true},
		{"", false},
		{"1t", false},
		{"a b", false},
		{"a.", false},
		{".a", false},
		{`"unterminated`, false},
		{"a;b", false},
		{"a--", false},
		{"a/**/", false},
		{"a'", false},
		{"a(b)", false},
		{"a,b", false},
	} {
		if got := isNameChain(tt.s); got != tt.want {
			t.Errorf("isNameChain(%q) = %v, want %v", tt.s, got, tt.want)
		}
	}
}
