package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pgx-tenant/pgx-tenant/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Exit(m) }

// result is what one in-process run of the command printed.
type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs the command in-process with args; environ are KEY=value
// pairs its getenv sees (nothing else of the process environment).
func runCLI(tb testing.TB, environ []string, args ...string) result {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	vars := map[string]string{}
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	code := run(ctx, args, &env{stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		wantCode int
		wantOut  string // in stdout
		wantErr  string // in stderr
	}{
		{args: nil, wantCode: exitError, wantErr: "Usage: pgx-tenant <command>"},
		{args: []string{"help"}, wantCode: exitOK, wantOut: "Commands:"},
		{args: []string{"--help"}, wantCode: exitOK, wantOut: "Exit codes"},
		{args: []string{"nope"}, wantCode: exitError, wantErr: `unknown command "nope"`},
		{args: []string{"rls", "nope"}, wantCode: exitError, wantErr: `unknown command "rls nope"`},
		{args: []string{"rls"}, wantCode: exitError, wantErr: "rls apply"},
		{args: []string{"rls", "--help"}, wantCode: exitOK, wantOut: "Usage: pgx-tenant rls <command>"},
		{args: []string{"backfill", "-h"}, wantCode: exitOK, wantOut: "backfill apply"},
	} {
		t.Run(strings.Join(tc.args, "_"), func(t *testing.T) {
			r := runCLI(t, nil, tc.args...)
			if r.code != tc.wantCode || !strings.Contains(r.stdout, tc.wantOut) || !strings.Contains(r.stderr, tc.wantErr) {
				t.Errorf("code %d, stdout %q, stderr %q; want code %d, stdout with %q, stderr with %q",
					r.code, r.stdout, r.stderr, tc.wantCode, tc.wantOut, tc.wantErr)
			}
		})
	}
}

// TestEveryCommandHelp: --help prints the command's usage to stdout and
// exits 0; an unknown flag is a usage error (2).
func TestEveryCommandHelp(t *testing.T) {
	if len(commands) == 0 {
		t.Fatal("no commands registered")
	}
	for _, c := range commands {
		t.Run(c.name, func(t *testing.T) {
			args := append(strings.Fields(c.name), "--help")
			r := runCLI(t, nil, args...)
			if r.code != exitOK || !strings.Contains(r.stdout, "Usage: pgx-tenant "+c.name) || !strings.Contains(r.stdout, "Exit codes") || r.stderr != "" {
				t.Errorf("--help: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
			}
			if strings.Count(r.stdout, "Usage:") != 1 {
				t.Errorf("--help printed the usage %d times", strings.Count(r.stdout, "Usage:"))
			}
			for _, line := range strings.Split(r.stdout, "\n") {
				flagDoc := strings.HasPrefix(line, "    \t") // the flag package's, not wrapped
				if len(line) > 100 && !flagDoc || strings.HasSuffix(line, " ") {
					t.Errorf("--help line too long or with a trailing space: %q", line)
				}
			}
			if (c.findings == "") == strings.Contains(r.stdout, "done; 1 ") {
				t.Errorf("exit code 1 listed for a command that never exits 1, or not for one that does: %q", r.stdout)
			}
			r = runCLI(t, nil, append(strings.Fields(c.name), "--no-such-flag")...)
			if r.code != exitError || !strings.Contains(r.stderr, "no-such-flag") {
				t.Errorf("unknown flag: code %d, stderr %q", r.code, r.stderr)
			}
		})
	}
}

func TestValidSetting(t *testing.T) {
	for s, want := range map[string]bool{
		"app.tenant_id": true, "a.b.c": true, "app.t1": true,
		"tenant_id": false, "app.": false, ".x": false, "app.tenant-id": false, "app.1x": false,
		"app.x'); DROP": false, "": false,
	} {
		if got := validSetting(s); got != want {
			t.Errorf("validSetting(%q) = %v, want %v", s, got, want)
		}
	}
}
