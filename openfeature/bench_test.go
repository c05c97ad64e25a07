package openfeature_test

import (
	"testing"

	of "github.com/open-feature/go-sdk/openfeature"
	"github.com/open-feature/go-sdk/openfeature/memprovider"

	"github.com/pgx-tenant/pgx-tenant/flags"
	ptof "github.com/pgx-tenant/pgx-tenant/openfeature"
)

// BenchmarkDecide is a statement of two tables: six evaluations.
func BenchmarkDecide(b *testing.B) {
	p := memprovider.NewInMemoryProvider(map[string]memprovider.InMemoryFlag{
		ptof.GuardKey: {Key: ptof.GuardKey, State: memprovider.Enabled, DefaultVariant: "audit", Variants: map[string]any{"audit": "audit"}},
	})
	if err := of.SetNamedProviderAndWait(b.Name(), p); err != nil {
		b.Fatal(err)
	}
	d := ptof.New(of.NewClient(b.Name()), flags.Defaults{flags.Rewrite: "audit"})
	b.ReportAllocs()
	for b.Loop() {
		_ = d.Decide("t01", "invoices", "customers")
	}
}
