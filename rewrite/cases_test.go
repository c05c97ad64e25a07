package rewrite_test

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
	"github.com/pgx-tenant/pgx-tenant/internal/testcatalog"
)

var update = flag.Bool("update", false, "rewrite the want of every golden case with the output")

// golden is one case: a statement and the text the rewrite runs instead
// ("unchanged" when it needs none).
type golden struct {
	name, in, want string
}

// loadGolden reads a txtar of cases: a comment, then per case
// "-- name --", the input SQL, a line "=>", the wanted SQL.
func loadGolden(path string) (comment string, cases []golden, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", nil, err
	}
	text := string(data)
	first := strings.Index(text, "\n-- ")
	if first < 0 {
		return "", nil, fmt.Errorf("%s: no cases", path)
	}
	comment = text[:first+1]
	for _, part := range strings.Split(text[first+1:], "\n-- ")[0:] {
		part = strings.TrimPrefix(part, "-- ")
		nl := strings.Index(part, " --\n")
		if nl < 0 {
			return "", nil, fmt.Errorf("%s: bad case header %.40q", path, part)
		}
		name, body := part[:nl], part[nl+len(" --\n"):]
		in, want, ok := strings.Cut(body+"\n", "\n=>\n")
		if !ok {
			return "", nil, fmt.Errorf("%s/%s: no => line", path, name)
		}
		cases = append(cases, golden{name: name, in: strings.TrimSpace(in), want: strings.TrimSpace(want)})
	}
	return comment, cases, nil
}

func writeGolden(path, comment string, cases []golden) error {
	var b strings.Builder
	b.WriteString(comment)
	for _, c := range cases {
		fmt.Fprintf(&b, "-- %s --\n%s\n=>\n%s\n", c.name, c.in, c.want)
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func newAnalyzer() *sqlcheck.Analyzer {
	cat := testcatalog.New()
	z := sqlcheck.NewScopeAnalyzer("app.tenant_id", "tenant_id", 0)
	z.SetRelations(cat.Names())
	z.SetRewrite(cat)
	return z
}

// rewritten is what the driver runs for sql with positional arguments.
func rewritten(z *sqlcheck.Analyzer, sql string) (string, error) {
	a, err := z.Analyze(sql)
	if err != nil {
		return "", err
	}
	if a.RewriteErr != nil {
		return "", a.RewriteErr
	}
	if a.Rewrite == nil {
		return "unchanged", nil
	}
	return a.Rewrite.SQL(sql, false), nil
}

// TestGolden runs every case of testdata/*.txtar.
func TestGolden(t *testing.T) {
	z := newAnalyzer()
	files, _ := filepath.Glob("testdata/*.txtar")
	if len(files) == 0 {
		t.Fatal("no testdata/*.txtar")
	}
	sort.Strings(files)
	total := 0
	for _, f := range files {
		comment, cases, err := loadGolden(f)
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range cases {
			got, err := rewritten(z, c.in)
			if err != nil {
				got = "error: " + err.Error()
			}
			if *update {
				cases[i].want = got
				continue
			}
			if got != c.want {
				t.Errorf("%s/%s:\n  in:   %s\n  got:  %s\n  want: %s", filepath.Base(f), c.name, c.in, got, c.want)
			}
		}
		total += len(cases)
		if *update {
			if err := writeGolden(f, comment, cases); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d cases", total)
}
