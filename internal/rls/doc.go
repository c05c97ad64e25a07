// Package rls plans and applies Row-Level-Security for tenant-owned tables:
// RLS enabled (and forced, optionally) and one tenant policy per table,
// in the recommended form. It is the library behind "pgx-tenant rls plan"
// and "pgx-tenant rls apply":
//
//	changes, err := rls.Plan(ctx, conn, rls.Options{Force: true})
//	fmt.Print(changes.Script())
//	changes, err = rls.Apply(ctx, conn, rls.Options{Force: true})
//
// # The policy
//
//	CREATE POLICY tenant_isolation ON t AS PERMISSIVE FOR ALL TO PUBLIC
//	  USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')))
//	  WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')));
//
// current_setting(…, true) is NULL when never set but the empty string after a reset or
// a transaction-local set, hence NULLIF; the scalar sub-select makes it an
// InitPlan evaluated once per statement. For a tenant column that is not
// of a character type (uuid, bigint) the value is cast to the column's
// type inside the sub-select; character types are compared as text, never
// cast (a cast to varchar(n) would truncate). Identifiers are quoted by
// PostgreSQL (quote_ident), the setting name with [QuoteLiteral].
//
// # Stages
//
// Strict (the default): USING and WITH CHECK are the equality alone. A
// statement without a tenant sees nothing and writes nothing.
//
// Permissive: USING also accepts rows whose tenant column IS NULL — global
// rows, or rows the backfill has not reached — so they stay visible to
// every tenant during a rollout. WITH CHECK stays strict in this stage,
// by decision: no statement can create a NULL-tenant row or move a row to
// NULL (which would publish it to every tenant), and no tenant can write
// another's rows. Code that does not bind a tenant yet can read the
// global rows but not write; finding that code is the driver's guard in
// audit mode, not a looser policy. Consequences to know: under the
// permissive stage any tenant may DELETE a global row, and may UPDATE one
// only by claiming it (setting the tenant column to its own tenant); keep
// the stage short and move to strict once the backfill is done.
//
// # Unchanged
//
// Whether the existing policy of that name is already the desired one is
// decided by PostgreSQL, not by comparing texts: inside the transaction,
// the desired policy is created under a SAVEPOINT with a probe name, its
// pg_get_expr renderings are read, and the savepoint is rolled back; the
// existing policy is unchanged when it is PERMISSIVE FOR ALL TO PUBLIC and
// its renderings are equal. Otherwise it is ALTERed (other roles or
// expressions) or dropped and created again (another command, or
// RESTRICTIVE). RLS that is already forced is never un-forced.
//
// # Other policies
//
// Other PERMISSIVE policies on a table are OR-ed with the tenant policy,
// so every row they allow is visible whatever the tenant. Plan and Apply
// report them ([Changes.Warnings]) and never drop them: whether one is a
// hole or an intended admin policy is for a person to decide.
//
// # Transactions and locks
//
// Plan runs in a transaction it always rolls back; Apply runs every
// statement of every table in one transaction, so an error changes
// nothing. Both must run as the tables' owner (a member of the owner role,
// or a superuser): the probe, like the change, needs ownership, and a
// permission error is [ErrNotOwner]. CREATE and ALTER POLICY take an
// ACCESS EXCLUSIVE lock on the table, also for the probe of a plan;
// Options.LockTimeout (default 10s) bounds the wait, so a plan does not
// queue behind a long query and block the table's readers.
//
// # Not covered
//
// Policies for specific roles (an admin policy TO admin), per-command
// policies, partitions reached only through their parent (each partition
// with the tenant column is a table of its own here), and the tenant
// column itself (NOT NULL, backfill: see pgx-tenant backfill).
package rls
