// Command pgx-tenant audits a PostgreSQL schema for tenancy holes, plans and
// applies Row-Level-Security policies, backfills tenant columns, and lints SQL
// files with the driver's guard.
//
//	go install github.com/pgx-tenant/pgx-tenant/cmd/pgx-tenant@latest
//	pgx-tenant audit --dsn postgres://owner@db/prod --app-role app
//
// Run "pgx-tenant help" or "pgx-tenant <command> --help" for the commands and
// their flags, and the README's "CLI" section for example output.
//
// # Exit codes
//
//	0  done; nothing found at or above --fail-on (audit), no unscoped statement (lint)
//	1  findings: audit findings at or above --fail-on, lint findings, or a backfill
//	   that stopped at rows whose tenant it cannot derive
//	2  usage error, connection error, or an error that stopped the command (an
//	   apply that fails is rolled back and changes nothing)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5"
)

// Exit codes (see the package doc).
const (
	exitOK       = 0
	exitFindings = 1
	exitError    = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], &env{stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv, terminal: isTerminal(os.Stderr)})
	stop()
	os.Exit(code)
}

// env is what a command may touch of the outside world, so tests run the
// commands in-process.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// terminal: stderr is a terminal (progress lines are drawn there).
	terminal bool
}

func (e *env) errorf(format string, args ...any) {
	fmt.Fprintf(e.stderr, "pgx-tenant: "+format+"\n", args...)
}

// command is one subcommand; sub-commands ("rls plan") are commands whose
// name has two words.
type command struct {
	name    string
	args    string // the positional arguments, for the usage line
	summary string
	run     func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int
	// flags declares the command's flags on fs and returns a function that
	// validates them once parsed (nil when there is nothing to check).
	flags func(fs *flag.FlagSet) func() error
}

// commands are the subcommands, in the order help lists them. Each file
// of this package adds its own in an init function.
var commands []*command

func register(c *command) { commands = append(commands, c) }

func run(ctx context.Context, args []string, e *env) int {
	if len(args) == 0 {
		usage(e.stderr)
		return exitError
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c := lookup(args[1:]); c != nil {
				fs := newFlagSet(c, e.stdout)
				fs.Usage()
				return exitOK
			}
		}
		usage(e.stdout)
		return exitOK
	}
	c := lookup(args)
	if c == nil {
		e.errorf("unknown command %q (run \"pgx-tenant help\")", strings.Join(args[:min(len(args), 2)], " "))
		return exitError
	}
	rest := args[len(strings.Fields(c.name)):]
	fs := newFlagSet(c, e.stderr)
	var check func() error
	if c.flags != nil {
		check = c.flags(fs)
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(e.stdout)
			fs.Usage()
			return exitOK
		}
		return exitError // the flag package printed why
	}
	if check != nil {
		if err := check(); err != nil {
			e.errorf("%s: %v", c.name, err)
			return exitError
		}
	}
	return c.run(ctx, e, fs, fs.Args())
}

// lookup finds the command args start with: "rls plan" before "rls".
func lookup(args []string) *command {
	for _, c := range commands {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c
		}
	}
	return nil
}

func newFlagSet(c *command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pgx-tenant "+c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: pgx-tenant %s [flags] %s\n\n%s\n\nFlags:\n", c.name, c.args, c.summary)
		fs.PrintDefaults()
		fmt.Fprint(w, exitCodes)
	}
	return fs
}

const exitCodes = `
Exit codes: 0 done and clean; 1 findings (audit at or above --fail-on, lint,
backfill stopped at rows it cannot resolve); 2 usage, connection or other error.
`

func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: pgx-tenant <command> [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, firstSentence(c.summary))
	}
	fmt.Fprint(w, "\nRun \"pgx-tenant <command> --help\" for a command's flags.\n")
	fmt.Fprint(w, exitCodes)
}

func firstSentence(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if i := strings.Index(s, ". "); i >= 0 {
		return s[:i+1]
	}
	return s
}

// dbFlags are the flags every command that connects shares.
type dbFlags struct {
	dsn, column, setting string
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.dsn, "dsn", "", "PostgreSQL connection string (default $DATABASE_URL)")
	fs.StringVar(&d.column, "tenant-column", "tenant_id", "the tenant column")
	fs.StringVar(&d.setting, "setting", "app.tenant_id", "the setting RLS policies read")
}

// validate checks the names; they end up in generated SQL as identifiers
// and literals, quoted, but a name that cannot be one is a usage error.
func (d *dbFlags) validate() error {
	if d.column == "" || strings.ContainsRune(d.column, 0) {
		return fmt.Errorf("--tenant-column: not a column name: %q", d.column)
	}
	if !validSetting(d.setting) {
		return fmt.Errorf("--setting: %q is not a custom setting name (two or more dot-separated words, e.g. app.tenant_id)", d.setting)
	}
	return nil
}

// validSetting reports whether s is a custom setting name PostgreSQL
// accepts in SET and current_setting: dotted identifiers.
func validSetting(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, p := range parts {
		if p == "" {
			return false
		}
		for i, r := range p {
			ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && (r >= '0' && r <= '9' || r == '$')
			if !ok {
				return false
			}
		}
	}
	return true
}

// connect opens one connection with the --dsn flag, or $DATABASE_URL.
func (d *dbFlags) connect(ctx context.Context, e *env) (*pgx.Conn, error) {
	dsn := d.dsn
	if dsn == "" {
		dsn = e.getenv("DATABASE_URL")
	}
	if dsn == "" {
		return nil, errors.New("no database: pass --dsn or set DATABASE_URL")
	}
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("--dsn: %w", err)
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	return conn, nil
}

// isTerminal reports whether f is a terminal (a character device), without
// a dependency: progress is drawn only there.
func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
