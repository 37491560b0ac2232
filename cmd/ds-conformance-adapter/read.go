package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
)

// head asks the tail through consumer.Head, as syncd's status does.
func (a *adapter) head(ctx context.Context, cmd command) any {
	next, closed, err := consumer.Head(ctx, a.client, a.url(cmd.Path), headerFunc(cmd.Headers))
	if err != nil {
		return readFailure("head", err)
	}
	ct, ok := a.contentType(cmd.Path)
	if !ok {
		// consumer.Head reports only the tail; the content type is metadata.
		if resp, _, err := a.do(ctx, http.MethodHead, cmd.Path, nil, cmd.Headers); err == nil {
			ct = resp.Header.Get("Content-Type")
			a.setContentType(cmd.Path, ct)
		}
	}
	return map[string]any{"type": "head", "success": true, "status": 200, "offset": next, "contentType": ct, "streamClosed": closed}
}

// readFailure maps a consumer error to the protocol's error codes.
func readFailure(cmd string, err error) errorResult {
	var se *consumer.StatusError
	switch {
	case errors.Is(err, consumer.ErrNotFound):
		return fail(cmd, "NOT_FOUND", 404, "%v", err)
	case errors.Is(err, consumer.ErrBadRequest):
		return fail(cmd, "INVALID_OFFSET", 400, "%v", err)
	case errors.As(err, &se):
		return fail(cmd, "UNEXPECTED_STATUS", se.Status, "%v", err)
	case errors.Is(err, consumer.ErrNotJSON):
		return fail(cmd, "NOT_SUPPORTED", 0, "syncd reads JSON-mode streams only: %v", err)
	}
	return fail(cmd, "NETWORK_ERROR", 0, "%v", err)
}

type chunk struct {
	Data   string `json:"data"`
	Offset string `json:"offset,omitempty"`
}

// reader is the state of one read command: it turns each response carrying
// messages into one chunk and says when the command is satisfied.
type reader struct {
	live      bool
	maxChunks int
	waitUTD   bool

	msgs   [][]byte
	chunks []chunk
	offset string
	utd    bool
	closed bool
	cursor string
}

// take reads one response's messages; it returns false (keeping nothing) if
// the response broke.
func (r *reader) take(ctx context.Context, resp *consumer.Response) bool {
	r.msgs = r.msgs[:0]
	for m, err := range resp.Messages(ctx) {
		if err != nil {
			r.msgs = r.msgs[:0]
			return false
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, m.Raw); err != nil {
			buf.Reset()
			buf.Write(m.Raw)
		}
		r.msgs = append(r.msgs, buf.Bytes())
	}
	return true
}

// end records a response read whole and reports whether the command is
// satisfied.
func (r *reader) end(resp *consumer.Response) bool {
	r.offset, r.utd, r.closed, r.cursor = resp.NextOffset, resp.UpToDate, resp.Closed, resp.Cursor
	if len(r.msgs) > 0 {
		data := append([]byte("["), bytes.Join(r.msgs, []byte(","))...)
		r.chunks = append(r.chunks, chunk{Data: string(append(data, ']')), Offset: resp.NextOffset})
	}
	switch {
	case resp.Closed:
		return true
	case !r.live && resp.UpToDate:
		return true
	case r.live && r.waitUTD && resp.UpToDate:
		return true
	}
	return len(r.chunks) >= r.maxChunks
}

// follow pulls responses from pos until the command is satisfied or the
// reader fails.
func (r *reader) follow(ctx context.Context, rd *consumer.Reader, pos consumer.Position) error {
	for {
		resp, err := rd.Next(ctx, pos)
		if err != nil {
			return err
		}
		if !r.take(ctx, resp) {
			continue // broken: the reader retries the same offset
		}
		if r.end(resp) {
			return nil
		}
		pos = consumer.Position{Offset: resp.NextOffset, Cursor: resp.Cursor, UpToDate: resp.UpToDate}
	}
}

// read follows the stream with a consumer.Reader: catch-up only when live is
// false, else catch-up then long-poll or SSE (auto means SSE), until the
// stream closes, enough chunks arrived, it is up to date (when asked), or
// the timeout passes.
func (a *adapter) read(ctx context.Context, cmd command) any {
	var live any
	_ = json.Unmarshal(cmd.Live, &live)
	opts := consumer.Options{HTTPClient: a.client, Header: headerFunc(cmd.Headers)}
	r := &reader{maxChunks: cmd.MaxChunks, waitUTD: cmd.WaitForUTD}
	switch live {
	case "long-poll":
		r.live, opts.Live = true, consumer.LongPoll
	case "sse", true:
		r.live, opts.Live = true, consumer.SSE
	}
	if r.maxChunks <= 0 {
		r.maxChunks = 100
	}
	offset := cmd.Offset
	if offset == "" {
		offset = "-1"
	}
	r.offset = offset
	timeout := time.Duration(cmd.TimeoutMs) * time.Millisecond
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rd, err := consumer.NewReader(a.url(cmd.Path), opts)
	if err == nil {
		defer rd.Close()
		err = r.follow(rctx, rd, consumer.Position{Offset: offset})
	}
	switch {
	case err == nil:
	case rctx.Err() != nil && ctx.Err() == nil:
		r.utd = true // timed out waiting for more: caught up, as the reference adapter reports
	default:
		return readFailure("read", err)
	}
	res := map[string]any{"type": "read", "success": true, "status": 200, "chunks": r.chunks,
		"offset": r.offset, "upToDate": r.utd, "streamClosed": r.closed}
	if r.chunks == nil {
		res["chunks"] = []chunk{}
	}
	if r.cursor != "" {
		res["cursor"] = r.cursor
	}
	return res
}
