package driver_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

// proxy forwards loopback TCP to PostgreSQL and counts round trips: bursts
// of client messages sent while no earlier request awaits its answer. A
// pipeline of several Syncs sent in one go is one round trip; a statement
// sent after the previous one's answer is another.
//
// Every Sync (extended protocol) and simple Query gets exactly one
// ReadyForQuery back, so a connection's requests awaiting an answer are the
// Syncs and Queries forwarded to the server minus the ReadyForQuery messages
// forwarded to the client. The client side is relayed a read at a time and
// each read is judged as a whole before it is forwarded, so the messages of
// one write are one round trip whatever they hold. A burst that spans reads
// is counted once only while a Sync of its first part still awaits its
// answer; pgx writes each request, and the driver each pipeline, at once.
type proxy struct {
	ln    net.Listener
	trips atomic.Int64
	wg    sync.WaitGroup
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln}
	t.Cleanup(func() { ln.Close(); p.wg.Wait() })
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			var awaiting atomic.Int64 // Syncs and Queries without their ReadyForQuery yet
			p.wg.Add(2)
			go func() {
				defer p.wg.Done()
				relay(s, c, func(msgs [][]byte) {
					// Before forwarding: once the client sees the answer
					// it may send the next request, which must find it
					// counted.
					for _, m := range msgs {
						if m[0] == 'Z' {
							awaiting.Add(-1)
						}
					}
				})
				c.Close()
			}()
			go func() {
				defer p.wg.Done()
				if startup(c, s) {
					awaiting.Add(1) // the server's ReadyForQuery once the session is up
					relay(c, s, func(msgs [][]byte) {
						if awaiting.Load() == 0 && !idle(msgs) {
							p.trips.Add(1)
						}
						for _, m := range msgs {
							if m[0] == 'S' || m[0] == 'Q' {
								awaiting.Add(1)
							}
						}
					})
				}
				s.Close()
			}()
		}
	}()
	return p
}

// startup forwards the client's startup packet, which has no type byte, and
// reports whether a session follows. SSL and GSS encryption requests are
// refused on the server's behalf so that the stream stays readable; the
// client then sends its startup packet in the clear (or gives up, for
// sslmode=require).
func startup(client io.ReadWriter, server io.Writer) bool {
	for {
		var hdr [8]byte // length, then protocol version or request code
		if _, err := io.ReadFull(client, hdr[:]); err != nil {
			return false
		}
		pkt := make([]byte, binary.BigEndian.Uint32(hdr[:4]))
		copy(pkt, hdr[:])
		if _, err := io.ReadFull(client, pkt[8:]); err != nil {
			return false
		}
		switch binary.BigEndian.Uint32(hdr[4:]) {
		case 80877103, 80877104: // SSLRequest, GSSENCRequest
			if _, err := client.Write([]byte{'N'}); err != nil {
				return false
			}
			continue
		case 80877102: // CancelRequest: no session, no answer
			server.Write(pkt)
			return false
		}
		_, err := server.Write(pkt)
		return err == nil
	}
}

// relay copies typed protocol messages from src to dst a read at a time,
// passing the whole messages of each read to inspect before forwarding them;
// a message cut by the read is kept for the next.
func relay(src io.Reader, dst io.Writer, inspect func(msgs [][]byte)) {
	buf := make([]byte, 0, 64<<10)
	for {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, len(buf))
		}
		n, err := src.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		var msgs [][]byte
		whole := 0
		for len(buf)-whole >= 5 {
			size := 1 + int(binary.BigEndian.Uint32(buf[whole+1:]))
			if len(buf)-whole < size {
				break
			}
			msgs = append(msgs, buf[whole:whole+size])
			whole += size
		}
		if len(msgs) > 0 {
			inspect(msgs)
			if _, err := dst.Write(buf[:whole]); err != nil {
				return
			}
			buf = buf[:copy(buf, buf[whole:])]
		}
		if err != nil {
			return
		}
	}
}

// idle reports whether msgs are only what the client sends outside any
// statement: Terminate, and pgx's ping. database/sql's ResetSession makes
// pgx ping a connection idle for over a second; under a loaded CI that may
// happen to either side, so a ping is no statement's round trip (its
// ReadyForQuery is still awaited like any other).
func idle(msgs [][]byte) bool {
	for _, m := range msgs {
		ping := m[0] == 'Q' && bytes.HasPrefix(m[5:], []byte("-- ping"))
		if m[0] != 'X' && !ping {
			return false
		}
	}
	return true
}

func (p *proxy) port() string { return strconv.Itoa(p.ln.Addr().(*net.TCPAddr).Port) }

// measure returns the round trips per call of f, after warming up (the
// first use of a statement on a connection also prepares it, for pgx
// stdlib as for pgx-tenant).
func (p *proxy) measure(t *testing.T, f func() error) float64 {
	t.Helper()
	for i := 0; i < 2; i++ {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	const n = 10
	before := p.trips.Load()
	for i := 0; i < n; i++ {
		if err := f(); err != nil {
			t.Fatal(err)
		}
	}
	return float64(p.trips.Load()-before) / n
}

// TestProxyCountsRoundTrips checks the counter itself: a pipeline of two
// Syncs in one write is one round trip, even when its first segment fails;
// statements that wait for each other are one each.
func TestProxyCountsRoundTrips(t *testing.T) {
	d := pgtest.NewDatabase(t)
	cfg, err := pgx.ParseConfig(d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	ctx := context.Background()
	conn, err := pgconn.Connect(ctx, withKeys(d.AppDSN, "host=127.0.0.1", "port="+p.port()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	pipeline := func(first string) func() error {
		return func() error {
			pl := conn.StartPipeline(ctx)
			pl.SendQueryParams(first, nil, nil, nil, nil)
			pl.SendPipelineSync()
			pl.SendQueryParams("SELECT 2", nil, nil, nil, nil)
			if err := pl.Sync(); err != nil {
				return err
			}
			err := pl.Close()
			if pe := (*pgconn.PgError)(nil); errors.As(err, &pe) && pe.Code == "22012" {
				return nil // division_by_zero: the failing segment's own error
			}
			return err
		}
	}
	tests := []struct {
		name string
		f    func() error
		want float64
	}{
		{"two Syncs", pipeline("SELECT 1"), 1},
		{"two Syncs, first fails", pipeline("SELECT 1/0"), 1},
		{"Exec then Exec", func() error {
			if err := conn.Exec(ctx, "SELECT 1").Close(); err != nil {
				return err
			}
			return conn.Exec(ctx, "SELECT 2").Close()
		}, 2},
	}
	for _, tt := range tests {
		if got := p.measure(t, tt.f); got != tt.want {
			t.Errorf("%s: %.1f round trips, want %.0f", tt.name, got, tt.want)
		}
	}
}

// TestRoundTrips counts round trips per statement on each exec mode, scope
// and workload, against plain pgx stdlib in the same mode through the same
// proxy. In the modes the driver pipelines, binding the tenant must cost no
// round trip at all. describe_exec and simple_protocol take the general
// path, whose BEGIN, set_config and COMMIT are round trips of their own.
func TestRoundTrips(t *testing.T) {
	d := schema(t)
	cfg, err := pgx.ParseConfig(d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	via := []string{"host=127.0.0.1", "port=" + p.port()}

	open := func(t *testing.T, driverName string, kv ...string) *sql.DB {
		db, err := sql.Open(driverName, withKeys(d.AppDSN, append(via, kv...)...))
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	workloads := func(t *testing.T, db *sql.DB, ctxOf func(i int) context.Context) map[string]func() error {
		n := 0
		next := func() context.Context { n++; return ctxOf(n) }
		stmt, err := db.Prepare("SELECT count(*) FROM items WHERE val > $1")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { stmt.Close() })
		var c int
		return map[string]func() error{
			"QueryRow": func() error {
				return db.QueryRowContext(next(), "SELECT count(*) FROM items WHERE val > $1", 0).Scan(&c)
			},
			"Query": func() error {
				rows, err := db.QueryContext(next(), "SELECT tenant_id FROM items")
				if err != nil {
					return err
				}
				for rows.Next() {
				}
				rows.Close()
				return rows.Err()
			},
			"Exec": func() error {
				_, err := db.ExecContext(next(), "UPDATE items SET val = val WHERE id = $1", 1)
				return err
			},
			"Exec noargs": func() error { _, err := db.ExecContext(next(), "UPDATE items SET val = val WHERE id = 1"); return err },
			"Stmt":        func() error { return stmt.QueryRowContext(next(), 0).Scan(&c) },
			"Tx Stmt": func() error {
				ctx := next()
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				if err := tx.StmtContext(ctx, stmt).QueryRowContext(ctx, 0).Scan(&c); err != nil {
					return err
				}
				return tx.Commit()
			},
			"Tx of 2": func() error {
				ctx := next()
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					return err
				}
				if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM items").Scan(&c); err != nil {
					return err
				}
				if _, err := tx.ExecContext(ctx, "UPDATE items SET val = val WHERE id = $1", 1); err != nil {
					return err
				}
				return tx.Commit()
			},
		}
	}
	cases := []struct {
		scope, tenants string
		ctxOf          func(i int) context.Context
		pooler         string
	}{
		{"transaction", "same", func(int) context.Context { return ctxFor(1) }, "none"},
		{"transaction", "changing", func(i int) context.Context { return ctxFor(i % numTenants) }, "none"},
		{"session", "same", func(int) context.Context { return ctxFor(1) }, "none"},
		{"session", "changing", func(i int) context.Context { return ctxFor(i % numTenants) }, "none"},
		// Behind a transaction pooler: no named statements, and still no
		// round trip for the binding.
		{"transaction", "changing", func(i int) context.Context { return ctxFor(i % numTenants) }, "transaction"},
	}
	modes := []struct {
		mode  string
		extra float64 // round trips allowed over pgx stdlib
	}{
		{"cache_statement", 0},
		{"cache_describe", 0},
		{"exec", 0},
		// The general path: BEGIN, set_config, COMMIT; in describe_exec
		// pgx describes set_config before running it, as it does every
		// statement with arguments.
		{"describe_exec", 4},
		{"simple_protocol", 3},
	}
	for _, m := range modes {
		t.Run(m.mode, func(t *testing.T) {
			mode := "default_query_exec_mode=" + m.mode
			base := map[string]float64{}
			for name, f := range workloads(t, open(t, "pgx", mode), func(int) context.Context { return context.Background() }) {
				base[name] = p.measure(t, f)
			}
			for _, c := range cases {
				db := open(t, "pgx-tenant", mode, "tenant_scope="+c.scope, "tenant_pooler="+c.pooler)
				for name, f := range workloads(t, db, c.ctxOf) {
					got := p.measure(t, f)
					t.Logf("%-11s %-8s pooler=%-11s %-11s %.1f round trips (pgx stdlib %.1f)", c.scope, c.tenants, c.pooler, name, got, base[name])
					if got < base[name] {
						t.Logf("%s scope, %s tenant, %s: fewer round trips than pgx stdlib", c.scope, c.tenants, name)
					}
					extra := m.extra
					if name == "Stmt" {
						// A Stmt carries its description and is
						// pipelined in every mode.
						extra = 0
					}
					if got > base[name]+extra {
						t.Errorf("%s scope, %s tenant, pooler %s, %s: %.1f round trips, pgx stdlib %.1f, allowed %.0f more",
							c.scope, c.tenants, c.pooler, name, got, base[name], extra)
					}
				}
			}
		})
	}
}
