package consumer

import (
	"bufio"
	"bytes"
	"fmt"
	"io"

	"github.com/syncd-io/syncd/internal/jsonscan"
)

// splitter finds the top-level elements of a JSON array in a byte stream and
// hands each one to a callback, without holding more than one element (capped
// at max bytes) in memory. Boundaries are structural: it tracks strings,
// escapes and bracket nesting, and rejects a body whose array structure is
// broken (truncated, garbage between elements, not an array). An element
// that is invalid JSON is still an element, for the decoder to reject.
//
// Most elements are objects held whole in one read: those it validates in
// the same pass that finds their end (jsonscan), and delivers with the scan's
// result, so that the decoder neither validates nor walks them again. An
// element that spans reads, is not an object or array, or is not valid JSON
// is found by the structural scan alone and delivered without one.
//
// A splitter is reused across responses; it is not safe for concurrent use.
type splitter struct {
	max int // elements longer than this are delivered truncated

	state  splitState
	stack  []byte // closing brackets expected by the current element
	inStr  bool   // inside a string of the current element
	esc    bool   // the previous byte was a backslash inside a string
	buf    []byte // the current element when it spans reads (first max bytes)
	size   int64  // bytes of the current element seen in previous reads
	pos    int    // position of the next element within the response
	offset int64  // bytes of the body consumed so far

	scan jsonscan.Scanner // validates elements held whole in one read
}

type splitState uint8

const (
	stStart  splitState = iota // before '['
	stFirst                    // after '[': an element or ']'
	stNext                     // after ',': an element
	stValue                    // inside a string, object or array element
	stScalar                   // inside a number, true, false or null
	stAfter                    // after an element: ',' or ']'
	stEnd                      // after ']': only whitespace may follow
)

// Byte classes, indexed by byte value.
var (
	isSpace     [256]bool // JSON whitespace
	structural  [256]bool // bytes that matter outside strings inside a value
	endOfScalar [256]bool // bytes that end a bare scalar
)

func init() {
	for _, c := range []byte(" \t\r\n") {
		isSpace[c], endOfScalar[c] = true, true
	}
	for _, c := range []byte(`"{}[]`) {
		structural[c] = true
	}
	for _, c := range []byte(`"{}[],:`) {
		endOfScalar[c] = true
	}
}

// start prepares the splitter for a new body; positions continue unless the
// caller resets pos.
func (s *splitter) start() {
	s.state, s.stack, s.inStr, s.esc = stStart, s.stack[:0], false, false
	s.buf, s.size, s.offset = s.buf[:0], 0, 0
}

// split reads one response body from r to EOF and calls emit for each element
// of its JSON array, in order. An empty body is an empty array. It returns the
// number of body bytes read. Errors: emit's error, unchanged; an error
// wrapping ErrCorruptBody when the array is malformed or ends early; or the
// read error. drained, when not nil, is called each time the bytes read so
// far are consumed, before a read that may wait for the network; its error
// ends the split like emit's.
func (s *splitter) split(r *bufio.Reader, emit func(Message) error, drained func() error) (int64, error) {
	s.start()
	s.pos = 0
	for {
		if _, err := r.Peek(1); err != nil {
			if err == io.EOF {
				return s.offset, s.eof()
			}
			return s.offset, err
		}
		chunk, _ := r.Peek(r.Buffered())
		n, err := s.feed(chunk, emit)
		_, _ = r.Discard(n)
		s.offset += int64(n)
		if err == nil && drained != nil {
			err = drained()
		}
		if err != nil {
			return s.offset, err
		}
	}
}

// splitBytes splits a complete body held in memory, continuing the element
// positions of previous calls since the last reset.
func (s *splitter) splitBytes(b []byte, emit func(Message) error) error {
	s.start()
	n, err := s.feed(b, emit)
	s.offset += int64(n)
	if err != nil {
		return err
	}
	return s.eof()
}

// eof checks that the body may end in the current state.
func (s *splitter) eof() error {
	switch s.state {
	case stStart, stEnd:
		return nil
	case stValue, stScalar:
		return s.corrupt(0, "body ended inside message %d", s.pos)
	default:
		return s.corrupt(0, "body ended before the array was closed")
	}
}

// corrupt reports a malformed body at index at of the current read.
func (s *splitter) corrupt(at int, format string, args ...any) error {
	return fmt.Errorf("%w at byte %d: %s", ErrCorruptBody, s.offset+int64(at), fmt.Sprintf(format, args...))
}

// feed consumes chunk, the next bytes of the body, and returns how many bytes
// it consumed: all of them unless it returns an error.
func (s *splitter) feed(b []byte, emit func(Message) error) (int, error) {
	i, start := 0, 0 // start: where the current element begins in b
	for i < len(b) {
		switch s.state {
		case stStart, stFirst, stNext, stAfter, stEnd:
			for i < len(b) && isSpace[b[i]] {
				i++
			}
			if i == len(b) {
				return i, nil
			}
			var err error
			if i, err = s.punctuation(b, i); err != nil {
				return i, err
			}
			start = i
		case stValue:
			if s.size == 0 && !s.inStr && len(s.stack) == 0 && b[i] != '"' {
				// An element starts here: validate it in the read if it
				// ends there.
				if end, ok := s.scan.Value(b, i); ok {
					if err := s.emitScanned(b[i:end], emit); err != nil {
						return end, err
					}
					i = end
					continue
				}
			}
			end, done, err := s.scanValue(b, i)
			if err != nil {
				return end, err
			}
			if !done {
				s.hold(b[start:])
				return len(b), nil
			}
			if err := s.emit(b[start:end], emit); err != nil {
				return end, err
			}
			i = end
		case stScalar:
			j := i
			for j < len(b) && !endOfScalar[b[j]] {
				j++
			}
			if j == len(b) {
				s.hold(b[start:])
				return len(b), nil
			}
			if err := s.emit(b[start:j], emit); err != nil {
				return j, err
			}
			i = j
		}
	}
	return len(b), nil
}

// punctuation handles the non-space byte b[i] between elements and returns
// the index of the next byte to look at.
func (s *splitter) punctuation(b []byte, i int) (int, error) {
	c := b[i]
	switch s.state {
	case stStart:
		if c != '[' {
			return i, s.corrupt(i, "expected a JSON array, found %q", c)
		}
		s.state = stFirst
		return i + 1, nil
	case stAfter:
		switch c {
		case ',':
			s.state = stNext
		case ']':
			s.state = stEnd
		default:
			return i, s.corrupt(i, "unexpected %q after message %d", c, s.pos-1)
		}
		return i + 1, nil
	case stEnd:
		return i, s.corrupt(i, "unexpected %q after the array", c)
	}
	// stFirst or stNext: an element starts here (or the array ends).
	switch c {
	case ']':
		if s.state == stNext {
			return i, s.corrupt(i, "trailing comma before ']'")
		}
		s.state = stEnd
		return i + 1, nil
	case ',', '}', ':':
		return i, s.corrupt(i, "unexpected %q where message %d should start", c, s.pos)
	case '"', '{', '[':
		s.state = stValue
	default:
		s.state = stScalar
	}
	s.buf, s.size = s.buf[:0], 0
	return i, nil
}

// scanValue scans a string, object or array element from b[i:]. It returns the
// index just past the element when done, else len(b).
func (s *splitter) scanValue(b []byte, i int) (int, bool, error) {
	quote := -1 // index of the next '"' at or after i (len(b): none); -1 unknown
	for i < len(b) {
		if s.inStr {
			if s.esc {
				s.esc = false
				i++
				continue
			}
			if quote < i {
				if q := bytes.IndexByte(b[i:], '"'); q >= 0 {
					quote = i + q
				} else {
					quote = len(b)
				}
			}
			if k := bytes.IndexByte(b[i:quote], '\\'); k >= 0 {
				i += k + 1
				s.esc = true
				continue
			}
			if quote == len(b) {
				return len(b), false, nil
			}
			i = quote + 1
			s.inStr = false
			if len(s.stack) == 0 {
				return i, true, nil
			}
			continue
		}
		for i < len(b) && !structural[b[i]] {
			i++
		}
		if i == len(b) {
			break
		}
		switch c := b[i]; c {
		case '"':
			s.inStr = true
		case '{':
			s.stack = append(s.stack, '}')
		case '[':
			s.stack = append(s.stack, ']')
		default: // '}' or ']'
			n := len(s.stack)
			if n == 0 || s.stack[n-1] != c {
				return i, false, s.corrupt(i, "mismatched %q in message %d", c, s.pos)
			}
			s.stack = s.stack[:n-1]
			if n == 1 {
				return i + 1, true, nil
			}
		}
		i++
	}
	return len(b), false, nil
}

// hold keeps part of an element that continues in the next read.
func (s *splitter) hold(p []byte) {
	if room := s.max - len(s.buf); room > 0 {
		s.buf = append(s.buf, p[:min(room, len(p))]...)
	}
	s.size += int64(len(p))
}

// emitScanned delivers p, an element held whole in the current read that
// s.scan has just validated.
func (s *splitter) emitScanned(p []byte, emit func(Message) error) error {
	if len(p) > s.max {
		return s.emit(p, emit)
	}
	m := Message{Raw: p, Position: s.pos, Size: int64(len(p)), Scan: s.scan.Result()}
	s.state = stAfter
	s.pos++
	return emit(m)
}

// emit delivers the element whose last part is p.
func (s *splitter) emit(p []byte, emit func(Message) error) error {
	raw, size := p, int64(len(p))
	if s.size > 0 { // the element began in an earlier read
		s.hold(p)
		raw, size = s.buf, s.size
	}
	m := Message{Raw: raw, Position: s.pos, Size: size}
	if size > int64(s.max) {
		m.Truncated = true
		if len(m.Raw) > s.max {
			m.Raw = m.Raw[:s.max]
		}
	}
	s.state, s.size, s.buf = stAfter, 0, s.buf[:0]
	s.pos++
	return emit(m)
}
