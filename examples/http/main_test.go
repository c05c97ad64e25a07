package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

// TestDemo runs the scripted session `go run ./examples/http` runs: every
// step checks its status, so a broken protection fails it.
func TestDemo(t *testing.T) {
	pgtest.Shared(t) // skip or fail like every database test
	var out bytes.Buffer
	if err := run(context.Background(), false, "", &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		`{"tenant":"acme","invoices":[{"customer":"Road Runner","total":"120.00"},{"customer":"Coyote","total":"75.50"}]}`,
		`{"tenant":"globex","invoices":[{"customer":"Hank Scorpio","total":"9999.99"}]}`,
		"rule=principal_mismatch", "rule=not_member", "rule=cross_origin", "rule=bad_signature",
		"every answer as expected",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(s, "Bill Lumbergh") {
		t.Error("initech's invoice was shown")
	}
	if t.Failed() {
		t.Log(s)
	}
}
