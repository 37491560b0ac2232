package consumer

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Follow reads the stream at streamURL until it is closed, ctx is cancelled,
// a handler method fails, or the server answers with a permanent error.
//
// Before every request it asks h.Position() (an empty Offset means "-1"):
// while not up to date it reads
// catch-up responses (GET ?offset=O); once up to date it tails in opts.Live
// mode. Every response is delivered as Begin, Message for each element of its
// JSON array in order, then End — also when it carries no messages (a long-poll
// 204, an SSE keep-alive), because the handler commits at up-to-date.
//
// Returns:
//   - nil after End of a response with Closed set (EOF; Follow never reconnects);
//   - ctx.Err() when ctx is cancelled, promptly, also mid-read or mid-backoff;
//   - the error of a Handler method, unchanged;
//   - a *StatusError for a non-retryable status (400, 404, 410, ...).
//
// Everything else — connection errors, dead connections (IdleTimeout), 5xx,
// 429, bodies that are truncated or not a well-formed JSON array — is retried
// forever from h.Position() with capped exponential backoff and full jitter.
// When a body breaks after Begin, h.Abort is called before the retry. A handler
// error does not cause Abort: the handler already knows.
func Follow(ctx context.Context, streamURL string, h Handler, opts Options) error {
	f, err := newFollower(streamURL, h, opts)
	if err != nil {
		return err
	}
	return f.run(ctx)
}

// follower is the state of one Follow call.
type follower struct {
	url  string // the stream URL without query
	base *url.URL
	h    Handler
	opts Options
	bo   *backoff
	br   *bufio.Reader
	sp   splitter
	span span

	lastCursor   string // the latest Stream-Cursor, if the handler forgets it
	forceCatchUp bool   // an SSE span outgrew memory: read it as a catch-up
}

func newFollower(streamURL string, h Handler, opts Options) (*follower, error) {
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
	return &follower{
		url:  streamURL,
		base: base,
		h:    h,
		opts: opts,
		bo:   newBackoff(opts.InitialBackoff, opts.MaxBackoff),
		br:   bufio.NewReaderSize(nil, 64<<10),
		sp:   splitter{max: opts.MaxMessageBytes},
	}, nil
}

func (f *follower) run(ctx context.Context) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		p := f.h.Position()
		if p.Offset == "" {
			p.Offset = "-1"
		}
		var closed bool
		var err error
		switch {
		case !p.UpToDate || f.forceCatchUp:
			closed, err = f.read(ctx, p, false)
		case f.opts.Live == LongPoll:
			closed, err = f.read(ctx, p, true)
		default:
			closed, err = f.sse(ctx, p)
		}
		if closed {
			return nil
		}
		if err == nil {
			continue
		}
		if err := f.fail(ctx, p, err); err != nil {
			return err
		}
	}
}

// fail decides what an error of one request means: it returns the error that
// ends Follow, or waits out the retry delay and returns nil.
func (f *follower) fail(ctx context.Context, p Position, err error) error {
	if he := (*handlerError)(nil); errors.As(err, &he) {
		return he.err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	var se *StatusError
	if errors.As(err, &se) && !se.Retryable() {
		return se
	}
	if errors.Is(err, ErrNotJSON) {
		return err
	}
	if errors.Is(err, errSSETooLarge) {
		f.opts.Logger.Info("SSE data outgrew memory; reading it as a catch-up",
			"url", f.url, "offset", p.Offset, "limit_bytes", f.opts.sseSpanLimit())
		f.forceCatchUp = true
		return nil
	}
	var floor time.Duration
	if se != nil {
		floor = se.RetryAfter
	}
	delay := f.bo.next(floor)
	f.opts.Logger.Warn("stream read failed; retrying",
		"attempt", f.bo.attempt, "delay", delay, "url", f.url, "offset", p.Offset, "err", err)
	if f.opts.OnRetry != nil {
		f.opts.OnRetry(f.bo.attempt, delay, err)
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

// requestURL builds the URL of a read: the stream URL's own query, then the
// protocol parameters in alphabetical order (cursor, live, offset).
func (f *follower) requestURL(p Position, live string) string {
	q := url.Values{"offset": {p.Offset}}
	if live != "" {
		q.Set("live", live)
		if c := f.cursor(p); c != "" {
			q.Set("cursor", c)
		}
	}
	u := *f.base
	if u.RawQuery != "" {
		u.RawQuery += "&" + q.Encode()
	} else {
		u.RawQuery = q.Encode()
	}
	return u.String()
}

func (f *follower) cursor(p Position) string {
	if p.Cursor != "" {
		return p.Cursor
	}
	return f.lastCursor
}

// read does one catch-up or long-poll request and delivers its response. It
// returns closed when the handler has seen the end of the stream.
func (f *follower) read(ctx context.Context, p Position, live bool) (closed bool, err error) {
	mode, liveParam := modeCatchUp, ""
	if live {
		mode, liveParam = modeLongPoll, modeLongPoll
	}
	c, err := f.get(ctx, mode, f.requestURL(p, liveParam), p.Offset)
	if err != nil {
		return false, err
	}
	defer c.close()
	status := c.resp.StatusCode
	if status != http.StatusOK && status != http.StatusNoContent {
		return false, c.statusError(p.Offset)
	}
	if ct := c.resp.Header.Get("Content-Type"); status == http.StatusOK && ct != "" {
		if mt, _, _ := mime.ParseMediaType(ct); mt != "application/json" {
			return false, fmt.Errorf("GET %s: Content-Type %q: %w", f.url, ct, ErrNotJSON)
		}
	}
	r := Response{
		URL:        f.url,
		Offset:     p.Offset,
		NextOffset: c.resp.Header.Get("Stream-Next-Offset"),
		Cursor:     c.resp.Header.Get("Stream-Cursor"),
		UpToDate:   isTrue(c.resp.Header.Get("Stream-Up-To-Date")),
		Closed:     isTrue(c.resp.Header.Get("Stream-Closed")),
		Live:       live,
	}
	if r.NextOffset == "" {
		if status == http.StatusOK {
			return false, fmt.Errorf("GET %s at offset %q: response without Stream-Next-Offset", f.url, p.Offset)
		}
		r.NextOffset = p.Offset
	}
	if r.Closed {
		r.UpToDate = true // EOF implies up to date
	}
	if r.Cursor != "" {
		f.lastCursor = r.Cursor
	}
	if err := f.h.Begin(r); err != nil {
		return false, &handlerError{err}
	}
	if status == http.StatusOK {
		c.body.Reset(c.resp.Body)
		n, err := f.sp.split(c.body, f.h.Message)
		r.Bytes = n
		if err != nil {
			var he *handlerError
			if errors.As(err, &he) {
				return false, err
			}
			err = c.cause(err)
			f.h.Abort(err)
			return false, fmt.Errorf("GET %s at offset %q: read body: %w", f.url, p.Offset, err)
		}
	}
	if err := f.h.End(r); err != nil {
		return false, &handlerError{err}
	}
	f.bo.reset()
	if !live {
		f.forceCatchUp = false
	}
	if !r.Closed && !r.UpToDate && r.NextOffset == p.Offset && (status == http.StatusNoContent || f.sp.pos == 0) {
		// A catch-up response that neither moved nor said up to date would
		// make the next request identical: pace it like a retry.
		return false, fmt.Errorf("GET %s at offset %q: no progress and not up to date", f.url, p.Offset)
	}
	return r.Closed, nil
}

// call is one request in flight, guarded by the idle watchdog.
type call struct {
	resp   *http.Response
	body   *bufio.Reader
	ctx    context.Context
	cancel context.CancelCauseFunc
	timer  *time.Timer
	url    string
	method string
}

// get sends a GET, with the idle watchdog armed while waiting for headers.
func (f *follower) get(ctx context.Context, mode, u, offset string) (*call, error) {
	headers := f.opts.IdleTimeout
	if mode == modeCatchUp {
		headers = f.opts.CatchUpHeaderTimeout
	}
	c, err := send(ctx, f.opts, headers, http.MethodGet, u, f.br)
	if f.opts.OnRequest != nil {
		status := 0
		if c != nil {
			status = c.resp.StatusCode
		}
		f.opts.OnRequest(mode, status)
	}
	if err != nil {
		return nil, fmt.Errorf("GET %s at offset %q: %w", f.url, offset, err)
	}
	return c, nil
}

// send issues a request whose headers must arrive within headerTimeout; the
// body is then guarded by the idle watchdog.
func send(ctx context.Context, opts Options, headerTimeout time.Duration, method, u string, br *bufio.Reader) (*call, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(rctx, method, u, nil)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	if opts.Header != nil {
		opts.Header(req.Header)
	}
	timer := time.AfterFunc(headerTimeout, func() { cancel(ErrIdle) })
	resp, err := opts.HTTPClient.Do(req)
	timer.Stop()
	if err != nil {
		if context.Cause(rctx) == ErrIdle {
			err = fmt.Errorf("no response headers within %s: %w", headerTimeout, ErrIdle)
		}
		cancel(nil)
		return nil, err
	}
	c := &call{resp: resp, body: br, ctx: rctx, cancel: cancel, timer: timer, url: u, method: method}
	resp.Body = &idleBody{rc: resp.Body, timer: timer, d: opts.IdleTimeout}
	return c, nil
}

// close releases the connection (draining nothing: a body we stop reading is
// dropped with its connection).
func (c *call) close() {
	c.timer.Stop()
	_ = c.resp.Body.Close()
	c.cancel(nil)
	if c.body != nil {
		c.body.Reset(nil)
	}
}

// cause explains a read error caused by the idle watchdog.
func (c *call) cause(err error) error {
	if context.Cause(c.ctx) == ErrIdle {
		return fmt.Errorf("%w (%v)", ErrIdle, err)
	}
	return err
}

// statusError builds the error for an unusable status, with the start of the
// body and any Retry-After.
func (c *call) statusError(offset string) error {
	body, _ := io.ReadAll(io.LimitReader(c.resp.Body, 200))
	u := c.resp.Request.URL
	stream := *u
	stream.RawQuery = ""
	e := &StatusError{
		Method: c.method,
		URL:    stream.String(),
		Offset: offset,
		Status: c.resp.StatusCode,
		Body:   strings.ToValidUTF8(string(body), "?"),
	}
	e.RetryAfter = retryAfter(c.resp.Header.Get("Retry-After"), time.Now())
	return e
}

// idleBody arms the watchdog while a Read waits, so a connection that stays
// silent for longer than the idle timeout is cancelled. The watchdog sleeps
// while the handler works between reads.
type idleBody struct {
	rc    io.ReadCloser
	timer *time.Timer
	d     time.Duration
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.d)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	return n, err
}

func (b *idleBody) Close() error { return b.rc.Close() }

// isTrue reports a protocol boolean header: "true" in any case.
func isTrue(v string) bool { return strings.EqualFold(strings.TrimSpace(v), "true") }
