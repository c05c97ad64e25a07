package driver

import (
	"context"
	sqldriver "database/sql/driver"
	"fmt"

	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
)

// stmt is a prepared statement. pgx's own Stmt would run through the
// unwrapped connection, so every execution comes back through the Conn's
// binding here.
type stmt struct {
	conn    *Conn
	inner   sqldriver.Stmt
	execer  sqldriver.StmtExecContext
	queryer sqldriver.StmtQueryContext
	a       *sqlcheck.Analysis
	query   string
}

var (
	_ sqldriver.Stmt             = (*stmt)(nil)
	_ sqldriver.StmtExecContext  = (*stmt)(nil)
	_ sqldriver.StmtQueryContext = (*stmt)(nil)
)

func newStmt(c *Conn, is sqldriver.Stmt, query string, a *sqlcheck.Analysis) (*stmt, error) {
	s := &stmt{conn: c, inner: is, query: query, a: a}
	var ok1, ok2 bool
	s.execer, ok1 = is.(sqldriver.StmtExecContext)
	s.queryer, ok2 = is.(sqldriver.StmtQueryContext)
	if !ok1 || !ok2 {
		is.Close()
		return nil, fmt.Errorf("pgx-tenant: wrapped statement %T lacks a context-aware method", is)
	}
	return s, nil
}

func (s *stmt) Close() error  { return s.inner.Close() }
func (s *stmt) NumInput() int { return s.inner.NumInput() }

// Exec and Query are the pre-context methods database/sql no longer calls
// when the context ones exist; they behave as pgx's do.
func (s *stmt) Exec(args []sqldriver.Value) (sqldriver.Result, error) { return s.inner.Exec(args) }
func (s *stmt) Query(args []sqldriver.Value) (sqldriver.Rows, error)  { return s.inner.Query(args) }

// ExecContext runs the statement under the tenant of ctx, which may differ
// from the context it was prepared with.
func (s *stmt) ExecContext(ctx context.Context, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	b, err := s.conn.statementTenant(ctx)
	if err != nil {
		return nil, err
	}
	cl := call{query: s.query, args: args, prepared: true}
	return run(s.conn, ctx, s.a, b, s.conn.execExchange(cl, func(ctx context.Context) (sqldriver.Result, error) {
		return s.execer.ExecContext(ctx, args)
	}))
}

// QueryContext runs the statement under the tenant of ctx.
func (s *stmt) QueryContext(ctx context.Context, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	b, err := s.conn.statementTenant(ctx)
	if err != nil {
		return nil, err
	}
	cl := call{query: s.query, args: args, prepared: true}
	return run(s.conn, ctx, s.a, b, s.conn.queryExchange(cl, func(ctx context.Context) (sqldriver.Rows, error) {
		return s.queryer.QueryContext(ctx, args)
	}))
}
