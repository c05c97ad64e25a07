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
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(s)
	}
}
