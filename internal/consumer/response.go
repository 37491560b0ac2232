package consumer

import (
	"context"
	"errors"
	"fmt"
	"iter"
)

// Response is one response of a stream: one HTTP response, or for SSE the
// data events up to and including one control event. It is valid until the
// next call to Reader.Next or Reader.Close.
type Response struct {
	URL        string
	Offset     string // the offset the response was read from
	NextOffset string // Stream-Next-Offset / streamNextOffset
	Cursor     string
	UpToDate   bool
	Closed     bool // Stream-Closed: EOF, the stream will never grow again; implies UpToDate
	Live       bool // read in a live mode
	// Bytes is the size of the (decoded) body, or of the SSE data events of
	// the span. For an HTTP body it is final once Messages is drained.
	Bytes int64

	r      *Reader
	body   *call  // the body still to be read; nil for a 204 or an SSE span
	span   bool   // the messages are the Reader's buffered SSE span
	ranged bool   // Messages was called, or the response was finished
	ahead  *ahead // the body as the read-ahead goroutine splits it
	whole  bool   // its messages were all yielded and the goroutine reads on
}

// errStopped ends the splitter when the caller stops ranging.
var errStopped = errors.New("iteration stopped")

// Messages iterates the response's messages in order, streaming the body
// through the splitter (never buffering a whole catch-up body): a goroutine
// reads and splits a few pages of messages ahead of the caller, so that
// reading and decoding use two cores, and when the body ends short of the
// stream's end, requests and reads the next catch-up response (see
// readahead.go). Message.Raw, Message.Scan and Message.Prepared are valid
// only until the next iteration step.
//
// If the body breaks (truncated, corrupt, connection dropped, idle), the
// iterator yields one (Message{}, err) with err wrapping ErrBrokenResponse and
// stops: the caller discards everything read from this response, and the
// Reader waits out a backoff before its next request. When ctx ends, it yields
// an error wrapping ctx's error. If the caller stops early (break), the rest
// of the body is dropped with its connection. Messages may be ranged only
// once, and not after the next Reader.Next.
func (resp *Response) Messages(ctx context.Context) iter.Seq2[Message, error] {
	return func(yield func(Message, error) bool) {
		if resp.ranged {
			yield(Message{}, fmt.Errorf("consumer: messages of %s at offset %q already read or dropped", resp.URL, resp.Offset))
			return
		}
		resp.ranged = true
		switch {
		case resp.span:
			resp.r.span.each(yield)
		case resp.body != nil:
			resp.readBody(ctx, yield)
		}
	}
}

// readBody yields the messages of the HTTP body, split by the read-ahead
// goroutine (started here for the first response of a catch-up), and
// settles the Reader's retry state by how the body ended.
func (resp *Response) readBody(ctx context.Context, yield func(Message, error) bool) {
	r, c := resp.r, resp.body
	if resp.ahead == nil {
		r.startChain(ctx, resp)
	}
	ch := r.chain
	stop := context.AfterFunc(ctx, func() { ch.interrupt(context.Cause(ctx)) })
	err := r.consume(resp, func(m Message) error {
		if !yield(m, nil) {
			return errStopped
		}
		return nil
	})
	stop()
	resp.Bytes = resp.ahead.n
	if !readsOn(resp, err) {
		r.stopChain()
	} else {
		resp.whole = true
	}
	switch {
	case err == nil:
		r.settle(resp)
	case errors.Is(err, errStopped):
	case ctx.Err() != nil: // the split was interrupted (errInterrupted) or its read failed
		yield(Message{}, fmt.Errorf("GET %s at offset %q: read body: %w", resp.URL, resp.Offset, ctx.Err()))
	default:
		err = fmt.Errorf("GET %s at offset %q: read body: %w: %w", resp.URL, resp.Offset, ErrBrokenResponse, c.cause(err))
		r.pending = err
		yield(Message{}, err)
	}
}

// settle updates the Reader after a body was read whole: a catch-up that made
// no progress is paced like a retry; anything else is a success.
func (r *Reader) settle(resp *Response) {
	if !resp.UpToDate && resp.NextOffset == resp.Offset && resp.ahead.empty {
		r.pending = r.noProgress(Position{Offset: resp.Offset})
		return
	}
	r.bo.Reset()
	if !resp.Live {
		r.forceCatchUp = false
	}
}

// finish drops an unread body with its connection; the response can no
// longer be ranged.
func (resp *Response) finish() {
	resp.ranged = true
	if c := resp.r.chain; c != nil && c.tail == resp && !resp.whole {
		resp.r.stopChain()
	}
	if resp.body != nil {
		resp.body.close()
		resp.body = nil
	}
}
