package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// policySQL is the recommended tenant predicate, as the fixtures write it.
const policySQL = `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`

// defectsSchema plants every defect the audit knows (as the owner); the
// comments name the finding each line should cause.
const defectsSchema = `
CREATE TABLE customers (
	tenant_id text NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	email text NOT NULL,
	CONSTRAINT customers_email_key UNIQUE (email)           -- unique_without_tenant
);
CREATE INDEX ON customers (tenant_id, id);
ALTER TABLE customers ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON customers USING (` + policySQL + `);

CREATE TABLE notes (tenant_id text, id serial PRIMARY KEY, body text);   -- tenant_column_nullable (2 NULL rows), rls_disabled
CREATE INDEX ON notes (tenant_id);
INSERT INTO notes (tenant_id, body) VALUES (NULL, 'a'), (NULL, 'b'), ('acme', 'c');

CREATE TABLE invoices (
	tenant_id text NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	customer_id bigint REFERENCES customers (id),            -- fk_without_tenant
	total numeric
);
CREATE INDEX ON invoices (tenant_id);
ALTER TABLE invoices ENABLE ROW LEVEL SECURITY;              -- rls_not_forced
CREATE POLICY tenant_isolation ON invoices USING (` + policySQL + `);
CREATE POLICY open_all ON invoices USING (true);             -- policy_not_tenant

CREATE TABLE empty_policy (tenant_id text NOT NULL, id int PRIMARY KEY);   -- policy_missing
CREATE INDEX ON empty_policy (tenant_id);
ALTER TABLE empty_policy ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;

CREATE TABLE other_role (tenant_id text NOT NULL, id int PRIMARY KEY);   -- policy_missing (its policy is the owner's)
CREATE INDEX ON other_role (tenant_id);
ALTER TABLE other_role ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON other_role TO CURRENT_USER USING (` + policySQL + `);

CREATE TABLE no_nullif (tenant_id text NOT NULL, id int PRIMARY KEY);
CREATE INDEX ON no_nullif (tenant_id);
ALTER TABLE no_nullif ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON no_nullif
	USING (tenant_id = current_setting('app.tenant_id'));    -- policy_no_nullif, policy_setting_per_row

CREATE TABLE writes (tenant_id text NOT NULL, id int PRIMARY KEY);
CREATE INDEX ON writes (tenant_id);
ALTER TABLE writes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON writes USING (` + policySQL + `)
	WITH CHECK (true);                                       -- policy_no_with_check (high)
CREATE POLICY inserts ON writes FOR INSERT;                  -- policy_no_with_check (low)

CREATE TABLE no_index (tenant_id text NOT NULL, id int PRIMARY KEY);   -- tenant_index_missing
ALTER TABLE no_index ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON no_index USING (` + policySQL + `);

CREATE TABLE idempotency (
	tenant_id text NOT NULL,
	key text NOT NULL,
	id uuid DEFAULT gen_random_uuid() UNIQUE                 -- generated: exempt
);
CREATE UNIQUE INDEX idempotency_key ON idempotency (key);   -- unique_without_tenant
CREATE INDEX ON idempotency (tenant_id);
ALTER TABLE idempotency ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON idempotency USING (` + policySQL + `);

CREATE TABLE line_items (id serial PRIMARY KEY, invoice_id bigint REFERENCES invoices (id));   -- missing_tenant_column

CREATE VIEW invoice_totals AS SELECT tenant_id, sum(total) FROM invoices GROUP BY tenant_id;   -- view_not_security_invoker
CREATE VIEW safe_invoices WITH (security_invoker = true) AS SELECT * FROM invoices;
CREATE VIEW via_safe AS SELECT * FROM safe_invoices;                                           -- view_not_security_invoker (through a view)
CREATE VIEW safe_outer WITH (security_invoker = true) AS SELECT * FROM safe_invoices;

CREATE FUNCTION all_invoices() RETURNS SETOF bigint LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN RETURN QUERY SELECT id FROM public.invoices; END $$;                                     -- security_definer_function (source)
CREATE FUNCTION customer_count() RETURNS bigint LANGUAGE sql SECURITY DEFINER
BEGIN ATOMIC SELECT count(*) FROM customers; END;                                              -- security_definer_function (pg_depend)
CREATE FUNCTION harmless() RETURNS int LANGUAGE sql SECURITY DEFINER AS 'SELECT 1';
`

type want struct {
	kind     string
	table    string
	severity string
	object   string // when set, must match too
}

type finding struct {
	Kind     string `json:"kind"`
	Severity string `json:"severity"`
	Table    string `json:"table"`
	Object   string `json:"object"`
	Detail   string `json:"detail"`
	Fix      string `json:"fix"`
}

func auditJSON(t *testing.T, environ []string, args ...string) ([]finding, result) {
	t.Helper()
	r := runCLI(t, environ, append([]string{"audit", "--json"}, args...)...)
	if r.code == exitError {
		t.Fatalf("audit: code %d, stderr %s", r.code, r.stderr)
	}
	var fs []finding
	if err := json.Unmarshal([]byte(r.stdout), &fs); err != nil {
		t.Fatalf("audit --json: %v\n%s", err, r.stdout)
	}
	return fs, r
}

func has(fs []finding, w want) bool {
	for _, f := range fs {
		if f.Kind == w.kind && f.Table == w.table && f.Severity == w.severity && (w.object == "" || f.Object == w.object) {
			return true
		}
	}
	return false
}

// extraRole creates a role for d's test (dropped at its end) and returns
// its name.
func extraRole(t *testing.T, d *pgtest.Database, suffix, attrs string) string {
	t.Helper()
	ctx := context.Background()
	name := d.AppRole + "_" + suffix
	if err := d.Exec(ctx, fmt.Sprintf("CREATE ROLE %s NOLOGIN %s", name, attrs)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := d.Exec(ctx, "DROP OWNED BY "+name, "DROP ROLE "+name); err != nil {
			t.Logf("dropping role %s: %v", name, err)
		}
	})
	return name
}

func TestAuditFindsEveryDefect(t *testing.T) {
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	if err := d.ExecOwner(ctx, defectsSchema); err != nil {
		t.Fatal(err)
	}
	bypass := extraRole(t, d, "bypass", "BYPASSRLS")
	if err := d.Exec(ctx,
		"GRANT TRUNCATE ON notes TO "+d.AppRole,                       // truncate_granted (direct)
		"GRANT TRUNCATE ON idempotency TO PUBLIC",                     // truncate_granted (PUBLIC)
		"CREATE TABLE owned_by_app (tenant_id text NOT NULL, id int)", // app_role_owner
		"ALTER TABLE owned_by_app OWNER TO "+d.AppRole,
		"GRANT "+bypass+" TO "+d.AppRole, // app_role_bypassrls (through membership)
	); err != nil {
		t.Fatal(err)
	}
	env := []string{"DATABASE_URL=" + d.OwnerDSN}
	fs, r := auditJSON(t, env, "--app-role", d.AppRole)
	if r.code != exitFindings {
		t.Errorf("code %d, want %d", r.code, exitFindings)
	}
	for _, w := range []want{
		{"tenant_column_nullable", "public.notes", "high", ""},
		{"rls_disabled", "public.notes", "critical", ""},
		{"rls_not_forced", "public.invoices", "medium", ""},
		{"policy_missing", "public.empty_policy", "medium", ""},
		{"policy_missing", "public.other_role", "medium", ""},
		{"policy_not_tenant", "public.invoices", "critical", "open_all"},
		{"policy_no_nullif", "public.no_nullif", "medium", "tenant_isolation"},
		{"policy_setting_per_row", "public.no_nullif", "low", "tenant_isolation"},
		{"policy_no_with_check", "public.writes", "high", "tenant_isolation"},
		{"policy_no_with_check", "public.writes", "low", "inserts"},
		{"tenant_index_missing", "public.no_index", "medium", ""},
		{"unique_without_tenant", "public.customers", "medium", "customers_email_key"},
		{"unique_without_tenant", "public.idempotency", "medium", "public.idempotency_key"},
		{"fk_without_tenant", "public.invoices", "high", "invoices_customer_id_fkey"},
		{"missing_tenant_column", "public.line_items", "high", "line_items_invoice_id_fkey"},
		{"view_not_security_invoker", "public.invoice_totals", "high", ""},
		{"view_not_security_invoker", "public.via_safe", "high", ""},
		{"security_definer_function", "public.invoices", "high", "public.all_invoices()"},
		{"security_definer_function", "public.customers", "medium", "public.customer_count()"},
		{"truncate_granted", "public.notes", "high", d.AppRole},
		{"truncate_granted", "public.idempotency", "high", "PUBLIC"},
		{"app_role_owner", "public.owned_by_app", "critical", ""},
		{"app_role_bypassrls", "", "critical", bypass},
	} {
		if !has(fs, w) {
			t.Errorf("missing %+v", w)
		}
	}
	// Nothing where the schema is right.
	for _, f := range fs {
		switch {
		case f.Table == "public.safe_invoices", f.Table == "public.safe_outer",
			strings.Contains(f.Object, "harmless"),
			f.Kind == "unique_without_tenant" && strings.Contains(f.Object, "pkey"),
			f.Kind == "unique_without_tenant" && f.Object == "idempotency_id_key",
			f.Kind == "policy_not_tenant" && f.Object == "tenant_isolation",
			f.Kind == "rls_not_forced" && f.Table != "public.invoices",
			f.Kind == "tenant_index_missing" && f.Table != "public.no_index" && f.Table != "public.owned_by_app":
			t.Errorf("unexpected finding %+v", f)
		}
		if f.Detail == "" {
			t.Errorf("no detail: %+v", f)
		}
	}

	t.Run("human", func(t *testing.T) {
		r := runCLI(t, env, "audit", "--app-role", d.AppRole)
		if r.code != exitFindings {
			t.Fatalf("code %d, stderr %s", r.code, r.stderr)
		}
		lines := strings.Split(r.stdout, "\n")
		if !strings.HasPrefix(lines[0], "#") || !strings.Contains(lines[0], "SEVERITY") || !strings.Contains(lines[1], "critical") {
			t.Errorf("table header/order:\n%s", r.stdout)
		}
		// Sorted by severity: no critical after a high, and so on.
		last := 4
		for _, l := range lines[1 : len(fs)+1] {
			sev := map[string]int{"critical": 4, "high": 3, "medium": 2, "low": 1}[strings.Fields(l)[1]]
			if sev > last {
				t.Errorf("not sorted by severity at %q", l)
			}
			last = sev
		}
		if !strings.Contains(r.stdout, "Suggested fixes:") || !strings.Contains(r.stdout, fmt.Sprintf("%d findings: ", len(fs))) {
			t.Errorf("no fixes or summary:\n%s", r.stdout)
		}
	})

	t.Run("roles", func(t *testing.T) {
		cfg, err := pgx.ParseConfig(d.AdminDSN)
		if err != nil {
			t.Fatal(err)
		}
		fs, _ := auditJSON(t, env, "--app-role", cfg.User)
		if !has(fs, want{"app_role_superuser", "", "critical", cfg.User}) {
			t.Errorf("superuser app role not reported: %+v", fs)
		}
		fs, _ = auditJSON(t, env, "--app-role", bypass)
		if !has(fs, want{"app_role_bypassrls", "", "critical", bypass}) {
			t.Errorf("BYPASSRLS app role not reported: %+v", fs)
		}
		member := extraRole(t, d, "member", "")
		if err := d.Exec(ctx, "GRANT "+d.OwnerRole+" TO "+member); err != nil {
			t.Fatal(err)
		}
		fs, _ = auditJSON(t, env, "--app-role", member)
		if !has(fs, want{"app_role_owner", "public.invoices", "critical", d.OwnerRole}) {
			t.Errorf("membership in the owner role not reported: %+v", fs)
		}
		// Default app role: the connecting role, here the owner.
		fs, _ = auditJSON(t, env)
		if !has(fs, want{"app_role_owner", "public.customers", "critical", d.OwnerRole}) {
			t.Errorf("connecting as the owner: app_role_owner not reported")
		}
	})

	t.Run("schema filter", func(t *testing.T) {
		if err := d.ExecOwner(ctx, "CREATE SCHEMA other", "CREATE TABLE other.t (tenant_id text)"); err != nil {
			t.Fatal(err)
		}
		fs, _ := auditJSON(t, env, "--app-role", d.AppRole, "--schema", "other")
		for _, f := range fs {
			if strings.HasPrefix(f.Table, "public.") {
				t.Errorf("--schema other reported %+v", f)
			}
		}
		if !has(fs, want{"rls_disabled", "other.t", "critical", ""}) {
			t.Errorf("other.t not audited: %+v", fs)
		}
	})
}

// cleanSchema has every protection; rls apply --force then adds RLS and
// the recommended policy.
const cleanSchema = `
CREATE TABLE customers (
	tenant_id text NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY,
	email text NOT NULL,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, email)
);
CREATE TABLE invoices (
	tenant_id text NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY,
	customer_id bigint NOT NULL,
	idempotency_key text,
	total numeric,
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, idempotency_key),
	FOREIGN KEY (tenant_id, customer_id) REFERENCES customers (tenant_id, id)
);
CREATE TABLE events (
	id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	tenant_id uuid NOT NULL,
	kind text
);
CREATE INDEX ON events (tenant_id, kind);
CREATE TABLE countries (code text PRIMARY KEY, name text);
CREATE VIEW invoice_totals WITH (security_invoker = true) AS
	SELECT tenant_id, customer_id, sum(total) AS total FROM invoices GROUP BY 1, 2;
CREATE FUNCTION country_name(c text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
	AS 'SELECT name FROM countries WHERE code = c';

-- The objects a real RLS setup has around its tables: a helper the
-- policies call (see cleanPolicies), the tenant as a column default, an
-- updated_at trigger, a SECURITY INVOKER helper reading a tenant-owned
-- table, and an audit-log trigger that is SECURITY DEFINER (cleanDatabase
-- revokes the app role's writes to audit_log).
CREATE FUNCTION current_tenant() RETURNS text LANGUAGE sql STABLE
	AS $$SELECT NULLIF(current_setting('app.tenant_id', true), '')$$;
CREATE TABLE projects (
	tenant_id text NOT NULL DEFAULT current_tenant(),
	id bigint GENERATED ALWAYS AS IDENTITY,
	name text NOT NULL,
	updated_at timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (tenant_id, id),
	UNIQUE (tenant_id, name)
);
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
CREATE TRIGGER projects_updated_at BEFORE UPDATE ON projects FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE FUNCTION project_count() RETURNS bigint LANGUAGE sql STABLE SECURITY INVOKER
	AS 'SELECT count(*) FROM projects';
CREATE TABLE audit_log (
	tenant_id text NOT NULL,
	id bigint GENERATED ALWAYS AS IDENTITY,
	table_name text NOT NULL,
	row_id bigint,
	action text NOT NULL,
	PRIMARY KEY (tenant_id, id)
);
CREATE FUNCTION log_change() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
BEGIN
	IF TG_OP = 'DELETE' THEN
		INSERT INTO audit_log (tenant_id, table_name, row_id, action) VALUES (OLD.tenant_id, TG_TABLE_NAME, OLD.id, TG_OP);
	ELSE
		INSERT INTO audit_log (tenant_id, table_name, row_id, action) VALUES (NEW.tenant_id, TG_TABLE_NAME, NEW.id, TG_OP);
	END IF;
	RETURN NULL;
END $$;
CREATE TRIGGER projects_audit AFTER INSERT OR UPDATE OR DELETE ON projects FOR EACH ROW EXECUTE FUNCTION log_change();
`

// cleanPolicies replace, after rls apply, the recommended policies of two
// tables with hand-written ones reading the setting through the helper.
const cleanPolicies = `
ALTER POLICY tenant_isolation ON projects
	USING (tenant_id = (SELECT current_tenant())) WITH CHECK (tenant_id = (SELECT current_tenant()));
ALTER POLICY tenant_isolation ON audit_log
	USING (tenant_id = (SELECT public.current_tenant())) WITH CHECK (tenant_id = (SELECT public.current_tenant()));
`

func cleanDatabase(t *testing.T) (*pgtest.Database, []string) {
	t.Helper()
	d := pgtest.NewDatabase(t)
	if err := d.ExecOwner(context.Background(), cleanSchema); err != nil {
		t.Fatal(err)
	}
	env := []string{"DATABASE_URL=" + d.OwnerDSN}
	if r := runCLI(t, env, "rls", "apply", "--force"); r.code != exitOK {
		t.Fatalf("rls apply: code %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}
	if err := d.ExecOwner(context.Background(), cleanPolicies,
		"REVOKE INSERT, UPDATE, DELETE ON audit_log FROM "+d.AppRole); err != nil {
		t.Fatal(err)
	}
	return d, env
}

func TestAuditClean(t *testing.T) {
	d, env := cleanDatabase(t)
	r := runCLI(t, env, "audit", "--app-role", d.AppRole, "--json")
	if r.code != exitOK || strings.TrimSpace(r.stdout) != "[]" {
		t.Errorf("clean schema: code %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, env, "audit", "--app-role", d.AppRole)
	if r.code != exitOK || strings.TrimSpace(r.stdout) != "no findings" {
		t.Errorf("clean schema: code %d, stdout %s, stderr %s", r.code, r.stdout, r.stderr)
	}

	// Clean indeed: through the helper's policies the app role sees its
	// tenant's rows only, and the audit-log trigger logs them under the
	// tenant that wrote them.
	db, err := sql.Open("pgx-tenant", d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	acme, globex := tenant.NewContext(ctx, "acme"), tenant.NewContext(ctx, "globex")
	for _, w := range []struct {
		ctx   context.Context
		query string
	}{
		{acme, "INSERT INTO projects (name) VALUES ('a')"},
		{globex, "INSERT INTO projects (name) VALUES ('g')"},
		{acme, "UPDATE projects SET name = 'a2' WHERE tenant_id = 'acme'"},
	} {
		if _, err := db.ExecContext(w.ctx, w.query); err != nil {
			t.Fatalf("%s: %v", w.query, err)
		}
	}
	if _, err := db.ExecContext(acme, "INSERT INTO projects (tenant_id, name) VALUES ('globex', 'x')"); err == nil {
		t.Error("acme inserted a globex project")
	}
	if _, err := db.ExecContext(acme, "INSERT INTO audit_log (tenant_id, table_name, action) VALUES ('acme', 'x', 'x')"); err == nil {
		t.Error("the app role wrote audit_log itself")
	}
	for _, c := range []struct {
		query string
		want  string
	}{
		{"SELECT string_agg(name, ',') FROM projects", "a2"},
		{"SELECT string_agg(tenant_id || ' ' || action, ',' ORDER BY id) FROM audit_log", "acme INSERT,acme UPDATE"},
	} {
		var got string
		if err := db.QueryRowContext(acme, c.query).Scan(&got); err != nil || got != c.want {
			t.Errorf("acme: %s = %q (%v), want %q", c.query, got, err, c.want)
		}
	}
	// The permissive stage's policy (OR tenant_id IS NULL) is still a
	// tenant policy.
	if r := runCLI(t, env, "rls", "apply", "--stage", "permissive"); r.code != exitOK {
		t.Fatalf("rls apply --stage permissive: %+v", r)
	}
	if fs, r := auditJSON(t, env, "--app-role", d.AppRole); len(fs) != 0 || r.code != exitOK {
		t.Errorf("permissive stage: code %d, %+v", r.code, fs)
	}
}

// TestAuditNullCountUnderRLS: NULL-tenant rows are invisible to a role RLS
// applies to; the audit must say it could not count them rather than
// report 0, and name the role that can.
func TestAuditNullCountUnderRLS(t *testing.T) {
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	if err := d.ExecOwner(ctx,
		"CREATE TABLE notes (tenant_id text, id int)",
		"CREATE INDEX ON notes (tenant_id)",
		"INSERT INTO notes VALUES (NULL, 1), (NULL, 2), ('acme', 3)",
		"ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
		"CREATE POLICY tenant_isolation ON notes USING ("+policySQL+")",
	); err != nil {
		t.Fatal(err)
	}
	nullable := func(t *testing.T, dsn string) finding {
		t.Helper()
		fs, _ := auditJSON(t, []string{"DATABASE_URL=" + dsn}, "--app-role", d.AppRole)
		for _, f := range fs {
			if f.Kind == "tenant_column_nullable" && f.Table == "public.notes" {
				return f
			}
		}
		t.Fatalf("no tenant_column_nullable: %+v", fs)
		return finding{}
	}
	check := func(t *testing.T, f finding, severity string, in ...string) {
		t.Helper()
		if f.Severity != severity {
			t.Errorf("severity %s, want %s: %s", f.Severity, severity, f.Detail)
		}
		for _, s := range in {
			if !strings.Contains(f.Detail, s) {
				t.Errorf("detail %q lacks %q", f.Detail, s)
			}
		}
		if strings.Contains(f.Detail, "0 NULL") || strings.Contains(f.Detail, " 0 rows") {
			t.Errorf("reports a count it could not see: %s", f.Detail)
		}
	}
	t.Run("owner, not forced", func(t *testing.T) {
		check(t, nullable(t, d.OwnerDSN), "high", "2 rows have no tenant")
	})
	t.Run("app role", func(t *testing.T) {
		check(t, nullable(t, d.AppDSN), "high", "could not be counted", "superuser, a BYPASSRLS role or the table owner "+d.OwnerRole)
	})
	if err := d.ExecOwner(ctx, "ALTER TABLE notes FORCE ROW LEVEL SECURITY"); err != nil {
		t.Fatal(err)
	}
	t.Run("owner, forced", func(t *testing.T) {
		check(t, nullable(t, d.OwnerDSN), "high", "could not be counted", "superuser or a BYPASSRLS role")
	})
	t.Run("superuser", func(t *testing.T) {
		check(t, nullable(t, d.AdminDSN), "high", "2 rows have no tenant")
	})
	if err := d.Exec(ctx, "DELETE FROM notes WHERE tenant_id IS NULL"); err != nil {
		t.Fatal(err)
	}
	t.Run("superuser, none left", func(t *testing.T) {
		f := nullable(t, d.AdminDSN)
		if f.Severity != "medium" || !strings.Contains(f.Detail, "(0 NULL rows now)") {
			t.Errorf("%+v", f)
		}
	})
	t.Run("count too slow", func(t *testing.T) {
		// A count longer than --count-timeout is reported unknown, not 0.
		if err := d.Exec(ctx, "INSERT INTO notes SELECT NULL, i FROM generate_series(1, 300000) i"); err != nil {
			t.Fatal(err)
		}
		fs, _ := auditJSON(t, []string{"DATABASE_URL=" + d.AdminDSN}, "--app-role", d.AppRole, "--count-timeout", "1ms")
		var f *finding
		for i := range fs {
			if fs[i].Kind == "tenant_column_nullable" && fs[i].Table == "public.notes" {
				f = &fs[i]
			}
		}
		if f == nil {
			t.Fatalf("no tenant_column_nullable: %+v", fs)
		}
		check(t, *f, "high", "could not be counted", "longer than 1ms")
	})
}

func TestAuditJSONShape(t *testing.T) {
	d := pgtest.NewDatabase(t)
	if err := d.ExecOwner(context.Background(), "CREATE TABLE t (tenant_id text)"); err != nil {
		t.Fatal(err)
	}
	r := runCLI(t, []string{"DATABASE_URL=" + d.OwnerDSN}, "audit", "--json", "--app-role", d.AppRole)
	if r.code != exitFindings {
		t.Errorf("code %d, stderr %s", r.code, r.stderr)
	}
	var raw []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &raw); err != nil || len(raw) == 0 {
		t.Fatalf("%v: %s", err, r.stdout)
	}
	sevs := map[string]bool{"low": true, "medium": true, "high": true, "critical": true}
	for _, f := range raw {
		for _, k := range []string{"kind", "severity", "table", "detail", "fix"} {
			if _, ok := f[k].(string); !ok {
				t.Errorf("field %q missing or not a string in %v", k, f)
			}
		}
		if !sevs[f["severity"].(string)] {
			t.Errorf("severity %v", f["severity"])
		}
	}
}

func TestAuditExitCodes(t *testing.T) {
	d, env := cleanDatabase(t)
	// One medium finding only: an index missing.
	if err := d.ExecOwner(context.Background(),
		"CREATE TABLE extra (tenant_id text NOT NULL, id int PRIMARY KEY)",
		"ALTER TABLE extra ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY",
		"CREATE POLICY tenant_isolation ON extra USING ("+policySQL+")",
	); err != nil {
		t.Fatal(err)
	}
	app := []string{"--app-role", d.AppRole}
	for _, tc := range []struct {
		name    string
		env     []string
		args    []string
		want    int
		wantErr string
	}{
		{"findings", env, app, exitFindings, ""},
		{"fail-on medium", env, append([]string{"--fail-on", "medium"}, app...), exitFindings, ""},
		{"fail-on high", env, append([]string{"--fail-on", "high"}, app...), exitOK, ""},
		{"fail-on critical", env, append([]string{"--fail-on", "CRITICAL"}, app...), exitOK, ""},
		{"bad fail-on", env, []string{"--fail-on", "severe"}, exitError, "--fail-on"},
		{"bad setting", env, []string{"--setting", "tenant"}, exitError, "--setting"},
		{"no database", nil, nil, exitError, "DATABASE_URL"},
		{"bad dsn", nil, []string{"--dsn", "postgres://nobody:x@127.0.0.1:1/none?connect_timeout=2"}, exitError, "connecting"},
		{"unknown app role", env, []string{"--app-role", "no_such_role_xyz"}, exitError, "does not exist"},
		{"arguments", env, []string{"extra"}, exitError, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, tc.env, append([]string{"audit"}, tc.args...)...)
			if r.code != tc.want || !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("code %d, stderr %q, stdout %q; want %d, stderr with %q", r.code, r.stderr, r.stdout, tc.want, tc.wantErr)
			}
		})
	}
	r := runCLI(t, env, "audit", "--fail-on", "critical", "--app-role", d.AppRole)
	if !strings.Contains(r.stdout, "tenant_index_missing") || !strings.Contains(r.stdout, "0 at or above --fail-on critical") {
		t.Errorf("the finding is still printed below --fail-on:\n%s", r.stdout)
	}
}

// hiddenHolesSchema hides holes the audit once missed (as the owner);
// every table but the holes is otherwise clean: NOT NULL, indexed, forced.
const hiddenHolesSchema = `
CREATE FUNCTION mk(t text, pol text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('CREATE TABLE %I (tenant_id text NOT NULL, id int, k text, PRIMARY KEY (tenant_id, id))', t);
	EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY', t);
	EXECUTE format('CREATE POLICY tenant_isolation ON %I USING (%s)', t, pol);
END $$;
-- A statement without a tenant sees every row: COALESCE falls back to the column.
SELECT mk('fallback_column', $$tenant_id = COALESCE(NULLIF(current_setting('app.tenant_id', true), ''), tenant_id)$$);
-- … or to a constant tenant's rows.
SELECT mk('fallback_constant', $$tenant_id = (SELECT COALESCE(NULLIF(current_setting('app.tenant_id', true), ''), 'acme'))$$);
-- True for every row.
SELECT mk('itself', 'tenant_id = tenant_id');
SELECT mk('itself_cast', 'tenant_id::text = tenant_id::varchar');

-- Unique indexes that mention the tenant column without being per tenant.
SELECT mk('uniques', $p$` + policySQL + `$p$);
CREATE UNIQUE INDEX uniques_pred ON uniques (lower(k)) WHERE tenant_id IS NOT NULL;
CREATE UNIQUE INDEX uniques_incl ON uniques (lower(k)) INCLUDE (tenant_id);
CREATE UNIQUE INDEX uniques_expr ON uniques ((tenant_id IS NULL), k);
CREATE UNIQUE INDEX uniques_ok ON uniques ((tenant_id::text), lower(k));       -- per tenant: no finding
CREATE UNIQUE INDEX uniques_ok2 ON uniques (lower(k), tenant_id);              -- per tenant: no finding

-- Writes of NULL-tenant rows: a WITH CHECK that accepts them, and the
-- permissive stage's USING without WITH CHECK (USING is then the check).
CREATE TABLE null_writes (tenant_id text, id int, PRIMARY KEY (id));
CREATE INDEX ON null_writes (tenant_id);
ALTER TABLE null_writes ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON null_writes USING (` + policySQL + ` OR tenant_id IS NULL);
CREATE POLICY inserts ON null_writes FOR INSERT WITH CHECK (` + policySQL + ` OR tenant_id IS NULL);

-- A SECURITY DEFINER function reading through a security_invoker view:
-- the view runs as the function's owner.
SELECT mk('behind_view', $p$` + policySQL + `$p$);
CREATE VIEW behind_view_v WITH (security_invoker = true) AS SELECT * FROM behind_view;
CREATE VIEW "Behind View W" WITH (security_invoker = true) AS SELECT * FROM behind_view_v;
CREATE FUNCTION behind_view_count() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER
	AS $$BEGIN RETURN (SELECT count(*) FROM "Behind View W"); END $$;
CREATE FUNCTION behind_view_atomic() RETURNS bigint LANGUAGE sql SECURITY DEFINER
	BEGIN ATOMIC SELECT count(*) FROM behind_view_v; END;
-- … but a view with its owner's identity behind the security_invoker view
-- is the view's finding, not the function's.
CREATE VIEW definer_v AS SELECT * FROM behind_view;
CREATE VIEW invoker_over_definer WITH (security_invoker = true) AS SELECT * FROM definer_v;
CREATE FUNCTION via_definer_view() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM invoker_over_definer';

-- Not a hole: a permissive USING (true) under a RESTRICTIVE tenant policy
-- TO PUBLIC for every command (the AND wins).
CREATE TABLE restricted (tenant_id text NOT NULL, id int, PRIMARY KEY (tenant_id, id));
ALTER TABLE restricted ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY open_all ON restricted USING (true);
CREATE POLICY tenant_isolation ON restricted AS RESTRICTIVE USING (` + policySQL + `);
-- … but a restrictive policy for SELECT only leaves UPDATE and DELETE open.
CREATE TABLE restricted_select (tenant_id text NOT NULL, id int, PRIMARY KEY (tenant_id, id));
ALTER TABLE restricted_select ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY open_all ON restricted_select USING (true);
CREATE POLICY tenant_isolation ON restricted_select AS RESTRICTIVE FOR SELECT USING (` + policySQL + `);
-- … and one TO a role binds that role only, not the roles the app role
-- can SET ROLE to.
CREATE TABLE restricted_role (tenant_id text NOT NULL, id int, PRIMARY KEY (tenant_id, id));
ALTER TABLE restricted_role ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY open_all ON restricted_role USING (true);
CREATE POLICY tenant_isolation ON restricted_role AS RESTRICTIVE TO CURRENT_USER USING (` + policySQL + `);
DROP FUNCTION mk(text, text);
`

// TestAuditHiddenHoles: holes an earlier audit reported as clean (or as
// low, "check by hand"), and a critical false positive.
func TestAuditHiddenHoles(t *testing.T) {
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	if err := d.ExecOwner(ctx, hiddenHolesSchema); err != nil {
		t.Fatal(err)
	}
	if err := d.Exec(ctx, "INSERT INTO restricted VALUES ('acme', 1), ('globex', 2)"); err != nil {
		t.Fatal(err)
	}
	env := []string{"DATABASE_URL=" + d.AdminDSN}
	fs, _ := auditJSON(t, env, "--app-role", d.AppRole)
	for _, w := range []want{
		{"policy_not_tenant", "public.fallback_column", "critical", "tenant_isolation"},
		{"policy_not_tenant", "public.fallback_constant", "critical", "tenant_isolation"},
		{"policy_not_tenant", "public.itself", "critical", "tenant_isolation"},
		{"policy_not_tenant", "public.itself_cast", "critical", "tenant_isolation"},
		{"unique_without_tenant", "public.uniques", "medium", "public.uniques_pred"},
		{"unique_without_tenant", "public.uniques", "medium", "public.uniques_incl"},
		{"unique_without_tenant", "public.uniques", "medium", "public.uniques_expr"},
		{"policy_no_with_check", "public.null_writes", "high", "tenant_isolation"},
		{"policy_no_with_check", "public.null_writes", "high", "inserts"},
		{"security_definer_function", "public.behind_view", "medium", "public.behind_view_count()"},
		{"security_definer_function", "public.behind_view", "medium", "public.behind_view_atomic()"},
		{"policy_not_tenant", "public.restricted_select", "critical", "open_all"},
		{"policy_not_tenant", "public.restricted_role", "critical", "open_all"},
		{"view_not_security_invoker", "public.definer_v", "medium", d.OwnerRole},
	} {
		if !has(fs, w) {
			t.Errorf("missing %+v", w)
		}
	}
	for _, f := range fs {
		switch {
		case f.Table == "public.restricted", f.Object == "public.via_definer_view()",
			f.Kind == "unique_without_tenant" && strings.HasPrefix(f.Object, "public.uniques_ok"):
			t.Errorf("unexpected finding %+v", f)
		}
	}

	// The restrictive policy does hold: the app role sees its tenant's
	// rows only, and cannot write another's.
	db, err := sql.Open("pgx-tenant", d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	acme := tenant.NewContext(ctx, "acme")
	var n int
	if err := db.QueryRowContext(acme, "SELECT count(*) FROM restricted").Scan(&n); err != nil || n != 1 {
		t.Errorf("restricted: acme sees %d rows (%v), want 1", n, err)
	}
	if _, err := db.ExecContext(acme, "INSERT INTO restricted VALUES ('globex', 3)"); err == nil {
		t.Error("restricted: acme inserted a globex row")
	}

	// A superuser owner makes the function's read bypass RLS: high.
	if err := d.Exec(ctx, `CREATE FUNCTION super_behind_view() RETURNS bigint LANGUAGE sql SECURITY DEFINER AS 'SELECT count(*) FROM behind_view_v'`); err != nil {
		t.Fatal(err)
	}
	// A trigger function is reported only when its owner bypasses RLS: it
	// can copy every tenant's rows into the writer's.
	if err := d.Exec(ctx, `CREATE FUNCTION super_copy() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER
		AS $$BEGIN INSERT INTO restricted SELECT * FROM behind_view; RETURN NULL; END $$`); err != nil {
		t.Fatal(err)
	}
	fs, _ = auditJSON(t, env, "--app-role", d.AppRole)
	for _, w := range []want{
		{"security_definer_function", "public.behind_view", "high", "public.super_behind_view()"},
		{"security_definer_function", "public.behind_view", "high", "public.super_copy()"},
	} {
		if !has(fs, w) {
			t.Errorf("superuser-owned function not reported high: missing %+v in %+v", w, fs)
		}
	}
}

// TestAuditCreateRole: on PostgreSQL 15 and older CREATEROLE lets a role
// grant itself any non-superuser role: the owner role, a BYPASSRLS role.
func TestAuditCreateRole(t *testing.T) {
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	var version int
	conn, err := pgx.Connect(ctx, d.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	err = conn.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version)
	conn.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.ExecOwner(ctx,
		"CREATE TABLE t (tenant_id text NOT NULL, id int, PRIMARY KEY (tenant_id, id))",
		"ALTER TABLE t ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY",
		"CREATE POLICY tenant_isolation ON t USING ("+policySQL+")",
	); err != nil {
		t.Fatal(err)
	}
	bypass := extraRole(t, d, "bypass", "BYPASSRLS")
	creator := extraRole(t, d, "creator", "CREATEROLE")
	if err := d.Exec(ctx, "GRANT "+creator+" TO "+d.AppRole); err != nil {
		t.Fatal(err)
	}
	if version >= 160000 {
		t.Skipf("PostgreSQL %d: CREATEROLE no longer grants membership in roles it does not administer", version)
	}
	// The hole is real: the app role makes itself the owner.
	if err := execAs(ctx, d.AppDSN, "SET ROLE "+creator, "GRANT "+d.OwnerRole+" TO "+d.AppRole); err != nil {
		t.Fatalf("CREATEROLE could not grant the owner role: %v", err)
	}
	if err := d.Exec(ctx, "REVOKE "+d.OwnerRole+" FROM "+d.AppRole); err != nil {
		t.Fatal(err)
	}
	fs, _ := auditJSON(t, []string{"DATABASE_URL=" + d.AdminDSN}, "--app-role", d.AppRole)
	for _, w := range []want{
		{"app_role_owner", "public.t", "critical", d.OwnerRole},
		{"app_role_bypassrls", "", "critical", bypass},
	} {
		if !has(fs, w) {
			t.Errorf("missing %+v in %+v", w, fs)
		}
	}
	for _, f := range fs {
		if f.Kind == "app_role_owner" && !strings.Contains(f.Fix, "NOCREATEROLE") {
			t.Errorf("fix: %+v", f)
		}
	}
}

func execAs(ctx context.Context, dsn string, sql ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	for _, s := range sql {
		if _, err := conn.Exec(ctx, s); err != nil {
			return err
		}
	}
	return nil
}
