package sqlcheck

import (
	"strconv"
	"strings"
)

// Lifting literals. ORMs that inline values (bun, say) send a new text for
// every statement; parsing each for the scope analysis would cost tens of
// microseconds a statement. For texts the tamper check does not need to
// parse, the scope analysis runs instead on the text's shape: its plain
// string constants ('…') and numbers replaced, in order, by parameters $1,
// $2, …, whose values are the literals (Literals), checked per execution as
// arguments are. Texts of one shape share one parse and one cache entry.

// span is where a lifted literal stands in the text: sql[start:end].
type span struct{ start, end int }

// lift returns sql with its literals replaced by parameters, where each
// literal stands in sql, and false when the text has anything the
// replacement could misread: parameters of its own, escape, bit, national
// or Unicode strings, a number glued to a name (0x1F), comments, or a
// literal right after a type name (DATE '…', where a parameter is not
// allowed). A false answer only costs a parse of the text itself.
func lift(sql string) (shape string, lits []span, ok bool) {
	var out []byte
	prevIdent := false // the previous token ended with an identifier character
	param := func(start, end int) {
		lits = append(lits, span{start, end})
		out = append(out, '$')
		out = strconv.AppendInt(out, int64(len(lits)), 10)
		prevIdent = false
	}
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'':
			if prevIdent || len(out) >= 2 && out[len(out)-1] == '&' && (out[len(out)-2] == 'U' || out[len(out)-2] == 'u') {
				return "", nil, false // E'…', B'…', X'…', N'…', U&'…'
			}
			end := quotedEnd(sql, i)
			if end < 0 || typedLiteral(out) {
				return "", nil, false
			}
			if settingArg(out) {
				// current_setting('app.tenant_id'): the name stays, so the
				// shape still reads the setting.
				out = append(out, sql[i:end]...)
				i, prevIdent = end, false
				continue
			}
			param(i, end)
			i = end
			continue
		case c == '"':
			end := quotedEnd(sql, i)
			if end < 0 {
				return "", nil, false
			}
			out = append(out, sql[i:end]...)
			i, prevIdent = end, true
			continue
		case c == '$' && !prevIdent:
			// A parameter, or a dollar quote: $tag$ … $tag$.
			j := i + 1
			for j < len(sql) && isWordByte(sql[j]) && sql[j] != '$' {
				j++
			}
			if j == len(sql) || sql[j] != '$' || j > i+1 && isDigit(sql[i+1]) {
				return "", nil, false // $1: the text has parameters of its own
			}
			tag := sql[i : j+1]
			k := strings.Index(sql[j+1:], tag)
			if k < 0 {
				return "", nil, false
			}
			end := j + 1 + k + len(tag)
			out = append(out, sql[i:end]...)
			i, prevIdent = end, false
			continue
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-', c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			return "", nil, false
		case !prevIdent && (isDigit(c) || c == '.' && i+1 < len(sql) && isDigit(sql[i+1])):
			end := numberEnd(sql, i)
			if end < len(sql) && (isWordByte(sql[end]) || sql[end] == '.') {
				return "", nil, false // 0x1F, 1_000, 1.2.3
			}
			if typedLiteral(out) {
				return "", nil, false
			}
			param(i, end)
			i = end
			continue
		}
		out = append(out, c) // also $ and digits inside a name (a$b, t1)
		prevIdent = isWordByte(c)
		i++
	}
	return string(out), lits, true
}

// quotedEnd returns the index after the quote that closes the '…' or "…"
// opening at sql[i] (a doubled quote stays inside), or -1.
func quotedEnd(sql string, i int) int {
	q := sql[i]
	for j := i + 1; j < len(sql); j++ {
		if sql[j] == q {
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j + 1
		}
	}
	return -1
}

// numberEnd returns the index after the numeric constant at sql[i]:
// digits, a fraction, an exponent.
func numberEnd(sql string, i int) int {
	digits := func(j int) int {
		for j < len(sql) && isDigit(sql[j]) {
			j++
		}
		return j
	}
	j := digits(i)
	if j < len(sql) && sql[j] == '.' {
		j = digits(j + 1)
	}
	if j < len(sql) && (sql[j] == 'e' || sql[j] == 'E') {
		k := j + 1
		if k < len(sql) && (sql[k] == '+' || sql[k] == '-') {
			k++
		}
		if k < len(sql) && isDigit(sql[k]) {
			j = digits(k)
		}
	}
	return j
}

// typedLiteral reports whether out ends with a type name that makes the
// next literal a typed one (DATE '…', INTERVAL '…' DAY, TIME ZONE '…'), or
// with ESCAPE; such texts are not lifted. (A type name not listed makes the
// shape fail to parse, and the text is then parsed itself.)
func typedLiteral(out []byte) bool {
	end := len(out)
	for end > 0 && (out[end-1] == ' ' || out[end-1] == '\t' || out[end-1] == '\n' || out[end-1] == '\r') {
		end--
	}
	start := end
	for start > 0 && isWordByte(out[start-1]) {
		start--
	}
	if start == end {
		return false
	}
	switch strings.ToLower(string(out[start:end])) {
	case "date", "time", "timestamp", "timestamptz", "interval", "zone", "varchar", "char", "character",
		"bpchar", "text", "numeric", "decimal", "int", "integer", "int2", "int4", "int8", "smallint", "bigint",
		"real", "float", "float4", "float8", "double", "precision", "bool", "boolean", "json", "jsonb", "uuid",
		"bytea", "inet", "cidr", "macaddr", "money", "point", "box", "tsvector", "tsquery", "xml", "bit", "varying",
		"escape", "uescape":
		return true
	}
	return false
}

// settingArg reports whether out ends with "current_setting(" (any case,
// any spacing), so the literal that follows names a setting.
func settingArg(out []byte) bool {
	end := len(out)
	skip := func() {
		for end > 0 && (out[end-1] == ' ' || out[end-1] == '\t' || out[end-1] == '\n' || out[end-1] == '\r') {
			end--
		}
	}
	skip()
	if end == 0 || out[end-1] != '(' {
		return false
	}
	end--
	skip()
	const name = "current_setting"
	if end < len(name) || strings.ToLower(string(out[end-len(name):end])) != name {
		return false
	}
	return end == len(name) || !isWordByte(out[end-len(name)-1])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// Literals returns the values of the literals lift replaces in sql, in
// order: a string constant's value (quotes doubled inside it undone), a
// number as the parser reads it. It must be called only for a text whose
// Analysis has Lifted set.
func Literals(sql string) []string {
	_, lits, ok := lift(sql)
	if !ok {
		return nil
	}
	out := make([]string, len(lits))
	for k, l := range lits {
		if sql[l.start] == '\'' {
			out[k] = strings.ReplaceAll(sql[l.start+1:l.end-1], "''", "'")
		} else {
			out[k] = canonicalNumber(sql[l.start:l.end])
		}
	}
	return out
}

// OriginalPos maps a byte offset in the shape of sql (see lift) back to sql.
func OriginalPos(sql string, pos int) int {
	_, lits, ok := lift(sql)
	if !ok {
		return pos
	}
	orig, sh := 0, 0 // walk both texts literal by literal
	for k, l := range lits {
		ph := len("$") + len(strconv.Itoa(k+1))
		gap := l.start - orig // bytes copied verbatim before this literal
		if pos < sh+gap {
			break
		}
		if pos < sh+gap+ph {
			return l.start
		}
		sh += gap + ph
		orig = l.end
	}
	return orig + (pos - sh)
}

// canonicalNumber writes an integer as the parser reads it (00 is 0), so a
// number compares the same lifted or parsed; other numbers stay as written.
func canonicalNumber(s string) string {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return strconv.FormatInt(n, 10)
	}
	return s
}
