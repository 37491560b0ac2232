package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// collector drives a Reader the way the stream loop does: it keeps the
// messages of responses read whole (what a real caller would commit), drops
// those of broken responses, moves its position only after a whole response,
// and checks the Reader's contract.
type collector struct {
	mu        sync.Mutex
	pos       Position
	committed []string
	metas     []Message // the committed messages without Raw
	responses []Response
	broken    []error
	bad       []string // contract violations seen
}

func newCollector(p Position) *collector { return &collector{pos: p} }

func (c *collector) position() Position {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

func (c *collector) violation(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bad = append(c.bad, fmt.Sprintf(format, args...))
}

// run pulls from r until a Closed response (nil), an error of Next, or ctx
// ends.
func (c *collector) run(ctx context.Context, r *Reader) error {
	for {
		from := c.position()
		resp, err := r.Next(ctx, from)
		if err != nil {
			return err
		}
		if want := cmp(from.Offset, "-1"); resp.Offset != want {
			c.violation("response at offset %q, position is %q", resp.Offset, want)
		}
		msgs, metas, broke := c.read(ctx, resp)
		if broke != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !errors.Is(broke, ErrBrokenResponse) {
				c.violation("body error %v does not wrap ErrBrokenResponse", broke)
			}
			c.mu.Lock()
			c.broken = append(c.broken, broke)
			c.mu.Unlock()
			continue
		}
		c.mu.Lock()
		c.committed = append(c.committed, msgs...)
		c.metas = append(c.metas, metas...)
		c.responses = append(c.responses, *resp)
		c.pos = Position{Offset: resp.NextOffset, Cursor: resp.Cursor, UpToDate: resp.UpToDate}
		c.mu.Unlock()
		if resp.Closed {
			return nil
		}
	}
}

// read ranges over one response's messages.
func (c *collector) read(ctx context.Context, resp *Response) (msgs []string, metas []Message, broke error) {
	for m, err := range resp.Messages(ctx) {
		if err != nil {
			return nil, nil, err
		}
		if m.Position != len(msgs) {
			c.violation("message position %d, want %d", m.Position, len(msgs))
		}
		msgs = append(msgs, string(m.Raw))
		metas = append(metas, Message{Position: m.Position, Size: m.Size, Truncated: m.Truncated})
	}
	return msgs, metas, nil
}

func cmp(s, empty string) string {
	if s == "" {
		return empty
	}
	return s
}

// snapshot returns copies of what the collector saw.
func (c *collector) snapshot() (committed []string, responses []Response, broken int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.committed...), append([]Response(nil), c.responses...), len(c.broken)
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.committed)
}

// check fails the test on any contract violation.
func (c *collector) check(t *testing.T) {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, b := range c.bad {
		t.Error(b)
	}
}

// drive runs c over a new Reader in the background until the test ends; the
// returned function waits for its result.
func drive(t *testing.T, url string, c *collector, opts Options) (wait func(d time.Duration) error, cancel context.CancelFunc) {
	t.Helper()
	r, err := NewReader(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.run(ctx, r) }()
	var once sync.Once
	var result error
	wait = func(d time.Duration) error {
		t.Helper()
		once.Do(func() {
			select {
			case result = <-done:
			case <-time.After(d):
				cancel()
				result = <-done
				t.Errorf("the reader did not finish within %v (returned %v after cancel)", d, result)
			}
			_ = r.Close()
		})
		return result
	}
	t.Cleanup(func() {
		cancel()
		err := wait(10 * time.Second)
		if err != nil && !errors.Is(err, context.Canceled) && !t.Failed() {
			t.Logf("the reader returned %v", err)
		}
	})
	return wait, cancel
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fastRetry keeps retry delays short in tests.
func fastRetry(o Options) Options {
	o.InitialBackoff, o.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	return o
}
