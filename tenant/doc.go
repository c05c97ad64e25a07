// Package tenant carries the current tenant through a [context.Context].
//
// It is the only package HTTP handlers, gRPC interceptors and job runners need
// to import: it has no dependencies beyond the standard library and no cgo, so
// code that only decides *who* the tenant is stays free of the SQL parser.
//
//	ctx := tenant.NewContext(r.Context(), "acme")
//	rows, err := db.QueryContext(ctx, "SELECT id FROM invoices")
//
// The pgx-tenant driver reads the tenant with [FromContext] on every statement
// and transaction and binds it as the PostgreSQL setting that Row-Level-Security
// policies read.
//
// # Tenant IDs
//
// A tenant ID is an opaque string. The driver sends it to PostgreSQL as a bound
// parameter, never spliced into SQL, so any byte sequence PostgreSQL can store
// in a text setting is safe. [Validate] states what is accepted: non-empty,
// valid UTF-8, no NUL byte, at most [MaxIDLen] bytes. [NewContext] stores the
// ID unchanged; the driver validates it before anything is sent and fails the
// statement with an error wrapping [ErrInvalidID] otherwise.
//
// # Bypass
//
// [WithBypass] marks a context as deliberately exempt from the driver's
// statement guard and rewrite (features that arrive in later releases; until
// then nothing reads the mark). It
// never exempts a statement from Row-Level Security: PostgreSQL enforces
// policies on the server and only a role with BYPASSRLS (or the table owner,
// without FORCE ROW LEVEL SECURITY) escapes them. The reason is mandatory so
// that every bypass can be logged and audited once the guard reports them.
package tenant
