package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

var errNoBinaries = errors.New("pgtest: no initdb/postgres binaries found")

// localCluster is a PostgreSQL cluster in a temporary directory, run as a
// child process on a loopback port.
type localCluster struct {
	bin  string // directory holding initdb and postgres
	dir  string
	port int
	cred *syscall.Credential // non-nil when running as root
	cmd  *exec.Cmd
	done chan error
}

func findBinaries() (string, error) {
	if p, err := exec.LookPath("postgres"); err == nil {
		if _, err := exec.LookPath("initdb"); err == nil {
			return filepath.Dir(p), nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if fileExists(filepath.Join(d, "postgres")) && fileExists(filepath.Join(d, "initdb")) {
			return d, nil
		}
	}
	return "", errNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func startLocal(ctx context.Context) (*localCluster, error) {
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgx-tenant-pg-")
	if err != nil {
		return nil, err
	}
	lc := &localCluster{bin: bin, dir: dir}
	if os.Geteuid() == 0 { // initdb and postgres refuse to run as root
		if lc.cred, err = chownToNobody(dir); err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"-D", lc.data(), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-locale", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: lc.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("pgtest: initdb: %w\n%s", err, out)
	}
	if lc.port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := lc.start(ctx); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return lc, nil
}

func (lc *localCluster) data() string { return filepath.Join(lc.dir, "data") }
func (lc *localCluster) logPath() string {
	return filepath.Join(lc.dir, "postgres.log")
}

func (lc *localCluster) dsn() string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", lc.port)
}

func (lc *localCluster) start(ctx context.Context) error {
	logf, err := os.OpenFile(lc.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(filepath.Join(lc.bin, "postgres"), "-D", lc.data(),
		"-p", strconv.Itoa(lc.port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "max_connections=300",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Pdeathsig stops the server if the test binary dies without cleanup.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: lc.cred, Pdeathsig: syscall.SIGQUIT}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pgtest: start postgres: %w", err)
	}
	lc.cmd = cmd
	lc.done = make(chan error, 1)
	go func() { lc.done <- cmd.Wait() }()

	deadline := time.Now().Add(60 * time.Second)
	for {
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(cctx, lc.dsn())
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case werr := <-lc.done:
			log, _ := os.ReadFile(lc.logPath())
			return fmt.Errorf("pgtest: postgres exited: %v\n%s", werr, log)
		default:
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			lc.stopProcess()
			return fmt.Errorf("pgtest: postgres did not accept connections: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopProcess asks for a fast shutdown and kills the server if it lingers.
func (lc *localCluster) stopProcess() {
	if lc.cmd == nil {
		return
	}
	lc.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-lc.done:
	case <-time.After(15 * time.Second):
		lc.cmd.Process.Kill()
		<-lc.done
	}
	lc.cmd = nil
}

func (lc *localCluster) restart(ctx context.Context) error {
	lc.stopProcess()
	return lc.start(ctx)
}

func (lc *localCluster) close() error {
	lc.stopProcess()
	return os.RemoveAll(lc.dir)
}

// chownToNobody gives dir to the unprivileged user "nobody" and returns the
// credential to run a server as.
func chownToNobody(dir string) (*syscall.Credential, error) {
	u, err := user.Lookup("nobody")
	if err != nil {
		return nil, fmt.Errorf("pgtest: running as root needs an unprivileged user: %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	}); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
