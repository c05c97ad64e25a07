package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/pgx-tenant/pgx-tenant/internal/rls"
)

const rlsSummary = `. For every table with the tenant column
(or those of --table): ALTER TABLE … ENABLE ROW LEVEL SECURITY (and FORCE with
--force), and the policy

  CREATE POLICY tenant_isolation ON t AS PERMISSIVE FOR ALL TO PUBLIC
    USING (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')))
    WITH CHECK (tenant_id = (SELECT NULLIF(current_setting('app.tenant_id', true), '')));

--stage permissive adds "OR tenant_id IS NULL" to USING only: global (NULL-tenant)
rows stay visible to every tenant during a rollout, and deletable by any; WITH
CHECK stays strict, so no new NULL-tenant row can be written and no row moved to
NULL. --stage strict (the default) is the equality alone. An existing policy of
the same name is compared with the desired one as PostgreSQL renders both, and
left alone when equal. Other permissive policies on a table are OR-ed with this
one: they are reported as warnings, never dropped. Must run as the tables' owner
(plan probes the policy inside a transaction it rolls back).`

func init() {
	register(&command{
		name:    "rls plan",
		summary: "Print the SQL that gives tenant-owned tables RLS and the tenant policy, only what would change" + rlsSummary,
		flags:   rlsFlags,
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
			return runRLS(ctx, e, fs, args, false)
		},
	})
	register(&command{
		name:    "rls apply",
		summary: "Apply the changes \"rls plan\" prints, in one transaction, and report what changed" + rlsSummary,
		flags:   rlsFlags,
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
			return runRLS(ctx, e, fs, args, true)
		},
	})
}

func rlsFlags(fs *flag.FlagSet) func() error {
	new(dbFlags).register(fs)
	fs.String("stage", "strict", "strict (tenant rows only) or permissive (also NULL-tenant rows, read-only)")
	fs.Bool("force", false, "also FORCE ROW LEVEL SECURITY, so the tables' owner is subject to it")
	fs.String("policy", "tenant_isolation", "the policy's name")
	fs.String("table", "", "comma-separated tables ([schema.]name) (default: every table with the tenant column)")
	return func() error {
		if err := fsDB(fs).validate(); err != nil {
			return err
		}
		if _, err := rls.ParseStage(flagValue[string](fs, "stage")); err != nil {
			return fmt.Errorf("--stage: %w", err)
		}
		if p := flagValue[string](fs, "policy"); p == "" || strings.ContainsRune(p, 0) {
			return fmt.Errorf("--policy: not a policy name: %q", p)
		}
		return nil
	}
}

func runRLS(ctx context.Context, e *env, fs *flag.FlagSet, args []string, apply bool) int {
	name := "rls plan"
	if apply {
		name = "rls apply"
	}
	if len(args) > 0 {
		e.errorf("%s: unexpected arguments: %s", name, strings.Join(args, " "))
		return exitError
	}
	db := fsDB(fs)
	stage, _ := rls.ParseStage(flagValue[string](fs, "stage")) // validated
	opts := rls.Options{
		Column:  db.column,
		Setting: db.setting,
		Stage:   stage,
		Force:   flagValue[bool](fs, "force"),
		Policy:  flagValue[string](fs, "policy"),
		Tables:  commaList(flagValue[string](fs, "table")),
	}
	conn, err := db.connect(ctx, e)
	if err != nil {
		e.errorf("%s: %v", name, err)
		return exitError
	}
	defer conn.Close(context.WithoutCancel(ctx))
	do := rls.Plan
	if apply {
		do = rls.Apply
	}
	changes, err := do(ctx, conn, opts)
	if err != nil {
		if errors.Is(err, rls.ErrNotOwner) {
			e.errorf("%s: %v; nothing was changed: run it as the tables' owner (or a member of the owner role)", name, err)
		} else {
			e.errorf("%s: %v", name, err)
		}
		return exitError
	}
	done := fmt.Sprintf("%d table(s) already have RLS enabled%s and the policy %s (%s)",
		len(changes.Tables), map[bool]string{true: ", forced,"}[opts.Force], opts.Policy, opts.Stage)
	if !apply {
		if !changes.Changed() {
			fmt.Fprintf(e.stdout, "-- nothing to do: %s\n", done)
		}
		fmt.Fprint(e.stdout, changes.Script())
		return exitOK
	}
	if !changes.Changed() {
		fmt.Fprintf(e.stdout, "nothing changed: %s\n", done)
	} else {
		n := 0
		for _, t := range changes.Tables {
			var what []string
			if t.Enable {
				what = append(what, "RLS enabled")
			}
			if t.Force {
				what = append(what, "RLS forced")
			}
			what = append(what, fmt.Sprintf("policy %s %s", opts.Policy, t.Policy))
			if t.Changed() {
				n++
			}
			fmt.Fprintf(e.stdout, "%s: %s\n", t.Name, strings.Join(what, ", "))
		}
		fmt.Fprintf(e.stdout, "applied in one transaction: %d of %d table(s) changed (stage %s)\n", n, len(changes.Tables), opts.Stage)
	}
	for _, w := range changes.Warnings() {
		fmt.Fprintf(e.stdout, "warning: %s\n", w)
	}
	return exitOK
}
