package audit

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

// TestAuditBigCatalog: 2000 tenant-owned tables (policies, keys, foreign
// keys, a tenth nullable with NULL rows), 400 views (half of them
// security_invoker) and 400 SECURITY DEFINER functions are audited in
// seconds: the catalog is read in a few set-based queries, not per table.
func TestAuditBigCatalog(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	const n = 2000
	d := pgtest.NewDatabase(t)
	ctx := context.Background()
	const pol = `tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), ''))`
	var b strings.Builder
	for i := 0; i < n; i++ {
		null := "NOT NULL"
		if i%10 == 0 {
			null = ""
		}
		fmt.Fprintf(&b, `CREATE TABLE t%d (tenant_id text %s, id int, k text, UNIQUE (tenant_id, id), UNIQUE (k));
CREATE INDEX ON t%d (tenant_id);
ALTER TABLE t%d ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON t%d USING (%s);
`, i, null, i, i, i, pol)
		if i > 0 {
			fmt.Fprintf(&b, "ALTER TABLE t%d ADD FOREIGN KEY (tenant_id, id) REFERENCES t%d (tenant_id, id);\n", i, i-1)
		}
		if i%5 == 0 {
			opt := ""
			if i%10 == 0 {
				opt = " WITH (security_invoker = true)"
			}
			fmt.Fprintf(&b, "CREATE VIEW v%d%s AS SELECT * FROM t%d;\n", i, opt, i)
			fmt.Fprintf(&b, "CREATE FUNCTION f%d() RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER AS $$BEGIN RETURN (SELECT count(*) FROM v%d); END$$;\n", i, i)
		}
	}
	if err := d.ExecOwner(ctx, b.String()); err != nil {
		t.Fatal(err)
	}
	if err := d.Exec(ctx, "INSERT INTO t0 VALUES (NULL, 1, 'a'), ('acme', 2, 'b')"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, d.AdminDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	start := time.Now()
	fs, err := Run(ctx, conn, Options{AppRole: d.AppRole})
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("audit of %d tables: %v, %d findings", n, elapsed, len(fs))
	count := map[Kind]int{}
	for _, f := range fs {
		count[f.Kind]++
	}
	if count[UniqueWithoutTenant] != n || count[TenantColumnNullable] != n/10 || count[SecurityDefinerFunction] != n/10 ||
		count[ViewNotSecurityInvoker] != n/10 || len(fs) != n+3*n/10 {
		t.Errorf("findings by kind: %v", count)
	}
	if elapsed > 30*time.Second {
		t.Errorf("audit of %d tables took %v", n, elapsed)
	}
}
