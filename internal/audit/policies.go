package audit

import (
	"context"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/pgx-tenant/pgx-tenant/internal/rls"
)

type policy struct {
	table       uint32
	name, qname string
	cmd         string // r, a, w, d or *
	permissive  bool
	applies     bool    // to the app role (PUBLIC, or a role it is a member of)
	public      bool    // TO PUBLIC only: applies to every role
	using       *string // pg_get_expr(polqual); nil when absent
	check       *string // pg_get_expr(polwithcheck); nil when absent
}

var cmdNames = map[string]string{"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}

// checkPolicies: policy_missing, policy_not_tenant, policy_no_with_check,
// policy_no_nullif, policy_setting_per_row.
func (a *auditor) checkPolicies(ctx context.Context) error {
	if err := a.loadHelpers(ctx); err != nil {
		return err
	}
	oids, _ := a.oids()
	rows, err := a.conn.Query(ctx, `
		SELECT p.polrelid, p.polname::text, pg_catalog.quote_ident(p.polname), p.polcmd::text, p.polpermissive,
		       (0::oid = ANY(p.polroles) OR EXISTS (
		           SELECT 1 FROM unnest(p.polroles) AS r(oid) WHERE pg_catalog.pg_has_role($2::oid, r.oid, 'MEMBER') OR $3)),
		       0::oid = ANY(p.polroles),
		       pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
		FROM pg_catalog.pg_policy p
		WHERE p.polrelid = ANY($1::oid[])
		ORDER BY 1, 2`, oids, a.app.oid, a.createRole != "")
	if err != nil {
		return fmt.Errorf("audit: reading policies: %w", err)
	}
	ps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (p policy, err error) {
		err = r.Scan(&p.table, &p.name, &p.qname, &p.cmd, &p.permissive, &p.applies, &p.public, &p.using, &p.check)
		return p, err
	})
	if err != nil {
		return fmt.Errorf("audit: reading policies: %w", err)
	}
	byTable := map[uint32][]policy{}
	for _, p := range ps {
		byTable[p.table] = append(byTable[p.table], p)
	}
	for _, t := range a.tables {
		tps := byTable[t.oid]
		if t.rls {
			a.missing(t, tps)
		}
		closed := a.restricted(tps)
		for _, p := range tps {
			a.checkPolicy(t, p, closed)
		}
	}
	return nil
}

// loadHelpers reads the helpers policies may call instead of reading the
// setting themselves (tenant_id = (SELECT current_tenant())): SQL functions
// without arguments whose body is one SELECT of a value without FROM, keyed
// as pg_get_expr names them — schema.name, and the bare name when the
// search_path finds it. A helper that sets the tenant setting itself (SET
// app.tenant_id = …) is not one; a body the audit cannot read (BEGIN
// ATOMIC, RETURN, a query) leaves its calls opaque.
func (a *auditor) loadHelpers(ctx context.Context) error {
	rows, err := a.conn.Query(ctx, `
		SELECT n.nspname::text, p.proname::text, pg_catalog.pg_function_is_visible(p.oid), p.prosrc
		FROM pg_catalog.pg_proc p
		JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
		JOIN pg_catalog.pg_language l ON l.oid = p.prolang
		WHERE l.lanname = 'sql' AND p.pronargs = 0 AND p.prokind = 'f' AND NOT p.proretset
		  AND COALESCE(p.prosrc, '') <> ''
		  AND `+rls.UserSchema("n.nspname")+`
		  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) AS c(s)
		                  WHERE lower(split_part(c.s, '=', 1)) = lower($1))`, a.opts.Setting)
	if err != nil {
		return fmt.Errorf("audit: reading helper functions: %w", err)
	}
	var schema, name, src string
	var visible bool
	a.helpers = map[string]*pg_query.Node{}
	_, err = pgx.ForEachRow(rows, []any{&schema, &name, &visible, &src}, func() error {
		body, err := parseExpr(src)
		if err != nil {
			return nil // not a helper
		}
		a.helpers[schema+"."+name] = body
		if visible {
			a.helpers[name] = body
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: reading helper functions: %w", err)
	}
	return nil
}

// missing: policy_missing when RLS is on and no permissive policy applies
// to the app role (restrictive ones alone let no row through).
func (a *auditor) missing(t *table, ps []policy) {
	var names []string
	for _, p := range ps {
		if p.permissive && p.applies {
			return
		}
		names = append(names, p.name)
	}
	detail := "row-level security is enabled and the table has no policy: the app role sees no rows and every write fails"
	if len(names) > 0 {
		detail = fmt.Sprintf("row-level security is enabled but no permissive policy applies to the app role %s (there are: %s): it sees no rows and every write fails",
			a.app.name, strings.Join(names, ", "))
	}
	a.add(Finding{Kind: PolicyMissing, Severity: Medium, Table: t.name, Detail: detail, Fix: a.recommendedPolicy(t)})
}

// closedCmds are the commands a RESTRICTIVE policy TO PUBLIC scopes to
// the tenant: restrictive policies are AND-ed with the permissive ones, so
// for these commands no permissive policy can open other tenants' rows.
type closedCmds struct {
	using       map[string]bool // SELECT (r), UPDATE (w), DELETE (d): USING scoped
	check       map[string]bool // INSERT (a), UPDATE (w): WITH CHECK scoped
	checkStrict map[string]bool // … and not accepting NULL-tenant rows
}

// restricted reads which commands the table's restrictive policies TO
// PUBLIC close. Only TO PUBLIC counts: a restrictive policy for a role
// does not bind a role the app role can SET ROLE to instead.
func (a *auditor) restricted(ps []policy) closedCmds {
	c := closedCmds{using: map[string]bool{}, check: map[string]bool{}, checkStrict: map[string]bool{}}
	for _, p := range ps {
		if p.permissive || !p.public {
			continue
		}
		using, check, err := a.exprs(p)
		if err != nil {
			continue
		}
		if using != nil && using.Scoped {
			for _, cmd := range usingCmds(p.cmd) {
				c.using[cmd] = true
			}
		}
		if chk := effectiveCheck(p.cmd, using, check); chk != nil && chk.Scoped {
			for _, cmd := range checkCmds(p.cmd) {
				c.check[cmd] = true
				c.checkStrict[cmd] = c.checkStrict[cmd] || !chk.AllowsNull
			}
		}
	}
	return c
}

// all: every command of cmds is in set.
func all(set map[string]bool, cmds []string) bool {
	for _, c := range cmds {
		if !set[c] {
			return false
		}
	}
	return len(cmds) > 0
}

// usingCmds and checkCmds: the commands a policy's USING and WITH CHECK
// apply to.
func usingCmds(cmd string) []string {
	switch cmd {
	case "*":
		return []string{"r", "w", "d"}
	case "a":
		return nil
	}
	return []string{cmd}
}

func checkCmds(cmd string) []string {
	switch cmd {
	case "*":
		return []string{"a", "w"}
	case "a", "w":
		return []string{cmd}
	}
	return nil
}

// effectiveCheck is what PostgreSQL checks new rows with: WITH CHECK, or,
// for ALL and UPDATE policies without one, USING.
func effectiveCheck(cmd string, using, check *exprReport) *exprReport {
	if check != nil {
		return check
	}
	if cmd == "*" || cmd == "w" {
		return using
	}
	return nil
}

// exprs analyses p's USING and WITH CHECK (nil when absent).
func (a *auditor) exprs(p policy) (using, check *exprReport, err error) {
	for _, e := range []struct {
		text *string
		out  **exprReport
	}{{p.using, &using}, {p.check, &check}} {
		if e.text == nil {
			continue
		}
		r, err := analyzeExpr(*e.text, a.opts.Column, a.opts.Setting, a.helpers)
		if err != nil {
			return nil, nil, err
		}
		*e.out = &r
	}
	return using, check, nil
}

func (a *auditor) checkPolicy(t *table, p policy, closed closedCmds) {
	cmd := cmdNames[p.cmd]
	f := func(kind Kind, sev Severity, detail, fix string) {
		a.add(Finding{Kind: kind, Severity: sev, Table: t.name, Object: p.name,
			Detail: fmt.Sprintf("policy %s (%s, FOR %s): %s", p.name, permissiveWord(p.permissive), cmd, detail), Fix: fix})
	}
	using, check, err := a.exprs(p)
	if err != nil {
		f(PolicyNotTenant, Low, fmt.Sprintf("could not be analysed (%v): check it by hand", err), "")
		return
	}

	// A restrictive policy is AND-ed with the others: it cannot open a
	// table, and one that applies to other roles does not decide what the
	// app sees. A permissive one cannot open what a restrictive policy TO
	// PUBLIC scopes to the tenant for each of its commands.
	if p.permissive && p.applies {
		if using != nil && !using.Scoped && !all(closed.using, usingCmds(p.cmd)) {
			if using.Opaque {
				f(PolicyNotTenant, Low, fmt.Sprintf("USING (%s) compares %s with an expression the audit cannot read (a function or a query): check it by hand", *p.using, a.opts.Column), "")
			} else {
				detail := fmt.Sprintf("USING (%s) does not compare %s with current_setting(%s); permissive policies are OR-ed, so it opens every tenant's rows to %s",
					*p.using, a.opts.Column, rls.QuoteLiteral(a.opts.Setting), usingVerbs(p.cmd))
				if check == nil && (p.cmd == "*" || p.cmd == "w") {
					detail += "; with no WITH CHECK, USING is also its write check, so rows can be written for any tenant"
				}
				f(PolicyNotTenant, Critical, detail,
					fmt.Sprintf("DROP POLICY %s ON %s;\n-- or make it AS RESTRICTIVE, or give it to a role other than the app's (TO …)", p.qname, t.name))
			}
		}
		if check != nil && !check.Scoped && (using == nil || using.Scoped || all(closed.using, usingCmds(p.cmd))) && !all(closed.check, checkCmds(p.cmd)) {
			if check.Opaque {
				f(PolicyNoWithCheck, Low, fmt.Sprintf("WITH CHECK (%s) compares %s with an expression the audit cannot read: check it by hand", *p.check, a.opts.Column), "")
			} else {
				f(PolicyNoWithCheck, High, fmt.Sprintf("WITH CHECK (%s) does not compare %s with the setting: %s through it accept rows of any tenant",
					*p.check, a.opts.Column, checkVerbs(p.cmd)), a.alterPolicy(t, p))
			}
		}
	}
	// A write check that accepts NULL-tenant rows (… OR tenant_id IS NULL,
	// the permissive stage's USING, which is also the check of an ALL or
	// UPDATE policy without WITH CHECK): any tenant can write rows that
	// belong to no tenant — which the permissive stage shows to every
	// tenant — or move its rows there.
	if chk := effectiveCheck(p.cmd, using, check); !t.notNull && p.permissive && p.applies && chk != nil && chk.Scoped && chk.AllowsNull &&
		!all(closed.checkStrict, checkCmds(p.cmd)) {
		var what string
		if check != nil {
			what = fmt.Sprintf("WITH CHECK (%s)", *p.check)
		} else {
			what = fmt.Sprintf("with no WITH CHECK, USING (%s) is its write check, and it", *p.using)
		}
		f(PolicyNoWithCheck, High, fmt.Sprintf("%s accepts rows whose %s IS NULL: %s through it can create rows that belong to no tenant (visible to every tenant under the permissive stage) or move rows there",
			what, a.opts.Column, checkVerbs(p.cmd)), a.alterPolicy(t, p))
	}
	if p.cmd == "a" && p.check == nil {
		// PostgreSQL uses no expression at all for it: the policy lets no
		// row in (fails closed) — almost certainly not what was meant.
		f(PolicyNoWithCheck, Low, "an INSERT policy without WITH CHECK lets no row in: every INSERT it was meant to allow fails", a.alterPolicy(t, p))
	}

	var noNullif, perRow bool
	for _, r := range []*exprReport{using, check} {
		if r != nil {
			noNullif = noNullif || r.NoNullif
			perRow = perRow || r.PerRow
		}
	}
	if noNullif {
		f(PolicyNoNullif, Medium, fmt.Sprintf("reads current_setting(%s) without NULLIF(…, ''): after a reset the setting is '' rather than NULL, so a statement without a tenant compares with '' (an error for uuid or integer columns, a match for rows whose tenant is '')",
			rls.QuoteLiteral(a.opts.Setting)), a.alterPolicy(t, p))
	}
	if perRow {
		f(PolicySettingPerRow, Low, fmt.Sprintf("reads current_setting(%s) outside a scalar sub-select: it may be evaluated once per row instead of once per statement",
			rls.QuoteLiteral(a.opts.Setting)), a.alterPolicy(t, p))
	}
}

// alterPolicy is an ALTER POLICY giving p the recommended strict
// expressions (those its command has).
func (a *auditor) alterPolicy(t *table, p policy) string {
	pred := rls.Predicate(a.colSQL, t.typ, a.opts.Setting, rls.Strict)
	s := fmt.Sprintf("ALTER POLICY %s ON %s", p.qname, t.name)
	switch p.cmd {
	case "r", "d":
		s += fmt.Sprintf(" USING (%s);", pred)
	case "a":
		s += fmt.Sprintf(" WITH CHECK (%s);", pred)
	default:
		s += fmt.Sprintf(" USING (%s) WITH CHECK (%s);", pred, pred)
	}
	return "-- keep any other condition of the policy, AND-ed:\n" + s
}

func permissiveWord(p bool) string {
	if p {
		return "PERMISSIVE"
	}
	return "RESTRICTIVE"
}

func usingVerbs(cmd string) string {
	switch cmd {
	case "r":
		return "SELECT"
	case "w":
		return "UPDATE"
	case "d":
		return "DELETE"
	}
	return "SELECT, UPDATE and DELETE"
}

func checkVerbs(cmd string) string {
	switch cmd {
	case "a":
		return "INSERTs"
	case "w":
		return "UPDATEs"
	}
	return "INSERTs and UPDATEs"
}
