package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the environment variable holding an admin DSN of an existing
// server.
const EnvDSN = "PGX_TENANT_TEST_DATABASE"

// ErrUnavailable is returned by Start when no server can be found or started.
var ErrUnavailable = errors.New("pgtest: no PostgreSQL available (set " + EnvDSN + ", install PostgreSQL binaries, or run a Docker daemon)")

// Server is a PostgreSQL server the harness may create roles and databases on.
type Server struct {
	// AdminDSN connects as a role that can create roles and databases.
	AdminDSN string
	// Source says where the server came from: "env", "local" or "docker".
	Source string

	local *localCluster
	stop  func(context.Context) error
}

// Start finds or starts a server (see the package doc for the order). Close
// it when done.
func Start(ctx context.Context) (*Server, error) {
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return &Server{AdminDSN: dsn, Source: "env", stop: func(context.Context) error { return nil }}, nil
	}
	srv, err := startLocalServer(ctx)
	if !errors.Is(err, errNoBinaries) {
		return srv, err
	}
	if dockerAnswers(ctx) {
		dsn, stop, err := startDocker(ctx)
		if err != nil {
			return nil, fmt.Errorf("pgtest: docker: %w", err)
		}
		return &Server{AdminDSN: dsn, Source: "docker", stop: stop}, nil
	}
	return nil, ErrUnavailable
}

// startLocalServer starts a throwaway local cluster, the only kind of
// server Restart works on.
func startLocalServer(ctx context.Context) (*Server, error) {
	lc, err := startLocal(ctx)
	if err != nil {
		return nil, err
	}
	return &Server{AdminDSN: lc.dsn(), Source: "local", local: lc, stop: func(context.Context) error { return lc.close() }}, nil
}

// Close stops a server the harness started; an external one is left alone.
func (s *Server) Close() error { return s.stop(context.Background()) }

// CanRestart reports whether Restart works (only for a local cluster).
func (s *Server) CanRestart() bool { return s.local != nil }

// Restart stops and starts the server on the same port, dropping every
// connection, as a crash-restart would.
func (s *Server) Restart(ctx context.Context) error {
	if s.local == nil {
		return errors.New("pgtest: only a local cluster can be restarted")
	}
	return s.local.restart(ctx)
}

// Database is a fresh database with its own roles.
type Database struct {
	Name string
	// AdminDSN connects to this database as the server's admin role
	// (which bypasses RLS: use it to set up and to check, never to test).
	AdminDSN string
	// OwnerDSN connects as the database owner, who creates the tables.
	OwnerDSN string
	// AppDSN connects as the ordinary application role: NOSUPERUSER,
	// NOBYPASSRLS, owner of nothing, with DML rights on the owner's tables.
	AppDSN string
	// OwnerRole and AppRole are the role names.
	OwnerRole, AppRole string

	server *Server
}

// NewDatabase creates a database and its owner and app roles, with names
// unique to this call so several test processes can share one server.
func (s *Server) NewDatabase(ctx context.Context) (*Database, error) {
	id := randomHex(6)
	d := &Database{
		Name:      "pgt_" + id,
		OwnerRole: "pgt_" + id + "_owner",
		AppRole:   "pgt_" + id + "_app",
		server:    s,
	}
	ownerPass, appPass := randomHex(12), randomHex(12)
	var err error
	if d.AdminDSN, err = withConn(s.AdminDSN, "", "", d.Name); err != nil {
		return nil, err
	}
	if d.OwnerDSN, err = withConn(s.AdminDSN, d.OwnerRole, ownerPass, d.Name); err != nil {
		return nil, err
	}
	if d.AppDSN, err = withConn(s.AdminDSN, d.AppRole, appPass, d.Name); err != nil {
		return nil, err
	}
	err = execAll(ctx, s.AdminDSN,
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`, d.OwnerRole, ownerPass),
		fmt.Sprintf(`CREATE ROLE %s LOGIN PASSWORD '%s' NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE NOINHERIT`, d.AppRole, appPass),
		fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, d.Name, d.OwnerRole),
	)
	if err != nil {
		d.Drop(ctx)
		return nil, err
	}
	err = execAll(ctx, d.AdminDSN,
		fmt.Sprintf(`REVOKE ALL ON DATABASE %s FROM PUBLIC`, d.Name),
		fmt.Sprintf(`GRANT CONNECT, TEMPORARY ON DATABASE %s TO %s`, d.Name, d.AppRole),
		fmt.Sprintf(`GRANT USAGE ON SCHEMA public TO %s`, d.AppRole),
		fmt.Sprintf(`ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %s`, d.OwnerRole, d.AppRole),
		fmt.Sprintf(`ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO %s`, d.OwnerRole, d.AppRole),
		fmt.Sprintf(`ALTER DEFAULT PRIVILEGES FOR ROLE %s IN SCHEMA public GRANT EXECUTE ON FUNCTIONS TO %s`, d.OwnerRole, d.AppRole),
	)
	if err != nil {
		d.Drop(ctx)
		return nil, err
	}
	if err := d.CheckAppRole(ctx); err != nil {
		d.Drop(ctx)
		return nil, err
	}
	return d, nil
}

// CheckAppRole verifies that the app role cannot bypass RLS: not a
// superuser, no BYPASSRLS, and owner of no table in the database.
func (d *Database) CheckAppRole(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, d.AdminDSN)
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	var super, bypass bool
	var owned int
	err = conn.QueryRow(ctx, `SELECT r.rolsuper, r.rolbypassrls,
		(SELECT count(*) FROM pg_class c WHERE c.relowner = r.oid AND c.relkind IN ('r','p','v','m'))
		FROM pg_roles r WHERE r.rolname = $1`, d.AppRole).Scan(&super, &bypass, &owned)
	if err != nil {
		return err
	}
	if super || bypass || owned > 0 {
		return fmt.Errorf("pgtest: app role %s bypasses RLS (superuser=%v bypassrls=%v owns %d relations)", d.AppRole, super, bypass, owned)
	}
	return nil
}

// Drop removes the database and its roles.
func (d *Database) Drop(ctx context.Context) error {
	return execAll(ctx, d.server.AdminDSN,
		fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, d.Name),
		fmt.Sprintf(`DROP ROLE IF EXISTS %s`, d.AppRole),
		fmt.Sprintf(`DROP ROLE IF EXISTS %s`, d.OwnerRole),
	)
}

// Exec runs statements on this database as the admin role (set-up and
// checks that must see every tenant's rows).
func (d *Database) Exec(ctx context.Context, sql ...string) error {
	return execAll(ctx, d.AdminDSN, sql...)
}

// ExecOwner runs statements as the owner role (schema creation).
func (d *Database) ExecOwner(ctx context.Context, sql ...string) error {
	return execAll(ctx, d.OwnerDSN, sql...)
}

func execAll(ctx context.Context, dsn string, sql ...string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	for _, s := range sql {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("pgtest: %s: %w", firstLine(s), err)
		}
	}
	return nil
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// withConn returns dsn with the user, password (if user is set) and database
// replaced. It handles both URL and keyword/value DSNs.
func withConn(dsn, user, password, dbname string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		if user != "" {
			u.User = url.UserPassword(user, password)
		}
		u.Path = "/" + dbname
		return u.String(), nil
	}
	out := dsn + " dbname=" + dbname
	if user != "" {
		out += " user=" + user + " password=" + password
	}
	return strings.TrimSpace(out), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
