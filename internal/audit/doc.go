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
//	                                     that has it
//	app_role_owner             critical  the app role owns the table, or is a member of its
//	                                     owner role: it can disable RLS and drop policies
//	rls_disabled               critical  RLS is not enabled on the table
//	policy_not_tenant          critical  a PERMISSIVE policy that applies to the app role
//	                                     (TO PUBLIC or a role it is a member of) has a USING
//	                                     that does not compare the tenant column with the
//	                                     setting, e.g. USING (true): permissive policies are
//	                                     OR-ed, so it opens the table. low when the column is
//	                                     compared with something the audit cannot read (a
//	                                     function, a membership sub-query): check by hand
//	policy_no_with_check       high      a permissive policy whose USING is scoped (or absent)
//	                                     has a WITH CHECK that is not: INSERT/UPDATE through it
//	                                     write rows for any tenant. low: an INSERT policy with
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
//	security_definer_function  high      a SECURITY DEFINER function reads a tenant-owned table
//	                                     as an owner who bypasses RLS on it; medium otherwise
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
// NULLIF, COALESCE or a scalar sub-select without FROM: an AND needs one
// scoped operand, an OR needs all of them scoped, "column IS NULL"
// branches aside (the permissive rollout stage's global rows).
//
// PostgreSQL semantics the checks follow: permissive policies are OR-ed,
// restrictive ones AND-ed (a restrictive policy cannot open a table, so it
// is never policy_not_tenant); an ALL or UPDATE policy without WITH CHECK
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
// tenant column: UNIQUE (key) of an idempotency table must be
// UNIQUE (tenant_id, key). Partition indexes are judged on their parent.
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
//     with a helper function (tenant_id = current_tenant()) or a
//     membership sub-query is reported low ("check by hand"), never
//     proven right or wrong; operators other than = (IS NOT DISTINCT
//     FROM, ANY(array)) are not recognised as scoping.
//   - Policies for other roles than the app's, and what a role the app
//     role could SET ROLE to would see beyond superuser, BYPASSRLS and
//     ownership.
//   - SECURITY DEFINER functions are matched by the table's name as a word
//     of their source (prosrc), or by pg_depend for SQL-standard bodies
//     (BEGIN ATOMIC): dynamic SQL (EXECUTE format(…)), tables reached
//     through views or other functions, and names built at run time are
//     missed; a name in a comment or a string counts. C and internal
//     functions are skipped.
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
