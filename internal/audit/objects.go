package audit

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/jackc/pgx/v5"
	"github.com/pgx-tenant/pgx-tenant/internal/rls"
)

// checkViews: view_not_security_invoker, for views and materialized views
// that read a tenant-owned table, directly or through other views.
func (a *auditor) checkViews(ctx context.Context) error {
	if len(a.tables) == 0 {
		return nil
	}
	rows, err := a.conn.Query(ctx, `
		SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname), c.relname::text, c.relkind = 'm',
		       o.oid, o.rolname::text, o.rolsuper, o.rolbypassrls,
		       COALESCE((SELECT lower(x.option_value) FROM pg_catalog.pg_options_to_table(c.reloptions) AS x
		                 WHERE x.option_name = 'security_invoker'), ''),
		       pg_catalog.current_setting('server_version_num')::int
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_roles o ON o.oid = c.relowner
		WHERE c.relkind IN ('v', 'm') AND `+rls.UserSchema("n.nspname")+`
		  AND NOT `+rls.ExtensionMember("pg_class", "c.oid")+`
		ORDER BY 2`)
	if err != nil {
		return fmt.Errorf("audit: reading views: %w", err)
	}
	vs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (v view, err error) {
		err = r.Scan(&v.oid, &v.name, &v.rel, &v.mat, &v.owner.oid, &v.owner.name, &v.owner.super, &v.owner.bypassRLS, &v.invoker, &v.version)
		return v, err
	})
	if err != nil {
		return fmt.Errorf("audit: reading views: %w", err)
	}
	if len(vs) == 0 {
		return nil
	}
	// What each view's rule reads (pg_depend of its _RETURN rule).
	rows, err = a.conn.Query(ctx, `
		SELECT DISTINCT r.ev_class, d.refobjid
		FROM pg_catalog.pg_rewrite r
		JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_rewrite'::pg_catalog.regclass AND d.objid = r.oid
		 AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refobjid <> r.ev_class
		WHERE r.rulename = '_RETURN'`)
	if err != nil {
		return fmt.Errorf("audit: reading view dependencies: %w", err)
	}
	reads := map[uint32][]uint32{}
	var from, to uint32
	_, err = pgx.ForEachRow(rows, []any{&from, &to}, func() error {
		reads[from] = append(reads[from], to)
		return nil
	})
	if err != nil {
		return fmt.Errorf("audit: reading view dependencies: %w", err)
	}
	names := map[uint32]string{}
	for _, v := range vs {
		names[v.oid] = v.name
	}
	a.invokerViews = invokerViews(vs, reads, a.byOID)
	for _, v := range vs {
		if !v.mat && isTrue(v.invoker) {
			continue
		}
		tables, via := reach(v.oid, reads, a.byOID, func(oid uint32) bool { _, ok := names[oid]; return ok })
		through := make([]string, len(via))
		for i, oid := range via {
			through[i] = names[oid]
		}
		if len(tables) == 0 {
			continue
		}
		slices.SortFunc(tables, func(x, y *table) int { return strings.Compare(x.name, y.name) })
		var tnames []string
		sev := Medium
		bypassed := ""
		for _, t := range tables {
			tnames = append(tnames, t.name)
			b, err := a.bypasses(ctx, v.owner, t)
			if err != nil {
				return err
			}
			if b != "" && sev != High {
				sev, bypassed = High, fmt.Sprintf("%s (%s)", t.name, b)
			}
		}
		what := "reads " + strings.Join(tnames, ", ")
		if len(through) > 0 {
			slices.Sort(through)
			what += " through " + strings.Join(through, ", ")
		}
		f := Finding{Kind: ViewNotSecurityInvoker, Severity: sev, Table: v.name, Object: v.owner.name}
		switch {
		case v.mat:
			f.Severity = High
			f.Detail = fmt.Sprintf("materialized view %s: it stores the rows of every tenant, and RLS does not apply to a materialized view", what)
			f.Fix = fmt.Sprintf("-- revoke SELECT on it from the app role, or replace it with a view WITH (security_invoker = true):\nDROP MATERIALIZED VIEW %s;", v.name)
		default:
			f.Detail = fmt.Sprintf("view %s with the privileges and RLS identity of its owner %s (no security_invoker)", what, v.owner.name)
			if bypassed != "" {
				f.Detail += fmt.Sprintf(", who bypasses RLS on %s: every tenant's rows", bypassed)
			} else {
				f.Detail += ": policies and grants are checked for the owner, not for the app role"
			}
			f.Fix = fmt.Sprintf("ALTER VIEW %s SET (security_invoker = true);", v.name)
			if v.version < 150000 {
				f.Fix = "-- security_invoker needs PostgreSQL 15 or later; until then revoke the app role's access to the view:\n-- " + f.Fix
			}
		}
		a.add(f)
	}
	return nil
}

type view struct {
	oid     uint32
	name    string // schema-qualified, quoted as needed
	rel     string // the bare relation name
	mat     bool
	owner   role
	invoker string
	version int
}

// invokerView is a security_invoker view and the tenant-owned tables it
// reads as its caller, directly or through other security_invoker views:
// a SECURITY DEFINER function that reads it reads them as the function's
// owner.
type invokerView struct {
	view
	tables []*table
}

func invokerViews(vs []view, reads map[uint32][]uint32, byOID map[uint32]*table) []invokerView {
	invoker := map[uint32]bool{}
	for _, v := range vs {
		invoker[v.oid] = !v.mat && isTrue(v.invoker)
	}
	var out []invokerView
	for _, v := range vs {
		if !invoker[v.oid] {
			continue
		}
		// A view with its own owner's identity is reported by itself.
		iv := invokerView{view: v}
		iv.tables, _ = reach(v.oid, reads, byOID, func(oid uint32) bool { return invoker[oid] })
		if len(iv.tables) > 0 {
			out = append(out, iv)
		}
	}
	return out
}

// reach walks, depth-first, the relations the view from reads, and those
// they read through the views follow accepts: the tenant-owned tables it
// reaches, and the views it went through.
func reach(from uint32, reads map[uint32][]uint32, byOID map[uint32]*table, follow func(uint32) bool) (tables []*table, through []uint32) {
	seen := map[uint32]bool{from: true}
	var walk func(uint32)
	walk = func(oid uint32) {
		for _, r := range reads[oid] {
			if seen[r] {
				continue
			}
			seen[r] = true
			if t, ok := byOID[r]; ok {
				tables = append(tables, t)
			} else if follow(r) {
				through = append(through, r)
				walk(r)
			}
		}
	}
	walk(from)
	return tables, through
}

// isTrue parses a boolean reloption as PostgreSQL does (parse_bool).
func isTrue(s string) bool {
	switch s {
	case "true", "on", "yes", "1", "t", "y", "tr", "tru", "ye":
		return true
	}
	return false
}

// bypasses says why r bypasses RLS on t ("" when RLS applies to it):
// superusers and BYPASSRLS roles always do, the owner (or a role with the
// owner's privileges) unless the table is forced.
func (a *auditor) bypasses(ctx context.Context, r role, t *table) (string, error) {
	switch {
	case r.super:
		return r.name + " is a superuser", nil
	case r.bypassRLS:
		return r.name + " has BYPASSRLS", nil
	case t.forced:
		return "", nil
	}
	key := [2]uint32{r.oid, t.owner.oid}
	owner, ok := a.hasOwner[key]
	if !ok {
		if err := a.conn.QueryRow(ctx, `SELECT pg_catalog.pg_has_role($1::oid, $2::oid, 'USAGE')`, r.oid, t.owner.oid).Scan(&owner); err != nil {
			return "", fmt.Errorf("audit: checking role %s: %w", r.name, err)
		}
		a.hasOwner[key] = owner
	}
	if owner {
		return r.name + " owns it and it is not forced", nil
	}
	return "", nil
}

// checkFunctions: security_definer_function. A function reads a table
// when pg_depend records it (SQL-standard bodies, BEGIN ATOMIC) or when
// the table's name appears as a word in its source text (prosrc) — an
// approximation: see the package doc.
func (a *auditor) checkFunctions(ctx context.Context) error {
	if len(a.tables) == 0 {
		return nil
	}
	rows, err := a.conn.Query(ctx, `
		SELECT p.oid,
		       pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(p.proname) ||
		         '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')',
		       o.oid, o.rolname::text, o.rolsuper, o.rolbypassrls, COALESCE(p.prosrc, ''),
		       p.prorettype = 'pg_catalog.trigger'::pg_catalog.regtype,
		       ARRAY(SELECT d.refobjid FROM pg_catalog.pg_depend d
		             WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass AND d.objid = p.oid
		               AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass)
		FROM pg_catalog.pg_proc p
		JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
		JOIN pg_catalog.pg_roles o ON o.oid = p.proowner
		JOIN pg_catalog.pg_language l ON l.oid = p.prolang
		WHERE p.prosecdef AND l.lanname NOT IN ('internal', 'c')
		  AND `+rls.UserSchema("n.nspname")+`
		  AND NOT `+rls.ExtensionMember("pg_proc", "p.oid")+`
		ORDER BY 2`)
	if err != nil {
		return fmt.Errorf("audit: reading SECURITY DEFINER functions: %w", err)
	}
	type function struct {
		oid   uint32
		name  string
		owner role
		src   string
		// trigger: a trigger function, which no caller can call: it
		// returns nothing to the app, and what it writes as an owner RLS
		// applies to is checked against the session's tenant.
		trigger bool
		deps    []uint32
	}
	fns, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (f function, err error) {
		err = r.Scan(&f.oid, &f.name, &f.owner.oid, &f.owner.name, &f.owner.super, &f.owner.bypassRLS, &f.src, &f.trigger, &f.deps)
		return f, err
	})
	if err != nil {
		return fmt.Errorf("audit: reading SECURITY DEFINER functions: %w", err)
	}
	for _, fn := range fns {
		words := sourceWords(fn.src)
		// The tables it reads through security_invoker views (as its
		// owner, like the tables it names).
		through := map[*table]string{}
		for _, v := range a.invokerViews {
			how := ""
			switch {
			case slices.Contains(fn.deps, v.oid):
				how = "its body depends on the view " + v.name + ", which reads it as the caller"
			case words[strings.ToLower(v.rel)]:
				how = "its source names the view " + v.name + ", which reads it as the caller"
			default:
				continue
			}
			for _, t := range v.tables {
				if _, ok := through[t]; !ok {
					through[t] = how
				}
			}
		}
		for _, t := range a.tables {
			how := ""
			switch {
			case slices.Contains(fn.deps, t.oid):
				how = "its body depends on it"
			case words[strings.ToLower(t.rel)]:
				how = "its source names it"
			case through[t] != "":
				how = through[t]
			default:
				continue
			}
			b, err := a.bypasses(ctx, fn.owner, t)
			if err != nil {
				return err
			}
			if fn.trigger && b == "" {
				continue
			}
			f := Finding{Kind: SecurityDefinerFunction, Severity: Medium, Table: t.name, Object: fn.name,
				Fix: fmt.Sprintf("ALTER FUNCTION %s SECURITY INVOKER;\n-- or filter by the tenant setting inside it", fn.name)}
			if b != "" {
				f.Severity = High
				f.Detail = fmt.Sprintf("SECURITY DEFINER function %s reads %s (%s) as %s, who bypasses RLS on it (%s): callers get every tenant's rows unless the function filters them itself",
					fn.name, t.name, how, fn.owner.name, b)
			} else {
				f.Detail = fmt.Sprintf("SECURITY DEFINER function %s reads %s (%s) as %s: policies and grants are checked for the owner, not for the caller",
					fn.name, t.name, how, fn.owner.name)
			}
			a.add(f)
		}
	}
	return nil
}

// sourceWords are the words of a function's source, lower-cased, for
// matching relation names (case-insensitively, as a conservative
// approximation): every run of identifier characters (letters, digits, _
// and $), and the content of every double-quoted identifier ("Mixed
// Case", spaces and all). One pass per function instead of one regular
// expression per table and function keeps a catalog of thousands of
// tables fast.
func sourceWords(src string) map[string]bool {
	words := map[string]bool{}
	isWord := func(r rune) bool { return r == '_' || r == '$' || unicode.IsLetter(r) || unicode.IsDigit(r) }
	for _, w := range strings.FieldsFunc(src, func(r rune) bool { return !isWord(r) }) {
		words[strings.ToLower(w)] = true
	}
	for i := 0; i < len(src); i++ {
		if src[i] != '"' {
			continue
		}
		var b strings.Builder // a quoted identifier, "" being a quote
		for i++; i < len(src); i++ {
			if src[i] == '"' {
				if i+1 < len(src) && src[i+1] == '"' {
					b.WriteByte('"')
					i++
					continue
				}
				break
			}
			b.WriteByte(src[i])
		}
		words[strings.ToLower(b.String())] = true
	}
	return words
}
