package sqlcheck

import "strings"

// isTrigger reports whether word (any case) is one whose presence, anywhere
// in a text (even inside a string literal or a comment), makes the analyzer
// parse it. A text without any of them cannot tamper, control transactions,
// refuse a transaction block, run opaque code, or hold more than one
// statement, so parsing it would only confirm the plain analysis. Words are
// runs of [A-Za-z0-9_$]; being conservative (a trigger inside data also
// causes a parse) costs time, never safety. A switch, not a map: it runs on
// every word of every statement and needs neither hashing nor allocation.
//
// Every word here has a witness in the tests: a text in which it is the only
// trigger and whose analysis is not plain. Words that never stand alone were
// removed: ROLE and SESSION AUTHORIZATION are set with SET/RESET/set_config,
// pg_settings is changed with UPDATE … SET, ALTER SYSTEM always says SET or
// RESET, and COMMIT/ROLLBACK PREPARED say COMMIT or ROLLBACK.
func isTrigger(word string) bool {
	var buf [32]byte
	if len(word) < 2 || len(word) > len(buf) {
		return false // shorter or longer than any trigger
	}
	for i := 0; i < len(word); i++ {
		c := word[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[i] = c
	}
	switch string(buf[:len(word)]) {
	case
		// settings and identity: SET, RESET, set_config, DISCARD
		"set", "reset", "set_config", "discard",
		// code the parser cannot see into, and bodies it scans
		"do", "call", "function", "procedure",
		// COPY to or from the client takes another protocol path
		"copy",
		// transaction control
		"begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare",
		// the driver's prepared statements (PREPARE is above)
		"execute", "deallocate",
		// functions that run SQL passed as text (sqlFuncs)
		"query_to_xml", "query_to_xmlschema", "query_to_xml_and_xmlschema", "ts_stat", "ts_rewrite",
		"dblink", "dblink_exec", "dblink_open", "dblink_send_query",
		"crosstab", "crosstab2", "crosstab3", "crosstab4", "connectby", "xpath_table",
		// statements that refuse a transaction block
		"vacuum", "concurrently", "database", "tablespace", "cluster", "subscription", "reindex":
		return true
	}
	return false
}

// mustParse reports whether sql needs the parser. Besides the trigger words,
// a ';' (several statements), a Unicode-escaped identifier (U&"…" can spell
// any name), and a text that may hold no statement at all (blank, or with
// comments, or a NUL byte, where the parser and the server stop reading)
// need it.
//
// A word is also tested from every letter or '_' that follows a digit or a
// '$' inside it: servers before PostgreSQL 15 read 1SET as the number 1 and
// the keyword SET, and $1set as a parameter and set, where the parser here
// (and newer servers) reject the text. ALTER ROUTINE r() COST 1SET
// app.tenant_id = 'x' must not skip the parser for the server to run it.
func mustParse(sql string) bool {
	if strings.TrimSpace(sql) == "" || strings.ContainsAny(sql, ";\x00") ||
		strings.Contains(sql, "--") || strings.Contains(sql, "/*") {
		return true
	}
	start := -1
	for i := 0; i <= len(sql); i++ {
		var c byte
		if i < len(sql) {
			c = sql[i]
		}
		if isWordByte(c) && i < len(sql) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			if hasTrigger(sql[start:i]) {
				return true
			}
			if c == '&' && i-start == 1 && (sql[start] == 'u' || sql[start] == 'U') {
				return true // U&"…" or U&'…'
			}
			start = -1
		}
	}
	return false
}

// hasTrigger reports whether word, or a tail of it that an older server
// lexes as a word of its own (see mustParse), is a trigger.
func hasTrigger(word string) bool {
	if isTrigger(word) {
		return true
	}
	for j := 1; j < len(word)-1; j++ {
		p := word[j-1]
		if (p >= '0' && p <= '9' || p == '$') && isIdentStart(word[j]) && isTrigger(word[j:]) {
			return true
		}
	}
	return false
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$'
}

// plain is the analysis of a text that needs no parse.
var plain = &Analysis{Statements: 1}
