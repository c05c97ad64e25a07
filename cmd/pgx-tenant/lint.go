package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/pgx-tenant/pgx-tenant/guard"
	"github.com/pgx-tenant/pgx-tenant/internal/lint"
)

func init() {
	register(&command{
		name:     "lint",
		args:     "FILE|DIR...",
		findings: "when a statement is reported",
		summary: `Check SQL files with the guard's analysis. It reports what the guard would report at run
time: references to tenant-owned tables without an equality on the tenant column, TRUNCATE/COPY/LOCK
of them, views hiding the column, DO blocks and rules using them, and writes of the tenant setting.
Directories are searched for *.sql files. The tenant-owned tables are discovered from --dsn (or
$DATABASE_URL), narrowed by --tables, or listed with --tables alone.
A parameter or literal compared with the tenant column counts as the tenant (the driver checks
the value at run time). A comment "pgx-tenant:ignore <reason>" in or before a statement skips it.`,
		flags: func(fs *flag.FlagSet) func() error {
			new(dbFlags).register(fs)
			fs.String("tables", "", "tenant-owned tables, comma-separated ([schema.]name): exactly these (with --dsn, like the driver's tenant_tables), or these alone without a database")
			fs.Bool("json", false, "print findings as a JSON array")
			return func() error { return fsDB(fs).validate() }
		},
		run: func(ctx context.Context, e *env, fs *flag.FlagSet, args []string) int {
			db := fsDB(fs)
			if len(args) == 0 {
				e.errorf("lint: name the .sql files or directories to lint")
				return exitError
			}
			files, err := sqlFiles(args)
			if err != nil {
				e.errorf("lint: %v", err)
				return exitError
			}
			cat, err := lintCatalog(ctx, e, db, flagValue[string](fs, "tables"))
			if err != nil {
				e.errorf("lint: %v", err)
				return exitError
			}
			l := lint.New(db.setting, db.column, cat, cat.Names())
			found := []lint.Finding{}
			for _, f := range files {
				src, err := os.ReadFile(f)
				if err != nil {
					e.errorf("lint: %v", err)
					return exitError
				}
				found = append(found, l.File(f, string(src))...)
			}
			if flagValue[bool](fs, "json") {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				enc.Encode(found)
			} else {
				for _, f := range found {
					fmt.Fprintln(e.stdout, f)
				}
			}
			s := l.Stats
			fmt.Fprintf(e.stderr, "%d finding(s) in %d statement(s) of %d file(s); %d ignored; tenant-owned: %s\n",
				len(found), s.Statements, s.Files, s.Ignored, strings.Join(cat.Owned(), ", "))
			if len(found) > 0 {
				return exitFindings
			}
			return exitOK
		},
	})
}

// lintCatalog discovers the tenant-owned tables from the database, as the
// driver does; --tables makes exactly those tenant-owned, as the driver's
// tenant_tables does (guard.Catalog.Override), or, without a database,
// describes them alone.
func lintCatalog(ctx context.Context, e *env, db *dbFlags, tables string) (*guard.Catalog, error) {
	var only []string
	for _, t := range strings.Split(tables, ",") {
		if t = strings.ToLower(strings.TrimSpace(t)); t != "" {
			only = append(only, t)
		}
	}
	if tables != "" && len(only) == 0 {
		return nil, errors.New("--tables: no table named")
	}
	if db.dsn == "" && e.getenv("DATABASE_URL") == "" {
		if len(only) == 0 {
			return nil, errors.New("no tenant-owned tables: pass --dsn (or set DATABASE_URL) to discover them, or list them with --tables")
		}
		return offlineCatalog(db.column, only)
	}
	conn, err := db.connect(ctx, e)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	cat, err := guard.Discover(ctx, conn, db.column, db.setting)
	if err != nil || len(only) == 0 {
		return cat, err
	}
	return cat.Override(only, nil)
}

// offlineCatalog describes the tables named [schema.]table, without a
// database: their column positions and defaults are unknown.
func offlineCatalog(column string, names []string) (*guard.Catalog, error) {
	rels := make([]guard.Relation, 0, len(names))
	for _, t := range names {
		schema, name, ok := strings.Cut(t, ".")
		if !ok {
			schema, name = "public", t
		}
		if schema == "" || name == "" || strings.Contains(name, ".") {
			return nil, fmt.Errorf("--tables: %q is not [schema.]table", t)
		}
		rels = append(rels, guard.Relation{Schema: schema, Name: name, Owned: true})
	}
	return guard.NewCatalog(column, nil, rels...), nil
}

// sqlFiles expands directories into the *.sql files under them, sorted;
// files named explicitly are linted whatever their extension.
func sqlFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.EqualFold(filepath.Ext(p), ".sql") {
				out = append(out, p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}
