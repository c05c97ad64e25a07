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
func isTrigger(word string) bool {
	var buf [16]byte
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
		// settings and identity: SET, RESET, set_config, pg_settings, DISCARD,
		// ROLE, SESSION AUTHORIZATION
		"set", "reset", "set_config", "pg_settings", "discard", "role", "authorization",
		// code the parser cannot see into, and bodies it scans
		"do", "call", "function", "procedure",
		// transaction control
		"begin", "start", "commit", "end", "rollback", "abort", "savepoint", "release", "prepare", "prepared",
		// statements that refuse a transaction block
		"vacuum", "concurrently", "database", "tablespace", "system", "cluster", "subscription", "reindex":
		return true
	}
	return false
}

// mustParse reports whether sql needs the parser. Besides the trigger words,
// a ';' (several statements), a Unicode-escaped identifier (U&"…" can spell
// any name), and a text that may hold no statement at all (blank, or with
// comments, or a NUL byte, where the parser and the server stop reading)
// need it.
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
			if isTrigger(sql[start:i]) {
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

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$'
}

// plain is the analysis of a text that needs no parse.
var plain = &Analysis{Statements: 1}
