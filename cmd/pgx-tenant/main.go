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
//	   rls apply that fails is rolled back and changes nothing; a backfill apply
//	   keeps the batches it committed, and a second run goes on from there)
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
	// findings says when the command exits 1 ("" when it never does).
	findings string
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
		if group := groupOf(args[0]); len(group) > 0 {
			// "pgx-tenant rls": the commands of the group.
			if len(args) > 1 && isHelp(args[1]) {
				groupUsage(e.stdout, args[0], group)
				return exitOK
			}
			if len(args) == 1 {
				groupUsage(e.stderr, args[0], group)
				return exitError
			}
		}
		e.errorf("unknown command %q (run \"pgx-tenant help\")", strings.Join(args[:min(len(args), 2)], " "))
		return exitError
	}
	rest := args[len(strings.Fields(c.name)):]
	fs := newFlagSet(c, e.stderr)
	var check func() error
	if c.flags != nil {
		check = c.flags(fs)
	}
	if wantsHelp(rest) {
		fs.SetOutput(e.stdout)
		fs.Usage()
		return exitOK
	}
	if err := fs.Parse(rest); err != nil {
		return exitError // the flag package printed why, and the usage
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

// isHelp reports whether arg asks for help.
func isHelp(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}

// wantsHelp reports whether a help flag comes before the end of the flags,
// so that --help prints the usage once, on stdout, whatever else is wrong.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if a != "help" && isHelp(a) {
			return true
		}
	}
	return false
}

// groupOf returns the commands whose name starts with the word word ("rls"
// for "rls plan" and "rls apply").
func groupOf(word string) []*command {
	var out []*command
	for _, c := range commands {
		if strings.HasPrefix(c.name, word+" ") {
			out = append(out, c)
		}
	}
	return out
}

func groupUsage(w io.Writer, word string, group []*command) {
	fmt.Fprintf(w, "Usage: pgx-tenant %s <command> [flags]\n\nCommands:\n", word)
	for _, c := range group {
		fmt.Fprintf(w, "  %-16s %s\n", c.name, firstSentence(c.summary))
	}
	fmt.Fprintf(w, "\nRun \"pgx-tenant %s <command> --help\" for a command's flags.\n", word)
}

func newFlagSet(c *command, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("pgx-tenant "+c.name, flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage: pgx-tenant %s [flags]", c.name)
		if c.args != "" {
			fmt.Fprint(w, " "+c.args)
		}
		fmt.Fprintf(w, "\n\n%s\n\nFlags:\n", wrap(c.summary, 80))
		fs.PrintDefaults()
		codes := "Exit codes: 0 done"
		if c.findings != "" {
			codes += "; 1 " + c.findings
		}
		fmt.Fprintf(w, "\n%s\n", wrap(codes+"; 2 usage, connection or other error.", 80))
	}
	return fs
}

const exitCodes = `
Exit codes: 0 done and clean; 1 findings (audit at or above --fail-on, lint,
backfill stopped at rows it cannot resolve); 2 usage, connection or other error.
`

// wrap breaks the lines of s longer than width at spaces; shorter lines
// (a summary's own layout) stay as written.
func wrap(s string, width int) string {
	var b strings.Builder
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			b.WriteByte('\n')
		}
		n := 0
		for j, word := range strings.Fields(line) {
			if len(line) <= width {
				b.WriteString(line)
				break
			}
			switch {
			case j == 0:
			case n+1+len(word) > width:
				b.WriteByte('\n')
				n = 0
			default:
				b.WriteByte(' ')
				n++
			}
			b.WriteString(word)
			n += len(word)
		}
	}
	return b.String()
}

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
	noSetting            bool // the command has no --setting
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	d.registerConn(fs)
	d.noSetting = false
	fs.StringVar(&d.setting, "setting", "app.tenant_id", "the setting RLS policies read")
}

// registerConn registers --dsn and --tenant-column only, for commands that
// do not read the setting.
func (d *dbFlags) registerConn(fs *flag.FlagSet) {
	d.noSetting = true
	fs.StringVar(&d.dsn, "dsn", "", "PostgreSQL connection string (default $DATABASE_URL)")
	fs.StringVar(&d.column, "tenant-column", "tenant_id", "the tenant column")
}

// validate checks the names; they end up in generated SQL as identifiers
// and literals, quoted, but a name that cannot be one is a usage error.
func (d *dbFlags) validate() error {
	if d.column == "" || strings.ContainsRune(d.column, 0) {
		return fmt.Errorf("--tenant-column: not a column name: %q", d.column)
	}
	if !d.noSetting && !validSetting(d.setting) {
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

// fsDB reads the shared database flags (dbFlags.register or registerConn)
// back from fs.
func fsDB(fs *flag.FlagSet) *dbFlags {
	d := &dbFlags{dsn: flagValue[string](fs, "dsn"), column: flagValue[string](fs, "tenant-column"), noSetting: fs.Lookup("setting") == nil}
	if !d.noSetting {
		d.setting = flagValue[string](fs, "setting")
	}
	return d
}

// flagValue reads the parsed value of the flag name back from fs: commands
// keep no flag state between runs (tests run them in-process, over and
// over), and run gets the flag set. A flag fs lacks, or of another type
// than T, is a programming error: it panics.
func flagValue[T any](fs *flag.FlagSet, name string) T {
	return fs.Lookup(name).Value.(flag.Getter).Get().(T)
}

// commaList splits a comma-separated flag value, dropping empty items.
func commaList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
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
