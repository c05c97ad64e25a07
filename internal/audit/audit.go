package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"github.com/pgx-tenant/pgx-tenant/internal/rls"
)

// Options say what to audit. The zero value audits the column tenant_id and
// the setting app.tenant_id in every non-system schema, for the connecting
// role.
type Options struct {
	// Column is the tenant column (default "tenant_id"); a table is
	// tenant-owned when it has one.
	Column string
	// Setting is the setting policies must read (default "app.tenant_id").
	Setting string
	// AppRole is the role the application connects as (default: the
	// connecting role, current_user).
	AppRole string
	// Schemas limits the tenant-owned tables audited (default: every schema
	// but pg_catalog, information_schema, pg_toast and temporary ones).
	// Views and functions are looked for in every non-system schema.
	Schemas []string
	// CountTimeout bounds each table's count of NULL tenants (a full scan
	// of the table): a count that takes longer is reported unknown, never
	// as 0. Zero means one minute; negative, no limit.
	CountTimeout time.Duration
}

func (o *Options) defaults() error {
	if o.Column == "" {
		o.Column = "tenant_id"
	}
	if o.Setting == "" {
		o.Setting = "app.tenant_id"
	}
	if o.CountTimeout == 0 {
		o.CountTimeout = time.Minute
	}
	if strings.ContainsRune(o.Column, 0) || strings.ContainsRune(o.Setting, 0) || strings.ContainsRune(o.AppRole, 0) {
		return errors.New("audit: a name contains a NUL byte")
	}
	return nil
}

// Run audits the database conn is connected to and returns the findings,
// sorted (see Sort); an empty, non-nil slice when there are none. It only
// reads the catalog and counts rows: the NULL counts run in short
// read-only transactions with row_security off (see the package doc). It
// returns an error when the catalog cannot be read (the app role does not
// exist, the connection fails).
func Run(ctx context.Context, conn *pgx.Conn, opts Options) ([]Finding, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	a := &auditor{conn: conn, opts: opts, hasOwner: map[[2]uint32]bool{}}
	if err := a.load(ctx); err != nil {
		return nil, err
	}
	for _, check := range []func(context.Context) error{
		a.checkRole,
		a.checkTables,
		a.checkPolicies,
		a.checkIndexes,
		a.checkUniques,
		a.checkForeignKeys,
		a.checkViews,
		a.checkFunctions,
		a.checkTruncate,
	} {
		if err := check(ctx); err != nil {
			return nil, err
		}
	}
	out := a.findings
	if out == nil {
		out = []Finding{}
	}
	Sort(out)
	return out, nil
}

type auditor struct {
	conn *pgx.Conn
	opts Options

	colSQL string // the tenant column, quoted as needed
	me     string // current_user
	app    role
	// createRole names the role (the app role or one it is a member of)
	// with CREATEROLE on PostgreSQL 15 or older, where CREATEROLE may
	// grant membership in any role but a superuser one: the app role can
	// make itself a member of every non-superuser role. "" otherwise.
	createRole, createRoleSQL string
	tables                    []*table
	byOID                     map[uint32]*table
	// invokerViews: the security_invoker views reading tenant-owned
	// tables (read by checkViews, used by checkFunctions).
	invokerViews []invokerView
	// helpers: the SQL functions policies may read the setting through
	// (read by checkPolicies).
	helpers map[string]*pg_query.Node
	// hasOwner caches bypasses' pg_has_role(role, table owner, USAGE) by
	// the pair of oids: views and functions share a few owners.
	hasOwner map[[2]uint32]bool

	findings []Finding
}

type role struct {
	oid              uint32
	name, qname      string // qname: quoted as needed
	super, bypassRLS bool
}

// table is a tenant-owned table.
type table struct {
	oid           uint32
	name          string // schema-qualified, quoted as needed
	rel           string // the bare relation name
	partitioned   bool
	owner         role
	rls, forced   bool
	att           int16
	notNull       bool
	typ           string // format_type of the tenant column
	appOwns       bool   // the app role is a member of the owner role
	appOwnsDirect bool   // … and is the owner
}

func (a *auditor) add(f Finding) { a.findings = append(a.findings, f) }

// load reads the app role and the tenant-owned tables.
func (a *auditor) load(ctx context.Context) error {
	err := a.conn.QueryRow(ctx, `SELECT pg_catalog.quote_ident($1), current_user::text`, a.opts.Column).Scan(&a.colSQL, &a.me)
	if err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	name := a.opts.AppRole
	if name == "" {
		name = a.me
	}
	err = a.conn.QueryRow(ctx, `SELECT r.oid, r.rolname::text, pg_catalog.quote_ident(r.rolname), r.rolsuper, r.rolbypassrls
		FROM pg_catalog.pg_roles r WHERE r.rolname = $1`, name).
		Scan(&a.app.oid, &a.app.name, &a.app.qname, &a.app.super, &a.app.bypassRLS)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("audit: app role %q does not exist", name)
	}
	if err != nil {
		return fmt.Errorf("audit: reading the app role: %w", err)
	}
	err = a.conn.QueryRow(ctx, `
		SELECT r.rolname::text, pg_catalog.quote_ident(r.rolname) FROM pg_catalog.pg_roles r
		WHERE r.rolcreaterole AND pg_catalog.pg_has_role($1::oid, r.oid, 'MEMBER')
		  AND pg_catalog.current_setting('server_version_num')::int < 160000
		ORDER BY r.oid <> $1::oid, 1 LIMIT 1`, a.app.oid).Scan(&a.createRole, &a.createRoleSQL)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("audit: reading the app role: %w", err)
	}
	var schemas []string // nil: every schema
	if len(a.opts.Schemas) > 0 {
		schemas = a.opts.Schemas
	}
	rows, err := a.conn.Query(ctx, `
		SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
		       c.relname::text, c.relkind = 'p',
		       o.oid, o.rolname::text, pg_catalog.quote_ident(o.rolname), o.rolsuper, o.rolbypassrls,
		       c.relrowsecurity, c.relforcerowsecurity,
		       a.attnum, a.attnotnull, pg_catalog.format_type(a.atttypid, a.atttypmod),
		       pg_catalog.pg_has_role($3::oid, c.relowner, 'MEMBER') OR ($4 AND NOT o.rolsuper), c.relowner = $3::oid
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_roles o ON o.oid = c.relowner
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND a.attnum > 0 AND NOT a.attisdropped
		WHERE c.relkind IN ('r', 'p')
		  AND `+rls.UserSchema("n.nspname")+`
		  AND ($2::text[] IS NULL OR n.nspname = ANY($2::text[]))
		  AND NOT `+rls.ExtensionMember("pg_class", "c.oid")+`
		ORDER BY 2`, a.opts.Column, schemas, a.app.oid, a.createRole != "")
	if err != nil {
		return fmt.Errorf("audit: listing tenant-owned tables: %w", err)
	}
	a.byOID = map[uint32]*table{}
	for rows.Next() {
		t := &table{}
		if err := rows.Scan(&t.oid, &t.name, &t.rel, &t.partitioned,
			&t.owner.oid, &t.owner.name, &t.owner.qname, &t.owner.super, &t.owner.bypassRLS,
			&t.rls, &t.forced, &t.att, &t.notNull, &t.typ, &t.appOwns, &t.appOwnsDirect); err != nil {
			rows.Close()
			return fmt.Errorf("audit: listing tenant-owned tables: %w", err)
		}
		a.tables = append(a.tables, t)
		a.byOID[t.oid] = t
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("audit: listing tenant-owned tables: %w", err)
	}
	return nil
}

// oids returns the tenant-owned tables' oids and tenant attribute numbers,
// for unnest($1::oid[], $2::int2[]).
func (a *auditor) oids() ([]uint32, []int16) {
	o := make([]uint32, len(a.tables))
	n := make([]int16, len(a.tables))
	for i, t := range a.tables {
		o[i], n[i] = t.oid, t.att
	}
	return o, n
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), strings.ToLower(sub))
}
