package metrics_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/metrics"
)

// BenchmarkHandler is one audit-mode guard violation on two tables, counted
// by the SDK (as under a hot unscoped statement, before any Limit).
func BenchmarkHandler(b *testing.B) {
	m, err := metrics.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader())).Meter("bench"))
	if err != nil {
		b.Fatal(err)
	}
	h := m.Handler(nil)
	ctx := context.Background()
	e := event.Event{Kind: event.GuardViolation, Tables: []string{"invoices", "customers"}, Mode: "audit", Rule: "unscoped", Fingerprint: "f1"}
	b.ReportAllocs()
	for b.Loop() {
		h.Handle(ctx, e)
	}
}
