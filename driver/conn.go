package driver

import (
	"context"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
	"github.com/pgx-tenant/pgx-tenant/rewrite"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// Conn is one connection of the pgx-tenant driver. database/sql owns it; user
// code meets it only inside sql.Conn.Raw, where [Conn.PgxConn] gives access to
// the underlying pgx connection.
//
// Conn forwards exactly the optional database/sql/driver interfaces that
// *stdlib.Conn implements.
type Conn struct {
	cfg       *config
	analyzer  *sqlcheck.Analyzer
	connector *Connector

	inner    sqldriver.Conn
	execer   sqldriver.ExecerContext
	queryer  sqldriver.QueryerContext
	preparer sqldriver.ConnPrepareContext
	beginner sqldriver.ConnBeginTx
	pinger   sqldriver.Pinger
	checker  sqldriver.NamedValueChecker
	resetter sqldriver.SessionResetter // may be nil (test drivers)
	pgx      *pgx.Conn                 // nil unless inner is *stdlib.Conn
	pipe     *pipeline                 // nil without pgx or in an exec mode it cannot reproduce
	// opaquePipe pipelines procedures and DO blocks when pipe is nil
	// (simple_protocol, describe_exec): see run.
	opaquePipe *pipeline

	// database/sql hands a driver connection to one goroutine at a time, so
	// the fields below need no lock.

	// tx is the open database/sql transaction, if any.
	tx *txState
	// sess is what the server session holds (ScopeSession only).
	sess sessionState
	// objs is whose session objects may exist (WithClearObjects).
	objs objectsState
}

var (
	_ sqldriver.Conn               = (*Conn)(nil)
	_ sqldriver.ConnPrepareContext = (*Conn)(nil)
	_ sqldriver.ConnBeginTx        = (*Conn)(nil)
	_ sqldriver.ExecerContext      = (*Conn)(nil)
	_ sqldriver.QueryerContext     = (*Conn)(nil)
	_ sqldriver.Pinger             = (*Conn)(nil)
	_ sqldriver.NamedValueChecker  = (*Conn)(nil)
	_ sqldriver.SessionResetter    = (*Conn)(nil)
)

// binding is the tenant one call runs under; has=false means no tenant.
type binding struct {
	id  string
	has bool
}

func (b binding) value() string { return b.id } // "" when there is no tenant: policies read NULLIF(…, '')

// arg is the tenant as the rewrite's parameter: NULL when there is none,
// so that, as under the policies, no row matches and no row is written
// with a tenant (whatever the tenant column's type).
func (b binding) arg() any {
	if !b.has {
		return nil
	}
	return b.id
}

type sessionState struct {
	known bool // the server's session value is exactly b
	b     binding
}

func newConn(c *Connector, ic sqldriver.Conn) (*Conn, error) {
	conn := &Conn{cfg: &c.cfg, analyzer: c.analyzer, connector: c, inner: ic}
	var ok [6]bool
	conn.execer, ok[0] = ic.(sqldriver.ExecerContext)
	conn.queryer, ok[1] = ic.(sqldriver.QueryerContext)
	conn.preparer, ok[2] = ic.(sqldriver.ConnPrepareContext)
	conn.beginner, ok[3] = ic.(sqldriver.ConnBeginTx)
	conn.pinger, ok[4] = ic.(sqldriver.Pinger)
	conn.checker, ok[5] = ic.(sqldriver.NamedValueChecker)
	for _, o := range ok {
		if !o {
			return nil, fmt.Errorf("pgx-tenant: wrapped connection %T lacks a context-aware method", ic)
		}
	}
	conn.resetter, _ = ic.(sqldriver.SessionResetter)
	if sc, isStd := ic.(*stdlib.Conn); isStd {
		conn.pgx = sc.Conn()
		conn.pipe = newPipeline(conn.pgx)
		if conn.pipe == nil {
			conn.opaquePipe = newPipelineMode(conn.pgx, pgx.QueryExecModeExec)
		}
	}
	return conn, nil
}

// PgxConn returns the underlying pgx connection, or nil if the connection is
// not a pgx one.
//
// The pgx connection is UNSCOPED: statements sent through it (Query, Exec,
// SendBatch, CopyFrom, …) bypass pgx-tenant entirely — no tenant binding, no
// tamper check. Under ScopeTransaction they run with whatever the session
// holds (normally no tenant, so RLS matches nothing); under ScopeSession they
// run under the tenant of the previous statement on this connection. What is
// sent through it is not seen by the driver: under ScopeSession, calling PgxConn
// makes the connection forget which tenant the server holds, so the next
// statement through database/sql sets it again; keep the *pgx.Conn no longer
// than the Raw callback. Use it for pgx features database/sql lacks, and bind
// the tenant yourself inside a transaction.
func (c *Conn) PgxConn() *pgx.Conn {
	c.used()
	c.sess.known = false
	c.objs.dirty = true
	return c.pgx
}

// tenantOf returns the validated tenant of ctx.
func (c *Conn) tenantOf(ctx context.Context) (binding, error) {
	id, ok := tenant.FromContext(ctx)
	if !ok {
		if c.cfg.required {
			return binding{}, ErrNoTenant
		}
		return binding{}, nil
	}
	if err := tenant.Validate(id); err != nil {
		return binding{}, fmt.Errorf("pgx-tenant: %w", err)
	}
	return binding{id: id, has: true}, nil
}

// statementTenant returns the tenant a statement runs under, enforcing the
// pin of an open transaction.
func (c *Conn) statementTenant(ctx context.Context) (binding, error) {
	b, err := c.tenantOf(ctx)
	if err != nil {
		return binding{}, err
	}
	if c.tx != nil && c.tx.b != b {
		return binding{}, ErrTenantMismatch
	}
	return b, nil
}

// analyze parses query (or takes it from the cache) and refuses tampering.
func (c *Conn) analyze(query string) (*sqlcheck.Analysis, error) {
	a, err := c.analyzer.Analyze(query)
	if err != nil {
		return nil, fmt.Errorf("pgx-tenant: %w", err)
	}
	if a.Tamper != "" {
		return nil, fmt.Errorf("%w: %s", ErrTamper, a.Tamper)
	}
	return a, nil
}

// inServerTx reports whether the server session is inside a transaction that
// database/sql did not begin (the user sent BEGIN as a statement).
func (c *Conn) inServerTx() bool {
	return c.tx == nil && c.pgx != nil && c.pgx.PgConn().TxStatus() != 'I'
}

// The binding's statements name pg_catalog: an unqualified set_config
// resolves through search_path, where a function of the same name could
// shadow it.
const (
	setLocalSQL   = "SELECT pg_catalog.set_config($1, $2, true)"
	setSessionSQL = "SELECT pg_catalog.set_config($1, $2, false)"
)

// used notes that the connection is about to be used other than through
// the pipeline (see pipeline.forgetUnnamed).
func (c *Conn) used() { c.pipe.forgetUnnamed() }

// setConfig runs set_config on its own (general path). Through pgx it is
// sent in exec mode: an unnamed statement with the tenant as a bound
// parameter, never a statement of pgx's cache (which code on the server
// could replace by name) nor a simple-protocol literal.
func (c *Conn) setConfig(ctx context.Context, sql string, b binding) error {
	c.used()
	args := []sqldriver.NamedValue{
		{Ordinal: 1, Value: c.cfg.setting},
		{Ordinal: 2, Value: b.value()},
	}
	if c.pgx != nil {
		args = append([]sqldriver.NamedValue{{Ordinal: 1, Value: pgx.QueryExecModeExec}}, args...)
		for i := range args {
			args[i].Ordinal = i + 1
		}
	}
	_, err := c.execer.ExecContext(ctx, sql, args)
	return err
}

// bindSession makes the server session hold b (ScopeSession, general
// path). It runs as its own exchange, so unless the application opened a
// transaction with SQL it is committed before the statement runs.
func (c *Conn) bindSession(ctx context.Context, b binding) error {
	inTx := c.inServerTx()
	if c.sess.known && !inTx && c.sess.b == b {
		return nil
	}
	c.sess.known = false
	if err := c.setConfig(ctx, setSessionSQL, b); err != nil {
		return err
	}
	// A session value set inside a user's own transaction is undone if it
	// rolls back, so it is only trusted when set outside one.
	c.sess = sessionState{known: !inTx, b: b}
	return nil
}

// afterSessionStatement drops the session cache when the statement may have
// changed the session: it failed, ran opaque code, or controlled the
// transaction.
func (c *Conn) afterSessionStatement(a *sqlcheck.Analysis, err error) {
	if err != nil || a.Opaque || a.TxControl || c.inServerTx() {
		c.sess.known = false
	}
}

// cleanupTimeout bounds COMMIT/ROLLBACK sent on behalf of a call whose
// context may already be done.
const cleanupTimeout = 5 * time.Second

// beginLocal opens the per-statement transaction of ScopeTransaction and
// binds b in it. On error nothing is left open.
func (c *Conn) beginLocal(ctx context.Context, b binding) error {
	c.used()
	if _, err := c.execer.ExecContext(ctx, "BEGIN", nil); err != nil {
		return err
	}
	if err := c.setConfig(ctx, setLocalSQL, b); err != nil {
		c.endLocal(false)
		return err
	}
	return nil
}

// endLocal commits or rolls back the per-statement transaction. It uses its
// own context: the caller's may be cancelled, and the transaction must end
// either way.
func (c *Conn) endLocal(commit bool) error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	sql := "ROLLBACK"
	if commit {
		sql = "COMMIT"
	}
	// A connection that fails to end the transaction is not reused: pgx's
	// ResetSession discards a connection whose transaction status is not idle.
	c.used()
	_, err := c.execer.ExecContext(ctx, sql, nil)
	return err
}

// exchange is one statement, in the two ways the driver can send it.
type exchange[T any] struct {
	// direct sends the statement alone, through the wrapped connection.
	direct func(context.Context) (T, error)
	// piped sends the statement with the binding rq describes, through p,
	// in one round trip; it may return errNoPipeline. The *sent is non-nil
	// once the request reached the server.
	piped func(ctx context.Context, p *pipeline, rq request) (T, *sent, error)
	// wrap ends the per-statement transaction of the general path when
	// rows are closed (nil for Exec).
	wrap func(T) T
	// described says the statement carries its own description (a Stmt
	// on a connection that caches none), so it can be pipelined in every
	// exec mode, encoded with its parameter types as pgx stdlib's Stmt is.
	described bool
}

// run executes a statement analysed as a under b.
func run[T any](c *Conn, ctx context.Context, a *sqlcheck.Analysis, b binding, x exchange[T]) (T, error) {
	var zero T
	// Procedures and DO blocks are pipelined in every exec mode: wrapped
	// in the general path's BEGIN … COMMIT they could not commit.
	p := c.pipe
	if p == nil && (a.Opaque || x.described) {
		p = c.opaquePipe
	}
	canPipe := p != nil && pipelinable(a)
	piped := func(rq request) (T, *sent, error) {
		rq.setting, rq.value = c.cfg.setting, b.value()
		return x.piped(ctx, p, rq)
	}

	if err := c.unbindable(a); err != nil {
		return zero, err
	}
	if t := c.tx; t != nil {
		if t.bound || a.SetTransaction {
			// SET TRANSACTION must precede every query of the
			// transaction, the binding included: it runs first, and
			// the tenant goes with the next statement.
			res, err := direct(c, ctx, a, x)
			c.afterTxStatement(a)
			return res, err
		}
		if canPipe {
			res, s, err := piped(request{local: true})
			if err != errNoPipeline {
				t.bound = s != nil && (err == nil || isServerError(err))
				c.afterTxStatement(a)
				return res, err
			}
		}
		if err := c.setConfig(ctx, setLocalSQL, b); err != nil {
			return zero, err
		}
		t.bound = true
		res, err := direct(c, ctx, a, x)
		c.afterTxStatement(a)
		return res, err
	}

	if a.SetTransaction || c.cfg.scope == ScopeTransaction && a.Statements == 1 && (a.NoTxBlock || a.TxControl) {
		// VACUUM, CREATE INDEX CONCURRENTLY, … refuse a transaction
		// block; BEGIN/COMMIT and SET TRANSACTION belong to the user's
		// own transaction. None reads tenant rows, and in transaction
		// scope RLS sees no tenant during them.
		res, err := direct(c, ctx, a, x)
		if c.cfg.scope == ScopeSession {
			c.afterSessionStatement(a, err)
		}
		return res, err
	}

	session := c.cfg.scope == ScopeSession
	clear := c.needClear(b)
	inTx := c.inServerTx()
	if session && c.sess.known && !inTx && c.sess.b == b && !clear {
		res, err := direct(c, ctx, a, x)
		c.afterSessionStatement(a, err)
		return res, err
	}
	if canPipe {
		// In transaction scope the local set and the statement run as one
		// implicit transaction (or inside the user's own, until it ends).
		// Session scope adds the committed session set ahead of them.
		rq := request{clear: clear, session: session, local: true}
		if clear {
			c.objs.dirty = true // until it is known to have happened
		}
		if session {
			c.sess.known = false
		}
		res, s, err := piped(rq)
		if err != errNoPipeline {
			if s != nil {
				c.ranFor(b, clear, inTx)
				if session && s.segment1Err == nil {
					c.sess = sessionState{known: !inTx, b: b}
				}
			}
			if session {
				c.afterSessionStatement(a, err)
			}
			return res, err
		}
	}
	if clear {
		if err := c.clearObjects(ctx); err != nil {
			return zero, err
		}
	}
	defer c.ranFor(b, clear, inTx)
	if session {
		if err := c.bindSession(ctx, b); err != nil {
			return zero, err
		}
		res, err := direct(c, ctx, a, x)
		c.afterSessionStatement(a, err)
		return res, err
	}

	// ScopeTransaction, general path.
	if c.inServerTx() {
		// The application opened a transaction with SQL: bind inside
		// it, without a BEGIN/COMMIT of our own that would end it.
		if err := c.setConfig(ctx, setLocalSQL, b); err != nil {
			return zero, err
		}
		return direct(c, ctx, a, x)
	}
	if err := c.beginLocal(ctx, b); err != nil {
		return zero, err
	}
	res, err := direct(c, ctx, a, x)
	if err != nil {
		c.endLocal(false)
		return zero, err
	}
	if x.wrap != nil {
		return x.wrap(res), nil
	}
	if err := c.endLocal(true); err != nil {
		return zero, err
	}
	return res, nil
}

// unbindable refuses texts whose transaction control the driver cannot bind
// around: anything that would end a database/sql transaction behind its
// back; a rollback followed by more statements (it may undo a binding sent
// before the text); in transaction scope, a text that opens a transaction
// and leaves it open (the driver's own BEGIN … COMMIT around it would commit
// it); and SET TRANSACTION followed by more statements, where the binding
// would have to come between them.
func (c *Conn) unbindable(a *sqlcheck.Analysis) error {
	switch {
	case c.tx != nil && a.TxBoundary:
		return ErrTxControl
	case a.UndoThenRun:
		return fmt.Errorf("%w: ROLLBACK or ROLLBACK TO followed by more statements in one text could undo the tenant binding before they run; send them separately", ErrTxControl)
	case a.LeavesTxOpen && c.cfg.scope == ScopeTransaction && c.tx == nil && !c.inServerTx():
		return fmt.Errorf("%w: a text that begins a transaction and leaves it open cannot be bound in transaction scope; send BEGIN on its own", ErrTxControl)
	case a.LeadingSetTransaction && a.Statements > 1 && !(c.tx != nil && c.tx.bound):
		return fmt.Errorf("%w: SET TRANSACTION must be sent on its own, as the transaction's first statement", ErrTxControl)
	}
	return nil
}

// afterTxStatement notes what a statement inside a database/sql
// transaction may have changed: opaque code (a procedure, a DO block) can
// set the tenant setting through dynamic SQL, so the transaction is bound
// again, locally, with its next statement.
func (c *Conn) afterTxStatement(a *sqlcheck.Analysis) {
	if a.Opaque {
		c.tx.bound = false
		c.sess.known = false
	}
	if a.TxControl {
		c.sess.known = false
	}
}

// direct sends x's statement without a binding. It goes through the
// pipeline when the statement can, so that the driver keeps one statement
// cache per connection (pgx's own would prepare the same text a second
// time, and under a second name), and through pgx otherwise.
func direct[T any](c *Conn, ctx context.Context, a *sqlcheck.Analysis, x exchange[T]) (T, error) {
	p := c.pipe
	if p == nil && x.described {
		p = c.opaquePipe
	}
	if p != nil && pipelinable(a) {
		res, _, err := x.piped(ctx, p, request{})
		if err != errNoPipeline {
			return res, err
		}
	}
	c.used()
	return x.direct(ctx)
}

// pipelinable reports whether a text can travel in a pipeline: one
// statement that may run in an implicit transaction and neither controls
// transactions nor copies through the client.
func pipelinable(a *sqlcheck.Analysis) bool {
	return a.Statements == 1 && !a.NoTxBlock && !a.TxControl && !a.SetTransaction && !a.CopyStdio
}

// sqlState returns the SQLSTATE of a server error, "" for any other error.
func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// isServerError reports whether err came from the server (so the request
// reached it), rather than from the client or the network.
func isServerError(err error) bool { return sqlState(err) != "" }

// admit decides, before anything is sent, whether a statement may run and
// under which tenant.
func (c *Conn) admit(ctx context.Context, query string) (*sqlcheck.Analysis, binding, error) {
	b, err := c.statementTenant(ctx)
	if err != nil {
		return nil, binding{}, err
	}
	a, err := c.analyze(query)
	if err != nil {
		return nil, binding{}, err
	}
	return a, b, nil
}

// execExchange and queryExchange build the two ways to send cl.
func (c *Conn) execExchange(cl call, direct func(context.Context) (sqldriver.Result, error)) exchange[sqldriver.Result] {
	return exchange[sqldriver.Result]{
		direct:    direct,
		described: cl.sd != nil,
		piped: func(ctx context.Context, p *pipeline, rq request) (sqldriver.Result, *sent, error) {
			rq.stmt = &cl
			return p.exec(ctx, rq)
		},
	}
}

func (c *Conn) queryExchange(cl call, direct func(context.Context) (sqldriver.Rows, error)) exchange[sqldriver.Rows] {
	cl.rows = true
	return exchange[sqldriver.Rows]{
		direct:    direct,
		wrap:      c.wrapRows,
		described: cl.sd != nil,
		piped: func(ctx context.Context, p *pipeline, rq request) (sqldriver.Rows, *sent, error) {
			rq.stmt = &cl
			return p.query(ctx, rq)
		},
	}
}

// ExecContext runs query under the tenant of ctx.
func (c *Conn) ExecContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	a, b, err := c.admit(ctx, query)
	if err != nil {
		c.report(ctx, query, err)
		return nil, err
	}
	return c.exec(ctx, a, b, call{query: query, args: args})
}

// check decides, before anything is sent, whether cl may run and as what:
// its arguments, the tenant its modes require, the rewrite, the guard.
func (c *Conn) check(ctx context.Context, a *sqlcheck.Analysis, b binding, cl call) (call, error) {
	if err := c.checkArgs(cl.query, cl.args); err != nil {
		return call{}, err
	}
	gm, rm, req := c.modes(a, b)
	if req && !b.has {
		c.report(ctx, cl.query, ErrNoTenant)
		return call{}, ErrNoTenant
	}
	cl, ck, err := c.rewrite(ctx, a, b, cl, rm)
	if err != nil {
		return call{}, err
	}
	if err := c.guard(ctx, ck, b, gm); err != nil {
		return call{}, err
	}
	return cl, nil
}

// exec checks and runs cl, which may carry a Stmt's description.
func (c *Conn) exec(ctx context.Context, a *sqlcheck.Analysis, b binding, cl call) (sqldriver.Result, error) {
	cl, err := c.check(ctx, a, b, cl)
	if err != nil {
		return nil, err
	}
	query, args := cl.query, cl.args
	res, err := run(c, ctx, a, b, c.execExchange(cl, func(ctx context.Context) (sqldriver.Result, error) {
		return c.execer.ExecContext(ctx, query, args)
	}))
	c.report(ctx, query, err)
	return res, err
}

// QueryContext runs query under the tenant of ctx.
func (c *Conn) QueryContext(ctx context.Context, query string, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	a, b, err := c.admit(ctx, query)
	if err != nil {
		c.report(ctx, query, err)
		return nil, err
	}
	return c.query(ctx, a, b, call{query: query, args: args})
}

// query checks and runs cl, which may carry a Stmt's description.
func (c *Conn) query(ctx context.Context, a *sqlcheck.Analysis, b binding, cl call) (sqldriver.Rows, error) {
	cl, err := c.check(ctx, a, b, cl)
	if err != nil {
		return nil, err
	}
	query, args := cl.query, cl.args
	rows, err := run(c, ctx, a, b, c.queryExchange(cl, func(ctx context.Context) (sqldriver.Rows, error) {
		return c.queryer.QueryContext(ctx, query, args)
	}))
	c.report(ctx, query, err)
	return rows, err
}

// checkArgs refuses an empty text with arguments, and, behind a
// transaction pooler, a call that asks pgx for its cache_statement mode: it
// would prepare a named statement that the pooler's next transaction may
// not find.
func (c *Conn) checkArgs(query string, args []sqldriver.NamedValue) error {
	if query == "" && len(args) > 0 {
		// pgx panics on an empty text with arguments in its cache modes.
		return fmt.Errorf("pgx-tenant: empty SQL text with %d arguments", len(args))
	}
	if c.cfg.pooler != PoolerTransaction {
		return nil
	}
	for _, nv := range args {
		if m, ok := nv.Value.(pgx.QueryExecMode); ok && m == pgx.QueryExecModeCacheStatement {
			return errors.New("pgx-tenant: pgx.QueryExecModeCacheStatement prepares a named statement, which tenant_pooler=transaction forbids; use QueryExecModeCacheDescribe or QueryExecModeExec")
		}
	}
	return nil
}

// PrepareContext checks query and returns a statement that runs it. The
// server parses and describes the text now, so a syntax error or an unknown
// table is reported here, as with pgx stdlib; but no named statement is
// prepared for the Stmt (see stmt). Preparing reads no rows, so it needs no
// tenant (db.Prepare at startup is fine); the tenant is bound each time the
// statement runs, from that call's context.
func (c *Conn) PrepareContext(ctx context.Context, query string) (sqldriver.Stmt, error) {
	a, err := c.analyze(query)
	if err != nil {
		return nil, err
	}
	if c.pgx == nil {
		c.used()
		is, err := c.preparer.PrepareContext(ctx, query)
		if err != nil {
			return nil, err
		}
		return newInnerStmt(c, is, query, a)
	}
	if c.pgx.IsClosed() {
		return nil, sqldriver.ErrBadConn
	}
	tenantArg := false
	plain, plainA := query, a
	// (The server reads @name as the operator @, as pgx stdlib's Stmts
	// do: the rewritten text keeps it, so an @name meant as a pgx named
	// argument fails below, and an @ on a column is scoped.)
	if rw := a.Rewrite; rw != nil && c.cfg.rewrite == rewrite.On && c.cfg.flags == nil {
		// The Stmt runs the rewritten text, its tenant appended to each
		// execution's arguments (a bypassed execution runs the text as
		// written).
		query = rw.SQL(query, false)
		if a, err = c.analyze(query); err != nil {
			return nil, err
		}
		tenantArg = true
	}
	sd, err := c.describeText(ctx, query, a)
	if err != nil {
		return nil, err
	}
	s := &stmt{conn: c, query: query, a: a, numInput: len(sd.ParamOIDs), tenantArg: tenantArg, plain: plain, plainA: plainA}
	if tenantArg {
		s.numInput--
	}
	if (c.pipe == nil || c.pipe.stmts == nil) && c.cfg.flags == nil {
		// (With rollout flags the rewrite is decided per execution:
		// such a Stmt keeps no description.)
		// Nothing caches the description on this connection (exec,
		// simple_protocol and describe_exec modes): the Stmt keeps it,
		// so its arguments are encoded with their parameter types, as
		// pgx stdlib's Stmt encodes them, and it runs pipelined, as
		// the unnamed statement.
		s.own, s.sd = true, sd
	}
	return s, nil
}

// describeText has the server parse and describe query. Where the
// connection caches statements for the pipeline, the description goes into
// that cache (the statement's executions use it); otherwise it is parsed as
// the unnamed statement, which keeps nothing on the server.
func (c *Conn) describeText(ctx context.Context, query string, a *sqlcheck.Analysis) (*pgconn.StatementDescription, error) {
	if p := c.pipe; p != nil && p.stmts != nil && pipelinable(a) {
		if err := p.flushDeallocations(ctx); err != nil {
			return nil, p.fail("", err)
		}
		sd, err := p.describe(ctx, query)
		if err != nil {
			return nil, p.fail(query, err)
		}
		return sd, nil
	}
	c.used()
	sd, err := c.pgx.PgConn().Prepare(ctx, "", query, nil)
	if err != nil {
		if pgconn.SafeToRetry(err) {
			return nil, sqldriver.ErrBadConn
		}
		return nil, err
	}
	return sd, nil
}

// Prepare is PrepareContext with a background context.
func (c *Conn) Prepare(query string) (sqldriver.Stmt, error) {
	return c.PrepareContext(context.Background(), query)
}

// txState is an open database/sql transaction.
type txState struct {
	b binding
	// bound says the server transaction holds b. In transaction scope
	// the binding goes with the first statement (after a leading SET
	// TRANSACTION), so BEGIN is sent as pgx sends it and nothing the
	// binding runs can precede SET TRANSACTION.
	bound bool
}

// BeginTx begins a transaction bound to the tenant of ctx. Every statement
// of the transaction must carry the same tenant (or none, if begun with
// none); another is refused with ErrTenantMismatch. Transaction control
// sent as SQL inside it (COMMIT, ROLLBACK, BEGIN, …) is refused with
// ErrTxControl.
func (c *Conn) BeginTx(ctx context.Context, opts sqldriver.TxOptions) (sqldriver.Tx, error) {
	b, err := c.tenantOf(ctx)
	if err != nil {
		return nil, err
	}
	if c.tx != nil {
		return nil, errors.New("pgx-tenant: a transaction is already open on this connection")
	}
	session := c.cfg.scope == ScopeSession
	if c.pipe != nil {
		begin, err := beginSQL(opts)
		if err != nil {
			return nil, err
		}
		// In session scope a changed tenant is set in a committed
		// exchange of its own ahead of BEGIN, in the same write: no
		// rollback can undo it.
		// Inside a transaction the application opened with SQL, the
		// session set is undone if that transaction rolls back: set it
		// anyway, and do not trust it afterwards.
		inTx := c.inServerTx()
		rq := request{begin: begin, setting: c.cfg.setting, value: b.value(), clear: c.needClear(b)}
		rq.session = session && (inTx || !c.sess.known || c.sess.b != b)
		if rq.session {
			c.sess.known = false
		}
		if _, err := c.pipe.begin(ctx, rq); err != nil {
			if rq.clear {
				c.objs.dirty = true
			}
			return nil, err
		}
		if rq.session {
			c.sess = sessionState{known: !inTx, b: b}
		}
		c.ranFor(b, rq.clear, inTx)
		c.tx = &txState{b: b, bound: session}
		return &tx{conn: c, inner: pgxTx{conn: c.pgx}}, nil
	}
	inTx := c.inServerTx()
	clear := c.needClear(b)
	if clear {
		if err := c.clearObjects(ctx); err != nil {
			return nil, err
		}
	}
	if session {
		// Bound before BEGIN so a rollback cannot undo it.
		if err := c.bindSession(ctx, b); err != nil {
			return nil, err
		}
	}
	c.ranFor(b, clear, inTx)
	c.used()
	itx, err := c.beginner.BeginTx(ctx, opts)
	if err != nil {
		c.sess.known = false
		return nil, err
	}
	c.tx = &txState{b: b, bound: session}
	return &tx{conn: c, inner: itx}, nil
}

// Begin is BeginTx with a background context and default options.
func (c *Conn) Begin() (sqldriver.Tx, error) {
	return c.BeginTx(context.Background(), sqldriver.TxOptions{})
}

// Ping checks the connection. It is a liveness check, not a statement: it
// needs no tenant and leaves the binding alone.
func (c *Conn) Ping(ctx context.Context) error {
	c.used()
	return c.pinger.Ping(ctx)
}

// CheckNamedValue delegates to pgx, which accepts every argument (pgx.NamedArgs,
// query exec modes, arrays, Valuers) and converts it itself.
func (c *Conn) CheckNamedValue(nv *sqldriver.NamedValue) error { return c.checker.CheckNamedValue(nv) }

// ResetSession runs when database/sql hands a reused connection to a new
// caller. It clears per-checkout state and lets pgx discard broken
// connections (driver.ErrBadConn). It is not where the tenant is bound:
// database/sql skips it on a connection's first use.
func (c *Conn) ResetSession(ctx context.Context) error {
	c.tx = nil
	if len(c.cfg.stdlib) > 0 {
		// A stdlib OptionResetSession hook may run SQL the driver does
		// not see (DISCARD ALL, say).
		c.sess.known = false
	}
	// pgx may ping here with a simple query, which destroys the unnamed
	// statement; the pipeline finds out and parses the set again (one
	// retry), which is cheaper than parsing it after every checkout.
	if c.resetter == nil {
		return nil
	}
	return c.resetter.ResetSession(ctx)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.inner.Close() }
