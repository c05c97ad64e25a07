package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pgx-tenant/pgx-tenant/internal/rls"
)

// checkRole: app_role_superuser, app_role_bypassrls, directly or through a
// role the app role can SET ROLE to.
func (a *auditor) checkRole(ctx context.Context) error {
	if a.app.super {
		a.add(Finding{Kind: AppRoleSuperuser, Severity: Critical, Object: a.app.name,
			Detail: fmt.Sprintf("the app role %s is a superuser: RLS never applies to it, and it can change or drop any policy (the per-table role checks are skipped)", a.app.name),
			Fix:    fmt.Sprintf("ALTER ROLE %s NOSUPERUSER;", a.app.qname)})
		return nil
	}
	if a.app.bypassRLS {
		a.add(Finding{Kind: AppRoleBypassRLS, Severity: Critical, Object: a.app.name,
			Detail: fmt.Sprintf("the app role %s has BYPASSRLS: no policy applies to it", a.app.name),
			Fix:    fmt.Sprintf("ALTER ROLE %s NOBYPASSRLS;", a.app.qname)})
	}
	rows, err := a.conn.Query(ctx, `
		SELECT r.rolname::text, pg_catalog.quote_ident(r.rolname), r.rolsuper, r.rolbypassrls
		FROM pg_catalog.pg_roles r
		WHERE r.oid <> $1::oid AND (r.rolsuper OR r.rolbypassrls)
		  AND (pg_catalog.pg_has_role($1::oid, r.oid, 'MEMBER') OR ($2 AND NOT r.rolsuper))
		ORDER BY 1`, a.app.oid, a.createRole != "")
	if err != nil {
		return fmt.Errorf("audit: reading the app role's memberships: %w", err)
	}
	type member struct {
		name, qname   string
		super, bypass bool
	}
	ms, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (m member, err error) {
		err = r.Scan(&m.name, &m.qname, &m.super, &m.bypass)
		return m, err
	})
	if err != nil {
		return fmt.Errorf("audit: reading the app role's memberships: %w", err)
	}
	for _, m := range ms {
		kind, what := AppRoleBypassRLS, "BYPASSRLS"
		if m.super {
			kind, what = AppRoleSuperuser, "a superuser"
		}
		member, err := a.isMember(ctx, m.name)
		if err != nil {
			return err
		}
		f := Finding{Kind: kind, Severity: Critical, Object: m.name,
			Detail: fmt.Sprintf("the app role %s is a member of %s, which is %s: after SET ROLE %s no policy applies", a.app.name, m.name, what, m.name),
			Fix:    fmt.Sprintf("REVOKE %s FROM %s;", m.qname, a.app.qname)}
		if !member {
			f.Detail = fmt.Sprintf("%s: %s can GRANT %s (%s) to itself, then SET ROLE %s: no policy applies", a.createRoleDetail(), a.app.name, m.name, what, m.name)
			f.Fix = a.createRoleFix()
		}
		a.add(f)
	}
	return nil
}

// isMember: the app role is a member of the role named name.
func (a *auditor) isMember(ctx context.Context, name string) (bool, error) {
	if a.createRole == "" {
		return true, nil // only members are reported without CREATEROLE
	}
	var m bool
	err := a.conn.QueryRow(ctx, `SELECT pg_catalog.pg_has_role($1::oid, r.oid, 'MEMBER') FROM pg_catalog.pg_roles r WHERE r.rolname = $2`, a.app.oid, name).Scan(&m)
	if err != nil {
		return false, fmt.Errorf("audit: checking role %s: %w", name, err)
	}
	return m, nil
}

func (a *auditor) createRoleDetail() string {
	if a.createRole == a.app.name {
		return fmt.Sprintf("the app role %s has CREATEROLE, which on PostgreSQL 15 and older grants membership in any role but a superuser", a.app.name)
	}
	return fmt.Sprintf("the app role %s is a member of %s, which has CREATEROLE: on PostgreSQL 15 and older that grants membership in any role but a superuser", a.app.name, a.createRole)
}

func (a *auditor) createRoleFix() string {
	return fmt.Sprintf("ALTER ROLE %s NOCREATEROLE;", a.createRoleSQL)
}

// checkTables: app_role_owner, tenant_column_nullable, rls_disabled,
// rls_not_forced.
func (a *auditor) checkTables(ctx context.Context) error {
	for _, t := range a.tables {
		if t.appOwns && !a.app.super {
			f := Finding{Kind: AppRoleOwner, Severity: Critical, Table: t.name, Object: t.owner.name}
			member, err := a.isMember(ctx, t.owner.name)
			if err != nil {
				return err
			}
			switch {
			case !member:
				f.Detail = fmt.Sprintf("%s: %s can GRANT the owner role %s to itself, then disable RLS and drop policies", a.createRoleDetail(), a.app.name, t.owner.name)
				f.Fix = a.createRoleFix()
			case t.appOwnsDirect:
				f.Detail = fmt.Sprintf("the app role %s owns the table: it can disable RLS and drop policies, and bypasses RLS unless it is forced", a.app.name)
				f.Fix = fmt.Sprintf("-- give the table to a migration role the app role is not a member of:\nALTER TABLE %s OWNER TO migration_owner;", t.name)
			default:
				f.Detail = fmt.Sprintf("the app role %s is a member of the owner role %s: after SET ROLE it can disable RLS and drop policies, and bypasses RLS unless it is forced", a.app.name, t.owner.name)
				f.Fix = fmt.Sprintf("REVOKE %s FROM %s;", t.owner.qname, a.app.qname)
			}
			a.add(f)
		}
		if !t.notNull {
			if err := a.nullable(ctx, t); err != nil {
				return err
			}
		}
		switch {
		case !t.rls:
			a.add(Finding{Kind: RLSDisabled, Severity: Critical, Table: t.name,
				Detail: "row-level security is not enabled: every query of the app role sees and changes every tenant's rows",
				Fix:    fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;\n-- with the tenant policy (pgx-tenant rls plan)", t.name)})
		case !t.forced:
			a.add(Finding{Kind: RLSNotForced, Severity: Medium, Table: t.name, Object: t.owner.name,
				Detail: fmt.Sprintf("row-level security is enabled but not forced: the owner %s bypasses it, and so do views without security_invoker and SECURITY DEFINER functions it owns", t.owner.name),
				Fix:    fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY;", t.name)})
		}
	}
	return nil
}

// nullable reports tenant_column_nullable with the count of NULL rows, or
// with why it could not count them.
func (a *auditor) nullable(ctx context.Context, t *table) error {
	n, why, err := a.countNulls(ctx, t)
	if err != nil {
		return err
	}
	setNotNull := fmt.Sprintf("ALTER TABLE %s ALTER COLUMN %s SET NOT NULL;", t.name, a.colSQL)
	f := Finding{Kind: TenantColumnNullable, Table: t.name}
	switch {
	case why != "":
		f.Severity = High
		f.Detail = fmt.Sprintf("%s is nullable; its NULL rows could not be counted: %s", a.opts.Column, why)
		f.Fix = "-- count and backfill the NULL rows first (pgx-tenant backfill), then:\n" + setNotNull
	case n > 0:
		f.Severity = High
		rows := fmt.Sprintf("%d rows have", n)
		if n == 1 {
			rows = "1 row has"
		}
		f.Detail = fmt.Sprintf("%s is nullable and %s no tenant: a strict policy hides them from every tenant, a permissive one shows them to all", a.opts.Column, rows)
		f.Fix = fmt.Sprintf("-- backfill the NULL rows first (pgx-tenant backfill), then:\n%s", setNotNull)
	default:
		f.Severity = Medium
		f.Detail = fmt.Sprintf("%s is nullable (0 NULL rows now): a write that omits it creates a row that belongs to no tenant", a.opts.Column)
		f.Fix = setNotNull
	}
	a.add(f)
	return nil
}

// countNulls counts the rows whose tenant column is NULL with
// row_security off, so that RLS cannot hide them: for a role RLS applies
// to, PostgreSQL then refuses the query instead of filtering it, and the
// count is unknown (why says which role can count). Errors other than the
// server's are returned.
func (a *auditor) countNulls(ctx context.Context, t *table) (n int64, why string, err error) {
	err = pgx.BeginTxFunc(ctx, a.conn, pgx.TxOptions{AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SET LOCAL row_security = off"); err != nil {
			return err
		}
		if ms := a.opts.CountTimeout.Milliseconds(); ms > 0 {
			if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('statement_timeout', $1, true)", strconv.FormatInt(ms, 10)); err != nil {
				return err
			}
		}
		return tx.QueryRow(ctx, fmt.Sprintf("SELECT count(*) FROM %s WHERE %s IS NULL", t.name, a.colSQL)).Scan(&n)
	})
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		if err != nil {
			return 0, "", fmt.Errorf("audit: counting NULL %s in %s: %w", a.opts.Column, t.name, err)
		}
		return n, "", nil
	}
	if pgErr.Code == "42501" && pgErr.Message != "" && containsFold(pgErr.Message, "row-level security") {
		if t.forced {
			return 0, fmt.Sprintf("connected as %s, which RLS applies to; RLS is forced on the table, so counting needs a superuser or a BYPASSRLS role (even the owner %s sees no NULL-tenant rows)", a.me, t.owner.name), nil
		}
		return 0, fmt.Sprintf("connected as %s, which RLS applies to; counting needs a superuser, a BYPASSRLS role or the table owner %s", a.me, t.owner.name), nil
	}
	if pgErr.Code == "57014" && ctx.Err() == nil { // statement_timeout
		return 0, fmt.Sprintf("counting took longer than %s (--count-timeout); count them when the table is quiet", a.opts.CountTimeout), nil
	}
	return 0, fmt.Sprintf("connected as %s: %s (SQLSTATE %s)", a.me, pgErr.Message, pgErr.Code), nil
}

// checkIndexes: tenant_index_missing.
func (a *auditor) checkIndexes(ctx context.Context) error {
	oids, atts := a.oids()
	rows, err := a.conn.Query(ctx, `
		SELECT t.relid FROM unnest($1::oid[], $2::int2[]) AS t(relid, att)
		WHERE NOT EXISTS (
			SELECT 1 FROM pg_catalog.pg_index i
			WHERE i.indrelid = t.relid AND i.indkey[0] = t.att AND i.indpred IS NULL)`, oids, atts)
	if err != nil {
		return fmt.Errorf("audit: reading indexes: %w", err)
	}
	missing, err := pgx.CollectRows(rows, pgx.RowTo[uint32])
	if err != nil {
		return fmt.Errorf("audit: reading indexes: %w", err)
	}
	for _, oid := range missing {
		t := a.byOID[oid]
		concurrently := " CONCURRENTLY"
		if t.partitioned {
			concurrently = "" // not supported on a partitioned table
		}
		a.add(Finding{Kind: TenantIndexMissing, Severity: Medium, Table: t.name,
			Detail: fmt.Sprintf("no index has %s as its first column: every tenant-scoped query reads other tenants' rows to find its own", a.opts.Column),
			Fix:    fmt.Sprintf("CREATE INDEX%s ON %s (%s);\n-- or lead the existing indexes with it: (%s, …)", concurrently, t.name, a.colSQL, a.colSQL)})
	}
	return nil
}

// checkTruncate: truncate_granted.
func (a *auditor) checkTruncate(ctx context.Context) error {
	if a.app.super {
		return nil
	}
	oids, _ := a.oids()
	rows, err := a.conn.Query(ctx, `
		SELECT c.oid, CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE r.rolname::text END,
		       CASE WHEN g.grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(r.rolname) END
		FROM pg_catalog.pg_class c
		CROSS JOIN LATERAL pg_catalog.aclexplode(c.relacl) g
		LEFT JOIN pg_catalog.pg_roles r ON r.oid = g.grantee
		WHERE c.oid = ANY($1::oid[]) AND g.privilege_type = 'TRUNCATE' AND g.grantee <> c.relowner
		  AND (g.grantee = 0 OR pg_catalog.pg_has_role($2::oid, g.grantee, 'MEMBER') OR ($3 AND NOT r.rolsuper))
		ORDER BY 1, 2`, oids, a.app.oid, a.createRole != "")
	if err != nil {
		return fmt.Errorf("audit: reading TRUNCATE grants: %w", err)
	}
	type grant struct {
		oid           uint32
		grantee, qsql string
	}
	gs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (g grant, err error) {
		err = r.Scan(&g.oid, &g.grantee, &g.qsql)
		return g, err
	})
	if err != nil {
		return fmt.Errorf("audit: reading TRUNCATE grants: %w", err)
	}
	for _, g := range gs {
		t := a.byOID[g.oid]
		to := "to the app role " + a.app.name
		switch {
		case g.grantee == "PUBLIC":
			to = "to PUBLIC"
		case g.grantee != a.app.name:
			to = fmt.Sprintf("to %s, a role the app role %s is a member of", g.grantee, a.app.name)
			if a.createRole != "" {
				to += " or, with CREATEROLE, can make itself one"
			}
		}
		a.add(Finding{Kind: TruncateGranted, Severity: High, Table: t.name, Object: g.grantee,
			Detail: "TRUNCATE is granted " + to + ": TRUNCATE ignores RLS and empties the table for every tenant",
			Fix:    fmt.Sprintf("REVOKE TRUNCATE ON %s FROM %s;", t.name, g.qsql)})
	}
	return nil
}

// recommendedPolicy is the CREATE POLICY of the recommended strict policy
// on t.
func (a *auditor) recommendedPolicy(t *table) string {
	return rls.CreatePolicySQL("tenant_isolation", t.name, a.colSQL, t.typ, a.opts.Setting, rls.Strict)
}
