package metrics_test

import (
	"context"
	"testing"

	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/metrics"
)

// TestHandlerCounts: an event counts once per table plus the events a
// Limit handler suppressed before it, would-block only under audit, and
// it reaches next.
func TestHandlerCounts(t *testing.T) {
	reader := sdkmetric.NewManualReader()
	m, err := metrics.New(sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)).Meter("test"))
	if err != nil {
		t.Fatal(err)
	}
	var passed int
	h := m.Handler(event.HandlerFunc(func(context.Context, event.Event) { passed++ }))
	ctx := context.Background()
	for range 2 { // the second time from the cached attribute sets
		h.Handle(ctx, event.Event{Kind: event.GuardViolation, Tables: []string{"invoices", "customers"}, Mode: "audit", Rule: "unscoped", Suppressed: 4})
		h.Handle(ctx, event.Event{Kind: event.GuardViolation, Tables: []string{"invoices"}, Mode: "enforce", Rule: "unscoped"})
		h.Handle(ctx, event.Event{Kind: event.Tamper})
	}
	if passed != 6 {
		t.Errorf("next got %d events, want 6", passed)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]map[string]int64{} // instrument → kind/table/mode → value
	for _, sm := range rm.ScopeMetrics {
		for _, mt := range sm.Metrics {
			sum, ok := mt.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			got[mt.Name] = map[string]int64{}
			for _, p := range sum.DataPoints {
				kind, _ := p.Attributes.Value("kind")
				table, _ := p.Attributes.Value("table")
				mode, _ := p.Attributes.Value("mode")
				got[mt.Name][kind.AsString()+"/"+table.AsString()+"/"+mode.AsString()] += p.Value
			}
		}
	}
	want := map[string]map[string]int64{
		metrics.EventsName: {
			"guard_violation/invoices/audit": 10, "guard_violation/customers/audit": 10,
			"guard_violation/invoices/enforce": 2, "tamper//": 2,
		},
		metrics.WouldBlockName: {"/invoices/": 10, "/customers/": 10},
	}
	for name, w := range want {
		if len(got[name]) != len(w) {
			t.Errorf("%s: %v, want %v", name, got[name], w)
		}
		for k, n := range w {
			if got[name][k] != n {
				t.Errorf("%s{%s} = %d, want %d (all: %v)", name, k, got[name][k], n, got[name])
			}
		}
	}
}
