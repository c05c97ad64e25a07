package driver

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// DriverName is the name the package registers with database/sql.
const DriverName = "pgx-tenant"

func init() {
	sql.Register(DriverName, &Driver{})
}

// Driver is the database/sql driver registered as "pgx-tenant". Its DSN is
// any pgx DSN (URL or keyword/value form) plus the driver's own tenant_* keys.
type Driver struct{}

var (
	_ sqldriver.Driver        = (*Driver)(nil)
	_ sqldriver.DriverContext = (*Driver)(nil)
)

// Open opens one connection. database/sql calls OpenConnector instead; Open
// exists for callers that use the driver directly.
func (d *Driver) Open(dsn string) (sqldriver.Conn, error) {
	c, err := d.OpenConnector(dsn)
	if err != nil {
		return nil, err
	}
	// The connector lives no longer than this call: it stops following
	// a tenant_flags file (the connection keeps the rules it read).
	defer c.(*Connector).Close()
	return c.Connect(context.Background())
}

// OpenConnector parses dsn and returns a Connector. It fails, without
// connecting, on a malformed DSN, an unknown tenant_* key or a bad value.
func (d *Driver) OpenConnector(dsn string) (sqldriver.Connector, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("pgx-tenant: %w", err) // pgconn masks passwords in its errors
	}
	return NewConnector(*cfg)
}
