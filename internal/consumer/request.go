package consumer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// call is one request in flight, guarded by the idle watchdog. Its request
// context is derived from the ctx of the Next that sent it; cancel ends it.
type call struct {
	resp   *http.Response
	cancel context.CancelCauseFunc
	timer  *time.Timer
	idle   *atomic.Bool // the watchdog fired
	method string
}

// send issues a request whose headers must arrive within headerTimeout; the
// body is then guarded by the idle watchdog (opts.IdleTimeout per read).
func send(ctx context.Context, opts Options, headerTimeout time.Duration, method, u string) (*call, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(rctx, method, u, nil)
	if err != nil {
		cancel(nil)
		return nil, err
	}
	if opts.Header != nil {
		opts.Header(req.Header)
	}
	if opts.Compression == None {
		// An explicit Accept-Encoding also stops the transport from adding
		// gzip (and from decoding a body it did not ask for).
		req.Header.Set("Accept-Encoding", "identity")
	}
	idle := new(atomic.Bool)
	timer := time.AfterFunc(headerTimeout, func() { idle.Store(true); cancel(ErrIdle) })
	resp, err := opts.HTTPClient.Do(req)
	timer.Stop()
	if err != nil {
		if idle.Load() {
			err = fmt.Errorf("no response headers within %s: %w", headerTimeout, ErrIdle)
		}
		cancel(nil)
		return nil, err
	}
	resp.Body = &idleBody{rc: resp.Body, timer: timer, d: opts.IdleTimeout}
	return &call{resp: resp, cancel: cancel, timer: timer, idle: idle, method: method}, nil
}

// close releases the connection (draining nothing: a body we stop reading is
// dropped with its connection). It may be called more than once.
func (c *call) close() {
	c.timer.Stop()
	_ = c.resp.Body.Close()
	c.cancel(nil)
}

// interrupt makes a blocked body read return, from another goroutine.
func (c *call) interrupt(cause error) { c.cancel(cause) }

// cause explains a read error caused by the idle watchdog.
func (c *call) cause(err error) error {
	if c.idle.Load() {
		return fmt.Errorf("%w (%v)", ErrIdle, err)
	}
	return err
}

// statusError builds the error for an unusable status, with the start of the
// body and any Retry-After.
func (c *call) statusError(offset string) error {
	body, _ := io.ReadAll(io.LimitReader(c.resp.Body, 200))
	stream := *c.resp.Request.URL
	stream.RawQuery = ""
	return &StatusError{
		Method:     c.method,
		URL:        stream.String(),
		Offset:     offset,
		Status:     c.resp.StatusCode,
		Body:       strings.ToValidUTF8(string(body), "?"),
		RetryAfter: retryAfter(c.resp.Header.Get("Retry-After"), time.Now()),
	}
}

// idleBody arms the watchdog while a Read waits, so a connection that stays
// silent for longer than the idle timeout is cancelled. The watchdog sleeps
// while the caller works between reads.
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
