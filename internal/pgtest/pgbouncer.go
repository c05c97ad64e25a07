package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoPgBouncer is returned by StartPgBouncer when the binary is missing.
var ErrNoPgBouncer = errors.New("pgtest: pgbouncer not found (apt-get install pgbouncer)")

// PgBouncer is a PgBouncer in transaction pooling mode in front of one
// database, for the app role only.
type PgBouncer struct {
	// AppDSN connects as the database's app role through PgBouncer.
	AppDSN string
	// Version is what pgbouncer --version printed first.
	Version string

	dir  string
	cmd  *exec.Cmd
	done chan error
}

// StartPgBouncer starts PgBouncer with pool_mode=transaction and poolSize
// server connections in front of d.
func StartPgBouncer(ctx context.Context, d *Database, poolSize int) (*PgBouncer, error) {
	bin, err := exec.LookPath("pgbouncer")
	if err != nil {
		if bin = "/usr/sbin/pgbouncer"; !fileExists(bin) {
			return nil, ErrNoPgBouncer
		}
	}
	app, err := pgx.ParseConfig(d.AppDSN)
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgx-tenant-pgbouncer-")
	if err != nil {
		return nil, err
	}
	b := &PgBouncer{dir: dir}
	ok := false
	defer func() {
		if !ok {
			b.Close()
		}
	}()
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	users := fmt.Sprintf("%q %q\n", app.User, app.Password)
	ini := fmt.Sprintf(`[databases]
%s = host=%s port=%d dbname=%s
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = %d
unix_socket_dir =
auth_type = plain
auth_file = %s
pool_mode = transaction
default_pool_size = %d
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
logfile = %s
pidfile = %s
`, d.Name, app.Host, app.Port, d.Name, port, filepath.Join(dir, "users.txt"), poolSize,
		filepath.Join(dir, "pgbouncer.log"), filepath.Join(dir, "pgbouncer.pid"))
	if err := os.WriteFile(filepath.Join(dir, "users.txt"), []byte(users), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "pgbouncer.ini"), []byte(ini), 0o600); err != nil {
		return nil, err
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 { // PgBouncer refuses to run as root
		if cred, err = chownToNobody(dir); err != nil {
			return nil, err
		}
	}
	if out, err := exec.CommandContext(ctx, bin, "--version").Output(); err == nil {
		b.Version = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	}
	b.cmd = exec.Command(bin, filepath.Join(dir, "pgbouncer.ini"))
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGTERM}
	if err := b.cmd.Start(); err != nil {
		return nil, err
	}
	b.done = make(chan error, 1)
	go func() { b.done <- b.cmd.Wait() }()

	b.AppDSN = fmt.Sprintf("host=127.0.0.1 port=%d user=%s password=%s dbname=%s sslmode=disable", port, app.User, app.Password, d.Name)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			c.Close()
			break
		}
		select {
		case err := <-b.done:
			log, _ := os.ReadFile(filepath.Join(dir, "pgbouncer.log"))
			return nil, fmt.Errorf("pgtest: pgbouncer exited: %v\n%s", err, log)
		default:
		}
		if time.Now().After(deadline) {
			return nil, errors.New("pgtest: pgbouncer did not listen")
		}
		time.Sleep(50 * time.Millisecond)
	}
	ok = true
	return b, nil
}

// Close stops PgBouncer and removes its files.
func (b *PgBouncer) Close() error {
	if b.cmd != nil && b.cmd.Process != nil {
		b.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-b.done:
		case <-time.After(10 * time.Second):
			b.cmd.Process.Kill()
			<-b.done
		}
	}
	return os.RemoveAll(b.dir)
}
