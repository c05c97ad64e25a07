package main

import (
	"context"
	"database/sql"
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// rlsSchema: tenant tables without RLS (text and uuid tenant columns), a
// NULL-tenant (global) row, and a table without the column.
const rlsSchema = `
CREATE TABLE docs (tenant_id text, id int PRIMARY KEY, title text);
CREATE INDEX ON docs (tenant_id);
INSERT INTO docs VALUES ('acme', 1, 'acme doc'), ('globex', 2, 'globex doc'), (NULL, 3, 'global doc');
CREATE TABLE "Mixed Case" (tenant_id uuid NOT NULL, id int PRIMARY KEY);
CREATE INDEX ON "Mixed Case" (tenant_id);
INSERT INTO "Mixed Case" VALUES ('00000000-0000-0000-0000-000000000001', 1), ('00000000-0000-0000-0000-000000000002', 2);
CREATE TABLE countries (code text PRIMARY KEY);
`

func rlsDatabase(t *testing.T) (*pgtest.Database, []string) {
	t.Helper()
	d := pgtest.NewDatabase(t)
	if err := d.ExecOwner(context.Background(), rlsSchema); err != nil {
		t.Fatal(err)
	}
	return d, []string{"DATABASE_URL=" + d.OwnerDSN}
}

func mustRun(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := runCLI(t, env, args...)
	if r.code != exitOK {
		t.Fatalf("%s: code %d, stdout %s, stderr %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r
}

// tableState reads relrowsecurity, relforcerowsecurity and the policy
// names of table, as the admin.
func tableState(t *testing.T, d *pgtest.Database, table string) (enabled, forced bool, policies []string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, d.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	err = conn.QueryRow(ctx, `SELECT relrowsecurity, relforcerowsecurity,
		ARRAY(SELECT polname::text FROM pg_policy WHERE polrelid = c.oid ORDER BY 1)
		FROM pg_class c WHERE c.oid = $1::regclass`, table).Scan(&enabled, &forced, &policies)
	if err != nil {
		t.Fatal(err)
	}
	return enabled, forced, policies
}

func TestRLSPlanApplyIdempotent(t *testing.T) {
	d, env := rlsDatabase(t)

	r := mustRun(t, env, "rls", "plan")
	for _, s := range []string{
		"BEGIN;", "COMMIT;",
		"-- public.docs: no policy tenant_isolation; RLS not enabled",
		"ALTER TABLE public.docs ENABLE ROW LEVEL SECURITY;",
		"CREATE POLICY tenant_isolation ON public.docs AS PERMISSIVE FOR ALL TO PUBLIC",
		"USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')))",
		`ON public."Mixed Case"`,
		"NULLIF(current_setting('app.tenant_id', true), '')::uuid)",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("plan lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "countries") || strings.Contains(r.stdout, "FORCE") {
		t.Errorf("plan covers too much:\n%s", r.stdout)
	}
	// A table named twice is planned once.
	r = mustRun(t, env, "rls", "plan", "--table", "docs,public.docs")
	if n := strings.Count(r.stdout, "CREATE POLICY"); n != 1 {
		t.Errorf("--table docs,public.docs: %d CREATE POLICY:\n%s", n, r.stdout)
	}
	if enabled, _, pols := tableState(t, d, "docs"); enabled || len(pols) > 0 {
		t.Fatalf("plan changed the table: enabled %v, policies %v", enabled, pols)
	}

	r = mustRun(t, env, "rls", "apply", "--force")
	for _, s := range []string{
		"public.docs: RLS enabled, RLS forced, policy tenant_isolation created",
		`public."Mixed Case": RLS enabled, RLS forced, policy tenant_isolation created`,
		"2 of 2 table(s) changed",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("apply output lacks %q:\n%s", s, r.stdout)
		}
	}
	if enabled, forced, pols := tableState(t, d, "docs"); !enabled || !forced || len(pols) != 1 {
		t.Errorf("after apply: enabled %v, forced %v, policies %v", enabled, forced, pols)
	}

	r = mustRun(t, env, "rls", "apply", "--force")
	if !strings.HasPrefix(r.stdout, "nothing changed: 2 table(s) already have RLS enabled, forced, and the policy tenant_isolation (strict)") {
		t.Errorf("second apply:\n%s", r.stdout)
	}
	r = mustRun(t, env, "rls", "plan", "--force")
	if !strings.HasPrefix(r.stdout, "-- nothing to do") || strings.Contains(r.stdout, "ALTER") || strings.Contains(r.stdout, "CREATE") {
		t.Errorf("plan after apply:\n%s", r.stdout)
	}

	// The policy rewritten by hand in another spelling (same meaning) is
	// still unchanged: the comparison is PostgreSQL's rendering.
	if err := d.ExecOwner(context.Background(), `ALTER POLICY tenant_isolation ON docs
		USING ((tenant_id = (select nullif(current_setting('app.tenant_id', true), ''))))`); err != nil {
		t.Fatal(err)
	}
	r = mustRun(t, env, "rls", "plan", "--force")
	if !strings.HasPrefix(r.stdout, "-- nothing to do") {
		t.Errorf("plan after a respelling:\n%s", r.stdout)
	}

	// Another stage updates the policy in place.
	r = mustRun(t, env, "rls", "apply", "--stage", "permissive", "--table", "docs")
	if !strings.Contains(r.stdout, "public.docs: policy tenant_isolation updated") || strings.Contains(r.stdout, "Mixed") {
		t.Errorf("apply --stage permissive --table docs:\n%s", r.stdout)
	}

	// After apply, the audit no longer reports RLS or policy findings.
	fs, _ := auditJSON(t, env, "--app-role", d.AppRole)
	for _, f := range fs {
		if f.Kind == "rls_disabled" || f.Kind == "policy_missing" || f.Kind == "rls_not_forced" || strings.HasPrefix(f.Kind, "policy_") {
			t.Errorf("after apply: %+v", f)
		}
	}
}

func TestRLSOtherPolicies(t *testing.T) {
	d, env := rlsDatabase(t)
	if err := d.ExecOwner(context.Background(),
		"CREATE POLICY open_read ON docs FOR SELECT USING (true)",
		"CREATE POLICY tenant_isolation ON docs FOR SELECT USING ("+policySQL+")",
		"CREATE POLICY not_deleted ON docs AS RESTRICTIVE USING (title <> 'deleted')", // AND-ed: no warning
	); err != nil {
		t.Fatal(err)
	}
	r := mustRun(t, env, "rls", "plan", "--table", "docs")
	for _, s := range []string{
		"policy tenant_isolation is PERMISSIVE FOR SELECT, not PERMISSIVE FOR ALL",
		"DROP POLICY tenant_isolation ON public.docs;",
		"-- warning: public.docs: policy open_read (PERMISSIVE FOR SELECT TO PUBLIC) is OR-ed with tenant_isolation",
	} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("plan lacks %q:\n%s", s, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "not_deleted") {
		t.Errorf("plan warns of a restrictive policy:\n%s", r.stdout)
	}
	r = mustRun(t, env, "rls", "apply", "--table", "docs")
	if !strings.Contains(r.stdout, "policy tenant_isolation replaced") || !strings.Contains(r.stdout, "warning: public.docs: policy open_read") ||
		strings.Contains(r.stdout, "not_deleted") {
		t.Errorf("apply:\n%s", r.stdout)
	}
	if _, _, pols := tableState(t, d, "docs"); strings.Join(pols, ",") != "not_deleted,open_read,tenant_isolation" {
		t.Errorf("policies %v: the other policy must stay", pols)
	}
}

func TestRLSApplyNotOwner(t *testing.T) {
	d, _ := rlsDatabase(t)
	// The second table is the app role's: the first one fails, and the
	// whole apply changes nothing.
	if err := d.Exec(context.Background(), "CREATE TABLE zz_app (tenant_id text)", "ALTER TABLE zz_app OWNER TO "+d.AppRole); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"plan", "apply"} {
		r := runCLI(t, []string{"DATABASE_URL=" + d.AppDSN}, "rls", cmd, "--table", "zz_app,docs")
		if r.code != exitError || !strings.Contains(r.stderr, "not the table's owner") || !strings.Contains(r.stderr, "nothing was changed") {
			t.Errorf("rls %s as the app role: code %d, stdout %q, stderr %q", cmd, r.code, r.stdout, r.stderr)
		}
	}
	for _, table := range []string{"docs", "zz_app"} {
		if enabled, _, pols := tableState(t, d, table); enabled || len(pols) > 0 {
			t.Errorf("%s changed: enabled %v, policies %v", table, enabled, pols)
		}
	}
}

func TestRLSUsage(t *testing.T) {
	_, env := rlsDatabase(t)
	for _, tc := range []struct {
		args    []string
		wantErr string
	}{
		{[]string{"--stage", "lenient"}, "--stage"},
		{[]string{"--setting", "x"}, "--setting"},
		{[]string{"--policy", ""}, "--policy"},
		{[]string{"--table", "nope"}, `table "nope" not found`},
		{[]string{"--table", "countries"}, `has no column "tenant_id"`},
		{[]string{"extra"}, "unexpected arguments"},
	} {
		for _, cmd := range []string{"plan", "apply"} {
			r := runCLI(t, env, append([]string{"rls", cmd}, tc.args...)...)
			if r.code != exitError || !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("rls %s %v: code %d, stderr %q; want 2 and %q", cmd, tc.args, r.code, r.stderr, tc.wantErr)
			}
		}
	}
	r := runCLI(t, nil, "rls", "apply", "--dsn", "postgres://nobody:x@127.0.0.1:1/none?connect_timeout=2")
	if r.code != exitError || !strings.Contains(r.stderr, "connecting") {
		t.Errorf("bad dsn: %+v", r)
	}
}

// TestRLSStages checks the policies with real queries of the app role
// through the pgx-tenant driver.
func TestRLSStages(t *testing.T) {
	d, env := rlsDatabase(t)
	db, err := sql.Open("pgx-tenant", d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	acme := tenant.NewContext(context.Background(), "acme")

	titles := func(t *testing.T) []string {
		t.Helper()
		rows, err := db.QueryContext(acme, "SELECT title FROM docs")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		sort.Strings(out)
		return out
	}
	denied := func(t *testing.T, what, query string, args ...any) {
		t.Helper()
		_, err := db.ExecContext(acme, query, args...)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s: err %v, want SQLSTATE 42501", what, err)
		}
	}
	writes := func(t *testing.T) {
		t.Helper()
		denied(t, "insert for another tenant", "INSERT INTO docs VALUES ('globex', 10, 'x')")
		denied(t, "insert without a tenant", "INSERT INTO docs VALUES (NULL, 11, 'x')")
		denied(t, "move a row to another tenant", "UPDATE docs SET tenant_id = 'globex' WHERE id = 1")
		denied(t, "move a row to no tenant (publishing it to all)", "UPDATE docs SET tenant_id = NULL WHERE id = 1")
		if _, err := db.ExecContext(acme, "INSERT INTO docs VALUES ('acme', 12, 'acme new')"); err != nil {
			t.Errorf("insert for the own tenant: %v", err)
		}
		if _, err := db.ExecContext(acme, "DELETE FROM docs WHERE id = 12"); err != nil {
			t.Error(err)
		}
	}

	// Before any RLS the app role sees every tenant: the test can tell.
	if got := titles(t); len(got) != 3 {
		t.Fatalf("without RLS: %v", got)
	}

	mustRun(t, env, "rls", "apply", "--force", "--stage", "permissive")
	if got, want := strings.Join(titles(t), ","), "acme doc,global doc"; got != want {
		t.Errorf("permissive: %s, want %s", got, want)
	}
	writes(t)
	// The documented trade-off of the permissive stage: a tenant can delete a
	// global row (rolled back here). Strict: it cannot see one to delete.
	deletesGlobal := func(t *testing.T) int64 {
		t.Helper()
		tx, err := db.BeginTx(acme, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		res, err := tx.ExecContext(acme, "DELETE FROM docs WHERE tenant_id IS NULL")
		if err != nil {
			t.Fatal(err)
		}
		n, _ := res.RowsAffected()
		return n
	}
	if n := deletesGlobal(t); n != 1 {
		t.Errorf("permissive: a tenant deleted %d global rows, want 1 (the documented trade-off)", n)
	}

	mustRun(t, env, "rls", "apply", "--force", "--stage", "strict")
	if n := deletesGlobal(t); n != 0 {
		t.Errorf("strict: a tenant deleted %d global rows", n)
	}
	if got, want := strings.Join(titles(t), ","), "acme doc"; got != want {
		t.Errorf("strict: %s, want %s", got, want)
	}
	writes(t)

	// uuid tenant column: the cast inside the sub-select works, and an
	// unset tenant sees nothing rather than an error.
	var n int
	one := tenant.NewContext(context.Background(), "00000000-0000-0000-0000-000000000001")
	if err := db.QueryRowContext(one, `SELECT count(*) FROM "Mixed Case"`).Scan(&n); err != nil || n != 1 {
		t.Errorf("uuid table: %d rows, %v", n, err)
	}
	if err := db.QueryRowContext(context.Background(), `SELECT count(*) FROM "Mixed Case"`).Scan(&n); err != nil || n != 0 {
		t.Errorf("uuid table, no tenant: %d rows, %v", n, err)
	}
}
