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
	name string
	run  func(ctx context.Context, q querier, i, n int) error
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

var workloads = []workload{
	{
		name: "point select",
		run:  point,
		pool: func(ctx context.Context, p *pgxpool.Pool, i, n int) error {
			var v int
			return p.QueryRow(ctx, pointSQL, rowID(i, n)).Scan(&v)
		},
	},
	{
		name: "small insert",
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
		name: "3-statement tx",
		run: func(ctx context.Context, q querier, i, n int) error {
			if tx, ok := q.(*sql.Tx); ok { // already in the method's transaction
				return three(ctx, tx, i, n)
			}
			tx, err := q.(txBeginner).BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			if err := three(ctx, tx, i, n); err != nil {
				tx.Rollback()
				return err
			}
			return tx.Commit()
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
	open       func(ctx context.Context, d *pgtest.Database, conns int) (runner, error)
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

var methods = []method{
	{
		// The physical limit: the same role and policy, the tenant fixed at
		// connection start-up, nothing per statement.
		name: "pgx stdlib (no binding)", sameTenant: true,
		open: sqlMethod("pgx", "app.tenant_id=t3", func(ctx context.Context, db *sql.DB, _ int, f func(context.Context, querier) error) error {
			return f(ctx, db)
		}),
	},
	{name: "pgx-tenant transaction, tenant changes", open: sqlMethod("pgx-tenant", "tenant_scope=transaction", tenantCtx)},
	{name: "pgx-tenant transaction, same tenant", sameTenant: true, open: sqlMethod("pgx-tenant", "tenant_scope=transaction", tenantCtx)},
	{name: "pgx-tenant session, same tenant", sameTenant: true, open: sqlMethod("pgx-tenant", "tenant_scope=session", tenantCtx)},
	{name: "pgx-tenant session, tenant changes", open: sqlMethod("pgx-tenant", "tenant_scope=session", tenantCtx)},
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
