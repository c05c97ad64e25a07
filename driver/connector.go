package driver

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pgx-tenant/pgx-tenant/flags"
	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
	"github.com/pgx-tenant/pgx-tenant/rewrite"
)

// Connector is a [database/sql/driver.Connector] that opens pgx connections
// and binds the tenant of each call's context on them. It is safe for
// concurrent use; all connections it opens share one statement-analysis cache.
type Connector struct {
	inner    sqldriver.Connector
	cfg      config
	analyzer *sqlcheck.Analyzer
	roleSeen atomic.Bool // the connected role was checked (see checkRole)

	// catalog is what the guard decides with; nil until discovered on the
	// first connection (guard on only).
	catalog   atomic.Pointer[guard.Catalog]
	discovery sync.Mutex

	// stopWatch ends the watch of a tenant_flags file.
	stopWatch context.CancelFunc
}

var _ sqldriver.Connector = (*Connector)(nil)

// NewConnector returns a Connector for config. tenant_* keys in
// config.RuntimeParams (where pgx.ParseConfig puts the driver's DSN keys) are
// applied and removed first, then opts. It returns an error for an unknown
// tenant_* key, an invalid value, a config that sets the tenant setting
// itself, or one that sets standard_conforming_strings, client_encoding or
// backslash_quote to anything but on, UTF8 and safe_encoding (they decide
// how the server reads SQL text; the driver pins the first two as startup
// parameters). config is not modified.
func NewConnector(config pgx.ConnConfig, opts ...Option) (*Connector, error) {
	cfg := defaultConfig()
	config.RuntimeParams = maps.Clone(config.RuntimeParams) // the caller's map stays untouched
	if config.RuntimeParams == nil {
		config.RuntimeParams = map[string]string{}
	}
	if err := cfg.takeDSNKeys(config.RuntimeParams); err != nil {
		return nil, err
	}
	for _, opt := range opts {
		opt(&cfg)
	}
	if err := cfg.validate(config.RuntimeParams); err != nil {
		return nil, err
	}
	pin(config.RuntimeParams)
	if cfg.pooler == PoolerTransaction {
		unnamedOnly(&config)
	}
	if cfg.flags != nil && cfg.flagsPath != "" {
		return nil, errors.New("pgx-tenant: tenant_flags and WithFlags both given: choose one")
	}
	var stop context.CancelFunc
	if cfg.flagsPath != "" {
		required := "off"
		if cfg.required {
			required = "on"
		}
		f, err := flags.New(flags.Defaults{flags.Guard: cfg.guard.String(), flags.Rewrite: cfg.rewrite.String(), flags.Required: required})
		if err != nil {
			return nil, err
		}
		if err := f.LoadFile(cfg.flagsPath); err != nil {
			return nil, fmt.Errorf("pgx-tenant: tenant_flags: %w", err)
		}
		var ctx context.Context
		ctx, stop = context.WithCancel(context.Background())
		logger := cfg.logger
		go f.Watch(ctx, cfg.flagsPath, time.Second, func(err error) {
			logger.Warn("pgx-tenant: the flag file was not applied; the previous rules stay", "path", cfg.flagsPath, "error", err)
		})
		cfg.flags = f
	}
	c := newConnector(stdlib.GetConnector(config, cfg.stdlib...), cfg)
	c.stopWatch = stop
	return c, nil
}

// Close stops following the tenant_flags file (database/sql calls it when
// the *sql.DB closes).
func (c *Connector) Close() error {
	if c.stopWatch != nil {
		c.stopWatch()
	}
	return nil
}

// unnamedOnly configures pgx so that nothing it sends creates a named
// prepared statement: its statement cache is disabled and cache_statement
// mode runs as cache_describe (or exec, without a description cache).
func unnamedOnly(config *pgx.ConnConfig) {
	config.StatementCacheCapacity = 0
	if config.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement {
		config.DefaultQueryExecMode = pgx.QueryExecModeCacheDescribe
	}
	if config.DefaultQueryExecMode == pgx.QueryExecModeCacheDescribe && config.DescriptionCacheCapacity <= 0 {
		config.DefaultQueryExecMode = pgx.QueryExecModeExec
	}
}

// checkUnnamedOnly refuses a connection that would prepare named
// statements behind a transaction pooler: a stdlib OptionBeforeConnect may
// have changed what unnamedOnly set.
func checkUnnamedOnly(c *pgx.Conn) error {
	cfg := c.Config()
	if cfg.StatementCacheCapacity > 0 || cfg.DefaultQueryExecMode == pgx.QueryExecModeCacheStatement {
		return errors.New("pgx-tenant: tenant_pooler=transaction, but the connection's config turns pgx's statement cache on (a BeforeConnect hook?): it would prepare named statements")
	}
	return nil
}

// newConnector wraps any connector; tests use it with fake drivers.
func newConnector(inner sqldriver.Connector, cfg config) *Connector {
	c := &Connector{inner: inner, cfg: cfg}
	if cfg.scoped() {
		c.analyzer = sqlcheck.NewScopeAnalyzer(cfg.setting, cfg.column, cfg.cacheSize)
	} else {
		c.analyzer = sqlcheck.NewAnalyzer(cfg.setting, cfg.cacheSize)
	}
	return c
}

// Catalog returns the tenant-owned relations the guard decides with, or
// nil before the first connection (or with the guard off).
func (c *Connector) Catalog() *guard.Catalog { return c.catalog.Load() }

// RefreshCatalog discovers the tenant-owned relations again (after a
// migration, say), on a connection of its own. On error the previous
// catalog stays.
func (c *Connector) RefreshCatalog(ctx context.Context) error {
	ic, err := c.inner.Connect(ctx)
	if err != nil {
		return err
	}
	defer ic.Close()
	sc, ok := ic.(*stdlib.Conn)
	if !ok {
		return errors.New("pgx-tenant: the catalog can only be discovered over pgx")
	}
	return c.discover(ctx, sc.Conn(), true)
}

// discover builds the guard's catalog over pc, once unless again.
func (c *Connector) discover(ctx context.Context, pc *pgx.Conn, again bool) error {
	c.discovery.Lock()
	defer c.discovery.Unlock()
	if !again && c.catalog.Load() != nil {
		return nil
	}
	cat, err := guard.Discover(ctx, pc, c.cfg.column, c.cfg.setting)
	if err != nil {
		return err
	}
	if len(c.cfg.tables) > 0 || len(c.cfg.exclude) > 0 {
		if cat, err = cat.Override(c.cfg.tables, c.cfg.exclude); err != nil {
			return err
		}
	}
	c.analyzer.SetRelations(cat.Names())
	if c.cfg.rewrite != rewrite.Off || c.cfg.flags != nil {
		c.analyzer.SetRewrite(cat)
	}
	c.catalog.Store(cat)
	return nil
}

// OpenDB returns a *sql.DB over NewConnector(config, opts...).
func OpenDB(config pgx.ConnConfig, opts ...Option) (*sql.DB, error) {
	c, err := NewConnector(config, opts...)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(c), nil
}

// Connect opens a connection. ctx bounds the dial only: database/sql may
// pass a background context here (its opener goroutine), so the tenant is
// never taken from it.
func (c *Connector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	ic, err := c.inner.Connect(ctx)
	if err != nil {
		return nil, err
	}
	conn, err := newConn(c, ic)
	if err == nil && conn.pgx != nil && c.cfg.pooler == PoolerTransaction {
		err = checkUnnamedOnly(conn.pgx)
	}
	if err == nil && conn.pgx != nil && c.cfg.scoped() && c.catalog.Load() == nil {
		// Discovery failure fails the connection: the guard never runs
		// with a silently empty catalog.
		err = c.discover(ctx, conn.pgx, false)
	}
	if err != nil {
		ic.Close()
		return nil, err
	}
	if conn.pgx != nil && !c.roleSeen.Load() {
		c.checkRole(ctx, conn.pgx)
	}
	return conn, nil
}

// checkRole warns, once per Connector, when the connected role is not
// subject to the tables' Row-Level Security: a superuser, a BYPASSRLS role,
// or the owner (or a member of the owner) of tables whose RLS is enabled but
// not forced. That is the most common way to deploy RLS that filters
// nothing. It costs one round trip on the first connection.
func (c *Connector) checkRole(ctx context.Context, pc *pgx.Conn) {
	var role string
	var super, bypass bool
	var owned int
	err := pc.QueryRow(ctx, roleCheckSQL, pgx.QueryExecModeExec).Scan(&role, &super, &bypass, &owned)
	if err != nil {
		return // checked on a later connection
	}
	c.roleSeen.Store(true)
	if super || bypass || owned > 0 {
		c.cfg.logger.Warn("pgx-tenant: the connected role is not subject to row-level security; policies will not filter its statements",
			slog.String("role", role), slog.Bool("superuser", super), slog.Bool("bypassrls", bypass),
			slog.Int("owned_tables_without_force_rls", owned))
	}
}

const roleCheckSQL = `SELECT r.rolname::text, r.rolsuper, r.rolbypassrls,
	(SELECT count(*)::int FROM pg_catalog.pg_class t
	 WHERE t.relrowsecurity AND NOT t.relforcerowsecurity AND t.relkind IN ('r', 'p')
	   AND pg_catalog.pg_has_role(r.oid, t.relowner, 'USAGE'))
FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`

// Driver returns the pgx-tenant driver.
func (c *Connector) Driver() sqldriver.Driver { return &Driver{} }

// Setting returns the name of the PostgreSQL setting the tenant is bound to.
func (c *Connector) Setting() string { return c.cfg.setting }

// Scope returns the binding scope.
func (c *Connector) Scope() Scope { return c.cfg.scope }

// Pooler returns what the connector was configured to run behind.
func (c *Connector) Pooler() Pooler { return c.cfg.pooler }
