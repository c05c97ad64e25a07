package sqlcheck

import (
	"fmt"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// body checks the code of a DO block or a function (what names it in
// reasons), written in the language its options name, or lang when they
// name none. PL/pgSQL is parsed with PostgreSQL's PL/pgSQL parser and
// SQL-language bodies with the SQL parser, and every statement and
// expression in them gets the checks a top-level statement gets, so code
// that only reads or mentions the setting passes. Code in other languages,
// and code the parsers cannot read, is matched by its words, for the forms
// that write (see bodyTamper). BEGIN ATOMIC bodies are part of the
// statement's own tree and are checked with it.
func (c *checker) body(opts []*pg_query.Node, lang, what string) {
	var src []string
	for _, o := range opts {
		d := o.GetDefElem()
		if d == nil || d.Arg == nil {
			continue
		}
		switch d.Defname {
		case "language":
			// As written: the server compares language names exactly
			// (LANGUAGE "PLpgSQL" is not plpgsql), and so does pg_query.
			lang = d.Arg.GetString_().GetSval()
		case "as":
			walk(d.Arg.ProtoReflect(), func(m protoreflect.ProtoMessage) {
				if s, ok := m.(*pg_query.String); ok {
					src = append(src, s.Sval)
				}
			})
		}
	}
	if len(src) == 0 {
		return
	}
	if c.depth >= maxNesting {
		c.tamper(fmt.Sprintf("%s nested more than %d levels deep", what, maxNesting))
		return
	}
	switch {
	case lang == "plpgsql" && c.plpgsql(what, strings.Join(src, " ")):
		return
	case lang == "sql" && len(src) == 1 && c.sqlBody(src[0], what):
		return
	}
	c.words(strings.Join(src, " "), what)
}

// scanSource splits procedural source with PostgreSQL's scanner into the
// words of its code (outside string constants and comments) and its texts
// (each string constant, comment and quoted identifier on its own). false
// when the scanner rejects it.
func scanSource(src string) (code []bodyWord, texts []string, recordDefault, ok bool) {
	res, err := pg_query.Scan(src)
	if err != nil {
		return nil, nil, false, false
	}
	var b strings.Builder
	prev := ""
	for _, t := range res.Tokens {
		if int(t.Start) < 0 || int(t.End) > len(src) || t.Start > t.End {
			return nil, nil, false, false
		}
		tok := src[t.Start:t.End]
		switch t.Token {
		case pg_query.Token_SCONST, pg_query.Token_USCONST, pg_query.Token_BCONST, pg_query.Token_XCONST,
			pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT:
			texts = append(texts, tok)
			b.WriteByte(' ')
			continue
		case pg_query.Token_IDENT:
			if strings.HasPrefix(tok, `"`) {
				texts = append(texts, tok)
			}
		case pg_query.Token_COLON_EQUALS, pg_query.Token_ASCII_61:
			// pg_query's PL/pgSQL tree drops the default of a variable
			// declared "RECORD:=" (upper case): such code is matched by
			// its words.
			if prev == "RECORD" {
				recordDefault = true
			}
		}
		prev = tok
		b.WriteString(tok)
		b.WriteByte(' ')
	}
	return bodyWords(b.String()), texts, recordDefault, true
}

// words refuses procedural source that, word by word, has a form that
// writes the setting or changes the session (bodyTamper).
func (c *checker) words(src, what string) {
	if reason := bodyTamper(bodyWords(src), c.setting); reason != "" {
		c.tamper(what + " " + reason)
	}
}

// sqlBody checks the body of a LANGUAGE sql function as SQL. It reports
// false when the body does not parse (the server accepts such a body with
// check_function_bodies off), leaving it to the word check.
func (c *checker) sqlBody(src, what string) bool {
	a, err := analyzeAt(src, c.setting, c.depth+1)
	if err != nil {
		return false
	}
	if a.Tamper != "" {
		c.tamper(what + ": " + a.Tamper)
	}
	return true
}

// bodyWord is a word of procedural source, lower-cased.
type bodyWord struct {
	w string
	// dotted is set when a '.' stands between this word and the previous
	// one, whatever else does: app.tenant_id, app . tenant_id and
	// "app"."tenant_id" all read as app, tenant_id(dotted).
	dotted bool
}

// bodyWords splits src into words: runs of [a-z0-9_] after lower-casing,
// and parameters ($1). Every other byte separates words, so quotes, dollar
// quotes, comment markers, operators and parentheses do not hide a word.
func bodyWords(src string) []bodyWord {
	var ws []bodyWord
	var word []byte
	dot := false
	for i := 0; i <= len(src); i++ {
		var c byte
		if i < len(src) {
			c = src[i]
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			switch {
			case c == '$':
				// A separator, so that dollar quotes ($$SET, $body$SET)
				// do not glue onto the words they enclose; $1 is a word.
				if len(word) == 0 && i+1 < len(src) && src[i+1] >= '0' && src[i+1] <= '9' {
					word = append(word, c)
					continue
				}
			case isWordByte(c):
				word = append(word, c)
				continue
			}
		}
		if len(word) > 0 {
			ws = append(ws, bodyWord{w: string(word), dotted: dot && len(ws) > 0})
			word, dot = word[:0], false
		}
		if c == '.' {
			dot = true
		}
	}
	return ws
}

// bodyTamper returns why procedural source made of ws tampers, or "".
//
// Reading a setting is allowed (a trigger filling tenant_id from
// current_setting('app.tenant_id', true) is the common case), so the tenant
// setting and the text-reading settings are refused only together with a
// SET or RESET that can write a setting, and pg_settings only together with
// UPDATE. Names that only write (set_config), DISCARD, DEALLOCATE, the
// driver's statement names and the functions that run SQL text are refused
// wherever they appear.
func bodyTamper(ws []bodyWord, setting string) string {
	return bodyTamperFuncs(ws, setting, true)
}

// bodyTamperWrites is bodyTamper without the SQL-running functions, for
// code whose calls the parser reads.
func bodyTamperWrites(ws []bodyWord, setting string) string {
	return bodyTamperFuncs(ws, setting, false)
}

func bodyTamperFuncs(ws []bodyWord, setting string, sqlFuncs bool) string {
	writes, updates, settings := false, false, false
	for i, w := range ws {
		switch {
		case w.w == "set_config":
			return "mentioning set_config"
		case w.w == "discard":
			return "mentioning DISCARD"
		case w.w == "deallocate":
			return "mentioning DEALLOCATE"
		case sqlFuncs && isSQLFunc(w.w):
			return "mentioning " + w.w + ", which runs SQL text"
		case strings.HasPrefix(w.w, StatementPrefix):
			return "mentioning a name starting with " + StatementPrefix
		case w.w == "update":
			updates = true
		case w.w == "pg_settings":
			settings = true
		case w.w == "session" && next(ws, i) == "authorization":
			return "mentioning SESSION AUTHORIZATION"
		case w.w == "reset":
			writes = true
			switch next(ws, i) {
			case "role":
				return "mentioning RESET ROLE"
			case "all":
				return "mentioning RESET ALL"
			}
		case gucSet(ws, i):
			writes = true
			switch afterScope(ws, i) {
			case "role":
				return "mentioning SET ROLE"
			case "names":
				return "mentioning SET NAMES"
			}
		}
	}
	if settings && updates {
		return "mentioning UPDATE and pg_settings"
	}
	if !writes {
		return ""
	}
	for _, s := range append([]string{setting}, textSettings...) {
		if mentions(ws, s) {
			return "mentioning " + s + " and SET/RESET"
		}
	}
	return ""
}

// next returns the word after ws[i], or "".
func next(ws []bodyWord, i int) string {
	if i+1 < len(ws) {
		return ws[i+1].w
	}
	return ""
}

// afterScope returns the word after the SET at ws[i], past LOCAL or
// SESSION.
func afterScope(ws []bodyWord, i int) string {
	if w := next(ws, i); w == "local" || w == "session" {
		i++
	}
	return next(ws, i)
}

// gucSet reports whether ws[i] is a SET that can write a run-time setting:
// not the SET of an UPDATE, nor one of the SETs of DDL (ALTER COLUMN … SET
// DEFAULT, ON DELETE SET NULL, SET SCHEMA, …) and transaction statements.
// Without them a trigger that runs UPDATE members SET role = … or a
// migration that sets a column default to current_setting(…) would be
// refused for nothing.
func gucSet(ws []bodyWord, i int) bool {
	if ws[i].w != "set" || updateSet(ws, i) {
		return false
	}
	switch afterScope(ws, i) {
	case "default", "null", "not", "data", "statistics", "storage", "compression", "schema", "tablespace",
		"logged", "unlogged", "without", "access", "expression", "generated", "constraints", "transaction":
		return false
	}
	return true
}

// updateSet reports whether the SET at ws[i] follows UPDATE [ONLY] name
// [[AS] alias], or (ON CONFLICT DO, MERGE … THEN) UPDATE. Only these exact
// shapes count, so that a SET statement after an UPDATE statement, which
// has its own SET, is still seen. Words in a comment right before a SET
// statement can still take that shape ("-- update the role" then SET
// ROLE): the tripwire accepts that miss for not refusing every UPDATE of a
// role column.
func updateSet(ws []bodyWord, i int) bool {
	j := i - 1
	if j < 0 {
		return false
	}
	if ws[j].w == "update" {
		return true
	}
	// afterUpdate reports whether UPDATE [ONLY] precedes the (possibly
	// qualified) name that ends at ws[k].
	afterUpdate := func(k int) bool {
		for k > 0 && ws[k].dotted {
			k--
		}
		k--
		if k >= 0 && ws[k].w == "only" {
			k--
		}
		return k >= 0 && ws[k].w == "update"
	}
	if afterUpdate(j) {
		return true
	}
	if ws[j].dotted { // an alias is a single name
		return false
	}
	k := j - 1
	if k >= 0 && ws[k].w == "as" {
		k--
	}
	return k >= 0 && afterUpdate(k)
}

// mentions reports whether the (possibly dotted) name occurs in ws, split
// into words the way bodyWords splits source.
func mentions(ws []bodyWord, name string) bool {
	parts := bodyWords(name)
	for i := range ws {
		if i+len(parts) > len(ws) {
			return false
		}
		ok := true
		for k, p := range parts {
			if ws[i+k].w != p.w || k > 0 && ws[i+k].dotted != p.dotted {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}
