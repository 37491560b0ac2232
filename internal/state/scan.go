package state

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// The scanner below walks documents that validate has already accepted, so
// it never reports syntax errors: it only finds where tokens end. Decode uses
// it on the headers object, whose span validate recorded, to slice fields out
// of the input without building maps or re-encoding values.

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just past the closing quote of the string whose
// opening quote is b[i].
func stringEnd(b []byte, i int) int {
	for i++; ; {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b)
		}
		i += j + 1
		if !escapedQuote(b, i-1) {
			return i
		}
	}
}

// escapedQuote reports whether the quote at b[q] is preceded by an odd number
// of backslashes.
func escapedQuote(b []byte, q int) bool {
	n := 0
	for q--; q >= 0 && b[q] == '\\'; q-- {
		n++
	}
	return n%2 == 1
}

// valueEnd returns the index just past the JSON value that starts at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		return containerEnd(b, i)
	}
	for i < len(b) { // number, true, false or null
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}

// containerEnd returns the index just past the object or array that starts
// at b[i].
func containerEnd(b []byte, i int) int {
	depth := 0
	for i < len(b) {
		switch b[i] {
		case '"':
			i = stringEnd(b, i)
			continue
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
		i++
	}
	return i
}

// members iterates over the members of a valid JSON object.
type members struct {
	b []byte
	i int
}

// newMembers starts iterating over obj, a valid JSON object with no
// surrounding whitespace.
func newMembers(obj []byte) members {
	return members{b: obj, i: 1}
}

// next returns the next member's quoted name and raw value, or ok == false
// after the last one.
func (m *members) next() (name, value []byte, ok bool) {
	m.i = skipSpace(m.b, m.i)
	if m.i < len(m.b) && m.b[m.i] == ',' {
		m.i = skipSpace(m.b, m.i+1)
	}
	if m.i >= len(m.b) || m.b[m.i] != '"' {
		return nil, nil, false // '}'
	}
	end := stringEnd(m.b, m.i)
	name = m.b[m.i:end]
	m.i = skipSpace(m.b, end) + 1 // past ':'
	m.i = skipSpace(m.b, m.i)
	end = valueEnd(m.b, m.i)
	value = m.b[m.i:end]
	m.i = end
	return name, value, true
}

// nameIs reports whether the quoted member name equals want once unescaped,
// as JSON.parse would compare it.
func nameIs(quoted []byte, want string) bool {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == want
	}
	return string(text(quoted)) == want
}

// text returns the content of a valid JSON string token: a slice of the
// token when it holds no escapes and is valid UTF-8, else a decoded copy in
// which invalid UTF-8 and lone surrogates are U+FFFD, as encoding/json does.
func text(quoted []byte) []byte {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner
	}
	var s string
	_ = json.Unmarshal(quoted, &s) // cannot fail: the token is a valid string
	return []byte(s)
}

// jsonKind names the JSON type of a valid raw value, for reject reasons.
func jsonKind(raw []byte) string {
	switch raw[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}
