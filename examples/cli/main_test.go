package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

// TestDemo runs the demo: run fails unless the final audit is clean and a
// statement without a tenant sees nothing; the output must show each
// tenant its own rows after the backfill.
func TestDemo(t *testing.T) {
	srv := pgtest.Shared(t)
	var out bytes.Buffer
	if err := run(t.Context(), srv, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"acme sees 2000 invoices", "globex sees 1000 invoices", "no tenant sees 0 invoices",
		"rls_disabled", "tenant_column_nullable", "(exit 1)",
		"16 findings: 4 critical, 6 high, 6 medium",                    // before
		"nothing changed: 4 table(s) already have RLS enabled, forced", // the second rls apply
		"3 findings: 1 high, 2 medium",                                 // after the backfill and rls apply
		"no findings\n  (exit 0)",                                      // after the fixes by hand
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(s)
	}
}
