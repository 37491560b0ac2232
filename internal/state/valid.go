package state

// valid reports whether b is one JSON value with optional surrounding
// whitespace. It accepts exactly what json.Valid accepts (invalid UTF-8
// inside strings included, nesting up to maxDepth) several times faster,
// which matters because Decode checks every message before slicing it.
func valid(b []byte) bool {
	_, ok := validate(b)
	return ok
}

// validate is valid that also returns the members of a top-level object that
// Decode needs, sparing it a second pass.
func validate(b []byte) (message, bool) {
	m, _, ok := validateNUL(b)
	return m, ok
}

// validateNUL is validate that also reports whether some string holds a
// \u0000 escape.
func validateNUL(b []byte) (m message, nul, ok bool) {
	v := validator{b: b}
	i, ok := v.value(skipSpace(b, 0), 0)
	return v.top, v.nul, ok && skipSpace(b, i) == len(b)
}

// maxDepth is encoding/json's limit on nested objects and arrays.
const maxDepth = 10000

// plain marks the bytes that may appear unescaped in a JSON string and do
// not end it.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// validator checks one JSON document. Each method takes the index where its
// token starts and returns the index just past it, and false if the token is
// malformed.
type validator struct {
	b   []byte
	top message // the members of a top-level object
	nul bool    // a \u0000 escape was seen in some string
}

func (v *validator) value(i, depth int) (int, bool) {
	if i >= len(v.b) {
		return i, false
	}
	switch c := v.b[i]; {
	case c == '{':
		return v.object(i, depth+1)
	case c == '[':
		return v.array(i, depth+1)
	case c == '"':
		return v.str(i)
	case c == 't':
		return v.literal(i, "true")
	case c == 'f':
		return v.literal(i, "false")
	case c == 'n':
		return v.literal(i, "null")
	case c == '-' || isDigit(c):
		return v.number(i)
	}
	return i, false
}

func (v *validator) object(i, depth int) (int, bool) {
	if depth > maxDepth {
		return i, false
	}
	i = skipSpace(v.b, i+1)
	if i < len(v.b) && v.b[i] == '}' {
		return i + 1, true
	}
	var ok bool
	for {
		if i >= len(v.b) || v.b[i] != '"' {
			return i, false
		}
		start := i
		if i, ok = v.str(i); !ok {
			return i, false
		}
		name := v.b[start:i]
		if i = skipSpace(v.b, i); i >= len(v.b) || v.b[i] != ':' {
			return i, false
		}
		start = skipSpace(v.b, i+1)
		if i, ok = v.value(start, depth); !ok {
			return i, false
		}
		if depth == 1 {
			v.top.set(name, v.b[start:i])
		}
		if i = skipSpace(v.b, i); i < len(v.b) && v.b[i] == '}' {
			return i + 1, true
		}
		if i >= len(v.b) || v.b[i] != ',' {
			return i, false
		}
		i = skipSpace(v.b, i+1)
	}
}

func (v *validator) array(i, depth int) (int, bool) {
	if depth > maxDepth {
		return i, false
	}
	i = skipSpace(v.b, i+1)
	if i < len(v.b) && v.b[i] == ']' {
		return i + 1, true
	}
	var ok bool
	for {
		if i, ok = v.value(i, depth); !ok {
			return i, false
		}
		if i = skipSpace(v.b, i); i < len(v.b) && v.b[i] == ']' {
			return i + 1, true
		}
		if i >= len(v.b) || v.b[i] != ',' {
			return i, false
		}
		i = skipSpace(v.b, i+1)
	}
}

func (v *validator) str(i int) (int, bool) {
	b := v.b
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case plain[c]:
		case c == '"':
			return i + 1, true
		case c == '\\':
			n := v.escape(i + 1)
			if n == 0 {
				return i, false
			}
			i += n
		default: // control character
			return i, false
		}
	}
	return i, false
}

// escape returns the length of the escape sequence after the backslash at
// b[i-1], or 0 if it is malformed.
func (v *validator) escape(i int) int {
	if i >= len(v.b) {
		return 0
	}
	switch v.b[i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 1
	case 'u':
		if i+4 >= len(v.b) {
			return 0
		}
		for _, c := range v.b[i+1 : i+5] {
			if !isHex(c) {
				return 0
			}
		}
		if string(v.b[i+1:i+5]) == "0000" {
			v.nul = true
		}
		return 5
	}
	return 0
}

func (v *validator) literal(i int, lit string) (int, bool) {
	end := i + len(lit)
	return end, end <= len(v.b) && string(v.b[i:end]) == lit
}

func (v *validator) number(i int) (int, bool) {
	b := v.b
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && isDigit(b[i]):
		i = digits(b, i)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		if i+1 >= len(b) || !isDigit(b[i+1]) {
			return i, false
		}
		i = digits(b, i+1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return i, false
		}
		i = digits(b, i)
	}
	return i, true
}

// digits returns the index of the first non-digit at or after i.
func digits(b []byte, i int) int {
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	return i
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
