// Package jsonscan validates one JSON value in a single pass and, on the way,
// records where the members of its objects are, so that a caller can slice
// fields out of the input without a second pass over it.
//
// It accepts exactly what encoding/json's Valid accepts (strings holding
// invalid UTF-8 included, nesting up to encoding/json's depth limit), and
// reports separately whether every string was valid UTF-8 and whether some
// string holds a \u0000 escape, two properties SQL databases care about.
//
// It is the one JSON validator of syncd: the consumer runs it while it splits
// a response into messages, and the State Protocol decoder runs it on
// messages that did not come through that path.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"unicode/utf8"
)

// MaxDepth is encoding/json's limit on nested objects and arrays.
const MaxDepth = 10000

// memberDepth is how deep Scanner records object members: the members of
// the top-level object, and those of objects that are its member values
// (not those of objects inside arrays).
const memberDepth = 2

// noRecord is the parent of values whose members are not recorded.
const noRecord = -2

// Member is one member of an object: where its quoted name and its raw
// value are in the scanned input (see Result.Name and Result.Value). It
// holds offsets, not slices, so that recording one costs no pointer writes.
type Member struct {
	nameStart, nameEnd, valueStart, valueEnd int
	// Parent is the index in Result.Members of the member whose value is
	// the object holding this one, or -1 for a member of the top-level
	// object.
	Parent int
}

// Result is what a scan learned about a valid value besides its extent.
// Its slices alias the scanned input.
type Result struct {
	b     []byte // the scanned input
	start int    // where the value begins in b
	base  int    // the members' offsets are into b as if it began base bytes earlier (see View)

	// Members are the members of the top-level object (Parent -1) and of
	// the objects that are their values (Parent ≥ 0), in input order; empty
	// unless the value is an object.
	Members []Member
	// NUL reports that some string holds a \u0000 escape.
	NUL bool
	// BadUTF8 reports that some string holds bytes that are not UTF-8.
	BadUTF8 bool
}

// Name returns the quoted name of Members[k].
func (r *Result) Name(k int) []byte {
	m := &r.Members[k]
	return r.b[m.nameStart-r.base : m.nameEnd-r.base]
}

// Value returns the raw value of Members[k].
func (r *Result) Value(k int) []byte {
	m := &r.Members[k]
	return r.b[m.valueStart-r.base : m.valueEnd-r.base]
}

// Scanner validates JSON values. Its Result is reused by each scan, so a
// Scanner spares allocations across many values; it is not safe for
// concurrent use.
type Scanner struct {
	res Result
	// Nested, when not nil, says which members of the top-level object
	// have the members of their object values recorded, by quoted name:
	// a caller that reads only some nested objects spares recording (and
	// later copying) the others. nil records them all.
	Nested func(quotedName []byte) bool
}

// Value validates the JSON value that starts at b[i] (no leading
// whitespace) and returns the index just past it. ok is false when the
// bytes from b[i] on do not begin with a valid JSON value, which includes a
// value that b ends inside of. Bytes after the value are not looked at. The
// Result describes the value until the next scan.
func (s *Scanner) Value(b []byte, i int) (end int, ok bool) {
	s.res = Result{b: b, start: i, Members: s.res.Members[:0]}
	return s.value(b, i, 0, -1)
}

// Clone returns a Result like r that describes raw, a copy of the value r
// was scanned from (exactly its bytes), so that it outlives the scanned
// input. Its members are appended to arena, which is returned grown: one
// arena serves many clones without an allocation each.
func (r *Result) Clone(raw []byte, arena []Member) (Result, []Member) {
	n := len(arena)
	shift := r.base + r.start
	for _, m := range r.Members {
		m.nameStart -= shift
		m.nameEnd -= shift
		m.valueStart -= shift
		m.valueEnd -= shift
		arena = append(arena, m)
	}
	return Result{b: raw, Members: arena[n:len(arena):len(arena)], NUL: r.NUL, BadUTF8: r.BadUTF8}, arena
}

// View is Clone without copying the members: the Result it returns
// describes raw, a copy of the value r was scanned from, but shares r's
// members, so it is valid only as long as r is (a Scanner's, until its
// next scan).
func (r *Result) View(raw []byte) Result {
	return Result{b: raw, base: r.base + r.start, Members: r.Members, NUL: r.NUL, BadUTF8: r.BadUTF8}
}

// Result returns what the last successful scan learned.
func (s *Scanner) Result() *Result { return &s.res }

// Valid reports whether b is one JSON value with optional surrounding
// whitespace, as encoding/json's Valid does, and returns what the scan
// learned about it.
func (s *Scanner) Valid(b []byte) (*Result, bool) {
	i := SkipSpace(b, 0)
	end, ok := s.Value(b, i)
	return &s.res, ok && SkipSpace(b, end) == len(b)
}

// SkipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func SkipSpace(b []byte, i int) int {
	for i < len(b) && b[i] <= ' ' && space[b[i]] {
		i++
	}
	return i
}

// space marks JSON whitespace.
var space = [256]bool{' ': true, '\t': true, '\n': true, '\r': true}

// skip is SkipSpace for the common case of no whitespace at all.
func skip(b []byte, i int) int {
	if i < len(b) && b[i] <= ' ' {
		return SkipSpace(b, i)
	}
	return i
}

// value validates the value at b[i]; depth counts the containers around
// it, and parent is the Parent its members get if they are recorded
// (noRecord: they are not).
func (s *Scanner) value(b []byte, i, depth, parent int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return s.str(b, i)
	case c == '{':
		return s.object(b, i, depth+1, parent)
	case c == '[':
		return s.array(b, i, depth+1)
	case c == '-' || c-'0' <= 9:
		return s.number(b, i)
	case c == 't':
		return s.literal(b, i, "true")
	case c == 'f':
		return s.literal(b, i, "false")
	case c == 'n':
		return s.literal(b, i, "null")
	}
	return i, false
}

func (s *Scanner) object(b []byte, i, depth, parent int) (int, bool) {
	if depth > MaxDepth {
		return i, false
	}
	i = skip(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	record := parent != noRecord && depth <= memberDepth
	var ok bool
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		nameStart := i
		if i, ok = s.str(b, i); !ok {
			return i, false
		}
		nameEnd := i
		if i < len(b) && b[i] != ':' { // compact JSON has none of these skips
			i = skip(b, i)
		}
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		start := skip(b, i+1)
		k, self := -1, noRecord // this member's index, and its members' Parent
		if record {
			k = len(s.res.Members)
			s.res.Members = append(s.res.Members, Member{nameStart: nameStart, nameEnd: nameEnd, valueStart: start, Parent: parent})
			if depth > 1 || s.Nested == nil || start >= len(b) || b[start] != '{' || s.Nested(b[nameStart:nameEnd]) {
				self = k
			}
		}
		if start < len(b) && b[start] == '"' {
			i, ok = s.str(b, start)
		} else {
			i, ok = s.value(b, start, depth, self)
		}
		if !ok {
			return i, false
		}
		if record {
			s.res.Members[k].valueEnd = i
		}
		if i < len(b) && b[i] == ',' {
			i = skip(b, i+1)
			continue
		}
		if i = skip(b, i); i < len(b) && b[i] == '}' {
			return i + 1, true
		}
		if i >= len(b) || b[i] != ',' {
			return i, false
		}
		i = skip(b, i+1)
	}
}

func (s *Scanner) array(b []byte, i, depth int) (int, bool) {
	if depth > MaxDepth {
		return i, false
	}
	i = skip(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, true
	}
	var ok bool
	for {
		if i, ok = s.value(b, i, depth, noRecord); !ok {
			return i, false
		}
		if i = skip(b, i); i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		if i >= len(b) || b[i] != ',' {
			return i, false
		}
		i = skip(b, i+1)
	}
}

// Word-at-a-time masks: lo has 0x01 in every byte, hi 0x80.
const (
	lo = 0x0101010101010101
	hi = 0x8080808080808080
)

// special returns a mask whose lowest set bit is the high bit of the first
// byte of x (little endian) that a string scan must look at: a quote, a
// backslash, a control character or a non-ASCII byte; 0 if there is none.
// Bits above the first such byte may be set spuriously.
func special(x uint64) uint64 {
	q := x ^ (lo * '"')
	bs := x ^ (lo * '\\')
	return ((q-lo) & ^q | (bs-lo)&^bs | (x - lo*0x20) | x) & hi
}

// str validates the string whose opening quote is b[i].
func (s *Scanner) str(b []byte, i int) (int, bool) {
	i++
	for {
		// Skip plain ASCII eight bytes at a time.
		for i+8 <= len(b) {
			m := special(binary.LittleEndian.Uint64(b[i:]))
			if m != 0 {
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			i += 8
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, false
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1, true
		case c == '\\':
			n := s.escape(b, i+1)
			if n == 0 {
				return i, false
			}
			i += 1 + n
		case c < 0x20:
			return i, false
		default: // non-ASCII
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				s.res.BadUTF8 = true
			}
			i += n
		}
	}
}

// plain marks the ASCII bytes that may appear unescaped in a string and do
// not end it.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// escape returns the length of the escape sequence after the backslash at
// b[i-1], or 0 if it is malformed.
func (s *Scanner) escape(b []byte, i int) int {
	if i >= len(b) {
		return 0
	}
	switch b[i] {
	case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
		return 1
	case 'u':
		if i+4 >= len(b) {
			return 0
		}
		for _, c := range b[i+1 : i+5] {
			if !isHex(c) {
				return 0
			}
		}
		if string(b[i+1:i+5]) == "0000" {
			s.res.NUL = true
		}
		return 5
	}
	return 0
}

func (s *Scanner) literal(b []byte, i int, lit string) (int, bool) {
	end := i + len(lit)
	return end, end <= len(b) && string(b[i:end]) == lit
}

func (s *Scanner) number(b []byte, i int) (int, bool) {
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

func isDigit(c byte) bool { return c-'0' <= 9 }

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// Text returns the content of a valid JSON string token: a slice of the
// token when it holds no escapes and is valid UTF-8, else a decoded copy in
// which invalid UTF-8 and lone surrogates are U+FFFD, as encoding/json does.
func Text(quoted []byte) []byte {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner
	}
	var s string
	_ = json.Unmarshal(quoted, &s) // cannot fail: the token is a valid string
	return []byte(s)
}
