package event

import (
	"context"
	"testing"
	"time"
)

// BenchmarkLimit is a hot statement's event through Limit: all but the
// first suppressed.
func BenchmarkLimit(b *testing.B) {
	h := Limit(HandlerFunc(func(context.Context, Event) {}), time.Hour)
	ctx := context.Background()
	e := Event{Kind: GuardViolation, Rule: "unscoped", Mode: "audit", Fingerprint: "f1", Tables: []string{"invoices"}}
	b.ReportAllocs()
	for b.Loop() {
		h.Handle(ctx, e)
	}
}
