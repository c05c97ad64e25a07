package sqlcheck

import (
	"strings"
	"testing"
)

// panicTables fails the way a bug in the decision would.
type panicTables struct{}

func (panicTables) Lookup(schema, name string) (TableInfo, bool) { panic("boom") }

// TestDecideRecovers: a fault inside the decision refuses the statement
// (unverifiable) instead of panicking in the application's goroutine.
func TestDecideRecovers(t *testing.T) {
	z := NewScopeAnalyzer("app.tenant_id", "tenant_id", 0)
	z.SetRelations([]string{"invoices"})
	a, err := z.Analyze("SELECT * FROM invoices WHERE id = $1")
	if err != nil || a.Scope == nil {
		t.Fatal(err)
	}
	for _, f := range []*Finding{
		a.Scope.Decide(panicTables{}, "t01", []any{1}),
		a.Scope.DecideLifted(panicTables{}, "t01", nil, nil),
	} {
		if f == nil || f.Rule != RuleUnverifiable || !strings.Contains(f.Detail, "decision failed") {
			t.Fatalf("finding %+v", f)
		}
	}
}
