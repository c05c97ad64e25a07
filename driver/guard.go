package driver

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// guard decides, before anything is sent, whether the statement (ck: as
// written, or as rewritten) is scoped to b's tenant under the guard's
// mode (tenant_guard audit or enforce). Under audit an unscoped statement
// is reported and runs; under enforce it is refused with a
// *guard.Violation. A context marked with tenant.WithBypass skips the
// decision and is reported. Under tenant_rewrite=on a statement is decided
// whatever the guard's mode, and refused when a value names another tenant
// or the tenant column is updated: the rewrite never runs such a
// statement.
func (c *Conn) guard(ctx context.Context, ck checked, b binding, mode guard.Mode) error {
	if mode == guard.Off && !ck.rewriting {
		return nil
	}
	if reason, ok := tenant.BypassReason(ctx); ok {
		if mode != guard.Off {
			c.emit(ctx, event.Event{Kind: event.GuardBypass, Tenant: b.id, Mode: mode.String(), Reason: reason,
				Fingerprint: guard.Fingerprint(ck.query), Message: "guard bypassed: " + reason})
		}
		return nil
	}
	if ck.scope == nil {
		return nil // names no tenant-owned relation: not parsed
	}
	cat := c.connector.catalog.Load()
	if cat == nil {
		return errors.New("pgx-tenant: the guard has no catalog of tenant tables (discovery did not run on this connection)")
	}
	var f *sqlcheck.Finding
	var start time.Time
	if c.cfg.decisionTimer != nil {
		start = time.Now()
	}
	if ck.lifted {
		f = ck.scope.DecideLifted(cat, b.id, sqlcheck.Literals(ck.query), guardArgs(ck.args))
	} else {
		f = ck.scope.Decide(cat, b.id, guardArgs(ck.args))
	}
	if t := c.cfg.decisionTimer; t != nil {
		t(ctx, time.Since(start))
	}
	if f == nil || mode == guard.Off && !refusedByRewrite(ck, f) {
		return nil
	}
	pos, quoted := f.Pos, ck.query
	switch {
	case ck.display != "":
		quoted = ck.display
	case ck.lifted:
		pos = sqlcheck.OriginalPos(ck.query, pos)
	}
	v := guard.NewViolation(f.Rule, f.Table, pos, quoted, f.Detail)
	if quoted != ck.query {
		v.Fingerprint = guard.Fingerprint(ck.query) // the statement's as written
	}
	// The table at fault first, then every other the statement names: a
	// statement is refused when any of its tables is enforced, so each
	// counts it (metrics' would_block, the Learner).
	var tables []string
	if v.Table != "" {
		tables = []string{v.Table}
	}
	for _, t := range c.tablesOf(ck.scope, nil) {
		if t != v.Table {
			tables = append(tables, t)
		}
	}
	c.emit(ctx, event.Event{Kind: event.GuardViolation, Tenant: b.id, Tables: tables, Fingerprint: v.Fingerprint,
		Mode: mode.String(), Rule: v.Rule, Message: v.Message, SQL: sqlcheck.Redact(ck.query)})
	if mode != guard.Audit {
		return v
	}
	if refusedByRewrite(ck, f) {
		return v // whatever the guard's mode
	}
	return nil
}

// refusedByRewrite reports whether tenant_rewrite=on refuses f, whatever
// the guard's mode: a value naming another tenant, an UPDATE of the tenant
// column, or an unscoped reference the rewrite counted as scoped (its
// value failed at execution).
func refusedByRewrite(ck checked, f *sqlcheck.Finding) bool {
	if !ck.rewriting {
		return false
	}
	switch f.Rule {
	case sqlcheck.RuleTenantMismatch, sqlcheck.RuleUpdateTenant:
		return true
	case sqlcheck.RuleUnscoped:
		return ck.claimed && !slices.Contains(ck.left, f.Table)
	}
	return false
}

// guardArgs returns the statement's argument values as pgx numbers them:
// leading pgx options (exec mode, result formats) are not arguments; a
// pgx.NamedArgs stays, for @name.
func guardArgs(nv []sqldriver.NamedValue) []any {
	nv = nv[pgxOptions(nv):]
	out := make([]any, len(nv))
	for i, v := range nv {
		out[i] = v.Value
	}
	return out
}

// pgxOptions returns how many of nv's leading values are pgx options (exec
// mode, result formats), which pgx does not number as arguments.
func pgxOptions(nv []sqldriver.NamedValue) int {
	for i, v := range nv {
		switch v.Value.(type) {
		case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
		default:
			return i
		}
	}
	return len(nv)
}

// report turns what the driver refused, and the server's refusals by
// row-level security, into events.
func (c *Conn) report(ctx context.Context, query string, err error) {
	if err == nil {
		return
	}
	b, _ := c.tenantOf(ctx)
	e := event.Event{Tenant: b.id, Fingerprint: guard.Fingerprint(query)}
	switch {
	case errors.Is(err, ErrTenantMismatch):
		e.Kind, e.Message = event.TenantMismatch, "statement tenant differs from its transaction's"
	case errors.Is(err, ErrNoTenant):
		e.Kind, e.Message = event.MissingTenant, "statement without a tenant"
	case errors.Is(err, ErrTamper):
		e.Kind, e.Message = event.Tamper, err.Error()
	case isRLSRefusal(err):
		e.Kind, e.Message = event.RLSDenied, "the server refused a row by row-level security"
	default:
		return
	}
	c.emit(ctx, e)
}

func (c *Conn) emit(ctx context.Context, e event.Event) {
	if e.RequestID == "" {
		e.RequestID = event.RequestID(ctx)
	}
	c.cfg.events.Handle(ctx, e)
}

// isRLSRefusal reports whether the server refused a row by a row-level
// security policy (SQLSTATE 42501 is also a missing privilege).
func isRLSRefusal(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "42501" && strings.Contains(pe.Message, "row-level security")
}
