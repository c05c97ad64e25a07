// Package backfill fills NULL tenant columns from the foreign-key graph,
// then makes the columns NOT NULL, and derives the migrations that make
// the schema tenant-safe afterwards (tenant-led indexes, composite foreign
// keys). It is the library behind "pgx-tenant backfill plan" and
// "pgx-tenant backfill apply":
//
//	p, err := backfill.NewPlan(ctx, conn, backfill.Options{})   // reads only
//	res, err := backfill.Apply(ctx, conn, p, func(pr backfill.Progress) { … })
//
// A tenant-owned table is a table (not a view, not partitioned) having the
// tenant column (Options.Column, default tenant_id), in any schema but the
// system ones.
//
// # How a row's tenant is derived
//
// It is what teams write by hand as COALESCE chains, derived from the
// catalog: a row whose tenant is NULL gets the tenant of the row it
// references through a foreign key to another tenant-owned table. A table
// with several such keys (invoices → work_orders, invoices → bookings)
// takes the first non-NULL one, NOT NULL key columns first, then by
// constraint name; but when two referenced rows have different tenants
// the row is unresolved: the backfill never picks one. A key whose columns
// include the tenant column (tenant_id, booking_id) → bookings (tenant_id,
// id) is used through its other columns when they are a unique key of the
// parent. Foreign keys to tables without the tenant column (tenant_id →
// tenants) are not sources. The lookup is the key's own: it reads ONLY the
// referenced table (not the tables inheriting from it), and compares text
// under the referenced column's collation when the two columns' differ.
//
// A row whose tenant is already set is never written, but its children
// take it: so the plan counts, in every table NULL tenants are derived
// from, the rows whose tenant is set and differs from the tenant of the row
// they reference (Table.Conflicts), and Apply stops before the first table
// deriving from such a table (*ConflictError): correct them first. The
// check reads each such parent table once more, with a lookup per row.
//
// A row is unresolved, with its Reason, when: its parents disagree; a
// foreign key column is set but no referenced row has a tenant, nor can
// one be derived for it; every foreign key column is NULL; or the table
// has no foreign key to a tenant-owned table (e.g. idempotency_keys). The
// plan counts them per reason, with a sample of primary keys.
//
// # Order
//
// Parents before children: a topological sort of the selected tables over
// their sources, ties broken by schema and name, so a child whose parent's
// NULL tenants are filled first resolves. NewPlan counts a child as
// resolvable when its parent's tenant is NULL but derivable (it nests the
// parent's derivation, transitively); Apply, which fills parents first,
// only reads the parent's tenant. Cycles are refused clearly rather than
// guessed at: a self-referencing key, and every key on a cycle of keys (a →
// b → a), is not used to derive tenants, and the plan lists it (Plan.Unused)
// with the reason; rows that only such a key could resolve are unresolved.
// Parents left out by Options.Tables are read, never written (but with
// ApplyConstraints a composite key referencing one indexes it).
//
// # Batching and locks
//
// Each batch is one UPDATE statement, so one short transaction, updating
// at most Options.BatchSize rows. With a primary key, batches walk it:
// batch n looks at the next BatchSize rows whose tenant is NULL after the
// last key of batch n-1 (an index range scan: the whole table is read once,
// however many batches) and updates those whose tenant derives; the
// UPDATE rechecks "tenant IS NULL" and recomputes the derived tenant from
// the row's current version, so a row changed concurrently (READ
// COMMITTED re-evaluation) is neither overwritten nor given a tenant from
// its old parent. Every read and write is of ONLY the table: an
// inheritance child is a table of its own (foreign keys are not
// inherited), backfilled, or reported, by itself, and a parent is made NOT
// NULL without its children (ALTER TABLE ONLY, a NO INHERIT check). A
// table without a primary key is batched by ctid (WHERE
// ctid = ANY(ARRAY(SELECT ctid … LIMIT n))), which rescans from the start
// each batch: fine for small tables, slow for big ones. Batches take only
// row locks; lock_timeout (Options.LockTimeout, default 5s) bounds every
// wait, and a batch that times out, deadlocks or fails to serialize is
// retried twice.
//
// A table left without NULLs is made NOT NULL without a long lock: ADD
// CONSTRAINT … CHECK (tenant_id IS NOT NULL) NOT VALID (a brief ACCESS
// EXCLUSIVE lock, under lock_timeout), VALIDATE CONSTRAINT (SHARE UPDATE
// EXCLUSIVE: reads and writes go on during the scan), ALTER COLUMN … SET
// NOT NULL (which PostgreSQL 12+ proves from the validated check, without a
// scan), DROP CONSTRAINT. From the ADD on, inserts and updates with a NULL
// tenant fail: the application must write the tenant before the backfill
// runs (the driver's rewrite fills INSERTs). Rows inserted with a NULL
// tenant behind the key walk are caught by a second pass (three at most);
// if they keep arriving, or arrive after the last, VALIDATE finds them:
// the check then refuses new ones, so Apply fills them in one more pass
// and validates again, rather than stopping (until their writes stop,
// updates of those rows fail on the check).
//
// Index and foreign-key migrations run after every table is done, with
// Options.ApplyConstraints (otherwise they are returned to print): CREATE
// [UNIQUE] INDEX CONCURRENTLY (no lock timeout: it waits for older
// transactions without blocking anyone; an index a failed run left invalid
// is dropped first), then per foreign key between tenant-owned tables:
// ADD the composite key (tenant_id, fk) → parent (tenant_id, id) NOT
// VALID, VALIDATE, DROP the old key, RENAME the new one to the old name.
// The new key is added as the old name with _tenant (its end cut so the
// suffix fits 63 bytes; a number after it while the name is taken), and is
// taken up again by the next run only when a key of that name has exactly
// its definition; new indexes are named the same way. A VALIDATE that
// fails on a row whose tenant differs from its parent's is reported with
// the server's detail (the key); the new key stays NOT VALID, refusing new
// mismatches.
// The parent needs a UNIQUE (tenant_id, id) first, which the index
// migrations create. ON DELETE SET NULL/SET DEFAULT keep to the key
// columns (PostgreSQL 15+ syntax), so the tenant column is never nulled.
//
// # Triggers
//
// Batches are UPDATEs: they fire the tables' row and statement triggers
// (updated_at, audit, outbox…), once per batch for statement triggers.
// Disable the ones that must not fire for the duration, or run as a
// superuser with session_replication_role = replica, at your own risk.
//
// # Resumability
//
// Nothing is remembered between runs: each batch only touches rows whose
// tenant is still NULL and derivable, so a run stopped anywhere (cancelled
// context, killed process, lost connection) leaves every committed batch
// in place, and the next run — plan or apply — starts from what is left.
// The NOT NULL and foreign-key sequences go on from a CHECK or a new key a
// stopped run left behind.
//
// # Row-Level Security and the role it needs
//
// Under RLS the rows whose tenant is NULL match no policy: a role RLS
// applies to would count 0 NULL rows and fill nothing, silently. The
// backfill never reports such a 0. It sets row_security = off, under which
// PostgreSQL refuses (SQLSTATE 42501) instead of filtering, and before
// that NewPlan checks every table it reads and returns a
// *RowSecurityError naming them and the role. Run it as a superuser or a
// role with BYPASSRLS, or as the owner of tables that are not FORCEd (a
// table with FORCE ROW LEVEL SECURITY filters its owner too). The role
// also needs UPDATE on the tables and, for NOT NULL and the migrations, to
// own them: Apply checks both on every table with a nullable tenant column
// before writing anything. The application role of the driver is none of these, by
// design.
//
// # What it does not do
//
//   - pick a tenant when parents disagree, or guess one for rows with no
//     foreign key: those are reported, to be fixed by hand;
//   - follow self-references or cycles of foreign keys;
//   - partitioned tables (reported as skipped);
//   - derive through anything but foreign keys (a join table, a column
//     naming convention, a trigger);
//   - correct rows which already have a tenant that disagrees with their
//     parents: it stops before their children (see above), and the
//     VALIDATE of a composite foreign key fails on them;
//   - serialize with the application: a row whose parent the application
//     moves to another tenant while the backfill runs, without moving the
//     row in the same transaction before the backfill reaches it, keeps
//     the tenant it was given (the composite key's VALIDATE catches it);
//   - keep the application from inserting NULL tenants while it runs, or
//     fill tenants of rows inserted after it.
package backfill
