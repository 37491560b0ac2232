package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// sse tails the stream over one SSE connection. Data events are split and
// buffered until the next control event, which supplies the offset; then the
// span is delivered as one Response. It returns closed after the final control
// event; nil when the server ended the connection after at least one control
// event (a normal reconnect); an error otherwise.
func (f *follower) sse(ctx context.Context, p Position) (closed bool, err error) {
	c, err := f.get(ctx, modeSSE, f.requestURL(p, modeSSE), p.Offset)
	if err != nil {
		return false, err
	}
	defer c.close()
	if c.resp.StatusCode != http.StatusOK {
		return false, c.statusError(p.Offset)
	}
	if ct, _, _ := mime.ParseMediaType(c.resp.Header.Get("Content-Type")); ct != "text/event-stream" {
		return false, fmt.Errorf("GET %s at offset %q: SSE request answered with Content-Type %q", f.url, p.Offset, ct)
	}
	if enc := c.resp.Header.Get("Stream-SSE-Data-Encoding"); enc != "" {
		return false, fmt.Errorf("GET %s: SSE data encoding %q: %w", f.url, enc, ErrNotJSON)
	}
	c.body.Reset(c.resp.Body)
	events := newSSEParser(c.body, f.opts.sseSpanLimit())
	offset, controls := p.Offset, 0
	f.span.reset()
	for {
		ev, err := events.next()
		if err != nil {
			if errors.Is(err, errSSETooLarge) {
				return false, err
			}
			err = c.cause(err)
			if err == io.EOF && controls > 0 {
				return false, nil // the server ended the connection: reconnect
			}
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return false, fmt.Errorf("GET %s at offset %q: SSE connection ended: %w", f.url, offset, err)
		}
		switch ev.Type {
		case "data":
			if err := f.span.add(&f.sp, ev.Data, f.opts.sseSpanLimit()); err != nil {
				return false, fmt.Errorf("GET %s at offset %q: SSE data event: %w", f.url, offset, err)
			}
		case "control":
			r, err := f.control(ev.Data, offset)
			if err != nil {
				return false, err
			}
			if err := f.deliver(r); err != nil {
				return false, err
			}
			controls++
			f.bo.reset()
			if r.Closed {
				return true, nil
			}
			offset = r.NextOffset
		}
		// Other event types are ignored, as the protocol requires.
	}
}

// control parses a control event into the Response of the span it ends.
func (f *follower) control(data []byte, offset string) (Response, error) {
	var ctl struct {
		NextOffset string   `json:"streamNextOffset"`
		Cursor     string   `json:"streamCursor"`
		UpToDate   flexBool `json:"upToDate"`
		Closed     flexBool `json:"streamClosed"`
	}
	if err := json.Unmarshal(data, &ctl); err != nil || ctl.NextOffset == "" {
		if err == nil {
			err = errors.New("no streamNextOffset")
		}
		return Response{}, fmt.Errorf("GET %s at offset %q: SSE control event %.200q: %w", f.url, offset, data, err)
	}
	r := Response{
		URL:        f.url,
		Offset:     offset,
		NextOffset: ctl.NextOffset,
		Cursor:     ctl.Cursor,
		UpToDate:   bool(ctl.UpToDate || ctl.Closed), // streamClosed implies up to date
		Closed:     bool(ctl.Closed),
		Live:       true,
		Bytes:      f.span.bytes,
	}
	if r.Cursor != "" {
		f.lastCursor = r.Cursor
	}
	return r, nil
}

// deliver hands a buffered span to the handler.
func (f *follower) deliver(r Response) error {
	if err := f.h.Begin(r); err != nil {
		return &handlerError{err}
	}
	for i, e := range f.span.elems {
		m := Message{Raw: f.span.data[e.start:e.end], Position: i, Size: e.size, Truncated: e.truncated}
		if err := f.h.Message(m); err != nil {
			return &handlerError{err}
		}
	}
	if err := f.h.End(r); err != nil {
		return &handlerError{err}
	}
	f.span.reset()
	return nil
}

// span holds the messages of the SSE data events received since the last
// control event.
type span struct {
	data  []byte
	elems []spanElem
	bytes int64 // payload bytes of the data events
}

type spanElem struct {
	start, end int
	size       int64
	truncated  bool
}

func (s *span) reset() {
	s.data, s.elems, s.bytes = s.data[:0], s.elems[:0], 0
}

// add splits one data event's JSON array and keeps its messages. On error
// the span is left as it was.
func (s *span) add(sp *splitter, payload []byte, limit int) error {
	if len(s.data)+len(payload) > limit {
		return errSSETooLarge
	}
	data, n := len(s.data), len(s.elems)
	sp.pos = n
	err := sp.splitBytes(payload, func(m Message) error {
		start := len(s.data)
		s.data = append(s.data, m.Raw...)
		s.elems = append(s.elems, spanElem{start: start, end: len(s.data), size: m.Size, truncated: m.Truncated})
		return nil
	})
	if err != nil {
		s.data, s.elems = s.data[:data], s.elems[:n]
		return err
	}
	s.bytes += int64(len(payload))
	return nil
}

// flexBool decodes a protocol boolean sent as JSON true or as the string
// "true" (any case).
type flexBool bool

func (b *flexBool) UnmarshalJSON(p []byte) error {
	var v any
	if err := json.Unmarshal(p, &v); err != nil {
		return err
	}
	switch v := v.(type) {
	case bool:
		*b = flexBool(v)
	case string:
		*b = flexBool(strings.EqualFold(v, "true"))
	default:
		*b = false
	}
	return nil
}
