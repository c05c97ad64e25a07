package driver

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"maps"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
)

// Connector is a [database/sql/driver.Connector] that opens pgx connections
// and binds the tenant of each call's context on them. It is safe for
// concurrent use; all connections it opens share one statement-analysis cache.
type Connector struct {
	inner    sqldriver.Connector
	cfg      config
	analyzer *sqlcheck.Analyzer
}

var _ sqldriver.Connector = (*Connector)(nil)

// NewConnector returns a Connector for config. tenant_* keys in
// config.RuntimeParams (where pgx.ParseConfig puts the driver's DSN keys) are
// applied and removed first, then opts. It returns an error for an unknown
// tenant_* key, an invalid value, or a config that sets the tenant setting
// itself. config is not modified.
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
	return newConnector(stdlib.GetConnector(config, cfg.stdlib...), cfg), nil
}

// newConnector wraps any connector; tests use it with fake drivers.
func newConnector(inner sqldriver.Connector, cfg config) *Connector {
	return &Connector{inner: inner, cfg: cfg, analyzer: sqlcheck.NewAnalyzer(cfg.setting, cfg.cacheSize)}
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
	if err != nil {
		ic.Close()
		return nil, err
	}
	return conn, nil
}

// Driver returns the pgx-tenant driver.
func (c *Connector) Driver() sqldriver.Driver { return &Driver{} }

// Setting returns the name of the PostgreSQL setting the tenant is bound to.
func (c *Connector) Setting() string { return c.cfg.setting }

// Scope returns the binding scope.
func (c *Connector) Scope() Scope { return c.cfg.scope }
