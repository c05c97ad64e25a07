package guard_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/internal/guardcases"
)

// FuzzDecide checks the scope analysis and the decision on arbitrary text,
// seeded with every case: they never panic, and they answer the same twice
// (the analysis is cached and shared between goroutines, so it must not
// depend on anything but the text).
func FuzzDecide(f *testing.F) {
	cases, err := guardcases.Load("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		f.Add(c.SQL)
	}
	cat := testCatalog()
	z := newAnalyzer(cat)
	args := []any{guardcases.Tenant, guardcases.Tenant, int64(5)}
	f.Fuzz(func(t *testing.T, sql string) {
		rule, table := decide(z, cat, sql, args)
		if r2, t2 := decide(z, cat, sql, args); r2 != rule || t2 != table {
			t.Fatalf("decided %s %s, then %s %s", rule, table, r2, t2)
		}
		a, err := z.Analyze(sql)
		if err != nil && strings.Contains(err.Error(), "the analysis failed") {
			t.Fatalf("the analysis panicked: %v", err) // recovered in production, a bug all the same
		}
		if err != nil || a.Scope == nil {
			return
		}
		if f := a.Scope.Decide(cat, guardcases.Tenant, args); f != nil && strings.Contains(f.Detail, "decision failed") {
			t.Fatalf("the decision panicked: %s", f.Detail)
		}
		if again, _ := z.Analyze(sql); !reflect.DeepEqual(a, again) {
			t.Fatal("analysis not stable")
		}
	})
}
