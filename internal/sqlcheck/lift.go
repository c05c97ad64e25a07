package sqlcheck

import "strconv"

// Lifting literals. ORMs that inline values (bun, say) send a new text for
// every statement; parsing each for the scope analysis would cost tens of
// microseconds a statement. For texts the tamper check does not need to
// parse, the scope analysis runs instead on the text's shape: its plain
// string constants ('…') and numbers replaced, in order, by parameters $1,
// $2, …, whose values are the literals (Literals), checked per execution as
// arguments are. Texts of one shape share one parse and one cache entry.

// lift returns sql with its literals replaced by parameters, the byte
// offset in sql of each literal, and false when the text has anything the
// replacement could misread: parameters of its own, escape, bit, national
// or Unicode strings, a number glued to a name (0x1F), comments, or a
// literal right after a type name (DATE '…', where a parameter is not
// allowed). A false answer only costs a parse of the text itself.
func lift(sql string) (shape string, offsets []int, ok bool) {
	var out []byte
	n := 0
	prevIdent := false // the previous token ended with an identifier character
	for i := 0; i < len(sql); {
		c := sql[i]
		switch {
		case c == '\'':
			if prevIdent || len(out) >= 2 && out[len(out)-1] == '&' && (out[len(out)-2] == 'U' || out[len(out)-2] == 'u') {
				return "", nil, false // E'…', B'…', X'…', N'…', U&'…'
			}
			j := i + 1
			for ; j < len(sql); j++ {
				if sql[j] == '\'' {
					if j+1 < len(sql) && sql[j+1] == '\'' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(sql) {
				return "", nil, false
			}
			if typedLiteral(out) {
				return "", nil, false
			}
			if settingArg(out) {
				// current_setting('app.tenant_id'): the name stays, so the
				// shape still reads the setting.
				out = append(out, sql[i:j+1]...)
				i = j + 1
				prevIdent = false
				continue
			}
			n++
			offsets = append(offsets, i)
			out = append(out, '$')
			out = strconv.AppendInt(out, int64(n), 10)
			i = j + 1
			prevIdent = false
			continue
		case c == '"':
			j := i + 1
			for ; j < len(sql); j++ {
				if sql[j] == '"' {
					if j+1 < len(sql) && sql[j+1] == '"' {
						j++
						continue
					}
					break
				}
			}
			if j >= len(sql) {
				return "", nil, false
			}
			out = append(out, sql[i:j+1]...)
			i = j + 1
			prevIdent = true
			continue
		case c == '$':
			if prevIdent {
				out = append(out, c) // part of a name (a$b)
				i++
				continue
			}
			// A parameter, or a dollar quote: $tag$ … $tag$.
			j := i + 1
			for j < len(sql) && isWordByte(sql[j]) && sql[j] != '$' {
				j++
			}
			if j < len(sql) && sql[j] == '$' && (j == i+1 || !isDigit(sql[i+1])) {
				tag := sql[i : j+1]
				end := indexFrom(sql, tag, j+1)
				if end < 0 {
					return "", nil, false
				}
				out = append(out, sql[i:end+len(tag)]...)
				i = end + len(tag)
				prevIdent = false
				continue
			}
			return "", nil, false // $1: the text has parameters of its own
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-', c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			return "", nil, false
		case isDigit(c) || c == '.' && i+1 < len(sql) && isDigit(sql[i+1]):
			if prevIdent {
				out = append(out, c) // part of a name (t1)
				i++
				continue
			}
			j := i
			for j < len(sql) && isDigit(sql[j]) {
				j++
			}
			if j < len(sql) && sql[j] == '.' {
				j++
				for j < len(sql) && isDigit(sql[j]) {
					j++
				}
			}
			if j < len(sql) && (sql[j] == 'e' || sql[j] == 'E') {
				k := j + 1
				if k < len(sql) && (sql[k] == '+' || sql[k] == '-') {
					k++
				}
				if k < len(sql) && isDigit(sql[k]) {
					j = k
					for j < len(sql) && isDigit(sql[j]) {
						j++
					}
				}
			}
			if j < len(sql) && (isWordByte(sql[j]) || sql[j] == '.') {
				return "", nil, false // 0x1F, 1_000, 1.2.3
			}
			if typedLiteral(out) {
				return "", nil, false
			}
			n++
			offsets = append(offsets, i)
			out = append(out, '$')
			out = strconv.AppendInt(out, int64(n), 10)
			i = j
			prevIdent = false
			continue
		}
		out = append(out, c)
		prevIdent = isWordByte(c)
		i++
	}
	return string(out), offsets, true
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
	switch lowerASCII(string(out[start:end])) {
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
	if end < len(name) || lowerASCII(string(out[end-len(name):end])) != name {
		return false
	}
	return end == len(name) || !isWordByte(out[end-len(name)-1])
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func indexFrom(s, sub string, from int) int {
	for i := from; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

// Literals returns the values of the literals lift replaces in sql, in
// order: a string constant's value (quotes doubled inside it undone), a
// number's text. It must be called only for a text whose Analysis has
// Lifted set.
func Literals(sql string) []string {
	_, offsets, ok := lift(sql)
	if !ok {
		return nil
	}
	out := make([]string, len(offsets))
	for k, i := range offsets {
		if sql[i] != '\'' {
			j := i
			for j < len(sql) && (isDigit(sql[j]) || sql[j] == '.' || sql[j] == 'e' || sql[j] == 'E' ||
				(sql[j] == '+' || sql[j] == '-') && j > i && (sql[j-1] == 'e' || sql[j-1] == 'E')) {
				j++
			}
			out[k] = canonicalNumber(sql[i:j])
			continue
		}
		var v []byte
		for j := i + 1; j < len(sql); j++ {
			if sql[j] == '\'' {
				if j+1 < len(sql) && sql[j+1] == '\'' {
					v = append(v, '\'')
					j++
					continue
				}
				break
			}
			v = append(v, sql[j])
		}
		out[k] = string(v)
	}
	return out
}

// OriginalPos maps a byte offset in the shape of sql (see lift) back to sql.
func OriginalPos(sql string, pos int) int {
	shape, offsets, ok := lift(sql)
	if !ok {
		return pos
	}
	_ = shape
	orig, sh := 0, 0 // walk both texts literal by literal
	for k, off := range offsets {
		ph := len("$") + len(strconv.Itoa(k+1))
		gap := off - orig // bytes copied verbatim before this literal
		if pos < sh+gap {
			break
		}
		if pos < sh+gap+ph {
			return off
		}
		sh += gap + ph
		orig = off + literalLen(sql, off)
	}
	return orig + (pos - sh)
}

// literalLen returns the length in sql of the literal lift replaced at off.
func literalLen(sql string, off int) int {
	if sql[off] == '\'' {
		j := off + 1
		for ; j < len(sql); j++ {
			if sql[j] == '\'' {
				if j+1 < len(sql) && sql[j+1] == '\'' {
					j++
					continue
				}
				break
			}
		}
		return j + 1 - off
	}
	j := off
	for j < len(sql) && (isDigit(sql[j]) || sql[j] == '.' || sql[j] == 'e' || sql[j] == 'E' ||
		(sql[j] == '+' || sql[j] == '-') && j > off && (sql[j-1] == 'e' || sql[j-1] == 'E')) {
		j++
	}
	return j - off
}

// canonicalNumber writes an integer as the parser reads it (00 is 0), so a
// number compares the same lifted or parsed; other numbers stay as written.
func canonicalNumber(s string) string {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return strconv.FormatInt(n, 10)
	}
	return s
}
