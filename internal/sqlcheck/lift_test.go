package sqlcheck

import (
	"fmt"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/internal/guardcases"
)

// caseTables is the catalog of guardcases.Schema.
type caseTables map[[2]string]TableInfo

func (c caseTables) Lookup(schema, name string) (TableInfo, bool) {
	if schema == "" {
		schema = "public"
	}
	t, ok := c[[2]string{schema, name}]
	return t, ok
}

var tablesOfCases = caseTables{
	{"public", "invoices"}:        {Name: "invoices", Owned: true, Position: 2},
	{"public", "customers"}:       {Name: "customers", Owned: true, Position: 2},
	{"public", "line_items"}:      {Name: "line_items", Owned: true, Position: 2},
	{"public", "events"}:          {Name: "events", Owned: true, Position: 2, DefaultReadsSetting: true},
	{"audit", "log"}:              {Name: "audit.log", Owned: true, Position: 2},
	{"public", "invoice_summary"}: {Name: "invoice_summary", Owned: true, Position: 1},
	{"public", "revenue"}:         {Name: "revenue", Hidden: true},
	{"public", "countries"}:       {Name: "countries"},
	{"public", "plans"}:           {Name: "plans"},
}

// TestLiftedDecidesAsParsed checks, over every guard case, that deciding on
// a text's shape (literals lifted into parameters) gives the same answer,
// at the same position, as deciding on the text itself.
func TestLiftedDecidesAsParsed(t *testing.T) {
	cases, err := guardcases.Load("../../guard/testdata")
	if err != nil {
		t.Fatal(err)
	}
	z := NewScopeAnalyzer("app.tenant_id", "tenant_id", 0)
	z.SetRelations([]string{"invoices", "customers", "line_items", "events", "log", "invoice_summary", "revenue"})
	lifted := 0
	for _, c := range cases {
		full, err := analyzeScope(c.SQL, "app.tenant_id", "tenant_id", nil)
		if err != nil {
			continue
		}
		a, err := z.Analyze(c.SQL)
		if err != nil || !a.Lifted {
			continue
		}
		lifted++
		want := full.Scope.Decide(tablesOfCases, guardcases.Tenant, c.Args)
		got := a.Scope.DecideLifted(tablesOfCases, guardcases.Tenant, Literals(c.SQL), c.Args)
		switch {
		case (want == nil) != (got == nil):
			t.Errorf("%s/%s: parsed %v, lifted %v", c.File, c.Name, want, got)
		case want != nil && (want.Rule != got.Rule || want.Table != got.Table || want.Pos != OriginalPos(c.SQL, got.Pos)):
			t.Errorf("%s/%s: parsed %+v, lifted %+v (position %d)", c.File, c.Name, *want, *got, OriginalPos(c.SQL, got.Pos))
		}
	}
	if lifted < 50 {
		t.Fatalf("only %d cases took the lifted path", lifted)
	}
	t.Logf("%d cases decided on their shape", lifted)
}

func TestLift(t *testing.T) {
	for _, tt := range []struct {
		sql, shape string
		lits       []string
	}{
		{`SELECT * FROM t WHERE a = 'x' AND b = 12 AND c = 1.5e3`, `SELECT * FROM t WHERE a = $1 AND b = $2 AND c = $3`, []string{"x", "12", "1.5e3"}},
		{`SELECT 'it''s' FROM t1 WHERE "a'b" = 'c'`, `SELECT $1 FROM t1 WHERE "a'b" = $2`, []string{"it's", "c"}},
		{`SELECT current_setting('app.tenant_id') = 'x'`, `SELECT current_setting('app.tenant_id') = $1`, []string{"x"}},
		{`SELECT $q$it's$q$, 'a'`, `SELECT $q$it's$q$, $1`, []string{"a"}},
		{`SELECT a$b, x1 FROM t WHERE y = -3`, `SELECT a$b, x1 FROM t WHERE y = -$1`, []string{"3"}},
	} {
		shape, _, ok := lift(tt.sql)
		if !ok || shape != tt.shape {
			t.Errorf("lift(%q) = %q, %v; want %q", tt.sql, shape, ok, tt.shape)
			continue
		}
		if got := Literals(tt.sql); len(got) != len(tt.lits) || fmt.Sprint(got) != fmt.Sprint(tt.lits) {
			t.Errorf("Literals(%q) = %q, want %q", tt.sql, got, tt.lits)
		}
	}
	for _, sql := range []string{
		`SELECT * FROM t WHERE a = $1 AND b = 'x'`, // parameters of its own
		`SELECT E'a\'b'`, `SELECT B'101'`, `SELECT X'1F'`, `SELECT N'x'`, `SELECT U&'x'`,
		`SELECT DATE '2020-01-01'`, `SELECT INTERVAL '1' DAY`, `SELECT 0x1F`, `SELECT 'unterminated`,
		`SELECT 1 -- comment`, `SELECT /* c */ 1`,
	} {
		if shape, _, ok := lift(sql); ok {
			t.Errorf("lift(%q) = %q: want no shape", sql, shape)
		}
	}
}

// FuzzLift checks lifting on arbitrary text: it never panics, the shape
// has one parameter per literal, positions map back into the text, and a
// shape that parses decides exactly as the text itself.
func FuzzLift(f *testing.F) {
	for _, s := range []string{"SELECT * FROM invoices WHERE tenant_id = 't01' AND id = 5",
		"INSERT INTO invoices (tenant_id, total) VALUES ('t02', 1.5)", "SELECT 'a''b', $x$'$x$ FROM t"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		shape, offsets, ok := lift(sql)
		if !ok {
			return
		}
		lits := Literals(sql)
		if len(lits) != len(offsets) {
			t.Fatalf("%d literals, %d offsets", len(lits), len(offsets))
		}
		for p := 0; p <= len(shape); p++ {
			if o := OriginalPos(sql, p); o < 0 || o > len(sql) {
				t.Fatalf("position %d maps to %d", p, o)
			}
		}
		full, err := analyzeScope(sql, "app.tenant_id", "tenant_id", nil)
		if err != nil {
			return
		}
		a, err := analyzeShape(shape, "app.tenant_id", "tenant_id", nil)
		if err != nil {
			return
		}
		args := []any{guardcases.Tenant}
		want := full.Scope.Decide(tablesOfCases, guardcases.Tenant, args)
		got := a.Scope.DecideLifted(tablesOfCases, guardcases.Tenant, lits, args)
		if (want == nil) != (got == nil) || want != nil && (want.Rule != got.Rule || want.Table != got.Table) {
			t.Fatalf("parsed %v, lifted %v", want, got)
		}
	})
}
