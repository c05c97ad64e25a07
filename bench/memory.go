package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// The memory mode (go run ./bench -memory) shows what one connection keeps
// on the server after many distinct texts have run through every path of
// the driver: its named prepared statements, by who named them, and the
// backend's memory. It uses the driver's public API only (sql.Open and a
// tenant in the context), so it measures any version of the driver.

// probeMark is in every text the memory mode sends to look at the server,
// so those statements leave the counts alone.
const probeMark = "/* bench memory probe */"

const (
	pidSQL = "SELECT pg_backend_pid() " + probeMark
	// The prefixes are pgx-tenant's pipeline (pgxtenant_), pgx's statement
	// cache (stmtcache_) and pgx's Prepare under the text as name (stmt_,
	// what pgx stdlib does for db.Prepare).
	preparedSQL = `SELECT
	count(*) FILTER (WHERE name LIKE 'pgxtenant\_%'),
	count(*) FILTER (WHERE name LIKE 'stmtcache\_%'),
	count(*) FILTER (WHERE name LIKE 'stmt\_%'),
	count(*) FILTER (WHERE name NOT LIKE 'pgxtenant\_%' AND name NOT LIKE 'stmtcache\_%' AND name NOT LIKE 'stmt\_%')
FROM pg_prepared_statements WHERE strpos(statement, 'bench memory ' || 'probe') = 0 ` + probeMark
	// Each contexts' own bytes (total_bytes does not include children).
	// A prepared statement's parse and rewrite live in a CachedPlanSource
	// and its CachedPlanQuery child; a generic plan in a CachedPlan.
	memorySQL = `SELECT sum(total_bytes)::bigint,
	count(*) FILTER (WHERE name = 'CachedPlanSource'),
	coalesce(sum(total_bytes) FILTER (WHERE name IN ('CachedPlanSource', 'CachedPlanQuery')), 0)::bigint,
	count(*) FILTER (WHERE name = 'CachedPlan'),
	coalesce(sum(total_bytes) FILTER (WHERE name = 'CachedPlan'), 0)::bigint
FROM pg_backend_memory_contexts ` + probeMark
)

// snapshot is what the server holds for one connection.
type snapshot struct {
	pid                                    int
	pgxtenant, stmtcache, stmt, other      int
	total                                  int64
	sources, sourceBytes, plans, planBytes int64
}

func takeSnapshot(ctx context.Context, db *sql.DB) (snapshot, error) {
	var s snapshot
	if err := db.QueryRowContext(ctx, pidSQL).Scan(&s.pid); err != nil {
		return s, err
	}
	if err := db.QueryRowContext(ctx, preparedSQL).Scan(&s.pgxtenant, &s.stmtcache, &s.stmt, &s.other); err != nil {
		return s, err
	}
	err := db.QueryRowContext(ctx, memorySQL).Scan(&s.total, &s.sources, &s.sourceBytes, &s.plans, &s.planBytes)
	return s, err
}

// memConn is one connection the memory mode measures.
type memConn struct {
	name       string
	driverName string
	keys       string
	// withTenant: pgx-tenant, tenant A and B in the context; otherwise
	// pgx stdlib with tenant A fixed at start-up, and every call for A.
	withTenant bool
}

// memoryResult is one connection's snapshots, or why there are none.
type memoryResult struct {
	conn         memConn
	fresh, after snapshot
	err          error
}

// runMemory starts a server and prints (and writes to out/memory.md) the
// memory table.
func runMemory(texts int, keys, out string) error {
	ctx := context.Background()
	srv, err := pgtest.Start(ctx)
	if err != nil {
		return err
	}
	defer srv.Close()
	d, err := fixture(ctx, srv)
	if err != nil {
		return err
	}
	defer d.Drop(context.Background())
	md, err := memory(ctx, d, texts, keys)
	if err != nil {
		return err
	}
	md = fmt.Sprintf("# pgx-tenant: server-side statements and memory per connection\n\n%s, PostgreSQL on loopback (%s).\n\n",
		time.Now().UTC().Format("2006-01-02"), srv.Source) + md
	fmt.Print(md)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	path := filepath.Join(out, "memory.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s\n", path)
	return nil
}

// memory measures one connection of pgx stdlib (the reference) and one of
// pgx-tenant per scope, in the default exec mode (cache_statement), and
// returns the markdown table. keys are added to the pgx-tenant DSNs.
func memory(ctx context.Context, d *pgtest.Database, texts int, keys string) (string, error) {
	// The app role may read its own backend's memory contexts (PostgreSQL
	// grants that to pg_read_all_stats only, and the role inherits nothing).
	if err := d.Exec(ctx,
		"GRANT SELECT ON pg_catalog.pg_backend_memory_contexts TO "+d.AppRole,
		"GRANT EXECUTE ON FUNCTION pg_catalog.pg_get_backend_memory_contexts() TO "+d.AppRole,
	); err != nil {
		return "", err
	}
	conns := []memConn{
		{name: "pgx stdlib (reference)", driverName: "pgx", keys: "app.tenant_id=t3"},
		{name: "pgx-tenant, transaction scope", driverName: "pgx-tenant", keys: "tenant_scope=transaction " + keys, withTenant: true},
		{name: "pgx-tenant, session scope", driverName: "pgx-tenant", keys: "tenant_scope=session " + keys, withTenant: true},
	}
	var results []memoryResult
	for _, c := range conns {
		r := memoryResult{conn: c}
		r.fresh, r.after, r.err = measureMemory(ctx, d, c, texts)
		if r.err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", c.name, r.err)
		}
		results = append(results, r)
	}

	var b strings.Builder
	fmt.Fprintf(&b, "One connection per row (pgx exec mode cache_statement, the default; statement cache 512 per connection), "+
		"%d distinct texts `SELECT val + k FROM items WHERE id = $1`. Per text: tenant A, then tenant B twice, outside a transaction; "+
		"a database/sql transaction for tenant A with the text as its first and second statement; one `db.Prepare`d Stmt, "+
		"run once for tenant A and kept open. pgx stdlib runs the same calls without binding (its tenant fixed at start-up). "+
		"Then, on the same connection (same backend pid): `pg_prepared_statements` by name prefix "+
		"(pgxtenant_: pgx-tenant's pipeline; stmtcache_: pgx's statement cache; stmt_: pgx's Prepare, as used by pgx stdlib's db.Prepare), "+
		"and the backend's memory from `pg_backend_memory_contexts` (CachedPlanSource with its CachedPlanQuery children: "+
		"parsed statements; CachedPlan: generic plans). The few statements that take the measurements are not counted.",
		texts)
	if keys != "" {
		fmt.Fprintf(&b, " pgx-tenant DSN keys added: `%s`.", keys)
	}
	b.WriteString("\n\n| connection | when | pgxtenant_ | stmtcache_ | stmt_ | other | backend memory | CachedPlanSource (n, size) | CachedPlan (n, size) |\n" +
		"|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range results {
		if r.err != nil {
			fmt.Fprintf(&b, "| %s | error: %s | | | | | | | |\n", r.conn.name, strings.ReplaceAll(r.err.Error(), "|", `\|`))
			continue
		}
		for _, x := range []struct {
			when string
			s    snapshot
		}{{"fresh", r.fresh}, {fmt.Sprintf("after %d texts", texts), r.after}} {
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %d | %s | %d, %s | %d, %s |\n", r.conn.name, x.when,
				x.s.pgxtenant, x.s.stmtcache, x.s.stmt, x.s.other, mib(x.s.total),
				x.s.sources, mib(x.s.sourceBytes), x.s.plans, mib(x.s.planBytes))
		}
	}
	b.WriteString("\n")
	return b.String(), nil
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// measureMemory runs texts distinct texts through every path on one
// connection of c and snapshots the server before and after.
func measureMemory(ctx context.Context, d *pgtest.Database, c memConn, texts int) (fresh, after snapshot, err error) {
	db, err := sql.Open(c.driverName, d.AppDSN+" "+c.keys)
	if err != nil {
		return fresh, after, err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)

	// Tenant A and B; pgx stdlib sees tenant A's rows only.
	ta, tb := 3, 5
	ctxA, ctxB := ctx, ctx
	if c.withTenant {
		ctxA, ctxB = tenant.NewContext(ctx, tenantID(ta)), tenant.NewContext(ctx, tenantID(tb))
	} else {
		tb = ta
	}
	if fresh, err = takeSnapshot(ctxA, db); err != nil {
		return fresh, after, err
	}
	check := func(q querier, ctx context.Context, text string, k, i int) error {
		id := rowID(i, k)
		var v int
		if err := q.QueryRowContext(ctx, text, id).Scan(&v); err != nil {
			return err
		}
		if v != id+k {
			return fmt.Errorf("tenant %d row %d: got %d", i, id, v)
		}
		return nil
	}
	var stmts []*sql.Stmt
	defer func() {
		for _, s := range stmts {
			s.Close()
		}
	}()
	for k := range texts {
		text := fmt.Sprintf("SELECT val + %d FROM items WHERE id = $1", k)
		for _, x := range []struct {
			ctx context.Context
			i   int
		}{{ctxA, ta}, {ctxB, tb}, {ctxB, tb}} {
			if err := check(db, x.ctx, text, k, x.i); err != nil {
				return fresh, after, fmt.Errorf("text %d: %w", k, err)
			}
		}
		err := inTx(ctxA, db, func(q querier) error {
			if err := check(q, ctxA, text, k, ta); err != nil {
				return err
			}
			return check(q, ctxA, text, k, ta)
		})
		if err != nil {
			return fresh, after, fmt.Errorf("text %d, transaction: %w", k, err)
		}
		s, err := db.PrepareContext(ctxA, text)
		if err != nil {
			return fresh, after, fmt.Errorf("text %d, prepare: %w", k, err)
		}
		stmts = append(stmts, s)
		var v int
		if err := s.QueryRowContext(ctxA, rowID(ta, k)).Scan(&v); err != nil || v != rowID(ta, k)+k {
			return fresh, after, fmt.Errorf("text %d, Stmt: got %d, %v", k, v, err)
		}
	}
	if after, err = takeSnapshot(ctxA, db); err != nil {
		return fresh, after, err
	}
	if after.pid != fresh.pid {
		return fresh, after, fmt.Errorf("the connection changed (backend pid %d, then %d)", fresh.pid, after.pid)
	}
	return fresh, after, nil
}
