package driver

import (
	"context"
	sqldriver "database/sql/driver"
	"fmt"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// stmt is a database/sql prepared statement. On a pgx connection it holds
// its text, its analysis and its parameter count, not a server-side
// statement of its own: each execution runs exactly as a call with the
// same text would (Conn.ExecContext/QueryContext), bound to the tenant of
// that execution's context. So preparing a statement never changes how
// other calls with the same text run on the connection, the connection
// keeps one server-side statement per text (in the driver's statement
// cache, cache_statement mode) and, behind a transaction pooler, nothing
// named at all.
//
// pgx stdlib's own Stmt would run through the unwrapped connection, and
// prepares a statement that pgx then runs in place of any call whose text
// equals its name.
type stmt struct {
	conn     *Conn
	query    string
	a        *sqlcheck.Analysis
	numInput int
	// tenantArg: query is a rewritten text whose last parameter is the
	// tenant, appended to each execution's arguments; plain and plainA
	// are the text as written and its analysis, which a bypassed
	// execution runs.
	tenantArg bool
	plain     string
	plainA    *sqlcheck.Analysis
	// own says the Stmt keeps its description (from the unnamed
	// statement) because the connection caches none; sd is nil after a
	// server error, until the next execution describes the text again
	// (the schema may have changed).
	own bool
	sd  *pgconn.StatementDescription

	// inner is the wrapped driver's statement when the connection is not a
	// pgx one (the tests' fake drivers); nil otherwise.
	inner   sqldriver.Stmt
	execer  sqldriver.StmtExecContext
	queryer sqldriver.StmtQueryContext
}

var (
	_ sqldriver.Stmt             = (*stmt)(nil)
	_ sqldriver.StmtExecContext  = (*stmt)(nil)
	_ sqldriver.StmtQueryContext = (*stmt)(nil)
)

// newInnerStmt wraps the statement of a connection that is not a pgx one.
func newInnerStmt(c *Conn, is sqldriver.Stmt, query string, a *sqlcheck.Analysis) (*stmt, error) {
	s := &stmt{conn: c, inner: is, query: query, a: a, numInput: is.NumInput()}
	var ok1, ok2 bool
	s.execer, ok1 = is.(sqldriver.StmtExecContext)
	s.queryer, ok2 = is.(sqldriver.StmtQueryContext)
	if !ok1 || !ok2 {
		is.Close()
		return nil, fmt.Errorf("pgx-tenant: wrapped statement %T lacks a context-aware method", is)
	}
	return s, nil
}

// Close releases the statement. On a pgx connection there is nothing on
// the server to release: a cached server-side statement for the text
// belongs to the connection's statement cache.
func (s *stmt) Close() error {
	if s.inner != nil {
		return s.inner.Close()
	}
	return nil
}

// NumInput is the number of parameters the server found in the text, so
// database/sql checks the argument count before anything is sent (as with
// pgx stdlib).
func (s *stmt) NumInput() int { return s.numInput }

// Exec and Query are the pre-context methods, which database/sql no longer
// calls when the context ones exist.
func (s *stmt) Exec(args []sqldriver.Value) (sqldriver.Result, error) {
	return s.ExecContext(context.Background(), namedValues(args))
}

func (s *stmt) Query(args []sqldriver.Value) (sqldriver.Rows, error) {
	return s.QueryContext(context.Background(), namedValues(args))
}

func namedValues(args []sqldriver.Value) []sqldriver.NamedValue {
	nv := make([]sqldriver.NamedValue, len(args))
	for i, v := range args {
		nv[i] = sqldriver.NamedValue{Ordinal: i + 1, Value: v}
	}
	return nv
}

// ExecContext runs the statement under the tenant of ctx, which may differ
// from the context it was prepared with.
func (s *stmt) ExecContext(ctx context.Context, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	b, err := s.conn.statementTenant(ctx)
	if err != nil {
		s.conn.report(ctx, s.query, err)
		return nil, err
	}
	if s.inner == nil {
		cl, a, err := s.call(ctx, b, args)
		if err != nil {
			return nil, err
		}
		res, err := s.conn.exec(ctx, a, b, cl)
		s.after(err)
		return res, err
	}
	return run(s.conn, ctx, s.a, b, s.conn.execExchange(call{query: s.query, args: args}, func(ctx context.Context) (sqldriver.Result, error) {
		return s.execer.ExecContext(ctx, args)
	}))
}

// QueryContext runs the statement under the tenant of ctx.
func (s *stmt) QueryContext(ctx context.Context, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	b, err := s.conn.statementTenant(ctx)
	if err != nil {
		s.conn.report(ctx, s.query, err)
		return nil, err
	}
	if s.inner == nil {
		cl, a, err := s.call(ctx, b, args)
		if err != nil {
			return nil, err
		}
		rows, err := s.conn.query(ctx, a, b, cl)
		s.after(err)
		return rows, err
	}
	return run(s.conn, ctx, s.a, b, s.conn.queryExchange(call{query: s.query, args: args}, func(ctx context.Context) (sqldriver.Rows, error) {
		return s.queryer.QueryContext(ctx, args)
	}))
}

// call is one execution of the statement, with its description when it
// keeps one (described again after a server error).
func (s *stmt) call(ctx context.Context, b binding, args []sqldriver.NamedValue) (call, *sqlcheck.Analysis, error) {
	if s.tenantArg {
		if _, ok := tenant.BypassReason(ctx); ok {
			return call{query: s.plain, args: args}, s.plainA, nil
		}
		args = append(args[:len(args):len(args)], sqldriver.NamedValue{Ordinal: len(args) + 1, Value: b.arg()})
	}
	cl := call{query: s.query, args: args}
	if !s.own {
		return cl, s.a, nil
	}
	if s.sd == nil {
		sd, err := s.conn.describeText(ctx, s.query, s.a)
		if err != nil {
			return call{}, nil, err
		}
		s.sd = sd
	}
	cl.sd = s.sd
	return cl, s.a, nil
}

// after drops a kept description once the server refused an execution.
func (s *stmt) after(err error) {
	if s.own && isServerError(err) {
		s.sd = nil
	}
}
