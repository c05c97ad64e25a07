package rls

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Options say which tables get which policy. The zero value is the strict
// policy "tenant_isolation" on the column tenant_id and the setting
// app.tenant_id, on every table with that column, without FORCE.
type Options struct {
	// Column is the tenant column (default "tenant_id").
	Column string
	// Setting is the setting the policy reads (default "app.tenant_id").
	Setting string
	// Stage is Strict (default) or Permissive.
	Stage Stage
	// Force also forces RLS on the tables (ALTER TABLE … FORCE ROW LEVEL
	// SECURITY), so that their owner is subject to it too. Without it, a
	// table already forced stays forced.
	Force bool
	// Policy is the policy's name (default "tenant_isolation").
	Policy string
	// Tables are the tables to cover, as SQL names resolved with the
	// search_path ("invoices", "billing.invoices", `"Mixed"`); default:
	// every table that has Column, in every non-system schema.
	Tables []string
	// LockTimeout bounds the wait for each table's lock (CREATE and ALTER
	// POLICY take an ACCESS EXCLUSIVE lock, also when Plan probes):
	// default 10s; negative: wait forever.
	LockTimeout string
}

func (o *Options) defaults() error {
	if o.Column == "" {
		o.Column = "tenant_id"
	}
	if o.Setting == "" {
		o.Setting = "app.tenant_id"
	}
	if o.Policy == "" {
		o.Policy = "tenant_isolation"
	}
	if o.LockTimeout == "" {
		o.LockTimeout = "10s"
	}
	if o.Stage != Strict && o.Stage != Permissive {
		return fmt.Errorf("rls: invalid stage %d", int(o.Stage))
	}
	for _, s := range []string{o.Column, o.Setting, o.Policy} {
		if strings.ContainsRune(s, 0) {
			return errors.New("rls: a name contains a NUL byte")
		}
	}
	return nil
}

// ErrNotOwner is returned (wrapped) when the connected role may not
// change a table's RLS: Plan and Apply must run as the table owner (or a
// member of the owner role, or a superuser).
var ErrNotOwner = errors.New("not the table's owner")

// PolicyAction is what happens to the tenant policy of one table.
type PolicyAction string

const (
	PolicyUnchanged PolicyAction = "unchanged" // it already reads as desired
	PolicyCreated   PolicyAction = "created"   // there was none by that name
	PolicyUpdated   PolicyAction = "updated"   // ALTER POLICY: other roles or expressions
	PolicyReplaced  PolicyAction = "replaced"  // DROP and CREATE: it was not PERMISSIVE FOR ALL
)

// Table is the plan for one table.
type Table struct {
	// Name is the table, schema-qualified and quoted as needed.
	Name string
	// Enable and Force: RLS is enabled, forced (by the plan).
	Enable, Force bool
	// Policy is what happens to the tenant policy.
	Policy PolicyAction
	// Why are the reasons for the changes, one per change.
	Why []string
	// SQL are the statements, in order; none when nothing changes.
	SQL []string
	// Others are the table's other permissive policies: PostgreSQL OR-s
	// them with the tenant policy, so any row they allow is visible
	// whatever the tenant. They are reported, never dropped.
	Others []string
}

// Changed reports whether the table needs a statement.
func (t *Table) Changed() bool { return len(t.SQL) > 0 }

// Changes are what Plan would do, or what Apply did. (The type is not
// called Plan: that is the function's name.)
type Changes struct {
	Options Options
	Tables  []*Table
}

// Changed reports whether any table needs a statement.
func (p *Changes) Changed() bool {
	for _, t := range p.Tables {
		if t.Changed() {
			return true
		}
	}
	return false
}

// Script is the plan as an SQL script in one transaction, a comment per
// changed table saying why, and the other policies as warnings; "" when
// nothing changes and nothing is to be warned about.
func (p *Changes) Script() string {
	var b strings.Builder
	if p.Changed() {
		b.WriteString("BEGIN;\n")
		for _, t := range p.Tables {
			if !t.Changed() {
				continue
			}
			fmt.Fprintf(&b, "\n-- %s: %s\n", t.Name, strings.Join(t.Why, "; "))
			for _, s := range t.SQL {
				b.WriteString(s + "\n")
			}
		}
		b.WriteString("\nCOMMIT;\n")
	}
	if w := p.Warnings(); len(w) > 0 {
		if b.Len() > 0 {
			b.WriteString("\n")
		}
		for _, s := range w {
			b.WriteString("-- warning: " + s + "\n")
		}
	}
	return b.String()
}

// Warnings are the other permissive policies, one line each.
func (p *Changes) Warnings() []string {
	var w []string
	for _, t := range p.Tables {
		for _, o := range t.Others {
			w = append(w, fmt.Sprintf("%s: policy %s is OR-ed with %s: the rows it allows are visible whatever the tenant (review it; DROP POLICY or AS RESTRICTIVE)", t.Name, o, p.Options.Policy))
		}
	}
	return w
}

// Plan computes the statements that give every table of opts RLS and the
// tenant policy, without changing anything: it runs in a transaction it
// rolls back, in which it creates the desired policy under a SAVEPOINT to
// read PostgreSQL's own rendering of it (pg_get_expr) and compare it with
// the existing policy's. It must run as the tables' owner (see
// ErrNotOwner).
func Plan(ctx context.Context, conn *pgx.Conn, opts Options) (*Changes, error) {
	return run(ctx, conn, opts, false)
}

// Apply makes the changes Plan computes, in one transaction: either every
// table is changed or, on an error, none. The returned plan says what was
// changed; Changed is false when there was nothing to do.
func Apply(ctx context.Context, conn *pgx.Conn, opts Options) (*Changes, error) {
	return run(ctx, conn, opts, true)
}

// run plans in a transaction, and with apply runs the plan's statements
// and commits it.
func run(ctx context.Context, conn *pgx.Conn, opts Options, apply bool) (*Changes, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("rls: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	p, me, err := plan(ctx, tx, opts)
	if err != nil || !apply {
		return p, err
	}
	for _, t := range p.Tables {
		for _, s := range t.SQL {
			if _, err := tx.Exec(ctx, s); err != nil {
				return nil, tableError(t.Name, me, err)
			}
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("rls: commit: %w", err)
	}
	return p, nil
}

// tableError is err on table; a permission error (SQLSTATE 42501) of the
// connected role me wraps ErrNotOwner.
func tableError(table, me string, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "42501" {
		return fmt.Errorf("rls: %s: %w: %s (connected as %s)", table, ErrNotOwner, pgErr.Message, me)
	}
	return fmt.Errorf("rls: %s: %w (nothing was changed)", table, err)
}

type target struct {
	oid         uint32
	name        string
	rls, forced bool
	typ         string
}

// existing is a policy already on a table.
type existing struct {
	name       string
	qname      string
	cmd        string
	permissive bool
	public     bool // TO PUBLIC only
	using, chk *string
	roles      string
}

const probeName = "pgx_tenant_policy_probe"

// plan computes the changes in tx; me is the connected role.
func plan(ctx context.Context, tx pgx.Tx, opts Options) (p *Changes, me string, err error) {
	if opts.LockTimeout != "" && !strings.HasPrefix(opts.LockTimeout, "-") {
		if _, err := tx.Exec(ctx, "SELECT pg_catalog.set_config('lock_timeout', $1, true)", opts.LockTimeout); err != nil {
			return nil, "", fmt.Errorf("rls: lock timeout: %w", err)
		}
	}
	var colSQL, policySQL string
	err = tx.QueryRow(ctx, `SELECT pg_catalog.quote_ident($1), pg_catalog.quote_ident($2), current_user::text`, opts.Column, opts.Policy).
		Scan(&colSQL, &policySQL, &me)
	if err != nil {
		return nil, "", fmt.Errorf("rls: %w", err)
	}
	targets, err := resolve(ctx, tx, opts)
	if err != nil {
		return nil, "", err
	}
	p = &Changes{Options: opts}
	for _, tg := range targets {
		t, err := planTable(ctx, tx, opts, tg, colSQL, policySQL)
		if err != nil {
			return nil, "", tableError(tg.name, me, err)
		}
		p.Tables = append(p.Tables, t)
	}
	return p, me, nil
}

// resolve finds the tables: opts.Tables, or every table with the column.
func resolve(ctx context.Context, tx pgx.Tx, opts Options) ([]target, error) {
	const cols = `SELECT c.oid, pg_catalog.quote_ident(n.nspname) || '.' || pg_catalog.quote_ident(c.relname),
		       c.relrowsecurity, c.relforcerowsecurity, pg_catalog.format_type(a.atttypid, a.atttypmod)
		FROM pg_catalog.pg_class c
		JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
		JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attname = $1 AND a.attnum > 0 AND NOT a.attisdropped `
	scan := func(r pgx.CollectableRow) (t target, err error) {
		err = r.Scan(&t.oid, &t.name, &t.rls, &t.forced, &t.typ)
		return t, err
	}
	if len(opts.Tables) == 0 {
		rows, err := tx.Query(ctx, cols+`
		WHERE c.relkind IN ('r', 'p') AND `+UserSchema("n.nspname")+`
		  AND NOT `+ExtensionMember("pg_class", "c.oid")+`
		ORDER BY 2`, opts.Column)
		if err != nil {
			return nil, fmt.Errorf("rls: listing tables: %w", err)
		}
		ts, err := pgx.CollectRows(rows, scan)
		if err != nil {
			return nil, fmt.Errorf("rls: listing tables: %w", err)
		}
		return ts, nil
	}
	var ts []target
	seen := map[uint32]bool{}
	for _, name := range opts.Tables {
		var oid *uint32
		var kind *string
		if err := tx.QueryRow(ctx, `SELECT c.oid, c.relkind::text FROM pg_catalog.pg_class c WHERE c.oid = pg_catalog.to_regclass($1)`, name).Scan(&oid, &kind); err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("rls: table %q: %w", name, err)
		}
		if oid == nil {
			return nil, fmt.Errorf("rls: table %q not found", name)
		}
		if *kind != "r" && *kind != "p" {
			return nil, fmt.Errorf("rls: %q is not a table", name)
		}
		rows, err := tx.Query(ctx, cols+`WHERE c.oid = $2`, opts.Column, *oid)
		if err != nil {
			return nil, fmt.Errorf("rls: table %q: %w", name, err)
		}
		t, err := pgx.CollectExactlyOneRow(rows, scan)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("rls: table %q has no column %q", name, opts.Column)
		}
		if err != nil {
			return nil, fmt.Errorf("rls: table %q: %w", name, err)
		}
		if !seen[t.oid] {
			seen[t.oid] = true
			ts = append(ts, t)
		}
	}
	return ts, nil
}

func planTable(ctx context.Context, tx pgx.Tx, opts Options, tg target, colSQL, policySQL string) (*Table, error) {
	t := &Table{Name: tg.name, Policy: PolicyUnchanged}
	using := Predicate(colSQL, tg.typ, opts.Setting, opts.Stage)
	check := CheckPredicate(colSQL, tg.typ, opts.Setting, opts.Stage)
	wantUsing, wantCheck, err := probe(ctx, tx, tg, using, check)
	if err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `
		SELECT p.polname::text, pg_catalog.quote_ident(p.polname), p.polcmd::text, p.polpermissive,
		       p.polroles = '{0}'::oid[],
		       pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid),
		       ARRAY(SELECT CASE WHEN r.oid = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(r.oid)::text END
		             FROM unnest(p.polroles) AS r(oid))::text
		FROM pg_catalog.pg_policy p WHERE p.polrelid = $1 ORDER BY 1`, tg.oid)
	if err != nil {
		return nil, err
	}
	policies, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (e existing, err error) {
		err = r.Scan(&e.name, &e.qname, &e.cmd, &e.permissive, &e.public, &e.using, &e.chk, &e.roles)
		return e, err
	})
	if err != nil {
		return nil, err
	}
	var mine *existing
	for i, e := range policies {
		if e.name == opts.Policy {
			mine = &policies[i]
		} else if e.permissive {
			t.Others = append(t.Others, fmt.Sprintf("%s (PERMISSIVE FOR %s TO %s)", e.name, cmdName(e.cmd), strings.Trim(e.roles, "{}")))
		}
	}
	create := CreatePolicySQL(policySQL, tg.name, colSQL, tg.typ, opts.Setting, opts.Stage)
	switch {
	case mine == nil:
		t.Policy = PolicyCreated
		t.Why = append(t.Why, fmt.Sprintf("no policy %s", opts.Policy))
		t.SQL = append(t.SQL, create)
	case mine.cmd != "*" || !mine.permissive:
		t.Policy = PolicyReplaced
		t.Why = append(t.Why, fmt.Sprintf("policy %s is %s FOR %s, not PERMISSIVE FOR ALL", opts.Policy, permissiveWord(mine.permissive), cmdName(mine.cmd)))
		t.SQL = append(t.SQL, fmt.Sprintf("DROP POLICY %s ON %s;", policySQL, tg.name), create)
	case !mine.public || !equal(mine.using, wantUsing) || !equal(mine.chk, wantCheck):
		t.Policy = PolicyUpdated
		var diffs []string
		if !mine.public {
			diffs = append(diffs, fmt.Sprintf("TO %s", strings.Trim(mine.roles, "{}")))
		}
		if !equal(mine.using, wantUsing) {
			diffs = append(diffs, fmt.Sprintf("USING %s", show(mine.using)))
		}
		if !equal(mine.chk, wantCheck) {
			diffs = append(diffs, fmt.Sprintf("WITH CHECK %s", show(mine.chk)))
		}
		t.Why = append(t.Why, fmt.Sprintf("policy %s differs (%s), stage %s", opts.Policy, strings.Join(diffs, ", "), opts.Stage))
		t.SQL = append(t.SQL, fmt.Sprintf("ALTER POLICY %s ON %s TO PUBLIC\n  USING (%s)\n  WITH CHECK (%s);", policySQL, tg.name, using, check))
	}
	if !tg.rls {
		t.Enable = true
		t.Why = append(t.Why, "RLS not enabled")
		t.SQL = append(t.SQL, fmt.Sprintf("ALTER TABLE %s ENABLE ROW LEVEL SECURITY;", tg.name))
	}
	if opts.Force && !tg.forced {
		t.Force = true
		t.Why = append(t.Why, "RLS not forced (the owner bypasses it)")
		t.SQL = append(t.SQL, fmt.Sprintf("ALTER TABLE %s FORCE ROW LEVEL SECURITY;", tg.name))
	}
	return t, nil
}

// probe creates the desired policy under a savepoint, reads how
// PostgreSQL renders its expressions, and rolls it back: the comparison
// with the existing policy is then PostgreSQL's, not a string match of our
// own text.
func probe(ctx context.Context, tx pgx.Tx, tg target, using, check string) (u, c *string, err error) {
	if _, err := tx.Exec(ctx, "SAVEPOINT pgx_tenant_probe"); err != nil {
		return nil, nil, err
	}
	_, err = tx.Exec(ctx, fmt.Sprintf("CREATE POLICY %s ON %s AS PERMISSIVE FOR ALL TO PUBLIC USING (%s) WITH CHECK (%s)", probeName, tg.name, using, check))
	if err == nil {
		err = tx.QueryRow(ctx, `SELECT pg_catalog.pg_get_expr(p.polqual, p.polrelid), pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)
			FROM pg_catalog.pg_policy p WHERE p.polrelid = $1 AND p.polname = $2`, tg.oid, probeName).Scan(&u, &c)
	}
	if _, rerr := tx.Exec(ctx, "ROLLBACK TO SAVEPOINT pgx_tenant_probe"); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return nil, nil, err
	}
	if _, err := tx.Exec(ctx, "RELEASE SAVEPOINT pgx_tenant_probe"); err != nil {
		return nil, nil, err
	}
	return u, c, nil
}

func equal(a, b *string) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func show(s *string) string {
	if s == nil {
		return "(none)"
	}
	return "(" + *s + ")"
}

func cmdName(c string) string {
	switch c {
	case "r":
		return "SELECT"
	case "a":
		return "INSERT"
	case "w":
		return "UPDATE"
	case "d":
		return "DELETE"
	}
	return "ALL"
}

func permissiveWord(p bool) string {
	if p {
		return "PERMISSIVE"
	}
	return "RESTRICTIVE"
}
