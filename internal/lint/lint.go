// Package lint runs the guard's analysis over SQL files (sqlc query files,
// migrations, hand-written queries) and reports the statements the driver's
// guard would report at run time, with their file and line.
//
// # What it asks
//
// A file does not say which values a statement runs with, so the question
// is structural: could the statement be scoped to a tenant, whatever its
// arguments? A parameter ($1, @name, sqlc.arg(name)), or a literal, compared
// with a tenant-owned table's tenant column counts as the tenant; a
// reference without such an equality, a TRUNCATE, COPY or LOCK of a
// tenant-owned table, a view hiding the tenant column, SQL the guard cannot
// see into, and writes of the tenant setting (tampering, which the driver
// refuses whatever its mode) are findings. At run time the guard also checks
// that the value is the context's tenant; lint cannot.
//
// # Statements
//
// Files are split into statements by the PostgreSQL scanner (semicolons
// outside strings, comments, dollar quotes and BEGIN ATOMIC bodies), and each
// statement is analysed once by internal/sqlcheck, the analysis the driver
// uses. sqlc's macros sqlc.arg, sqlc.narg and sqlc.slice read as named
// parameters, sqlc.embed(t) as t.*, and a "-- name: Query :one" comment
// names the statement in findings.
//
// # Ignoring a statement
//
// A comment that starts with "pgx-tenant:ignore <reason>", inside a
// statement or right before it (migrations that backfill every tenant's
// rows, say), skips it; the reason is required, and ignored statements are
// counted in the summary. A comment that only mentions the marker later in
// its text does not count.
package lint

import (
	"fmt"
	"regexp"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgx-tenant/pgx-tenant/internal/sqlcheck"
)

// RuleTamper is the rule of a statement that writes the tenant setting or
// changes the session's identity (the driver refuses it in every mode).
const RuleTamper = "tamper"

// RuleSyntax is the rule of a statement PostgreSQL's parser rejects.
const RuleSyntax = "syntax"

// Finding is one statement the guard would report.
type Finding struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Query is the sqlc query name ("-- name: GetInvoice :one"), if any.
	Query  string `json:"query,omitempty"`
	Rule   string `json:"rule"`
	Table  string `json:"table,omitempty"`
	Detail string `json:"detail"`
}

func (f Finding) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s:%d:%d: %s", f.File, f.Line, f.Column, f.Rule)
	if f.Query != "" {
		fmt.Fprintf(&b, " [%s]", f.Query)
	}
	b.WriteString(": ")
	switch {
	case f.Table == "":
	case f.Detail != "" && f.Detail[0] >= 'a' && f.Detail[0] <= 'z':
		b.WriteString(f.Table + " ") // "invoices is read without …"
	default:
		b.WriteString(f.Table + ": ")
	}
	b.WriteString(f.Detail)
	return b.String()
}

// Stats counts what a run looked at.
type Stats struct {
	Files, Statements, Ignored int
}

// Linter lints files against one catalog of tenant-owned relations. It is
// not safe for concurrent use.
type Linter struct {
	tables sqlcheck.Tables
	z      *sqlcheck.Analyzer
	Stats  Stats
}

// New returns a Linter for the tenant column and setting, deciding with
// tables; names are the relation names whose mention makes a statement
// worth parsing (the catalog's names).
func New(setting, column string, tables sqlcheck.Tables, names []string) *Linter {
	z := sqlcheck.NewScopeAnalyzer(setting, column, 0)
	z.SetRelations(names)
	return &Linter{tables: tables, z: z}
}

// File lints the SQL text src of the file name, returning its findings in
// order. A file the PostgreSQL scanner rejects is one syntax finding.
func (l *Linter) File(name, src string) []Finding {
	l.Stats.Files++
	if i := strings.IndexByte(src, 0); i >= 0 {
		// The scanner would stop at it, and lint the text before it only.
		line, col := lineCol(src, i)
		return []Finding{{File: name, Line: line, Column: col, Rule: RuleSyntax, Detail: "a NUL byte: not SQL text"}}
	}
	stmts, err := split(src)
	if err != nil {
		// The scanner stops at the first bad token (an unterminated
		// string, say) without saying where: the file is the finding.
		return []Finding{{File: name, Line: 1, Column: 1, Rule: RuleSyntax, Detail: "the file cannot be split into statements: " + err.Error()}}
	}
	var out []Finding
	for _, st := range stmts {
		l.Stats.Statements++
		if st.ignore != "" {
			l.Stats.Ignored++
			continue
		}
		at := func(off int) (int, int) { return lineCol(src, st.start+off) }
		if st.ignoreNoReason {
			line, col := at(0)
			out = append(out, Finding{File: name, Line: line, Column: col, Query: st.query, Rule: "ignore",
				Detail: "pgx-tenant:ignore needs a reason after it; the statement was linted"})
		}
		text := sqlcMacros(st.text)
		a, err := l.z.Analyze(text)
		if err != nil {
			line, col := at(0)
			detail := strings.TrimPrefix(err.Error(), sqlcheck.ErrSyntax.Error()+": ")
			out = append(out, Finding{File: name, Line: line, Column: col, Query: st.query, Rule: RuleSyntax, Detail: detail})
			continue
		}
		if a.Tamper != "" {
			line, col := at(0)
			out = append(out, Finding{File: name, Line: line, Column: col, Query: st.query, Rule: RuleTamper,
				Detail: "writes the tenant setting or the session's identity (" + a.Tamper + "); the driver refuses it"})
			continue
		}
		if a.Scope == nil {
			continue
		}
		var lits []string
		if a.Lifted {
			lits = sqlcheck.Literals(text)
		}
		f := a.Scope.Lint(l.tables, lits)
		if f == nil {
			continue
		}
		pos := f.Pos
		if a.Lifted {
			pos = sqlcheck.OriginalPos(text, pos)
		}
		line, col := at(pos)
		out = append(out, Finding{File: name, Line: line, Column: col, Query: st.query, Rule: f.Rule, Table: f.Table, Detail: f.Detail})
	}
	return out
}

// statement is one statement of a file: text starts at its first token and
// ends before its semicolon.
type statement struct {
	start          int
	text           string
	query          string   // sqlc name
	comments       []string // the comments before and inside it
	ignore         string   // the reason of a pgx-tenant:ignore
	ignoreNoReason bool
}

// split cuts src into statements with the PostgreSQL scanner. Comments
// between statements belong to the statement after them.
func split(src string) ([]statement, error) {
	res, err := pg_query.Scan(src)
	if err != nil {
		return nil, err
	}
	var (
		out      []statement
		comments []string
		first    = -1 // the statement's first token
		last     int  // end of its last token
		atomic   int  // depth inside BEGIN ATOMIC … END
		prev     pg_query.Token
	)
	flush := func() {
		if first >= 0 {
			st := statement{start: first, text: src[first:last], comments: comments}
			for _, c := range comments {
				st.note(c)
			}
			out = append(out, st)
		}
		comments, first = nil, -1
	}
	for _, t := range res.Tokens {
		s, e := int(t.Start), int(t.End)
		switch t.Token {
		case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
			comments = append(comments, src[s:e])
			continue
		case pg_query.Token_ASCII_59:
			if atomic == 0 {
				flush()
				continue
			}
		case pg_query.Token_ATOMIC:
			if prev == pg_query.Token_BEGIN_P {
				atomic++
			}
		case pg_query.Token_CASE:
			if atomic > 0 {
				atomic++
			}
		case pg_query.Token_END_P:
			if atomic > 0 {
				atomic--
			}
		}
		if first < 0 {
			first = s
		}
		last, prev = e, t.Token
	}
	flush()
	return out, nil
}

var (
	nameComment   = regexp.MustCompile(`^--\s*name:\s*(\S+)`)
	ignoreComment = regexp.MustCompile(`^(?:--|/\*)\s*pgx-tenant:ignore\b[\s:]*(.*?)\s*(\*/)?$`)
)

func (st *statement) note(comment string) {
	if m := nameComment.FindStringSubmatch(comment); m != nil {
		st.query = m[1]
	}
	if m := ignoreComment.FindStringSubmatch(comment); m != nil {
		if m[1] == "" {
			st.ignoreNoReason = true
		} else {
			st.ignore = m[1]
		}
	}
}

// sqlcMacro matches sqlc's macros; the replacement keeps every byte offset
// (padding with spaces), so positions still point into the file.
var sqlcMacro = regexp.MustCompile(`(?i)\bsqlc\.(arg|narg|slice|embed)\s*\(\s*'?([A-Za-z_][A-Za-z0-9_]*)'?\s*\)`)

func sqlcMacros(sql string) string {
	if !strings.Contains(strings.ToLower(sql), "sqlc.") {
		return sql
	}
	return sqlcMacro.ReplaceAllStringFunc(sql, func(m string) string {
		sub := sqlcMacro.FindStringSubmatch(m)
		r := "@" + sub[2]
		if strings.EqualFold(sub[1], "embed") {
			r = sub[2] + ".*"
		}
		return r + strings.Repeat(" ", len(m)-len(r))
	})
}

// lineCol returns the 1-based line and column (in bytes) of offset off.
func lineCol(src string, off int) (int, int) {
	off = min(max(off, 0), len(src))
	line := 1 + strings.Count(src[:off], "\n")
	col := off - strings.LastIndexByte(src[:off], '\n')
	return line, col
}
