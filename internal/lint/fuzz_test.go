package lint

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzFile: any file content is linted without a panic, and every finding
// points into the file.
func FuzzFile(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.sql")
	for _, p := range files {
		// Statement by statement: whole files make every new input
		// take the fuzzer's minimizer a minute.
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		sts, _ := split(string(b))
		for _, st := range sts {
			f.Add(st.text)
		}
	}
	f.Add("SELECT * FROM invoices WHERE tenant_id = sqlc.arg(t);\n-- pgx-tenant:ignore x\nDELETE FROM customers")
	f.Add("DO $$ BEGIN EXECUTE 'TRUNCATE invoices'; END $$; CREATE RULE r AS ON INSERT TO plans DO ALSO DELETE FROM invoices")
	f.Fuzz(func(t *testing.T, src string) {
		lines := strings.Count(src, "\n") + 1
		for _, g := range newLinter().File("f.sql", src) {
			if g.Line < 1 || g.Line > lines || g.Column < 1 || g.Rule == "" {
				t.Errorf("finding outside the file (%d lines): %+v", lines, g)
			}
		}
	})
}
