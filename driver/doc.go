// Package driver is the pgx-tenant database/sql driver. Importing it
// registers the driver "pgx-tenant", a wrapper around pgx v5's stdlib driver
// that binds the tenant carried by each call's [context.Context] (see
// [github.com/pgx-tenant/pgx-tenant/tenant]) as a PostgreSQL setting, which
// Row-Level-Security policies read.
//
//	import (
//		"database/sql"
//
//		_ "github.com/pgx-tenant/pgx-tenant/driver"
//		"github.com/pgx-tenant/pgx-tenant/tenant"
//	)
//
//	db, err := sql.Open("pgx-tenant", "postgres://app@db/prod")
//	ctx := tenant.NewContext(r.Context(), "acme")
//	rows, err := db.QueryContext(ctx, "SELECT id, total FROM invoices")
//
// Code that uses database/sql — directly or through sqlx, bun, GORM, ent or
// sqlc — changes the driver name it opens (sqlx also needs
// sqlx.BindDriver("pgx-tenant", sqlx.DOLLAR), GORM the DriverName field of
// its postgres.Config).
//
// # Configuration
//
// The DSN is any pgx DSN (URL or keyword/value form). Keys starting with
// tenant_ belong to the driver and are removed before the connection config
// reaches the server; an unknown tenant_ key or a bad value makes sql.Open
// fail with an error naming it.
//
//	tenant_setting        the setting policies read                  default app.tenant_id
//	tenant_scope          transaction | session                      default transaction
//	tenant_required       true: no tenant in ctx is an error         default false
//	tenant_clear_objects  true: clear session objects on tenant change  default false
//	tenant_pooler         none | transaction (behind a transaction pooler)  default none
//
// The driver pins standard_conforming_strings=on and client_encoding=UTF8
// as startup parameters (they decide how the server reads SQL text and
// parameters); a DSN that sets them, or backslash_quote, otherwise is
// refused.
//
// [NewConnector] and [OpenDB] take a [pgx.ConnConfig] and [Option] values for
// programmatic use; options override DSN keys.
//
// # Binding
//
// Every context-carrying call binds the tenant of its own context:
// Exec, Query and QueryRow on a DB, Conn or Tx; BeginTx; and each execution
// of a prepared statement (whatever context it was prepared with, and also
// when database/sql re-prepares it on another connection). The binding never
// relies on database/sql's ResetSession hook, which is skipped on a
// connection's first use. The tenant is always sent as a bound parameter of
// set_config, never spliced into SQL.
//
// With [ScopeTransaction] (the default), the setting is transaction-local.
// An autocommit statement is pipelined with set_config(…, true): both are
// written to the server at once and end in a single Sync, so they run as one
// implicit transaction and cost one round trip, like the statement alone.
// Nothing outlives the transaction, so a connection never carries a tenant
// from one request to the next, and the scope is safe behind
// transaction-pooling PgBouncer. Statements that PostgreSQL refuses inside a
// transaction block (VACUUM, CREATE INDEX CONCURRENTLY, …), transaction
// control sent as SQL outside a database/sql transaction (BEGIN, COMMIT, …)
// and SET TRANSACTION run on their own and therefore without a tenant; after
// a BEGIN sent as SQL, each statement carries its local setting.
//
// With [ScopeSession], the setting is set at session level only when the
// connection's bound tenant differs from the statement's; each connection
// remembers what the server holds. The session-level set travels in the
// same write as the statement but ends in its own Sync, so it commits on its
// own and nothing the statement does (a failure, a procedure that issues
// ROLLBACK) can undo it; a local set goes with the statement as well, so the
// statement runs under its tenant even if the session set failed. The
// connection forgets what the server holds (and sets it again next time)
// after any error, any DO block or CALL, any transaction control sent as SQL,
// and any setting made inside a transaction the application opened with SQL.
// Use it only on direct connections.
//
// The binding calls pg_catalog.set_config, as an unnamed statement: a
// function of that name earlier on the search_path cannot intercept it, and
// no prepared statement of the driver's can be replaced on the server.
//
// Pipelined rows come back through the driver's own driver.Rows, which
// requests pgx stdlib's result formats and yields the same Go values for
// every type. A few statements take a general path of separate round trips
// instead (BEGIN; set_config; statement; COMMIT) with the same guarantees: a
// multi-statement string without arguments, a call whose arguments start
// with pgx options (QueryExecMode, QueryResultFormats,
// QueryResultFormatsByOID), and connections in the simple_protocol or
// describe_exec exec modes.
//
// # Prepared statements and poolers
//
// A database/sql prepared statement (db.Prepare, tx.Stmt, sqlx Preparex,
// GORM PrepareStmt, sqlc's prepared mode) is checked and described by the
// server when it is prepared, so syntax errors and unknown tables are
// reported then; but the driver keeps no server-side statement for it: each
// execution runs as a call with the same text would, pipelined with the
// binding in every exec mode (where the connection caches no statements,
// as the unnamed statement, its arguments encoded with the described
// parameter types as pgx stdlib's Stmt encodes them). Preparing a text
// therefore never changes how other calls with that text run, and a
// connection holds at most one server-side prepared statement per text —
// in cache_statement mode, in the driver's statement cache, bounded by
// statement_cache_capacity.
//
// Behind a transaction pooler (PgBouncer, Supavisor, pgcat, RDS Proxy in
// transaction mode, also one that carries named statements) set
// tenant_pooler=transaction (or [WithPooler]); the driver cannot detect a
// pooler, and without the key it reuses the connection's unnamed statement
// across requests in cache_statement mode. With it, no
// named statement is ever prepared, pgx's cache_statement mode runs as
// cache_describe (descriptions cached on the client, statements unnamed,
// still one round trip with the binding), and the combinations that cannot
// be safe there are refused at open: session scope and clearing session
// objects. A call that passes pgx.QueryExecModeCacheStatement as an
// argument is refused before anything is sent.
//
// A statement whose context has no tenant runs with the setting cleared, so
// policies written as in the README match no rows and refuse writes; with
// tenant_required it fails with [ErrNoTenant] instead.
//
// # Transactions
//
// A transaction is bound to the tenant of the context given to BeginTx.
// database/sql lets each statement of a transaction carry its own context; a
// statement whose context holds another tenant, or none when the transaction
// has one, fails with [ErrTenantMismatch] before anything is sent, and the
// transaction stays usable.
//
// BeginTx sends BEGIN (in session scope, after the committed session set
// when the tenant changes). In transaction scope the tenant is bound with the
// transaction's first statement, in the same round trip, so a leading SET
// TRANSACTION (isolation level, snapshot) still comes first as PostgreSQL
// requires. After a DO block or CALL inside the transaction, which may
// change the setting in code the driver cannot read, the next statement is
// bound again.
//
// Transaction control sent as SQL inside a database/sql transaction (BEGIN,
// START TRANSACTION, COMMIT, END, ROLLBACK, ABORT, PREPARE TRANSACTION)
// fails with [ErrTxControl] before anything is sent: ending the transaction
// behind database/sql's back would run the rest of it outside the transaction
// the tenant was bound in. SAVEPOINT, RELEASE and ROLLBACK TO are allowed.
//
// # Session objects
//
// Temporary tables, cursors declared WITH HOLD, LISTEN registrations,
// session advisory locks and statements prepared with SQL PREPARE live in
// the server session, so on a pooled connection they outlive the request
// that made them and meet the next tenant's statements (a temporary table
// named like a real one even shadows it). With tenant_clear_objects=true
// ([WithClearObjects]) the driver clears them whenever the connection's
// tenant changes, in the same write as the binding.
//
// # Tamper resistance
//
// Every SQL text that could matter is parsed with the PostgreSQL parser
// (pg_query_go), once: the result is cached by exact text. A statement that
// would change the tenant setting or the session's identity, change how the
// server reads SQL text (standard_conforming_strings, client_encoding,
// backslash_quote), or run, replace or drop the driver's own prepared
// statements fails with [ErrTamper] before anything is sent, also when
// hidden in a multi-statement string, a sub-query, or SQL passed as a string
// to a function that executes it (query_to_xml, ts_stat, dblink, …). A text
// in which none of the words that could do so appears (not even inside a
// string or comment) is not parsed at all, which keeps statements with
// inlined values cheap; see [ErrInvalidSQL] for what that means for syntax
// errors. The check sees SQL only: code inside functions and dynamic SQL
// built at run time is beyond it (see the threat model in the README).
//
// # Errors
//
// [ErrNoTenant], [ErrTenantMismatch], [ErrTxControl], [ErrTamper],
// [ErrInvalidSQL] and tenant.ErrInvalidID are returned before anything is sent; match them with
// errors.Is. None of them is driver.ErrBadConn, so database/sql never retries
// them on another connection. Server errors stay reachable as
// *pgconn.PgError; a Row-Level-Security refusal has SQLSTATE 42501.
//
// # Escape hatch
//
// Inside sql.Conn.Raw the driver connection is a *[Conn], and
// [Conn.PgxConn] returns the underlying *pgx.Conn. Statements sent through
// it are not scoped or checked by the driver at all.
//
// # Role check
//
// On its first connection a Connector checks whether the connected role is
// subject to Row-Level Security and logs a warning (see [WithLogger]) if it
// is a superuser, has BYPASSRLS, or owns tables whose RLS is not forced.
package driver
