package sqlcheck

import (
	"reflect"
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
	} {
		if got := mustParse(tt.sql); got != tt.want {
			t.Errorf("mustParse(%q) = %v, want %v", tt.sql, got, tt.want)
		}
	}
}

// FuzzPrefilter checks the prefilter's promise: whenever it lets a text skip
// the parser, parsing would have found nothing but one plain statement (or
// a syntax error, which the server reports).
func FuzzPrefilter(f *testing.F) {
	for _, s := range []string{
		"SELECT 1", "UPDATE t SET v = 1", "SELECT set_config('app.tenant_id','x',false)",
		"DO $$ BEGIN END $$", "BEGIN", "RESET ALL", "SELECT 1;", `SELECT U&"\0073et_config"('a.b','c',false)`,
		"VACUUM t", "-- comment only", "SELECT /* set */ 1", "DISCARD ALL", "CALL p()",
		"CREATE INDEX CONCURRENTLY i ON t (c)", "UPDATE pg_settings SET setting = 'x'",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		if mustParse(sql) {
			return
		}
		a, err := analyze(sql, "app.tenant_id")
		if err != nil {
			return
		}
		if !reflect.DeepEqual(a, plain) {
			t.Fatalf("prefilter skipped %q, whose analysis is %+v", sql, *a)
		}
	})
}
