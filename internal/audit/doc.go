// Package audit checks a PostgreSQL schema for holes in shared-schema
// multi-tenancy: every table that has the tenant column (default
// tenant_id) is tenant-owned, and the audit reports what lets one tenant
// see or change another's rows, or what breaks the Row-Level-Security
// policies that should stop it. It is the library behind
// "pgx-tenant audit":
//
//	findings, err := audit.Run(ctx, conn, audit.Options{AppRole: "app"})
//
// Run only reads the catalog (schema-qualified pg_catalog queries) and
// counts rows; it changes nothing.
//
// # Kinds
//
// Each [Finding] has a [Kind] — a stable code, the public contract — a
// [Severity], the table, a detail and a suggested fix (SQL where one
// exists). Severities: critical means another tenant's rows are open to
// the app role now; high a path around RLS or across tenants; medium a
// weakness or a breakage (fails closed); low hygiene.
//
//	app_role_superuser         critical  the app role is a superuser, or a member of one
//	                                     (it can SET ROLE to it, INHERIT or not)
//	app_role_bypassrls         critical  the app role has BYPASSRLS, or is a member of a role
//	                                     that has it, or (PostgreSQL 15 and older) has
//	                                     CREATEROLE, directly or through a role, and can
//	                                     GRANT itself a non-superuser BYPASSRLS role
//	app_role_owner             critical  the app role owns the table, or is a member of its
//	                                     owner role, or can GRANT itself that role through
//	                                     CREATEROLE (PostgreSQL 15 and older): it can disable
//	                                     RLS and drop policies
//	rls_disabled               critical  RLS is not enabled on the table
//	policy_not_tenant          critical  a PERMISSIVE policy that applies to the app role
//	                                     (TO PUBLIC or a role it is a member of) has a USING
//	                                     that does not compare the tenant column with the
//	                                     setting, e.g. USING (true), tenant_id = tenant_id, or
//	                                     a fallback when no tenant is set (tenant_id =
//	                                     COALESCE(<setting>, tenant_id) or a constant tenant):
//	                                     permissive policies are OR-ed, so it opens the table —
//	                                     unless a RESTRICTIVE tenant policy TO PUBLIC covers
//	                                     each of its commands. low when the column is compared
//	                                     with something the audit cannot read (a function, a
//	                                     membership sub-query, another setting, ANY(an array
//	                                     of the setting)): check by hand
//	policy_no_with_check       high      a permissive policy whose USING is scoped (or absent)
//	                                     has a WITH CHECK that is not: INSERT/UPDATE through it
//	                                     write rows for any tenant; or whose write check (WITH
//	                                     CHECK, or USING for ALL and UPDATE without one) accepts
//	                                     NULL-tenant rows on a nullable column (… OR tenant_id
//	                                     IS NULL): rows of no tenant, which the permissive
//	                                     stage shows to every tenant. low: an INSERT policy with
//	                                     no WITH CHECK, which PostgreSQL treats as letting no
//	                                     row in (fails closed)
//	fk_without_tenant          high      a foreign key between two tenant-owned tables does not
//	                                     pair the tenant column with the tenant column: rows
//	                                     can point across tenants, and FK checks (which ignore
//	                                     RLS) tell whether another tenant's key exists
//	missing_tenant_column      high      a table references a tenant-owned table through a
//	                                     foreign key but has no tenant column
//	truncate_granted           high      TRUNCATE on the table is granted to the app role, a
//	                                     role it is a member of, or PUBLIC: TRUNCATE ignores RLS
//	view_not_security_invoker  high      a view without security_invoker (PostgreSQL 15+) reads
//	                                     a tenant-owned table, directly or through other views,
//	                                     and its owner bypasses RLS on it (superuser,
//	                                     BYPASSRLS, or the table's owner when it is not forced);
//	                                     medium when RLS applies to the owner (policies and
//	                                     grants are then the owner's, not the app's); a
//	                                     materialized view over a tenant-owned table is high
//	security_definer_function  high      a SECURITY DEFINER function reads a tenant-owned table,
//	                                     directly or through security_invoker views (which then
//	                                     run as the function's owner), as an owner who bypasses
//	                                     RLS on it; medium otherwise — but a trigger function,
//	                                     which no caller can call and whose writes RLS checks
//	                                     against the session's tenant, only when its owner
//	                                     bypasses RLS
//	tenant_column_nullable     high      the tenant column is nullable and has NULL rows, or
//	                                     their count is unknown; medium with no NULL rows now
//	rls_not_forced             medium    RLS is enabled but not forced: the owner bypasses it,
//	                                     with the views and SECURITY DEFINER functions it owns
//	policy_missing             medium    RLS is enabled but no permissive policy applies to the
//	                                     app role: it sees no rows, every write fails
//	policy_no_nullif           medium    a policy reads current_setting(setting) without
//	                                     NULLIF(…, ''): the setting is '' (not NULL) after a
//	                                     reset or a transaction-local set
//	unique_without_tenant      medium    a unique constraint or index lacks the tenant column
//	                                     (see Keys)
//	tenant_index_missing       medium    no (non-partial) index has the tenant column first
//	policy_setting_per_row     low       a policy reads the setting outside a scalar
//	                                     sub-select, so it may be evaluated per row
//
// Findings are sorted by severity, then table, kind and object ([Sort]).
//
// # Policies
//
// Policy expressions are read as PostgreSQL prints them (pg_get_expr of
// polqual and polwithcheck) and parsed with the PostgreSQL parser
// (pg_query_go) as "SELECT <expr>", not matched with regular expressions.
// An expression is tenant-scoped when it requires column = <setting>,
// where <setting> is current_setting('<setting>', …) under any casts,
// NULLIF, a scalar sub-select without FROM, or COALESCE whose every
// argument is the setting (or NULL): an AND needs one scoped operand, an
// OR needs all of them scoped, "column IS NULL" branches aside (the
// permissive rollout stage's global rows). Comparing the column with a
// constant, with a column of the row (itself included), or with a
// COALESCE falling back to either is not scoped; with a function call or
// a sub-query it is unknown (low).
//
// PostgreSQL semantics the checks follow: permissive policies are OR-ed,
// restrictive ones AND-ed (a restrictive policy cannot open a table, so it
// is never policy_not_tenant, and a scoped restrictive policy TO PUBLIC
// closes its commands: a permissive USING (true) is then not reported for
// them); an ALL or UPDATE policy without WITH CHECK
// uses its USING as the check, which is therefore not reported when USING
// is scoped; an INSERT policy without WITH CHECK contributes no
// expression and lets no row in.
//
// # Keys
//
// unique_without_tenant exempts a single-column primary key (taken as a
// surrogate key such as id) and unique indexes whose key columns are all
// generated (identity, serial, or a default of gen_random_uuid or
// uuid_generate_v1/v4): their values are unique across tenants by
// construction. Every other unique constraint or index must include the
// tenant column among its key columns — the column itself or a key
// expression that is the column under casts; an INCLUDE column, a
// predicate (WHERE tenant_id IS NOT NULL) or an expression that merely
// mentions it ((tenant_id IS NULL)) does not count: UNIQUE (key) of an
// idempotency table must be UNIQUE (tenant_id, key). Partition indexes
// are judged on their parent.
//
// # NULL counts
//
// A role RLS applies to cannot see NULL-tenant rows (no tenant equals
// NULL), so counting them as it would read 0. The count runs in a
// read-only transaction with SET LOCAL row_security = off: PostgreSQL
// then refuses the query instead of filtering it when RLS would apply,
// and the finding says the count is unknown and which role can count —
// a superuser or a BYPASSRLS role, or the table's owner when the table is
// not forced. A count the audit could not see is never reported as 0.
//
// # Scope
//
// Options.Schemas limits the tenant-owned tables (default: every schema
// but pg_catalog, information_schema, pg_toast and temporary schemas);
// objects that belong to an extension are skipped. Views and functions
// are looked for in every non-system schema. The app role (default: the
// connecting role) decides which policies apply and which grants and
// memberships count. When the app role is a superuser only
// app_role_superuser is reported of the role checks.
//
// # Not detected
//
//   - Policies whose meaning the parser alone cannot decide: a comparison
//     with a function other than a helper (a SQL function without
//     arguments whose body is one SELECT of a value without FROM, such as
//     current_tenant(), which is judged by its body as the planner inlines
//     it), a membership sub-query, another setting
//     (current_setting('app.other')) or
//     ANY(an array built from the setting) is reported low ("check by
//     hand"), never proven right or wrong; other operators (IS NOT
//     DISTINCT FROM, <>) are not recognised as scoping (critical). The
//     operator = is taken by name, whatever its schema (a user-defined
//     OPERATOR(public.=) is trusted), and the comparison's own semantics
//     are not judged: a nondeterministic (case-insensitive) collation, a
//     citext column, or a cast that truncates or rounds can make two
//     tenants' ids compare equal.
//   - Policies for other roles than the app's, and what a role the app
//     role could SET ROLE to would see beyond superuser, BYPASSRLS and
//     ownership. A restrictive policy closes commands only when it is TO
//     PUBLIC (one for a role does not bind the roles the app role can
//     SET ROLE to), so a permissive USING (true) under a restrictive
//     tenant policy TO the app role is still reported. Conversely a
//     permissive policy TO a role the app role is a NOINHERIT member of
//     counts as applying (SET ROLE reaches it), so policy_missing is not
//     reported when that is the only one.
//   - CREATEROLE is followed on PostgreSQL 15 and older only; on 16 and
//     later a role's ADMIN OPTION on the owner (or a BYPASSRLS role)
//     without membership is not.
//   - SECURITY DEFINER functions are matched by the table's (or a
//     security_invoker view's) name as a word of their source (prosrc),
//     or by pg_depend for SQL-standard bodies (BEGIN ATOMIC): dynamic SQL
//     (EXECUTE format(…)), tables reached through other functions, and
//     names built at run time are missed; a name in a comment or a string
//     counts. A view without security_invoker read by such a function is
//     reported as the view. C and internal functions are skipped.
//   - Views reached only through functions, rules other than a view's
//     _RETURN, and foreign tables.
//   - Grants not applied yet: ALTER DEFAULT PRIVILEGES that would grant
//     TRUNCATE on future tables; column-level grants; ownership or
//     privileges through a role membership chain are followed, but
//     privileges of roles the app role merely could be granted are not.
//   - Triggers and defaults that write across tenants, rules, publications
//     and logical replication, COPY and large objects.
//   - Unique keys that are business keys but a single-column primary key
//     (e.g. PRIMARY KEY (email)): taken as surrogate.
//   - Data already crossing tenants (a child row whose tenant differs from
//     its parent's): that is the backfill's job.
package audit
