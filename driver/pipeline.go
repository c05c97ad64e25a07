package driver

import (
	"container/list"
	"context"
	"crypto/sha256"
	"database/sql"
	sqldriver "database/sql/driver"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// errNoPipeline says a statement must take the general path (separate round
// trips) because the pipeline cannot reproduce what pgx would do with it.
var errNoPipeline = errors.New("pgx-tenant: statement cannot be pipelined")

// pipeline sends the tenant's set_config and the statement to the server in
// one write ending in one Sync, so both run in one implicit transaction and
// cost one round trip. It reproduces pgx's own extended-protocol handling of
// the statement (statement cache, argument encoding, NamedArgs) and stdlib's
// result formats, so rows come back exactly as through pgx stdlib.
type pipeline struct {
	pgx  *pgx.Conn
	mode pgx.QueryExecMode
	eqb  pgx.ExtendedQueryBuilder

	stmts   *stmtCache // per connection; nil in exec mode
	set     map[string]*pgconn.StatementDescription
	pending []string // names of prepared statements to deallocate
}

// newPipeline returns nil when the connection's exec mode cannot be
// reproduced: simple protocol (no extended protocol at all) and
// describe_exec (a describe round trip per statement anyway).
func newPipeline(c *pgx.Conn) *pipeline {
	cfg := c.Config()
	p := &pipeline{pgx: c, mode: cfg.DefaultQueryExecMode, set: map[string]*pgconn.StatementDescription{}}
	switch p.mode {
	case pgx.QueryExecModeCacheStatement:
		if cfg.StatementCacheCapacity <= 0 {
			return nil
		}
		p.stmts = newStmtCache(cfg.StatementCacheCapacity)
	case pgx.QueryExecModeCacheDescribe:
		if cfg.DescriptionCacheCapacity <= 0 {
			return nil
		}
		p.stmts = newStmtCache(cfg.DescriptionCacheCapacity)
	case pgx.QueryExecModeExec:
	default:
		return nil
	}
	return p
}

// call is one statement to pipeline.
type call struct {
	query    string
	args     []sqldriver.NamedValue
	prepared bool // from a driver Stmt: pgx stdlib prepared it under its own text
	rows     bool // a Query, not an Exec
}

// stdlibResultFormats mirrors pgx stdlib: binary only for the types
// database/sql receives as native Go values, text for everything else.
var stdlibResultFormats = map[uint32]int16{
	pgtype.BoolOID: 1, pgtype.ByteaOID: 1, pgtype.CIDOID: 1, pgtype.DateOID: 1,
	pgtype.Float4OID: 1, pgtype.Float8OID: 1, pgtype.Int2OID: 1, pgtype.Int4OID: 1,
	pgtype.Int8OID: 1, pgtype.OIDOID: 1, pgtype.TimestampOID: 1, pgtype.TimestamptzOID: 1,
	pgtype.XIDOID: 1,
}

// args converts database/sql arguments the way pgx does: leading option
// values configure the call. Options that change how pgx executes the query
// cannot be honoured in a pipeline.
func (p *pipeline) arguments(ctx context.Context, query string, nv []sqldriver.NamedValue) (string, []any, error) {
	args := make([]any, len(nv))
	for i, v := range nv {
		args[i] = v.Value
	}
	var rewriter pgx.QueryRewriter
	for len(args) > 0 {
		switch a := args[0].(type) {
		case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
			return "", nil, errNoPipeline
		case pgx.QueryRewriter:
			rewriter = a
			args = args[1:]
			continue
		}
		break
	}
	if rewriter != nil {
		var err error
		query, args, err = rewriter.RewriteQuery(ctx, p.pgx, query, args)
		if err != nil {
			return "", nil, fmt.Errorf("rewrite query failed: %w", err)
		}
	}
	return query, args, nil
}

// describe returns the statement description pgx would use for query, from
// the connection's cache or by preparing it (one round trip, first use only,
// exactly like pgx's own statement cache).
func (p *pipeline) describe(ctx context.Context, cl call, query string) (*pgconn.StatementDescription, error) {
	if cl.prepared {
		// database/sql Stmt: pgx stdlib prepared it named by its text.
		return p.pgx.Prepare(ctx, query, query)
	}
	if p.stmts == nil {
		return nil, nil
	}
	if sd := p.stmts.get(query); sd != nil {
		return sd, nil
	}
	var sd *pgconn.StatementDescription
	var err error
	if p.mode == pgx.QueryExecModeCacheStatement {
		sd, err = p.pgx.Prepare(ctx, statementName(query), query)
	} else {
		sd, err = p.pgx.PgConn().Prepare(ctx, "", query, nil)
	}
	if err != nil {
		return nil, err
	}
	if evicted := p.stmts.put(query, sd); evicted != nil && p.mode == pgx.QueryExecModeCacheStatement {
		p.pending = append(p.pending, evicted.Name)
	}
	return sd, nil
}

func (p *pipeline) flushDeallocations(ctx context.Context) error {
	for len(p.pending) > 0 {
		if err := p.pgx.Deallocate(ctx, p.pending[0]); err != nil {
			return err
		}
		p.pending = p.pending[1:]
	}
	return nil
}

// forget drops a cached statement the server no longer accepts (it was
// deallocated behind our back, or the schema changed its result type).
func (p *pipeline) forget(query string, err error) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return
	}
	if pe.Code != "26000" && !(pe.Code == "0A000" && strings.Contains(pe.Message, "cached plan")) {
		return
	}
	if p.stmts != nil {
		if sd := p.stmts.remove(query); sd != nil && p.mode == pgx.QueryExecModeCacheStatement {
			p.pending = append(p.pending, sd.Name)
		}
	}
	if query != "" {
		// A database/sql Stmt's statement, prepared by pgx stdlib under its
		// text; deallocating a name that does not exist is harmless.
		p.pending = append(p.pending, query)
	}
	// The set_config statements may be the ones that vanished.
	for setSQL, sd := range p.set {
		p.pending = append(p.pending, sd.Name)
		delete(p.set, setSQL)
	}
}

func statementName(query string) string {
	sum := sha256.Sum256([]byte(query))
	return "pgxtenant_" + hex.EncodeToString(sum[:16])
}

// appendSet queues set_config(setting, value, local) on batch.
func (p *pipeline) appendSet(ctx context.Context, batch *pgconn.Batch, setSQL, setting, value string) error {
	params := [][]byte{[]byte(setting), []byte(value)}
	if p.mode != pgx.QueryExecModeCacheStatement {
		batch.ExecParams(setSQL, params, []uint32{pgtype.TextOID, pgtype.TextOID}, nil, nil)
		return nil
	}
	sd := p.set[setSQL]
	if sd == nil {
		var err error
		name := "pgxtenant_set_local"
		if setSQL == setSessionSQL {
			name = "pgxtenant_set_session"
		}
		if sd, err = p.pgx.Prepare(ctx, name, setSQL); err != nil {
			return err
		}
		p.set[setSQL] = sd
	}
	batch.ExecStatement(sd, params, nil, nil)
	return nil
}

// sent is a pipelined statement whose results are being read.
type sent struct {
	mrr   *pgconn.MultiResultReader
	rr    *pgconn.ResultReader // the statement's result
	query string               // as sent (after NamedArgs rewriting)
}

// send queues set_config and the statement and writes them in one batch.
// It returns the reader positioned on the statement's result.
func (p *pipeline) send(ctx context.Context, setSQL, setting, value string, cl call) (sent, error) {
	if p.pgx.IsClosed() {
		return sent{}, sqldriver.ErrBadConn
	}
	if err := p.flushDeallocations(ctx); err != nil {
		return sent{}, err
	}
	query, args, err := p.arguments(ctx, cl.query, cl.args)
	if err != nil {
		return sent{}, err
	}
	var batch pgconn.Batch
	if err := p.appendSet(ctx, &batch, setSQL, setting, value); err != nil {
		return sent{}, err
	}
	if !cl.rows && len(args) == 0 && !cl.prepared {
		// pgx runs argument-less Execs unprepared; so does the pipeline.
		batch.ExecParams(query, nil, nil, nil, nil)
	} else {
		sd, err := p.describe(ctx, cl, query)
		if err != nil {
			return sent{}, err
		}
		if err := p.queue(&batch, sd, query, args, cl.rows); err != nil {
			return sent{}, err
		}
	}
	mrr := p.pgx.PgConn().ExecBatch(ctx, &batch)
	if !mrr.NextResult() { // set_config's result
		return sent{}, p.fail(query, mrr.Close())
	}
	if _, err := mrr.ResultReader().Close(); err != nil {
		mrr.Close()
		return sent{}, p.fail(query, err)
	}
	if !mrr.NextResult() {
		err := mrr.Close()
		if err == nil {
			err = errors.New("pgx-tenant: no result for statement")
		}
		return sent{}, p.fail(query, err)
	}
	return sent{mrr: mrr, rr: mrr.ResultReader(), query: query}, nil
}

func (p *pipeline) queue(batch *pgconn.Batch, sd *pgconn.StatementDescription, query string, args []any, rows bool) error {
	m := p.pgx.TypeMap()
	if sd == nil { // exec mode: no description, text parameters, text results
		if err := p.eqb.Build(m, nil, args); err != nil {
			return err
		}
		batch.ExecParams(query, p.eqb.ParamValues, nil, p.eqb.ParamFormats, nil)
		return nil
	}
	if len(sd.ParamOIDs) != len(args) {
		return fmt.Errorf("expected %d arguments, got %d", len(sd.ParamOIDs), len(args))
	}
	if err := p.eqb.Build(m, sd, args); err != nil {
		return err
	}
	formats := p.eqb.ResultFormats
	if rows {
		formats = make([]int16, len(sd.Fields))
		for i, f := range sd.Fields {
			formats[i] = stdlibResultFormats[f.DataTypeOID]
		}
	}
	if p.mode == pgx.QueryExecModeCacheDescribe && sd.Name == "" {
		batch.ExecParams(query, p.eqb.ParamValues, sd.ParamOIDs, p.eqb.ParamFormats, formats)
	} else {
		batch.ExecStatement(sd, p.eqb.ParamValues, p.eqb.ParamFormats, formats)
	}
	return nil
}

// fail maps errors as pgx stdlib does: a network error before anything was
// sent is driver.ErrBadConn (database/sql retries on another connection).
func (p *pipeline) fail(query string, err error) error {
	if err == nil {
		return nil
	}
	p.forget(query, err)
	if pgconn.SafeToRetry(err) {
		return sqldriver.ErrBadConn
	}
	return err
}

// exec runs cl after set_config in one round trip.
func (p *pipeline) exec(ctx context.Context, setSQL, setting, value string, cl call) (sqldriver.Result, error) {
	s, err := p.send(ctx, setSQL, setting, value, cl)
	if err != nil {
		return nil, err
	}
	tag, err := s.rr.Close()
	if cerr := s.mrr.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, p.fail(s.query, err)
	}
	return sqldriver.RowsAffected(tag.RowsAffected()), nil
}

// query runs cl after set_config in one round trip and returns its rows,
// with the first row read already (as pgx stdlib does, so errors surface
// from QueryContext).
func (p *pipeline) query(ctx context.Context, setSQL, setting, value string, cl call, onErr func()) (sqldriver.Rows, error) {
	s, err := p.send(ctx, setSQL, setting, value, cl)
	if err != nil {
		return nil, err
	}
	r := newPipeRows(p.pgx.TypeMap(), s.mrr, s.rr, onErr)
	if err := r.preload(); err != nil {
		return nil, p.fail(s.query, err)
	}
	return r, nil
}

// begin sends BEGIN and, unless setSQL is empty, set_config in one round
// trip.
func (p *pipeline) begin(ctx context.Context, opts sqldriver.TxOptions, setSQL, setting, value string) error {
	if p.pgx.IsClosed() {
		return sqldriver.ErrBadConn
	}
	if err := p.flushDeallocations(ctx); err != nil {
		return err
	}
	begin, err := beginSQL(opts)
	if err != nil {
		return err
	}
	var batch pgconn.Batch
	batch.ExecParams(begin, nil, nil, nil, nil)
	if setSQL != "" {
		if err := p.appendSet(ctx, &batch, setSQL, setting, value); err != nil {
			return err
		}
	}
	_, err = p.pgx.PgConn().ExecBatch(ctx, &batch).ReadAll()
	if err != nil {
		if p.pgx.PgConn().TxStatus() != 'I' {
			rctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			p.pgx.Exec(rctx, "ROLLBACK")
			cancel()
		}
		return p.fail("", err)
	}
	return nil
}

// beginSQL renders database/sql transaction options as pgx stdlib does.
func beginSQL(opts sqldriver.TxOptions) (string, error) {
	s := "BEGIN"
	switch sql.IsolationLevel(opts.Isolation) {
	case sql.LevelDefault:
	case sql.LevelReadUncommitted:
		s += " ISOLATION LEVEL READ UNCOMMITTED"
	case sql.LevelReadCommitted:
		s += " ISOLATION LEVEL READ COMMITTED"
	case sql.LevelRepeatableRead, sql.LevelSnapshot:
		s += " ISOLATION LEVEL REPEATABLE READ"
	case sql.LevelSerializable:
		s += " ISOLATION LEVEL SERIALIZABLE"
	default:
		return "", fmt.Errorf("unsupported isolation: %v", opts.Isolation)
	}
	if opts.ReadOnly {
		s += " READ ONLY"
	}
	return s, nil
}

// pgxTx ends a transaction begun by the pipeline.
type pgxTx struct{ conn *pgx.Conn }

func (t pgxTx) Commit() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	tag, err := t.conn.Exec(ctx, "COMMIT")
	if err == nil && tag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return err
}

func (t pgxTx) Rollback() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_, err := t.conn.Exec(ctx, "ROLLBACK")
	return err
}

// stmtCache is a small LRU of statement descriptions keyed by SQL text.
type stmtCache struct {
	size int
	m    map[string]*list.Element
	l    list.List
}

func newStmtCache(size int) *stmtCache {
	return &stmtCache{size: size, m: map[string]*list.Element{}}
}

func (c *stmtCache) get(sql string) *pgconn.StatementDescription {
	if el, ok := c.m[sql]; ok {
		c.l.MoveToFront(el)
		return el.Value.(*pgconn.StatementDescription)
	}
	return nil
}

// put adds sd and returns the description it evicted, if any.
func (c *stmtCache) put(sql string, sd *pgconn.StatementDescription) *pgconn.StatementDescription {
	c.m[sql] = c.l.PushFront(sd)
	if c.l.Len() <= c.size {
		return nil
	}
	old := c.l.Remove(c.l.Back()).(*pgconn.StatementDescription)
	delete(c.m, old.SQL)
	return old
}

func (c *stmtCache) remove(sql string) *pgconn.StatementDescription {
	el, ok := c.m[sql]
	if !ok {
		return nil
	}
	delete(c.m, sql)
	return c.l.Remove(el).(*pgconn.StatementDescription)
}
