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
	"math"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
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
	pending []string   // names of prepared statements to deallocate

	// setReady says the connection's unnamed prepared statement holds
	// setLocalSQL (cache_statement mode), so the local set is sent as
	// Bind and Execute alone. See sendSet.
	setReady bool
}

// forgetUnnamed is called whenever anything but the pipeline may have
// used the connection: pgx's own paths parse into the unnamed statement or
// send simple queries, which destroy it.
func (p *pipeline) forgetUnnamed() {
	if p != nil {
		p.setReady = false
	}
}

// newPipeline returns nil when the connection's exec mode cannot be
// reproduced: simple protocol (no extended protocol at all) and
// describe_exec (a describe round trip per statement anyway).
func newPipeline(c *pgx.Conn) *pipeline {
	return newPipelineMode(c, c.Config().DefaultQueryExecMode)
}

// newPipelineMode returns a pipeline that reproduces exec mode mode.
func newPipelineMode(c *pgx.Conn, mode pgx.QueryExecMode) *pipeline {
	cfg := c.Config()
	p := &pipeline{pgx: c, mode: mode}
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
	query string
	args  []sqldriver.NamedValue
	rows  bool // a Query, not an Exec
	// sd is the description a Stmt keeps (parsed as the unnamed
	// statement): the statement is sent unnamed with its parameter types.
	sd *pgconn.StatementDescription
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
func (p *pipeline) describe(ctx context.Context, query string) (*pgconn.StatementDescription, error) {
	if p.stmts == nil {
		return nil, nil
	}
	if sd := p.stmts.get(query); sd != nil {
		return sd, nil
	}
	var sd *pgconn.StatementDescription
	var err error
	if p.mode == pgx.QueryExecModeCacheStatement {
		// Prepared below pgx, so that pgx's lookup of query texts among
		// prepared statement names (it runs a text equal to a name as
		// that statement) cannot reach it from SQL.
		name := statementName(query)
		sd, err = p.pgx.PgConn().Prepare(ctx, name, query, nil)
		var pe *pgconn.PrepareError
		if errors.As(err, &pe) && pe.ParseComplete {
			// The describe failed after the server kept the statement.
			p.pending = append(p.pending, name)
		}
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
	if p.mode == pgx.QueryExecModeCacheDescribe && p.stmts != nil {
		// A description costs one describe to renew, and after a schema
		// change the server's answer (08P01: result formats for the old
		// columns) does not say that it is stale: drop it on any error,
		// as pgx does.
		p.stmts.remove(query)
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
}

func statementName(query string) string {
	sum := sha256.Sum256([]byte(query))
	return sqlcheck.StatementPrefix + hex.EncodeToString(sum[:16])
}

// request is one pipelined write. It holds up to two segments, each ending
// in its own Sync, and costs one round trip:
//
//	segment 1:  [clear session objects] [set_config(name, value, false)]        Sync
//	segment 2:  [BEGIN] [set_config(name, value, true)] [statement]             Sync
//
// Segment 1 commits on its own, so nothing the statement does (a ROLLBACK in
// a procedure, a failure) can undo a session-level binding or the clearing.
// The server runs segment 2 even when segment 1 fails, which is why a
// session binding always travels with a local one in segment 2: the
// statement never runs under a previous tenant.
type request struct {
	setting, value string
	clear          bool   // segment 1: clearSQL
	session        bool   // segment 1: session-level set
	begin          string // BEGIN … opening segment 2 (BeginTx)
	local          bool   // transaction-local set before the statement
	stmt           *call  // nil: no statement (BeginTx)
}

// sent is a pipelined request whose results are being read.
type sent struct {
	pl    *pgconn.Pipeline
	rr    *pgconn.ResultReader // the statement's result (nil without a statement)
	query string               // as sent (after NamedArgs rewriting)
	// segment1Err is segment 1's failure. The statement still ran, under
	// the local binding, but the session may not hold the tenant and the
	// previous tenant's session objects may still exist.
	segment1Err error
}

// end reads what is left of the pipeline and releases the connection. It
// returns the first error the server reported after the statement's result
// (a failed implicit commit, say).
func (s *sent) end() error { return s.pl.Close() }

// sendSet queues set_config(setting, value, local), always as the unnamed
// statement. A named statement could be deallocated and prepared again as
// something else by code running on the server (plpgsql may EXECUTE
// 'PREPARE …'), and the driver would keep trusting it; SQL cannot name the
// unnamed statement. Parsing it for every statement costs the server a
// parse and a plan, so in cache_statement mode (where the statements
// themselves are named) the parsed set is reused while the driver knows the
// unnamed statement still holds it: *ready says so, and is updated.
func sendSet(pl *pgconn.Pipeline, local bool, setting, value string, ready *bool) (bound bool) {
	params := [][]byte{[]byte(setting), []byte(value)}
	if local && *ready {
		pl.SendQueryPrepared("", params, nil, nil)
		return true
	}
	sql := setSessionSQL
	if local {
		sql = setLocalSQL
	}
	pl.SendQueryParams(sql, params, []uint32{pgtype.TextOID, pgtype.TextOID}, nil, nil)
	*ready = local
	return false
}

// errSetMismatch reports a set_config that answered another value than the
// one it was given: something on the server is not what the driver expects,
// so the statement's results are not trusted.
var errSetMismatch = errors.New("pgx-tenant: set_config did not confirm the tenant; statement not trusted")

// readSet reads a set_config result and checks that it answered value.
func readSet(pl *pgconn.Pipeline, value string) error {
	res, err := pl.GetResults()
	if err != nil {
		return err
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return errors.New("pgx-tenant: unexpected pipeline result for set_config")
	}
	got, rows := "", 0
	for rr.NextRow() {
		if v := rr.Values(); len(v) == 1 {
			got = string(v[0])
		}
		rows++
	}
	if _, err := rr.Close(); err != nil {
		return err
	}
	if rows != 1 || got != value {
		return errSetMismatch
	}
	return nil
}

// skip reads one result that carries nothing the caller needs.
func skip(pl *pgconn.Pipeline) error {
	res, err := pl.GetResults()
	if err != nil {
		return err
	}
	if rr, ok := res.(*pgconn.ResultReader); ok {
		_, err = rr.Close()
	}
	return err
}

// send writes rq in one go and reads up to the statement's result.
func (p *pipeline) send(ctx context.Context, rq request) (*sent, error) {
	return p.sendOnce(ctx, rq, false)
}

func (p *pipeline) sendOnce(ctx context.Context, rq request, retried bool) (*sent, error) {
	if p.pgx.IsClosed() {
		return nil, sqldriver.ErrBadConn
	}
	if err := p.flushDeallocations(ctx); err != nil {
		return nil, p.fail("", err)
	}
	// Everything that may need a round trip of its own (first use of a
	// statement) happens before the pipeline starts.
	var (
		query string
		args  []any
		sd    *pgconn.StatementDescription
		err   error
	)
	if rq.stmt != nil {
		if query, args, err = p.arguments(ctx, rq.stmt.query, rq.stmt.args); err != nil {
			return nil, err
		}
		switch {
		case rq.stmt.sd != nil && query == rq.stmt.query:
			sd = rq.stmt.sd
		case rq.stmt.rows || len(args) > 0:
			if sd, err = p.describe(ctx, query); err != nil {
				return nil, p.fail(query, err)
			}
		}
	}

	var st stmtMessage
	if rq.stmt != nil {
		// Encode before the pipeline starts: a pipeline closed with
		// requests queued but not sent takes the connection with it.
		if st, err = p.encode(sd, query, args, rq.stmt); err != nil {
			return nil, err
		}
	}

	// ready tracks what the unnamed statement holds as the requests are
	// queued; p.setReady stays false until the set is known to have run.
	// Only outside a transaction: should the unnamed statement be gone
	// after all, the failed set is sent again, which an aborted
	// transaction would refuse.
	ready := p.setReady && p.mode == pgx.QueryExecModeCacheStatement && p.pgx.PgConn().TxStatus() == 'I'
	p.setReady = false
	bound := false
	pl := p.pgx.PgConn().StartPipeline(ctx)
	if rq.clear || rq.session {
		if rq.clear {
			for _, sql := range clearSQL {
				pl.SendQueryParams(sql, nil, nil, nil, nil)
			}
			ready = false
		}
		if rq.session {
			sendSet(pl, false, rq.setting, rq.value, &ready)
		}
		pl.SendPipelineSync()
	}
	if rq.begin != "" {
		pl.SendQueryParams(rq.begin, nil, nil, nil, nil)
		ready = false
	}
	if rq.local {
		bound = sendSet(pl, true, rq.setting, rq.value, &ready)
	}
	if rq.stmt != nil {
		st.send(pl)
		if st.sd == nil {
			ready = false
		}
	}
	ready = ready && p.mode == pgx.QueryExecModeCacheStatement
	if err := pl.Sync(); err != nil {
		pl.Close()
		return nil, p.fail(query, err)
	}

	s := &sent{pl: pl, query: query}
	abort := func(err error) (*sent, error) {
		pl.Close()
		return nil, p.fail(query, err)
	}
	if rq.clear || rq.session {
		var err error
		if rq.clear {
			for range clearSQL {
				if err = skip(pl); err != nil {
					break
				}
			}
		}
		if err == nil && rq.session {
			err = readSet(pl, rq.value)
		}
		if err != nil && (rq.clear || !isServerError(err) && err != errSetMismatch) {
			// The connection is gone, or the previous tenant's objects
			// may still be there: the statement's results are not
			// returned.
			return abort(err)
		}
		s.segment1Err = err
		// Segment 1's Sync; after an error the server skipped to it.
		if res, err := pl.GetResults(); err != nil || res == nil {
			if err == nil {
				err = errors.New("pgx-tenant: pipeline ended early")
			}
			return abort(err)
		}
	}
	if rq.begin != "" {
		if err := skip(pl); err != nil {
			return abort(err)
		}
	}
	if rq.local {
		if err := readSet(pl, rq.value); err != nil {
			if bound && sqlState(err) == "26000" && !retried {
				// The unnamed statement was gone after all (something
				// the driver did not see sent a simple query). The
				// set failed, so the statement did not run: send
				// again, parsing the set this time.
				pl.Close()
				return p.sendOnce(ctx, rq, true)
			}
			return abort(err)
		}
	}
	p.setReady = ready
	if rq.stmt == nil {
		return s, nil
	}
	res, err := pl.GetResults()
	if err != nil {
		return abort(err)
	}
	rr, ok := res.(*pgconn.ResultReader)
	if !ok {
		return abort(errors.New("pgx-tenant: no result for statement"))
	}
	s.rr = rr
	return s, nil
}

// stmtMessage is the statement's part of a pipelined request, encoded.
type stmtMessage struct {
	sd            *pgconn.StatementDescription // nil: sent unnamed with query
	query         string
	oids          []uint32
	values        [][]byte
	formats       []int16
	resultFormats []int16
}

func (m stmtMessage) send(pl *pgconn.Pipeline) {
	if m.sd != nil {
		pl.SendQueryStatement(m.sd, m.values, m.formats, m.resultFormats)
		return
	}
	pl.SendQueryParams(m.query, m.values, m.oids, m.formats, m.resultFormats)
}

// encode turns the statement's arguments into protocol values as pgx would
// for the connection's exec mode.
func (p *pipeline) encode(sd *pgconn.StatementDescription, query string, args []any, cl *call) (stmtMessage, error) {
	if sd == nil && !cl.rows && len(args) == 0 {
		// pgx runs argument-less Execs unprepared; so does the pipeline.
		return stmtMessage{query: query}, nil
	}
	m := p.pgx.TypeMap()
	if sd == nil { // exec mode: no description, text parameters, text results
		if len(args) > math.MaxUint16 {
			return stmtMessage{}, fmt.Errorf("extended protocol limited to %v parameters", math.MaxUint16)
		}
		if err := p.eqb.Build(m, nil, args); err != nil {
			return stmtMessage{}, err
		}
		return stmtMessage{query: query, values: p.eqb.ParamValues, formats: p.eqb.ParamFormats}, nil
	}
	if len(args) > math.MaxUint16 {
		return stmtMessage{}, fmt.Errorf("extended protocol limited to %v parameters", math.MaxUint16)
	}
	if len(sd.ParamOIDs) != len(args) {
		return stmtMessage{}, fmt.Errorf("expected %d arguments, got %d", len(sd.ParamOIDs), len(args))
	}
	if err := p.eqb.Build(m, sd, args); err != nil {
		return stmtMessage{}, err
	}
	formats := p.eqb.ResultFormats
	if cl.rows {
		formats = make([]int16, len(sd.Fields))
		for i, f := range sd.Fields {
			formats[i] = stdlibResultFormats[f.DataTypeOID]
		}
	}
	msg := stmtMessage{query: query, values: p.eqb.ParamValues, formats: p.eqb.ParamFormats, resultFormats: formats}
	if sd.Name == "" {
		// Described, not prepared (cache_describe, or a Stmt's own
		// description): sent unnamed, with its parameter types.
		msg.oids = sd.ParamOIDs
	} else {
		msg.sd = sd
	}
	return msg, nil
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

// exec sends rq and returns the statement's result.
func (p *pipeline) exec(ctx context.Context, rq request) (sqldriver.Result, *sent, error) {
	s, err := p.send(ctx, rq)
	if err != nil {
		return nil, nil, err
	}
	tag, err := s.rr.Close()
	if cerr := s.end(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, s, p.fail(s.query, err)
	}
	return sqldriver.RowsAffected(tag.RowsAffected()), s, nil
}

// query sends rq and returns the statement's rows, with the first row read
// already (as pgx stdlib does, so errors surface from QueryContext).
func (p *pipeline) query(ctx context.Context, rq request) (sqldriver.Rows, *sent, error) {
	s, err := p.send(ctx, rq)
	if err != nil {
		return nil, nil, err
	}
	r := newPipeRows(p.pgx.TypeMap(), s)
	if err := r.preload(); err != nil {
		return nil, s, p.fail(s.query, err)
	}
	return r, s, nil
}

// begin sends rq (BEGIN, and the committed segment 1 before it if any)
// and reads its results. On error no transaction is left open.
func (p *pipeline) begin(ctx context.Context, rq request) (*sent, error) {
	s, err := p.send(ctx, rq)
	if err == nil {
		err = s.end()
		if err == nil {
			err = s.segment1Err
		}
	}
	if err != nil {
		if p.pgx.PgConn().TxStatus() != 'I' {
			p.forgetUnnamed()
			rctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
			p.pgx.PgConn().Exec(rctx, "ROLLBACK").ReadAll()
			cancel()
		}
		return nil, p.fail("", err)
	}
	return s, nil
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

// pgxTx ends a transaction begun by the pipeline. It talks to pgconn
// directly: pgx.Conn.Exec would first look "COMMIT" up among prepared
// statement names.
type pgxTx struct{ conn *pgx.Conn }

func (t pgxTx) Commit() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	res, err := t.conn.PgConn().Exec(ctx, "COMMIT").ReadAll()
	if err == nil && len(res) == 1 && res[0].CommandTag.String() == "ROLLBACK" {
		return pgx.ErrTxCommitRollback
	}
	return err
}

func (t pgxTx) Rollback() error {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	_, err := t.conn.PgConn().Exec(ctx, "ROLLBACK").ReadAll()
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
