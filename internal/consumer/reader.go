package consumer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/syncd-io/syncd/internal/jsonscan"
)

// Reader reads one stream: catch-up responses, then live (SSE or long-poll).
// The caller drives it: Next returns a response, the caller ranges over its
// messages, then moves its Position and calls Next again. Not safe for
// concurrent use.
//
// Context rule: a response body is read under the ctx of the Next that
// returned it and the ctx passed to Messages. A catch-up response requested
// ahead (see readahead.go) is requested and read under the ctx passed to
// Messages of the first response of its run, and Next hands it over only
// for the position it was requested from. An SSE connection opened by
// Next(ctx) lives until ctx ends, Close, or a reconnect.
type Reader struct {
	url   string // the stream URL without the protocol parameters
	base  *url.URL
	opts  Options
	bo    Backoff
	br    *bufio.Reader // the open connection's buffered body
	sp    splitter
	span  span
	pages chan *page // free read-ahead pages, created on first use
	chain *chain     // the read-ahead goroutine, while one runs

	peekPage *page // the page Messages is yielding from, for Peek
	peekAt   int   // the position in peekPage of the message yielded

	last         *Response // the latest response returned by Next
	sse          *sseConn  // the open SSE connection, if any
	lastCursor   string    // the latest Stream-Cursor, if the caller forgets it
	forceCatchUp bool      // an SSE span outgrew memory: read it as a catch-up
	pending      error     // why the next request must wait out a backoff first
	authLogged   time.Time // when a refused token was last logged
}

// errReconnect ends an SSE connection the server closed normally: Next opens
// a new one at once.
var errReconnect = errors.New("SSE connection ended by the server")

// NewReader returns a Reader of the stream at streamURL, or an error naming a
// bad URL or option.
func NewReader(streamURL string, opts Options) (*Reader, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	base, err := url.Parse(streamURL)
	if err != nil {
		return nil, fmt.Errorf("consumer: stream URL: %w", err)
	}
	if base.Scheme != "http" && base.Scheme != "https" {
		return nil, fmt.Errorf("consumer: stream URL %q: want http or https", streamURL)
	}
	return &Reader{
		url:  streamURL,
		base: base,
		opts: opts,
		bo:   Backoff{Initial: opts.InitialBackoff, Max: opts.MaxBackoff},
		br:   bufio.NewReaderSize(nil, 64<<10),
		sp:   splitter{max: opts.MaxMessageBytes, scan: jsonscan.Scanner{Nested: opts.ScanNested}},
	}, nil
}

// Next returns the next response read from `from` (empty Offset means "-1").
// While !from.UpToDate it does a catch-up GET; once UpToDate it tails in
// Options.Live mode. For SSE, a `from` equal to where the open connection
// stands (the previous response's NextOffset, Cursor and UpToDate) continues
// on that connection; any other `from` closes it and reconnects. The previous
// response is finished: its unread messages are dropped with its connection.
//
// Transient failures — connection errors, idle connections, 5xx, 429 (waiting
// at least its Retry-After), 401/403, a body that broke in the previous
// response, catch-ups that make no progress, SSE spans that outgrow memory
// (read again as a catch-up) — are retried inside Next, forever, with capped
// exponential backoff and full jitter; each retry is logged and reported to
// Options.OnRetry. Next returns only:
//   - a *Response;
//   - ctx.Err() when ctx ends, promptly, also mid-backoff;
//   - a non-retryable *StatusError: errors.Is(err, ErrNotFound), ErrGone or
//     ErrBadRequest tell the 404, 410 and 400 apart;
//   - an error wrapping ErrNotJSON.
//
// After a Closed response whose messages were read whole the stream will
// never grow: the caller stops calling Next.
func (r *Reader) Next(ctx context.Context, from Position) (*Response, error) {
	r.finish()
	if from.Offset == "" {
		from.Offset = "-1"
	}
	for {
		if err := ctx.Err(); err != nil {
			r.closeSSE()
			return nil, err
		}
		if r.pending != nil {
			if err := r.wait(ctx, from); err != nil {
				return nil, err
			}
		}
		resp, ok, err := r.takeAhead(ctx, from)
		if !ok && err == nil {
			resp, err = r.read(ctx, from)
		}
		if err == nil {
			r.last = resp
			return resp, nil
		}
		r.closeSSE()
		if err := r.failed(ctx, from, err); err != nil {
			return nil, err
		}
	}
}

// Close releases any open connection. Safe to call more than once.
func (r *Reader) Close() error {
	r.finish()
	r.stopChain()
	r.closeSSE()
	return nil
}

// read does one request (or continues the open SSE connection).
func (r *Reader) read(ctx context.Context, from Position) (*Response, error) {
	if r.sse != nil && from == r.sse.at {
		return r.sseNext(ctx)
	}
	r.closeSSE()
	switch {
	case !from.UpToDate || r.forceCatchUp:
		return r.get(ctx, from, false)
	case r.opts.Live == LongPoll:
		return r.get(ctx, from, true)
	}
	if err := r.sseOpen(ctx, from); err != nil {
		return nil, err
	}
	return r.sseNext(ctx)
}

// failed decides what an error of one request means: it returns the error
// that Next returns, or nil after arranging the retry.
func (r *Reader) failed(ctx context.Context, from Position, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var se *StatusError
	switch {
	case errors.As(err, &se) && !se.Retryable():
		return se
	case errors.Is(err, ErrNotJSON):
		return err
	case errors.Is(err, errReconnect):
		return nil
	case errors.Is(err, errSSETooLarge):
		r.opts.Logger.Info("SSE data outgrew memory; reading it as a catch-up",
			"url", r.url, "offset", from.Offset, "limit_bytes", r.opts.sseSpanLimit())
		r.forceCatchUp = true
		return nil
	}
	r.pending = err
	return nil
}

// wait sleeps the retry delay of r.pending, logging it first. It returns
// ctx.Err() if ctx ends before.
func (r *Reader) wait(ctx context.Context, from Position) error {
	err := r.pending
	r.pending = nil
	var floor time.Duration
	if se := (*StatusError)(nil); errors.As(err, &se) {
		floor = se.RetryAfter
	}
	delay := r.bo.Next(floor)
	if !IsAuth(err) {
		r.opts.Logger.Warn("stream read failed; retrying",
			"attempt", r.bo.Attempt(), "delay", delay, "url", r.url, "offset", from.Offset, "err", err)
	} else if now := time.Now(); now.Sub(r.authLogged) >= authLogEvery {
		// A refused token is retried forever (a rotated token may fix it),
		// so say it at most once a minute instead of on every retry.
		r.authLogged = now
		r.opts.Logger.Warn("the stream server refuses the credentials; retrying until it accepts them",
			"attempt", r.bo.Attempt(), "url", r.url, "offset", from.Offset, "err", err)
	}
	if r.opts.OnRetry != nil {
		r.opts.OnRetry(r.bo.Attempt(), delay, err)
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// finish ends the previous response: a body not read to its end is dropped
// with its connection, and the response can no longer be ranged.
func (r *Reader) finish() {
	if r.last != nil {
		r.last.finish()
		r.last = nil
	}
}

// requestURL builds the URL of a read: the stream URL's own query, then the
// protocol parameters in alphabetical order (cursor, live, offset).
func (r *Reader) requestURL(p Position, live string) string {
	q := url.Values{"offset": {p.Offset}}
	if live != "" {
		q.Set("live", live)
		if c := r.cursor(p); c != "" {
			q.Set("cursor", c)
		}
	}
	u := *r.base
	if u.RawQuery != "" {
		u.RawQuery += "&" + q.Encode()
	} else {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func (r *Reader) cursor(p Position) string {
	if p.Cursor != "" {
		return p.Cursor
	}
	return r.lastCursor
}

// send issues a GET of mode, with the idle watchdog armed while waiting for
// headers, and reports it to OnRequest.
func (r *Reader) send(ctx context.Context, mode, u, offset string) (*call, error) {
	headers := r.opts.IdleTimeout
	if mode == modeCatchUp {
		headers = r.opts.CatchUpHeaderTimeout
	}
	c, err := send(ctx, r.opts, headers, http.MethodGet, u)
	if r.opts.OnRequest != nil {
		status := 0
		if c != nil {
			status = c.resp.StatusCode
		}
		r.opts.OnRequest(mode, status)
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s at offset %q: %w", r.url, offset, err)
	}
	return c, nil
}

// get does one catch-up or long-poll request and returns its response with
// the body still to be read.
func (r *Reader) get(ctx context.Context, p Position, live bool) (*Response, error) {
	resp, err := r.request(ctx, p, live)
	if err != nil {
		return nil, err
	}
	return r.accept(resp, p)
}

// request sends a catch-up or long-poll request and checks its answer,
// without touching the Reader's retry or cursor state (the read-ahead
// goroutine sends requests too): accept does that for the response the
// caller gets.
func (r *Reader) request(ctx context.Context, p Position, live bool) (*Response, error) {
	mode, liveParam := modeCatchUp, ""
	if live {
		mode, liveParam = modeLongPoll, modeLongPoll
	}
	c, err := r.send(ctx, mode, r.requestURL(p, liveParam), p.Offset)
	if err != nil {
		return nil, err
	}
	resp, err := r.response(c, p, live)
	if err != nil {
		c.close()
		return nil, err
	}
	if resp.body == nil { // 204: nothing to read
		c.close()
	}
	return resp, nil
}

// accept takes resp, requested from p, as the caller's next response.
func (r *Reader) accept(resp *Response, p Position) (*Response, error) {
	if resp.Cursor != "" {
		r.lastCursor = resp.Cursor
	}
	if resp.body == nil {
		if !resp.UpToDate && resp.NextOffset == p.Offset {
			return nil, r.noProgress(p)
		}
		r.bo.Reset()
	}
	return resp, nil
}

// response checks the status and headers of a catch-up or long-poll answer.
func (r *Reader) response(c *call, p Position, live bool) (*Response, error) {
	status := c.resp.StatusCode
	if status != http.StatusOK && status != http.StatusNoContent {
		return nil, c.statusError(p.Offset)
	}
	if ct := c.resp.Header.Get("Content-Type"); status == http.StatusOK && ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return nil, fmt.Errorf("GET %s: Content-Type %q: %w", r.url, ct, ErrNotJSON)
		}
	}
	h := c.resp.Header
	resp := &Response{
		URL:        r.url,
		Offset:     p.Offset,
		NextOffset: h.Get("Stream-Next-Offset"),
		Cursor:     h.Get("Stream-Cursor"),
		UpToDate:   isTrue(h.Get("Stream-Up-To-Date")),
		Closed:     isTrue(h.Get("Stream-Closed")),
		Live:       live,
		r:          r,
	}
	if resp.NextOffset == "" {
		if status == http.StatusOK {
			return nil, fmt.Errorf("GET %s at offset %q: response without Stream-Next-Offset", r.url, p.Offset)
		}
		resp.NextOffset = p.Offset
	}
	if resp.Closed {
		resp.UpToDate = true // EOF implies up to date
	}
	if status == http.StatusOK {
		resp.body = c
	}
	return resp, nil
}

// noProgress is the error of a catch-up response that neither moved nor said
// up to date: the next request would be identical, so it is paced like a
// retry.
func (r *Reader) noProgress(p Position) error {
	return fmt.Errorf("GET %s at offset %q: no progress and not up to date", r.url, p.Offset)
}
