// Package guardcases reads the guard's test cases (guard/testdata/*.txtar)
// for the tests of the guard and of the driver, and holds the schema they
// are written against.
package guardcases

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Tenant is the context's tenant in the cases; Other another tenant.
const (
	Tenant = "t01"
	Other  = "t02"
)

// Schema creates, as the owner, the relations the cases are written
// against: tenant-owned tables (events' tenant column defaults to the
// setting), a view exposing the tenant column, a view hiding it, and global
// tables.
var Schema = []string{
	`CREATE SCHEMA audit`,
	`CREATE TABLE invoices (id bigint PRIMARY KEY, tenant_id text NOT NULL, customer_id bigint, total numeric, status text, UNIQUE (tenant_id, id))`,
	`CREATE TABLE customers (id bigint PRIMARY KEY, tenant_id text NOT NULL, name text, email text)`,
	`CREATE TABLE line_items (id bigint PRIMARY KEY, tenant_id text NOT NULL, invoice_id bigint, amount numeric)`,
	`CREATE TABLE events (id bigserial PRIMARY KEY, tenant_id text NOT NULL DEFAULT current_setting('app.tenant_id'), note text)`,
	`CREATE TABLE audit.log (id bigint PRIMARY KEY, tenant_id text NOT NULL, msg text)`,
	`CREATE VIEW invoice_summary WITH (security_invoker = true) AS SELECT tenant_id, count(*) AS n, sum(total) AS total FROM invoices GROUP BY tenant_id`,
	`CREATE VIEW revenue WITH (security_invoker = true) AS SELECT date_trunc('month', now()) AS month, sum(total) AS total FROM invoices`,
	`CREATE TABLE countries (code text PRIMARY KEY, name text)`,
	`CREATE TABLE plans (id bigint PRIMARY KEY, name text)`,
}

// Case is one case: SQL, its arguments, and the expected decision.
type Case struct {
	File, Name string
	SQL        string
	Args       []any
	Want       string // "allow" or a guard rule
	Table      string // the table a violation names, when given
}

// Load reads every *.txtar of dir: a comment, then one file per case, each
// header lines (want:, args:, table:), a line "---", then the SQL.
func Load(dir string) ([]Case, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.txtar"))
	if err != nil {
		return nil, err
	}
	var out []Case
	names := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		for _, sec := range sections(string(data)) {
			c := Case{File: filepath.Base(f), Name: sec[0]}
			if names[c.File+"/"+c.Name] {
				return nil, fmt.Errorf("%s/%s: duplicate case", c.File, c.Name)
			}
			names[c.File+"/"+c.Name] = true
			head, sql, ok := strings.Cut(sec[1], "\n---\n")
			if !ok {
				return nil, fmt.Errorf("%s/%s: no --- line", c.File, c.Name)
			}
			c.SQL = strings.TrimSpace(sql)
			for _, line := range strings.Split(head, "\n") {
				k, v, _ := strings.Cut(line, ":")
				v = strings.TrimSpace(v)
				switch strings.TrimSpace(k) {
				case "want":
					c.Want = v
				case "table":
					c.Table = v
				case "args":
					if c.Args, err = ParseArgs(v, caseWords); err != nil {
						return nil, fmt.Errorf("%s/%s: %w", c.File, c.Name, err)
					}
				case "":
				default:
					return nil, fmt.Errorf("%s/%s: unknown header %q", c.File, c.Name, line)
				}
			}
			if c.Want == "" || c.SQL == "" {
				return nil, fmt.Errorf("%s/%s: no want or no SQL", c.File, c.Name)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// sections splits a txtar archive into (name, content) pairs.
func sections(s string) [][2]string {
	var out [][2]string
	cur := -1
	for _, l := range strings.SplitAfter(s, "\n") {
		tl := strings.TrimRight(l, "\r\n")
		if strings.HasPrefix(tl, "-- ") && strings.HasSuffix(tl, " --") && len(tl) > 6 {
			out = append(out, [2]string{strings.TrimSpace(tl[3 : len(tl)-3]), ""})
			cur = len(out) - 1
			continue
		}
		if cur >= 0 {
			out[cur][1] += l
		}
	}
	return out
}

// caseWords are the bare words of the cases' arguments: the two tenants.
var caseWords = map[string]any{"tenant": Tenant, "other": Other}

// ParseArgs reads arguments such as "tenant other 5 'text' null
// @name=tenant": words (a bare word's value), numbers, quoted strings,
// null, and named arguments, gathered in one pgx.NamedArgs.
func ParseArgs(s string, words map[string]any) ([]any, error) {
	var out []any
	var named pgx.NamedArgs
	for _, f := range strings.Fields(s) {
		if name, v, ok := strings.Cut(f, "="); ok && strings.HasPrefix(name, "@") {
			vals, err := ParseArgs(v, words)
			if err != nil || len(vals) != 1 {
				return nil, fmt.Errorf("bad named argument %q", f)
			}
			if named == nil {
				named = pgx.NamedArgs{}
				out = append(out, named)
			}
			named[name[1:]] = vals[0]
			continue
		}
		if v, ok := words[f]; ok {
			out = append(out, v)
			continue
		}
		switch {
		case f == "null":
			out = append(out, nil)
		case len(f) >= 2 && strings.HasPrefix(f, "'") && strings.HasSuffix(f, "'"):
			out = append(out, f[1:len(f)-1])
		default:
			n, err := strconv.ParseInt(f, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("bad argument %q", f)
			}
			out = append(out, n)
		}
	}
	return out, nil
}
