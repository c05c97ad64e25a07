// Command cli runs the pgx-tenant CLI against the embedded database the way a
// team runs it during a migration: a schema with the usual tenancy holes is
// audited, its tenant columns backfilled, its RLS policies applied, and
// audited again; then the application role reads through the driver.
//
//	go run ./examples/cli
//
// It builds the CLI (go build github.com/pgx-tenant/pgx-tenant/cmd/pgx-tenant)
// into a temporary directory and prints each command with its output and
// exit code. The database comes from PGX_TENANT_TEST_DATABASE, or is started
// from the local PostgreSQL binaries (see internal/pgtest).
package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/pgx-tenant/pgx-tenant/driver" // registers "pgx-tenant"
	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
	"github.com/pgx-tenant/pgx-tenant/tenant"
)

// schema is a small SaaS schema as it looks before the migration: tenant
// columns added late (nullable, partly NULL), keys and foreign keys that
// ignore them, no RLS, a view that runs as its owner, TRUNCATE granted.
var schema = []string{
	`CREATE TABLE services (
		id bigserial PRIMARY KEY,
		tenant_id text,
		name text NOT NULL)`,
	`CREATE TABLE bookings (
		id bigserial PRIMARY KEY,
		tenant_id text,
		service_id bigint NOT NULL REFERENCES services (id),
		starts_at timestamptz NOT NULL DEFAULT now())`,
	`CREATE TABLE invoices (
		id bigserial PRIMARY KEY,
		tenant_id text,
		booking_id bigint REFERENCES bookings (id),
		total numeric NOT NULL)`,
	`CREATE TABLE idempotency_keys (
		id bigserial PRIMARY KEY,
		tenant_id text NOT NULL,
		key text NOT NULL UNIQUE)`,
	`CREATE VIEW revenue AS SELECT tenant_id, sum(total) AS total FROM invoices GROUP BY tenant_id`,
	`INSERT INTO services (tenant_id, name) VALUES ('acme', 'Plumbing'), ('acme', 'Heating'), ('globex', 'Gardening')`,
	// Bookings and invoices written before the application set the tenant.
	`INSERT INTO bookings (tenant_id, service_id) SELECT NULL, 1 + i % 3 FROM generate_series(1, 3000) i`,
	`INSERT INTO invoices (tenant_id, booking_id, total) SELECT NULL, id, 10 + id % 90 FROM bookings`,
	`INSERT INTO idempotency_keys (tenant_id, key) VALUES ('acme', 'k-1'), ('globex', 'k-2')`,
}

func main() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	srv, err := pgtest.Start(ctx)
	if err != nil {
		log.Fatal(err)
	}
	err = run(ctx, srv, os.Stdout)
	srv.Close()
	if err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, srv *pgtest.Server, w io.Writer) error {
	d, err := srv.NewDatabase(ctx)
	if err != nil {
		return err
	}
	defer d.Drop(context.Background())
	if err := d.ExecOwner(ctx, schema...); err != nil {
		return err
	}
	// Privileges of a schema that grew without a review.
	if err := d.ExecOwner(ctx, "GRANT TRUNCATE ON invoices TO "+d.AppRole); err != nil {
		return err
	}

	bin, err := buildCLI(ctx)
	if err != nil {
		return err
	}
	defer os.RemoveAll(filepath.Dir(bin))
	cli := func(dsn string, args ...string) (int, error) { return runCLI(ctx, w, bin, dsn, args...) }

	fmt.Fprintln(w, "# 1. Audit the schema as it is (the app connects as "+d.AppRole+").")
	if _, err := cli(d.AdminDSN, "audit", "--app-role", d.AppRole); err != nil {
		return err
	}
	fmt.Fprintln(w, "\n# 2. Fill the NULL tenant columns from the foreign keys; make them NOT NULL;")
	fmt.Fprintln(w, "#    add the tenant-led unique keys and composite foreign keys.")
	if code, err := cli(d.AdminDSN, "backfill", "apply", "--apply-constraints"); err != nil || code != 0 {
		return fmt.Errorf("backfill apply: exit %d, %v", code, err)
	}
	fmt.Fprintln(w, "\n# 3. Enable and force RLS with the recommended policy (as the owner); twice: the second changes nothing.")
	for range 2 {
		if code, err := cli(d.OwnerDSN, "rls", "apply", "--force"); err != nil || code != 0 {
			return fmt.Errorf("rls apply: exit %d, %v", code, err)
		}
	}
	fmt.Fprintln(w, "\n# 4. What the audit still finds: the view, the grant, a key without the tenant.")
	if _, err := cli(d.AdminDSN, "audit", "--app-role", d.AppRole); err != nil {
		return err
	}
	fix := []string{
		"ALTER VIEW revenue SET (security_invoker = true)",
		"REVOKE TRUNCATE ON invoices FROM " + d.AppRole,
		"ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_key_key, ADD UNIQUE (tenant_id, key)",
	}
	fmt.Fprintln(w, "\n# 5. Fix those by hand, and audit again:")
	for _, s := range fix {
		fmt.Fprintln(w, "  "+s+";")
	}
	if err := d.ExecOwner(ctx, fix...); err != nil {
		return err
	}
	code, err := cli(d.AdminDSN, "audit", "--app-role", d.AppRole)
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("the audit still finds something (exit %d)", code)
	}

	fmt.Fprintln(w, "\n# 6. The application, through the pgx-tenant driver, as "+d.AppRole+":")
	db, err := sql.Open("pgx-tenant", d.AppDSN)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, id := range []string{"acme", "globex"} {
		var n int
		var total string
		err := db.QueryRowContext(tenant.NewContext(ctx, id), `SELECT count(*), coalesce(sum(total), 0)::text FROM invoices`).Scan(&n, &total)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "  %s sees %d invoices, total %s\n", id, n, total)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM invoices`).Scan(&n); err != nil {
		return err
	}
	fmt.Fprintf(w, "  no tenant sees %d invoices\n", n)
	if n != 0 {
		return errors.New("rows visible without a tenant")
	}
	return nil
}

// buildCLI compiles the command into a temporary directory.
func buildCLI(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "pgx-tenant-cli")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "pgx-tenant")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/pgx-tenant/pgx-tenant/cmd/pgx-tenant")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("building the CLI: %w", err)
	}
	return bin, nil
}

// runCLI runs the CLI with DATABASE_URL set to dsn, printing the command
// line (without the DSN), its output and its exit code.
func runCLI(ctx context.Context, w io.Writer, bin, dsn string, args ...string) (int, error) {
	fmt.Fprintf(w, "$ pgx-tenant %s\n", strings.Join(args, " "))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn)
	out, err := cmd.CombinedOutput()
	fmt.Fprint(w, indent(string(out)))
	code := 0
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		return 0, err
	}
	fmt.Fprintf(w, "  (exit %d)\n", code)
	if code == 2 {
		return code, fmt.Errorf("pgx-tenant %s failed", strings.Join(args, " "))
	}
	return code, nil
}

func indent(s string) string {
	if s == "" {
		return ""
	}
	return "  " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n  ") + "\n"
}
