package driver

import (
	"errors"

	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
)

// Errors returned by the driver. None of them is, or wraps,
// [database/sql/driver.ErrBadConn]: database/sql retries ErrBadConn on
// another connection, and a tenant or tamper decision must never be retried
// away. Each is returned before anything is sent to the server.
var (
	// ErrNoTenant is returned for a statement or transaction whose context
	// carries no tenant when the driver is configured with tenant_required.
	ErrNoTenant = errors.New("pgx-tenant: no tenant in context")

	// ErrTenantMismatch is returned for a statement run inside a transaction
	// whose context carries a different tenant (or none) than the context the
	// transaction was begun with. The transaction stays usable.
	ErrTenantMismatch = errors.New("pgx-tenant: statement tenant differs from its transaction's tenant")

	// ErrTamper is returned for SQL that would change the tenant setting or
	// the session's identity: set_config or SET/RESET of the tenant setting,
	// RESET ALL, DISCARD, SET ROLE, SET SESSION AUTHORIZATION, an UPDATE of
	// pg_settings, or a DO block or function body that mentions them; that
	// would change how the server reads SQL text (standard_conforming_strings,
	// client_encoding, backslash_quote); that would run, replace or drop the
	// driver's prepared statements (PREPARE, EXECUTE, DEALLOCATE of a name
	// starting with pgxtenant_, DEALLOCATE ALL); or any of these inside SQL
	// passed as a string to a function that executes it (query_to_xml,
	// ts_stat, dblink, …), or such SQL that is not a constant. The error names
	// the construct, never the statement's data.
	ErrTamper = errors.New("pgx-tenant: statement would change the tenant setting or session identity")

	// ErrTxControl is returned for transaction control the driver cannot
	// bind around, before anything is sent: BEGIN, START TRANSACTION,
	// COMMIT, END, ROLLBACK, ABORT or PREPARE TRANSACTION sent as SQL inside
	// a database/sql transaction (ending it behind database/sql's back would
	// run the rest outside the transaction the tenant was bound in; use
	// Tx.Commit and Tx.Rollback — SAVEPOINT, RELEASE and ROLLBACK TO are
	// allowed); a text that rolls back (ROLLBACK, ROLLBACK TO) and then runs
	// more statements, which could undo the binding before they run; in
	// transaction scope, a text that begins a transaction and leaves it open;
	// and SET TRANSACTION followed by more statements in one text. Send such
	// statements one at a time. A transaction stays usable.
	ErrTxControl = errors.New("pgx-tenant: transaction control the driver cannot bind around (inside a database/sql transaction use Tx.Commit or Tx.Rollback)")

	// ErrInvalidSQL is wrapped by the error returned for SQL the driver has
	// to inspect but the PostgreSQL parser rejects; such SQL is never sent.
	// The driver inspects SQL that contains a word that could change session
	// state or control transactions (SET, set_config, DISCARD, BEGIN, DO, …),
	// several statements, or comments. Other SQL cannot tamper and is not
	// parsed: the server reports its syntax errors as usual (SQLSTATE 42601).
	ErrInvalidSQL = sqlcheck.ErrSyntax
)
