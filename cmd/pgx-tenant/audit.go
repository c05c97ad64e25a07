package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/pgx-tenant/pgx-tenant/internal/audit"
)

const auditSummary = `Audit a schema for tenancy holes. It reads every table with the
tenant column, its policies, keys and indexes, and the views, functions,
grants and roles around it, and prints one finding per line: a stable kind
code, a severity, the table, a detail, and a suggested fix below the table;
--json prints them as an array ([] when clean). It changes nothing. Connect
as a superuser or a BYPASSRLS role for exact counts of NULL-tenant rows: a
role RLS applies to cannot see them, and the count is then reported as
unknown, never as 0.

Kinds (severity):
  app_role_superuser         critical  the app role is, or can SET ROLE to, a superuser
  app_role_bypassrls         critical  the app role has, or can SET ROLE to a role with, BYPASSRLS
  app_role_owner             critical  the app role owns the table, or is a member of its owner
                                       (or can become one through CREATEROLE, PostgreSQL <= 15)
  rls_disabled               critical  row-level security is not enabled
  policy_not_tenant          critical  a permissive policy does not compare the tenant column
                                       with the setting (low: compares it with something the
                                       audit cannot read)
  policy_no_with_check       high      writes through a policy are not tenant-checked, or may
                                       write NULL-tenant rows (low: an INSERT policy without
                                       WITH CHECK, which lets nothing in)
  fk_without_tenant          high      a foreign key between tenant-owned tables omits the
                                       tenant column on either side
  missing_tenant_column      high      a table references a tenant-owned table but has no
                                       tenant column
  truncate_granted           high      TRUNCATE (which ignores RLS) is granted to the app role,
                                       a role it is a member of, or PUBLIC
  view_not_security_invoker  high      a view reads tenant-owned tables as an owner who bypasses
                                       RLS (medium: as an owner RLS applies to); materialized
                                       views are always high
  security_definer_function  high      a SECURITY DEFINER function reads a tenant-owned table as
                                       an owner who bypasses RLS (medium: one RLS applies to,
                                       unless it is a trigger function)
  tenant_column_nullable     high      the tenant column is nullable and NULL rows exist or
                                       could not be counted (medium: none now)
  rls_not_forced             medium    RLS is enabled but not forced: the owner bypasses it
  policy_missing             medium    RLS is enabled but no permissive policy applies to the
                                       app role: it sees nothing
  policy_no_nullif           medium    a policy reads the setting without NULLIF(…, '')
  unique_without_tenant      medium    a unique key (not a single-column primary key, not
                                       identity, serial or uuid-default columns) lacks the
                                       tenant column as a key column
  tenant_index_missing       medium    no index leads with the tenant column
  policy_setting_per_row     low       a policy reads the setting outside a scalar sub-select`

func init() {
	register(&command{
		name:     "audit",
		summary:  auditSummary,
		findings: "when a finding is at or above --fail-on",
		flags: func(fs *flag.FlagSet) func() error {
			new(dbFlags).register(fs)
			fs.String("app-role", "", "the role the application connects as (default: the connecting role)")
			fs.Bool("json", false, "print the findings as a JSON array")
			fs.String("fail-on", "low", "exit 1 when a finding is at or above this severity: low, medium, high or critical")
			fs.String("schema", "", "comma-separated schemas to audit (default: every non-system schema)")
			fs.Duration("count-timeout", time.Minute, "the longest a table's count of NULL tenants may take (a full scan); longer is reported as unknown; 0: no limit")
			return func() error {
				if err := fsDB(fs).validate(); err != nil {
					return err
				}
				if _, err := audit.ParseSeverity(flagValue[string](fs, "fail-on")); err != nil {
					return fmt.Errorf("--fail-on: %w", err)
				}
				return nil
			}
		},
		run: runAudit,
	})
}

func runAudit(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
	if len(args) > 0 {
		e.errorf("audit: unexpected arguments: %s", strings.Join(args, " "))
		return exitError
	}
	failOn, _ := audit.ParseSeverity(flagValue[string](fs, "fail-on")) // validated
	db := fsDB(fs)
	conn, err := db.connect(ctx, e)
	if err != nil {
		e.errorf("audit: %v", err)
		return exitError
	}
	defer conn.Close(context.WithoutCancel(ctx))
	// A migration holding a table must not hang the audit: reading a
	// policy's expression waits for the table's lock.
	if _, err := conn.Exec(ctx, "SET lock_timeout = '10s'"); err != nil {
		e.errorf("audit: %v", err)
		return exitError
	}
	findings, err := audit.Run(ctx, conn, audit.Options{
		Column:       db.column,
		Setting:      db.setting,
		AppRole:      flagValue[string](fs, "app-role"),
		Schemas:      commaList(flagValue[string](fs, "schema")),
		CountTimeout: countTimeout(fs),
	})
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if flagValue[bool](fs, "json") {
		b, err := json.MarshalIndent(findings, "", "  ")
		if err != nil {
			e.errorf("audit: %v", err)
			return exitError
		}
		fmt.Fprintf(e.stdout, "%s\n", b)
	} else {
		printFindings(e.stdout, findings, failOn)
	}
	for _, f := range findings {
		if f.Severity >= failOn {
			return exitFindings
		}
	}
	return exitOK
}

// printFindings prints the findings as an aligned table, their fixes
// numbered below it, and a summary line.
func printFindings(w io.Writer, findings []audit.Finding, failOn audit.Severity) {
	if len(findings) == 0 {
		fmt.Fprintln(w, "no findings")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "#\tSEVERITY\tKIND\tTABLE\tDETAIL")
	for i, f := range findings {
		table := f.Table
		if table == "" {
			table = "-"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", i+1, f.Severity, f.Kind, table, f.Detail)
	}
	tw.Flush()
	fmt.Fprintln(w, "\nSuggested fixes:")
	for i, f := range findings {
		if f.Fix == "" {
			continue
		}
		prefix := fmt.Sprintf("%3d  ", i+1)
		for _, line := range strings.Split(f.Fix, "\n") {
			fmt.Fprintln(w, prefix+line)
			prefix = "     "
		}
	}
	var counts [audit.Critical + 1]int
	failing := 0
	for _, f := range findings {
		counts[f.Severity]++
		if f.Severity >= failOn {
			failing++
		}
	}
	var parts []string
	for s := audit.Critical; s >= audit.Low; s-- {
		if counts[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
		}
	}
	noun := "findings"
	if len(findings) == 1 {
		noun = "finding"
	}
	fmt.Fprintf(w, "\n%d %s: %s; %d at or above --fail-on %s\n", len(findings), noun, strings.Join(parts, ", "), failing, failOn)
}

// countTimeout is --count-timeout as audit.Options wants it (0 is none).
func countTimeout(fs *flag.FlagSet) time.Duration {
	d := flagValue[time.Duration](fs, "count-timeout")
	if d <= 0 {
		return -1
	}
	return d
}
