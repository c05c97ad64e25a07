// Package event is the one shape in which pgx-tenant reports what it saw:
// guard violations and bypasses, tenant mismatches, statements without a
// tenant, tamper attempts, and row-level-security refusals from the
// server. It depends on the standard library only, so that every part of
// the product (the driver, the HTTP middleware) can share it.
package event

import (
	"context"
	"log/slog"
)

// Kind names what happened.
type Kind string

const (
	// GuardViolation: the guard found a statement not scoped to the
	// tenant (run under audit, refused under enforce: see Mode).
	GuardViolation Kind = "guard_violation"
	// GuardBypass: a statement ran without the guard because its context
	// was marked with tenant.WithBypass (Reason says why).
	GuardBypass Kind = "guard_bypass"
	// TenantMismatch: a statement's tenant differs from its transaction's.
	TenantMismatch Kind = "tenant_mismatch"
	// MissingTenant: a statement without a tenant where one is required.
	MissingTenant Kind = "missing_tenant"
	// Tamper: SQL that would change the tenant setting or session identity.
	Tamper Kind = "tamper"
	// RLSDenied: the server refused a row by a row-level security policy
	// (SQLSTATE 42501).
	RLSDenied Kind = "rls_denied"
	// Rewrite: the rewrite (tenant_rewrite=audit) would add tenant
	// predicates to a statement that ran as written (SQL holds the
	// rewritten statement), or could not rewrite one.
	Rewrite Kind = "rewrite"
)

// Event is one report. It never carries argument values or rows.
type Event struct {
	Kind   Kind
	Tenant string // the context's tenant ("" when none)
	// Tables are the tenant-owned tables concerned, when known.
	Tables []string
	// Fingerprint identifies the statement text (guard.Fingerprint).
	Fingerprint string
	// Mode is the guard mode the event was seen under (off, audit,
	// enforce), "" for events outside the guard.
	Mode string
	// Rule is the guard rule (unscoped, tenant_mismatch, …).
	Rule string
	// Reason is the bypass reason of tenant.WithBypass.
	Reason string
	// RequestID is the request ID the context carries (WithRequestID).
	RequestID string
	// Message describes the event for people.
	Message string
	// SQL is the statement of a guard violation, or the rewritten one of
	// a Rewrite event, its constants replaced by ?: never a value.
	SQL string
	// Suppressed counts the events of the same kind, rule and fingerprint
	// a Limit handler dropped since the last one it passed.
	Suppressed int
}

// Handler receives events. Handle is called on the goroutine of the
// statement, before the statement's result is returned: keep it quick.
type Handler interface {
	Handle(ctx context.Context, e Event)
}

// HandlerFunc adapts a function to Handler.
type HandlerFunc func(ctx context.Context, e Event)

// Handle calls f.
func (f HandlerFunc) Handle(ctx context.Context, e Event) { f(ctx, e) }

// Slog returns a Handler that logs each event at level Warn (Info for
// bypasses and tenant switches) through l, or discards events when l is nil.
func Slog(l *slog.Logger) Handler {
	return HandlerFunc(func(ctx context.Context, e Event) {
		if l == nil {
			return
		}
		level := slog.LevelWarn
		if e.Kind == GuardBypass || e.Kind == TenantSwitched {
			level = slog.LevelInfo
		}
		attrs := []slog.Attr{slog.String("kind", string(e.Kind))}
		add := func(k, v string) {
			if v != "" {
				attrs = append(attrs, slog.String(k, v))
			}
		}
		add("tenant", e.Tenant)
		add("mode", e.Mode)
		add("rule", e.Rule)
		add("fingerprint", e.Fingerprint)
		add("reason", e.Reason)
		add("request_id", e.RequestID)
		add("sql", e.SQL)
		if e.Suppressed > 0 {
			attrs = append(attrs, slog.Int("suppressed", e.Suppressed))
		}
		if len(e.Tables) > 0 {
			attrs = append(attrs, slog.Any("tables", e.Tables))
		}
		l.LogAttrs(ctx, level, "pgx-tenant: "+e.Message, attrs...)
	})
}

type requestIDKey struct{}

// WithRequestID returns a copy of ctx carrying a request ID, which events
// of statements run with it report.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey{}, id)
}

// RequestID returns the request ID of ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey{}).(string)
	return id
}
