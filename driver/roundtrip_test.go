package driver_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// proxy forwards loopback TCP to PostgreSQL and counts the messages after
// which the client waits for the server: Sync (extended protocol) and Query
// (simple protocol). Each is one round trip.
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
			p.wg.Add(2)
			go func() { defer p.wg.Done(); io.Copy(c, s); c.Close() }()
			go func() { defer p.wg.Done(); p.count(c, s); s.Close() }()
		}
	}()
	return p
}

// count copies client bytes to the server, parsing message boundaries.
func (p *proxy) count(client io.Reader, server io.Writer) {
	var hdr [5]byte
	// The startup message has no type byte.
	if _, err := io.ReadFull(client, hdr[:4]); err != nil {
		return
	}
	n := int(binary.BigEndian.Uint32(hdr[:4]))
	server.Write(hdr[:4])
	if _, err := io.CopyN(server, client, int64(n-4)); err != nil {
		return
	}
	for {
		if _, err := io.ReadFull(client, hdr[:]); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(hdr[1:]))
		body := make([]byte, n-4)
		if _, err := io.ReadFull(client, body); err != nil {
			return
		}
		// database/sql's ResetSession makes pgx ping a connection idle for
		// over a second; under a loaded CI that may happen to either side,
		// so pings are not statements' round trips.
		ping := hdr[0] == 'Q' && bytes.HasPrefix(body, []byte("-- ping"))
		if (hdr[0] == 'S' || hdr[0] == 'Q') && !ping {
			p.trips.Add(1)
		}
		if _, err := server.Write(append(hdr[:], body...)); err != nil {
			return
		}
	}
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

// TestRoundTrips counts round trips per statement on each path and scope,
// against plain pgx stdlib through the same proxy.
func TestRoundTrips(t *testing.T) {
	d := schema(t)
	cfg, err := pgx.ParseConfig(d.AppDSN)
	if err != nil {
		t.Fatal(err)
	}
	p := startProxy(t, net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port))))
	via := []string{"host=127.0.0.1", "port=" + p.port()}

	open := func(driverName string, kv ...string) *sql.DB {
		db, err := sql.Open(driverName, withKeys(d.AppDSN, append(via, kv...)...))
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(1)
		t.Cleanup(func() { db.Close() })
		return db
	}
	workloads := func(db *sql.DB, ctxOf func(i int) context.Context) map[string]func() error {
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

	base := map[string]float64{}
	for name, f := range workloads(open("pgx"), func(int) context.Context { return context.Background() }) {
		base[name] = p.measure(t, f)
	}
	cases := []struct {
		scope, tenants string
		ctxOf          func(i int) context.Context
	}{
		{"transaction", "same", func(int) context.Context { return ctxFor(1) }},
		{"transaction", "changing", func(i int) context.Context { return ctxFor(i % numTenants) }},
		{"session", "same", func(int) context.Context { return ctxFor(1) }},
		{"session", "changing", func(i int) context.Context { return ctxFor(i % numTenants) }},
	}
	for _, c := range cases {
		db := open("pgx-tenant", "tenant_scope="+c.scope)
		for name, f := range workloads(db, c.ctxOf) {
			got := p.measure(t, f)
			t.Logf("%-11s %-8s %-11s %.1f round trips (pgx stdlib %.1f)", c.scope, c.tenants, name, got, base[name])
			if got != base[name] {
				t.Errorf("%s scope, %s tenant, %s: %.1f round trips, pgx stdlib %.1f", c.scope, c.tenants, name, got, base[name])
			}
		}
	}
}
