// Package metrics turns pgx-tenant's events into OpenTelemetry metrics:
// a counter of events per kind, table, mode and rule, a counter of the
// statements the guard would have refused (violations seen under audit),
// and, through the driver, a histogram of the guard's decision time.
//
//	m, err := metrics.New(otel.GetMeterProvider().Meter("pgx-tenant"))
//	db, err := driver.OpenDB(*cfg, driver.WithEventHandler(m.Handler(event.Slog(logger))),
//		driver.WithDecisionTimer(m.RecordDecision))
package metrics

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/pgx-tenant/pgx-tenant/event"
)

// Instrument names.
const (
	EventsName     = "pgx_tenant.events"
	WouldBlockName = "pgx_tenant.guard.would_block"
	DecisionName   = "pgx_tenant.guard.decision.duration"
)

// Metrics holds the instruments.
type Metrics struct {
	events     metric.Int64Counter
	wouldBlock metric.Int64Counter
	decision   metric.Float64Histogram
}

// New creates the instruments on meter.
func New(meter metric.Meter) (*Metrics, error) {
	var m Metrics
	var err error
	if m.events, err = meter.Int64Counter(EventsName,
		metric.WithDescription("pgx-tenant events, by kind, table, mode and rule")); err != nil {
		return nil, err
	}
	if m.wouldBlock, err = meter.Int64Counter(WouldBlockName,
		metric.WithDescription("statements the guard reported under audit: enforce would have refused them")); err != nil {
		return nil, err
	}
	if m.decision, err = meter.Float64Histogram(DecisionName, metric.WithUnit("s"),
		metric.WithDescription("time the guard took to decide a statement")); err != nil {
		return nil, err
	}
	return &m, nil
}

// Handler returns an event.Handler that counts each event (once per table
// it names; Suppressed events of a Limit handler before it count too) and
// then passes it to next (nil for none).
func (m *Metrics) Handler(next event.Handler) event.Handler {
	return event.HandlerFunc(func(ctx context.Context, e event.Event) {
		n := int64(1 + e.Suppressed)
		tables := e.Tables
		if len(tables) == 0 {
			tables = []string{""}
		}
		for _, t := range tables {
			attrs := metric.WithAttributes(
				attribute.String("kind", string(e.Kind)),
				attribute.String("table", t),
				attribute.String("mode", e.Mode),
				attribute.String("rule", e.Rule))
			m.events.Add(ctx, n, attrs)
			if e.Kind == event.GuardViolation && e.Mode == "audit" {
				m.wouldBlock.Add(ctx, n, metric.WithAttributes(attribute.String("table", t), attribute.String("rule", e.Rule)))
			}
		}
		if next != nil {
			next.Handle(ctx, e)
		}
	})
}

// RecordDecision records one guard decision's duration (for
// driver.WithDecisionTimer).
func (m *Metrics) RecordDecision(ctx context.Context, d time.Duration) {
	m.decision.Record(ctx, d.Seconds())
}
