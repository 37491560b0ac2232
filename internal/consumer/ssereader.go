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

// sseConn is an open SSE connection and where it stands.
type sseConn struct {
	c        *call
	events   *sseParser
	at       Position // the position after the last control event read
	controls int      // control events read on this connection
}

// sseOpen connects at from and checks the answer's headers.
func (r *Reader) sseOpen(ctx context.Context, from Position) error {
	c, err := r.send(ctx, modeSSE, r.requestURL(from, modeSSE), from.Offset)
	if err != nil {
		return err
	}
	if err := r.sseCheck(c, from); err != nil {
		c.close()
		return err
	}
	r.br.Reset(c.resp.Body)
	r.sse = &sseConn{c: c, events: newSSEParser(r.br, r.opts.sseSpanLimit()), at: from}
	return nil
}

func (r *Reader) sseCheck(c *call, from Position) error {
	if c.resp.StatusCode != http.StatusOK {
		return c.statusError(from.Offset)
	}
	if ct, _, _ := mime.ParseMediaType(c.resp.Header.Get("Content-Type")); ct != "text/event-stream" {
		return fmt.Errorf("GET %s at offset %q: SSE request answered with Content-Type %q", r.url, from.Offset, ct)
	}
	if enc := c.resp.Header.Get("Stream-SSE-Data-Encoding"); enc != "" {
		return fmt.Errorf("GET %s: SSE data encoding %q: %w", r.url, enc, ErrNotJSON)
	}
	return nil
}

// sseNext reads the open connection up to the next control event: the data
// events before it are split and buffered in r.span, and the control event
// supplies the offset of the Response. When the server ends the connection
// after at least one control event it returns errReconnect.
func (r *Reader) sseNext(ctx context.Context) (*Response, error) {
	s := r.sse
	stop := context.AfterFunc(ctx, func() { s.c.interrupt(context.Cause(ctx)) })
	defer stop()
	r.span.reset()
	offset := s.at.Offset
	for {
		ev, err := s.events.next()
		if err != nil {
			return nil, r.sseEnded(ctx, s, offset, err)
		}
		switch ev.Type {
		case "data":
			if err := r.span.add(&r.sp, ev.Data, r.opts.sseSpanLimit()); err != nil {
				return nil, fmt.Errorf("GET %s at offset %q: SSE data event: %w", r.url, offset, err)
			}
		case "control":
			resp, err := r.control(ev.Data, offset)
			if err != nil {
				return nil, err
			}
			s.controls++
			s.at = Position{Offset: resp.NextOffset, Cursor: resp.Cursor, UpToDate: resp.UpToDate}
			r.bo.Reset()
			if resp.Closed {
				r.closeSSE()
			}
			return resp, nil
		}
		// Other event types are ignored, as the protocol requires.
	}
}

// sseEnded explains why reading the connection stopped.
func (r *Reader) sseEnded(ctx context.Context, s *sseConn, offset string, err error) error {
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case errors.Is(err, errSSETooLarge):
		return err
	}
	err = s.c.cause(err)
	if err == io.EOF && s.controls > 0 {
		return errReconnect
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("GET %s at offset %q: SSE connection ended: %w", r.url, offset, err)
}

// closeSSE closes the open SSE connection, if any.
func (r *Reader) closeSSE() {
	if r.sse != nil {
		r.sse.c.close()
		r.br.Reset(nil)
		r.sse = nil
	}
}

// control parses a control event into the Response of the span it ends.
func (r *Reader) control(data []byte, offset string) (*Response, error) {
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
		return nil, fmt.Errorf("GET %s at offset %q: SSE control event %.200q: %w", r.url, offset, data, err)
	}
	resp := &Response{
		URL:        r.url,
		Offset:     offset,
		NextOffset: ctl.NextOffset,
		Cursor:     ctl.Cursor,
		UpToDate:   bool(ctl.UpToDate || ctl.Closed), // streamClosed implies up to date
		Closed:     bool(ctl.Closed),
		Live:       true,
		Bytes:      r.span.bytes,
		r:          r,
		span:       true,
	}
	if resp.Cursor != "" {
		r.lastCursor = resp.Cursor
	}
	return resp, nil
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

// each yields the span's messages in order until yield returns false.
func (s *span) each(yield func(Message, error) bool) {
	for i, e := range s.elems {
		m := Message{Raw: s.data[e.start:e.end], Position: i, Size: e.size, Truncated: e.truncated}
		if !yield(m, nil) {
			return
		}
	}
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
