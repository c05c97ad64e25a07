package driver

import (
	"context"
	sqldriver "database/sql/driver"
	"fmt"
	"maps"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/pgx-tenant/pgx-tenant/event"
	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
	"github.com/pgx-tenant/pgx-tenant/rewrite"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// checked is what the guard decides on: the statement as written, or the
// scope of its rewrite, with the text and arguments as written (a lifted
// text's literals, positions in messages and the fingerprint come from the
// text; the rewrite's own parameter reads as the tenant).
type checked struct {
	scope  *sqlcheck.Scope
	lifted bool
	query  string
	args   []sqldriver.NamedValue
	// rewriting: tenant_rewrite=on applies to the statement, so a value
	// naming another tenant is refused whatever the guard's mode.
	rewriting bool
	// display is the rewritten text violations quote (scope's positions
	// are in it), when the statement was rewritten.
	display string
	// claimed: the rewrite found every reference scoped or scoped it,
	// except left (relations it cannot scope, left to the guard and RLS).
	// An unscoped finding beyond those is then a value the statement
	// relied on (a NULL, an @name without pgx named arguments) and is
	// refused under tenant_rewrite=on.
	claimed bool
	left    []string
}

// tablesOf appends to tables the tenant-owned relations (and hidden views)
// a statement names, as the catalog names them, once each.
func (c *Conn) tablesOf(s *sqlcheck.Scope, tables []string) []string {
	if s == nil {
		return tables
	}
	cat := c.connector.catalog.Load()
	if cat == nil {
		return tables
	}
	for _, r := range s.Refs {
		if info, ok := cat.Lookup(r.Schema, r.Name); ok && (info.Owned || info.Hidden) && !slices.Contains(tables, info.Name) {
			tables = append(tables, info.Name)
		}
	}
	return tables
}

// modes returns the guard's and the rewrite's modes for a statement of
// tenant b, and whether it needs a tenant: the connector's, or, with
// rollout flags, the strictest the rules give the tenant-owned relations
// the statement names.
func (c *Conn) modes(a *sqlcheck.Analysis, b binding) (guard.Mode, rewrite.Mode, bool) {
	f := c.cfg.flags
	if f == nil {
		return c.cfg.guard, c.cfg.rewrite, c.cfg.required
	}
	var buf [8]string
	d := f.Decide(b.id, c.tablesOf(a.Scope, buf[:0])...)
	gm, err := guard.ParseMode(d.Guard)
	if err != nil {
		gm = c.cfg.guard
	}
	rm, err := rewrite.ParseMode(d.Rewrite)
	if err != nil {
		rm = c.cfg.rewrite
	}
	return gm, rm, c.cfg.required || d.Required == "on"
}

// rewrite returns the call to run in place of cl (tenant_rewrite=on: the
// statement with its tenant predicates, the tenant appended to its
// arguments) and what the guard decides on. Under audit cl runs as written
// and an event carries the rewritten SQL. A call with a Stmt's
// description runs as prepared (PrepareContext rewrote the Stmt's text),
// and a bypassed one as written.
func (c *Conn) rewrite(ctx context.Context, a *sqlcheck.Analysis, b binding, cl call, mode rewrite.Mode) (call, checked, error) {
	ck := checked{scope: a.Scope, lifted: a.Lifted, query: cl.query, args: cl.args}
	if mode == rewrite.Off || a.Scope == nil {
		return cl, ck, nil
	}
	if _, ok := tenant.BypassReason(ctx); ok {
		return cl, ck, nil
	}
	ck.rewriting = mode == rewrite.On
	if cl.sd != nil {
		// A Stmt keeping its description runs its text as prepared:
		// PrepareContext rewrote it, or left it (named arguments:
		// such Stmts keep no description).
		ck.claimed = a.RewriteErr == nil && a.Rewrite == nil
		return cl, ck, nil
	}
	if a.RewriteErr != nil {
		c.emit(ctx, event.Event{Kind: event.Rewrite, Tenant: b.id, Mode: mode.String(), Fingerprint: guard.Fingerprint(cl.query),
			Message: "the rewrite cannot deparse this statement; it runs as written: " + a.RewriteErr.Error()})
		return cl, ck, nil
	}
	rw := a.Rewrite
	ck.claimed = true
	if rw == nil {
		return cl, ck, nil
	}
	ck.left = rw.Left
	if mode == rewrite.Audit {
		c.emit(ctx, event.Event{Kind: event.Rewrite, Tenant: b.id, Tables: rw.Tables, Mode: mode.String(),
			Fingerprint: guard.Fingerprint(cl.query), SQL: rw.Display,
			Message: "the rewrite would add tenant predicates (audit: ran as written)"})
		return cl, ck, nil
	}
	named := namedArgs(cl.args)
	args, err := tenantArgs(cl.args, named, rw, b)
	if err != nil {
		return call{}, checked{}, err
	}
	cl.query, cl.args = rw.SQL(cl.query, named >= 0), args
	ck.scope, ck.display = rw.Scope, rw.Printed
	return cl, ck, nil
}

// namedArgs returns the index of the pgx named arguments among nv (after
// leading pgx options), or -1.
func namedArgs(nv []sqldriver.NamedValue) int {
	if i := pgxOptions(nv); i < len(nv) {
		switch nv[i].Value.(type) {
		case pgx.NamedArgs, pgx.StrictNamedArgs:
			return i
		}
	}
	return -1
}

// tenantArgs returns nv with the tenant added: to a copy of the named
// arguments at index named (as @sqlcheck.TenantArg), or as the appended
// parameter, whose number must follow the statement's arguments.
func tenantArgs(nv []sqldriver.NamedValue, named int, rw *sqlcheck.Rewrite, b binding) ([]sqldriver.NamedValue, error) {
	out := make([]sqldriver.NamedValue, len(nv), len(nv)+1)
	copy(out, nv)
	if named >= 0 {
		switch m := nv[named].Value.(type) {
		case pgx.NamedArgs:
			out[named].Value = withTenant(m, b.arg())
		case pgx.StrictNamedArgs:
			out[named].Value = withTenant(m, b.arg())
		}
		return out, nil
	}
	if n := len(nv) - pgxOptions(nv); n != rw.Param()-1 {
		return nil, fmt.Errorf("pgx-tenant: the statement has %d parameters but %d arguments; the rewrite appends the tenant as $%d", rw.Param()-1, n, rw.Param())
	}
	return append(out, sqldriver.NamedValue{Ordinal: len(nv) + 1, Value: b.arg()}), nil
}

// withTenant returns a copy of the named arguments m (the caller's map is
// left alone) with the tenant as @sqlcheck.TenantArg.
func withTenant[M ~map[string]any](m M, tenant any) M {
	cp := make(M, len(m)+1)
	maps.Copy(cp, m)
	cp[sqlcheck.TenantArg] = tenant
	return cp
}
