package consumer

import (
	"bufio"
	"bytes"
	"errors"
)

// sseEvent is one dispatched Server-Sent Event.
type sseEvent struct {
	Type string // the event field, "message" when absent
	Data []byte // data lines joined with "\n"; valid until the next call to next
}

// errSSETooLarge reports an event (or, for the reader, a run of data events)
// larger than the parser's limit.
var errSSETooLarge = errors.New("SSE event too large")

// sseParser reads events from a text/event-stream body following the
// WHATWG event-stream rules: lines end with CRLF, LF or CR; a leading BOM is
// skipped; "field: value" strips exactly one space after the colon; data lines
// are joined with "\n"; a blank line dispatches the event, unless it has no
// data; comments (":") and the id and retry fields are ignored. An event cut
// off by the end of the body is discarded.
type sseParser struct {
	r     *bufio.Reader
	limit int // maximum bytes of one event's data; 0: none

	started  bool   // the BOM check was done
	skipLF   bool   // the last line ended with CR: an LF right after it belongs to it
	line     []byte // the current line, when it spans reads
	data     []byte // data of the event being built, each line followed by '\n'
	typ      []byte
	hasData  bool
	consumed bool // data/typ were handed out and must be reset
}

func newSSEParser(r *bufio.Reader, limit int) *sseParser {
	return &sseParser{r: r, limit: limit}
}

// next returns the next event with data. It returns io.EOF (or the read
// error) at the end of the body, discarding an incomplete event.
func (p *sseParser) next() (sseEvent, error) {
	if p.consumed {
		p.data, p.typ, p.hasData, p.consumed = p.data[:0], p.typ[:0], false, false
	}
	for {
		line, err := p.readLine()
		if err != nil {
			return sseEvent{}, err
		}
		if len(line) == 0 {
			if !p.hasData {
				p.typ = p.typ[:0]
				continue
			}
			ev := sseEvent{Type: "message", Data: p.data[:len(p.data)-1]}
			if len(p.typ) > 0 {
				ev.Type = string(p.typ)
			}
			p.consumed = true
			return ev, nil
		}
		if err := p.field(line); err != nil {
			return sseEvent{}, err
		}
	}
}

// field processes one non-blank line.
func (p *sseParser) field(line []byte) error {
	if line[0] == ':' {
		return nil // comment
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "event":
		p.typ = append(p.typ[:0], value...)
	case "data":
		if p.limit > 0 && len(p.data)+len(value) > p.limit {
			return errSSETooLarge
		}
		p.data = append(p.data, value...)
		p.data = append(p.data, '\n')
		p.hasData = true
	}
	// id, retry and unknown fields are ignored: offsets come from control events.
	return nil
}

// readLine returns the next line without its terminator; the slice is valid
// until the next read.
func (p *sseParser) readLine() ([]byte, error) {
	if !p.started {
		p.started = true
		if b, err := p.r.Peek(1); err == nil && b[0] == 0xEF {
			if b, err := p.r.Peek(3); err == nil && b[1] == 0xBB && b[2] == 0xBF {
				_, _ = p.r.Discard(3)
			}
		}
	}
	p.line = p.line[:0]
	for {
		b, err := p.r.Peek(1)
		if err != nil {
			return nil, err
		}
		if p.skipLF {
			p.skipLF = false
			if b[0] == '\n' {
				_, _ = p.r.Discard(1)
				continue
			}
		}
		buf, _ := p.r.Peek(p.r.Buffered())
		i := indexEOL(buf)
		if i < 0 {
			if p.limit > 0 && len(p.line)+len(buf) > p.limit+len("data: ") {
				return nil, errSSETooLarge
			}
			p.line = append(p.line, buf...)
			_, _ = p.r.Discard(len(buf))
			continue
		}
		p.skipLF = buf[i] == '\r'
		var line []byte
		if len(p.line) == 0 {
			line = buf[:i] // no copy: valid until the Discard's next fill
		} else {
			p.line = append(p.line, buf[:i]...)
			line = p.line
		}
		_, _ = p.r.Discard(i + 1)
		return line, nil
	}
}

// indexEOL returns the index of the first CR or LF in b, or -1.
func indexEOL(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	if lf < 0 {
		lf = len(b)
	}
	if cr := bytes.IndexByte(b[:lf], '\r'); cr >= 0 {
		return cr
	}
	if lf == len(b) {
		return -1
	}
	return lf
}
