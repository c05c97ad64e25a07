package main

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/jackc/pgx/v5/stdlib"

	_ "github.com/pgx-tenant/pgx-tenant/driver"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// tenants is the number of tenants the fixture holds; rowsPerTenant rows each.
const (
	tenants       = 16
	rowsPerTenant = 625
)

// tenantIDs are made once, so formatting them is not measured.
var tenantIDs = func() []string {
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%d", i)
	}
	return ids
}()

func tenantID(i int) string { return tenantIDs[i] }

// rowID returns the id of the n-th row of tenant i (ids ≡ i mod tenants).
func rowID(i, n int) int { return i + tenants*(n%rowsPerTenant) }

// fixture creates the benchmark schema in a fresh database: a point-select
// table and an insert table, both under the recommended RLS policy.
func fixture(ctx context.Context, srv *pgtest.Server) (*pgtest.Database, error) {
	d, err := srv.NewDatabase(ctx)
	if err != nil {
		return nil, err
	}
	const p = `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`
	err = d.ExecOwner(ctx,
		`CREATE TABLE items (id bigint PRIMARY KEY, tenant_id text NOT NULL, val int NOT NULL)`,
		`CREATE INDEX ON items (tenant_id)`,
		`CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id text NOT NULL, note text NOT NULL)`,
		`CREATE INDEX ON events (tenant_id)`,
		`ALTER TABLE items ENABLE ROW LEVEL SECURITY`,
		`ALTER TABLE events ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY isolation ON items USING (`+p+`) WITH CHECK (`+p+`)`,
		`CREATE POLICY isolation ON events USING (`+p+`) WITH CHECK (`+p+`)`,
	)
	if err == nil {
		err = d.Exec(ctx, fmt.Sprintf(`INSERT INTO items SELECT g, 't' || (g %% %d), g FROM generate_series(0, %d) g`,
			tenants, tenants*rowsPerTenant-1), `ANALYZE items`)
	}
	if err != nil {
		d.Drop(ctx)
		return nil, err
	}
	return d, nil
}

// workload is one unit of application work for tenant i; n varies the row.
type workload struct {
	name  string
	stmts int // statements per operation
	run   func(ctx context.Context, q querier, i, n int) error
	// pool runs the same work on a pgxpool (whose API is not database/sql).
	pool func(ctx context.Context, p *pgxpool.Pool, i, n int) error
}

// querier is what *sql.DB, *sql.Conn and *sql.Tx have in common.
type querier interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
	QueryRowContext(context.Context, string, ...any) *sql.Row
}

const (
	pointSQL  = "SELECT val FROM items WHERE id = $1"
	insertSQL = "INSERT INTO events (tenant_id, note) VALUES ($1, 'bench')"
	countSQL  = "SELECT count(*) FROM items WHERE tenant_id = $1"
	updateSQL = "UPDATE items SET val = val WHERE id = $1"
)

func point(ctx context.Context, q querier, i, n int) error {
	var v int
	if err := q.QueryRowContext(ctx, pointSQL, rowID(i, n)).Scan(&v); err != nil {
		return err
	}
	if v != rowID(i, n) {
		return fmt.Errorf("tenant %d row %d: got val %d", i, rowID(i, n), v)
	}
	return nil
}

// three runs the statements of the 3-statement transaction on q.
func three(ctx context.Context, q querier, i, n int) error {
	var c int
	if err := q.QueryRowContext(ctx, countSQL, tenantID(i)).Scan(&c); err != nil {
		return err
	}
	if c != rowsPerTenant {
		return fmt.Errorf("tenant %d: count %d", i, c)
	}
	if _, err := q.ExecContext(ctx, insertSQL, tenantID(i)); err != nil {
		return err
	}
	_, err := q.ExecContext(ctx, updateSQL, rowID(i, n))
	return err
}

// txBeginner is a querier that can begin transactions (a *sql.DB or *sql.Conn).
type txBeginner interface {
	BeginTx(context.Context, *sql.TxOptions) (*sql.Tx, error)
}

// inTx runs f in a transaction of q's: its own when q is one already (the
// method opened it), else a new one committed when f succeeds.
func inTx(ctx context.Context, q querier, f func(querier) error) error {
	var tx *sql.Tx
	var tq querier
	var err error
	switch q := q.(type) {
	case *sql.Tx:
		return f(q)
	case stmtQuerier:
		tx, err = q.db.BeginTx(ctx, nil)
		tq = stmtQuerier{stmts: q.stmts, tx: tx}
	case txBeginner:
		tx, err = q.BeginTx(ctx, nil)
		tq = tx
	default:
		return fmt.Errorf("%T cannot begin a transaction", q)
	}
	if err != nil {
		return err
	}
	if err := f(tq); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// stmtQuerier runs the workloads' texts as database/sql prepared
// statements: the DB's (prepared once, re-prepared by database/sql on each
// connection that needs them) or, in a transaction, tx.StmtContext of them.
type stmtQuerier struct {
	db    *sql.DB
	stmts map[string]*sql.Stmt
	tx    *sql.Tx // nil outside a transaction
}

func (q stmtQuerier) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s, ok := q.stmts[query]
	if !ok {
		return nil, fmt.Errorf("not prepared: %s", query)
	}
	if q.tx != nil {
		return q.tx.StmtContext(ctx, s), nil // closed with the transaction
	}
	return s, nil
}

func (q stmtQuerier) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	s, err := q.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return s.ExecContext(ctx, args...)
}

func (q stmtQuerier) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	s, err := q.stmt(ctx, query)
	if err != nil {
		panic(err) // a workload text missing from workloadTexts: a bug here
	}
	return s.QueryRowContext(ctx, args...)
}

// workloadTexts are every text the workloads send, prepared by the Stmt methods.
var workloadTexts = []string{pointSQL, insertSQL, countSQL, updateSQL}

var workloads = []workload{
	{
		name:  "point select",
		stmts: 1,
		run:   point,
		pool: func(ctx context.Context, p *pgxpool.Pool, i, n int) error {
			var v int
			return p.QueryRow(ctx, pointSQL, rowID(i, n)).Scan(&v)
		},
	},
	{
		name:  "small insert",
		stmts: 1,
		run: func(ctx context.Context, q querier, i, n int) error {
			_, err := q.ExecContext(ctx, insertSQL, tenantID(i))
			return err
		},
		pool: func(ctx context.Context, p *pgxpool.Pool, i, n int) error {
			_, err := p.Exec(ctx, insertSQL, tenantID(i))
			return err
		},
	},
	{
		name:  "3-statement tx",
		stmts: 3,
		run: func(ctx context.Context, q querier, i, n int) error {
			return inTx(ctx, q, func(q querier) error { return three(ctx, q, i, n) })
		},
		pool: func(ctx context.Context, p *pgxpool.Pool, i, n int) error {
			return pgx.BeginFunc(ctx, p, func(tx pgx.Tx) error {
				var c int
				if err := tx.QueryRow(ctx, countSQL, tenantID(i)).Scan(&c); err != nil {
					return err
				}
				if _, err := tx.Exec(ctx, insertSQL, tenantID(i)); err != nil {
					return err
				}
				_, err := tx.Exec(ctx, updateSQL, rowID(i, n))
				return err
			})
		},
	},
}

// method is one way to run a workload for a tenant: the baseline, pgx-tenant,
// or what users write by hand.
type method struct {
	name string
	// sameTenant: every operation is for tenant 3; otherwise the tenant
	// changes with every operation.
	sameTenant bool
	// ref names another method of the same table this one is also
	// compared with, paired per round ("" for none): pgx-tenant's prepared
	// Stmts against pgx stdlib's, clearing session objects against the
	// same scope without it.
	ref  string
	open func(ctx context.Context, d *pgtest.Database, conns int) (runner, error)
}

// runner runs workload w for tenant i.
type runner interface {
	run(ctx context.Context, w workload, i, n int) error
	close()
}

type sqlRunner struct {
	db *sql.DB
	// do runs f for tenant i the method's way.
	do func(ctx context.Context, db *sql.DB, i int, f func(context.Context, querier) error) error
}

func (r sqlRunner) run(ctx context.Context, w workload, i, n int) error {
	return r.do(ctx, r.db, i, func(ctx context.Context, q querier) error { return w.run(ctx, q, i, n) })
}
func (r sqlRunner) close() { r.db.Close() }

func openSQL(driverName, dsn string, conns int) (*sql.DB, error) {
	db, err := sql.Open(driverName, dsn)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, nil
}

func sqlMethod(driverName string, keys string, do func(ctx context.Context, db *sql.DB, i int, f func(context.Context, querier) error) error) func(context.Context, *pgtest.Database, int) (runner, error) {
	return func(_ context.Context, d *pgtest.Database, conns int) (runner, error) {
		db, err := openSQL(driverName, d.AppDSN+" "+keys, conns)
		if err != nil {
			return nil, err
		}
		return sqlRunner{db: db, do: do}, nil
	}
}

// tenantCtx runs f on the DB with the tenant in the context (pgx-tenant).
func tenantCtx(ctx context.Context, db *sql.DB, i int, f func(context.Context, querier) error) error {
	return f(tenant.NewContext(ctx, tenantID(i)), db)
}

// plainCtx runs f on the DB with the context as it is (pgx stdlib).
func plainCtx(ctx context.Context, db *sql.DB, _ int, f func(context.Context, querier) error) error {
	return f(ctx, db)
}

// baseline is plain pgx stdlib at the physical limit: the same role and
// policy, the tenant fixed at connection start-up, nothing per statement.
// Every table measures two of them, identical but on connections of their
// own: each ratio is reported against both, and their ratio to each other
// is the table's noise floor.
func baseline(name string) method {
	return method{name: name, sameTenant: true, open: sqlMethod("pgx", "app.tenant_id=t3", plainCtx)}
}

// The names of the methods other methods refer to.
const (
	nameBaselineA  = "baseline A: pgx stdlib (no binding)"
	nameBaselineB  = "baseline B: pgx stdlib (no binding)"
	nameStdlibStmt = "pgx stdlib, prepared Stmt (no binding)"
)

// stmtMethod prepares the workloads' texts once with db.PrepareContext and
// runs every operation through those Stmts (tx.StmtContext in
// transactions), the tenant in the context when withTenant.
func stmtMethod(driverName, keys string, withTenant bool) func(context.Context, *pgtest.Database, int) (runner, error) {
	return func(ctx context.Context, d *pgtest.Database, conns int) (runner, error) {
		db, err := openSQL(driverName, d.AppDSN+" "+keys, conns)
		if err != nil {
			return nil, err
		}
		stmts := make(map[string]*sql.Stmt, len(workloadTexts))
		for _, q := range workloadTexts {
			s, err := db.PrepareContext(ctx, q) // no tenant needed to prepare
			if err != nil {
				db.Close()
				return nil, err
			}
			stmts[q] = s
		}
		return stmtRunner{q: stmtQuerier{db: db, stmts: stmts}, withTenant: withTenant}, nil
	}
}

type stmtRunner struct {
	q          stmtQuerier
	withTenant bool
}

func (r stmtRunner) run(ctx context.Context, w workload, i, n int) error {
	if r.withTenant {
		ctx = tenant.NewContext(ctx, tenantID(i))
	}
	return w.run(ctx, r.q, i, n)
}

func (r stmtRunner) close() {
	for _, s := range r.q.stmts {
		s.Close()
	}
	r.q.db.Close()
}

// methods are the variants of the report's main tables. The first two are
// the baselines (A and B); a method's ref names another of the list.
var methods = []method{
	baseline(nameBaselineA),
	baseline(nameBaselineB),
	{name: "pgx-tenant transaction, tenant changes", open: sqlMethod("pgx-tenant", "tenant_scope=transaction", tenantCtx)},
	{name: "pgx-tenant transaction, same tenant", sameTenant: true, open: sqlMethod("pgx-tenant", "tenant_scope=transaction", tenantCtx)},
	{name: "pgx-tenant session, same tenant", sameTenant: true, open: sqlMethod("pgx-tenant", "tenant_scope=session", tenantCtx)},
	{name: "pgx-tenant session, tenant changes", open: sqlMethod("pgx-tenant", "tenant_scope=session", tenantCtx)},
	{name: nameStdlibStmt, sameTenant: true, open: stmtMethod("pgx", "app.tenant_id=t3", false)},
	{
		name: "pgx-tenant transaction, prepared Stmt, tenant changes", ref: nameStdlibStmt,
		open: stmtMethod("pgx-tenant", "tenant_scope=transaction", true),
	},
	{
		name: "pgx-tenant session, prepared Stmt, same tenant", sameTenant: true, ref: nameStdlibStmt,
		open: stmtMethod("pgx-tenant", "tenant_scope=session", true),
	},
	{
		// By hand: check out a connection, set the tenant for the session,
		// run the work, return the connection.
		name: "hand: session set_config per request",
		open: sqlMethod("pgx", "", func(ctx context.Context, db *sql.DB, i int, f func(context.Context, querier) error) error {
			conn, err := db.Conn(ctx)
			if err != nil {
				return err
			}
			defer conn.Close()
			if _, err := conn.ExecContext(ctx, "SELECT set_config('app.tenant_id', $1, false)", tenantID(i)); err != nil {
				return err
			}
			return f(ctx, conn)
		}),
	},
	{
		// By hand: a transaction per request with a local setting.
		name: "hand: BEGIN; SET LOCAL; ...; COMMIT",
		open: sqlMethod("pgx", "", func(ctx context.Context, db *sql.DB, i int, f func(context.Context, querier) error) error {
			tx, err := db.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "SELECT set_config('app.tenant_id', $1, true)", tenantID(i)); err != nil {
				tx.Rollback()
				return err
			}
			if err := f(ctx, tx); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
		}),
	},
	{
		// By hand on pgxpool: set the tenant when a connection is acquired,
		// clear it when it is released.
		name: "hand: pgxpool PrepareConn/AfterRelease",
		open: func(ctx context.Context, d *pgtest.Database, conns int) (runner, error) {
			cfg, err := pgxpool.ParseConfig(d.AppDSN)
			if err != nil {
				return nil, err
			}
			cfg.MaxConns = int32(conns)
			cfg.MinConns = int32(conns)
			cfg.PrepareConn = func(ctx context.Context, c *pgx.Conn) (bool, error) {
				id, _ := tenant.FromContext(ctx)
				_, err := c.Exec(ctx, "SELECT set_config('app.tenant_id', $1, false)", id)
				return err == nil, err
			}
			cfg.AfterRelease = func(c *pgx.Conn) bool {
				_, err := c.Exec(context.Background(), "SELECT set_config('app.tenant_id', '', false)")
				return err == nil
			}
			p, err := pgxpool.NewWithConfig(ctx, cfg)
			if err != nil {
				return nil, err
			}
			return poolRunner{p}, nil
		},
	},
}

type poolRunner struct{ p *pgxpool.Pool }

func (r poolRunner) run(ctx context.Context, w workload, i, n int) error {
	return w.pool(tenant.NewContext(ctx, tenantID(i)), r.p, i, n)
}
func (r poolRunner) close() { r.p.Close() }
