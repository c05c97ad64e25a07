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
	"sync"
	"sync/atomic"
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

	// attrs caches each attribute set's options (attrKey → *attrOpts):
	// building a set sorts and allocates, and the handler runs per event.
	attrs  sync.Map
	nAttrs atomic.Int64
}

// maxCachedAttrs bounds attrs; past it, sets are built per event. The
// keys come from the catalog's tables and a few kinds, modes and rules,
// so it is only reached by a handler fed events from elsewhere.
const maxCachedAttrs = 4096

type attrKey struct {
	kind              event.Kind
	table, mode, rule string
}

// attrOpts are slices so that Add takes them without allocating its
// variadic argument.
type attrOpts struct {
	events     []metric.AddOption
	wouldBlock []metric.AddOption // nil: not a violation seen under audit
}

func (m *Metrics) opts(k attrKey) *attrOpts {
	if o, ok := m.attrs.Load(k); ok {
		return o.(*attrOpts)
	}
	o := &attrOpts{events: []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(
		attribute.String("kind", string(k.kind)),
		attribute.String("table", k.table),
		attribute.String("mode", k.mode),
		attribute.String("rule", k.rule)))}}
	if k.kind == event.GuardViolation && k.mode == "audit" {
		o.wouldBlock = []metric.AddOption{metric.WithAttributeSet(attribute.NewSet(attribute.String("table", k.table), attribute.String("rule", k.rule)))}
	}
	if m.nAttrs.Load() < maxCachedAttrs {
		if _, loaded := m.attrs.LoadOrStore(k, o); !loaded {
			m.nAttrs.Add(1)
		}
	}
	return o
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
		if len(e.Tables) == 0 {
			m.count(ctx, n, attrKey{e.Kind, "", e.Mode, e.Rule})
		}
		for _, t := range e.Tables {
			m.count(ctx, n, attrKey{e.Kind, t, e.Mode, e.Rule})
		}
		if next != nil {
			next.Handle(ctx, e)
		}
	})
}

func (m *Metrics) count(ctx context.Context, n int64, k attrKey) {
	o := m.opts(k)
	m.events.Add(ctx, n, o.events...)
	if o.wouldBlock != nil {
		m.wouldBlock.Add(ctx, n, o.wouldBlock...)
	}
}

// RecordDecision records one guard decision's duration (for
// driver.WithDecisionTimer).
func (m *Metrics) RecordDecision(ctx context.Context, d time.Duration) {
	m.decision.Record(ctx, d.Seconds())
}
