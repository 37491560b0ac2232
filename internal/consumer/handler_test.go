package consumer

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// recorder is a Handler that keeps the messages of End-ed responses (what a
// real handler would commit) and checks the call order.
type recorder struct {
	mu        sync.Mutex
	pos       Position
	pending   []string
	committed []string
	responses []Response
	aborts    int
	begun     bool
	bad       []string // contract violations seen

	// onEnd, if set, is called at End with the lock held; its error is returned.
	onEnd func(r Response) error
}

func newRecorder(p Position) *recorder { return &recorder{pos: p} }

func (r *recorder) Position() Position {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

func (r *recorder) Begin(resp Response) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.begun {
		r.bad = append(r.bad, "Begin while a response is open")
	}
	if resp.Offset != r.pos.Offset && !(r.pos.Offset == "" && resp.Offset == "-1") {
		r.bad = append(r.bad, fmt.Sprintf("Begin at offset %q, position is %q", resp.Offset, r.pos.Offset))
	}
	r.begun, r.pending = true, nil
	return nil
}

func (r *recorder) Message(m Message) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.begun {
		r.bad = append(r.bad, "Message outside a response")
	}
	if m.Position != len(r.pending) {
		r.bad = append(r.bad, fmt.Sprintf("Message position %d, want %d", m.Position, len(r.pending)))
	}
	r.pending = append(r.pending, string(m.Raw))
	return nil
}

func (r *recorder) End(resp Response) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.begun {
		r.bad = append(r.bad, "End without Begin")
	}
	r.begun = false
	r.committed = append(r.committed, r.pending...)
	r.pending = nil
	r.responses = append(r.responses, resp)
	r.pos = Position{Offset: resp.NextOffset, Cursor: resp.Cursor, UpToDate: resp.UpToDate}
	if r.onEnd != nil {
		return r.onEnd(resp)
	}
	return nil
}

func (r *recorder) Abort(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.begun {
		r.bad = append(r.bad, "Abort without Begin")
	}
	r.begun, r.pending = false, nil
	r.aborts++
}

// snapshot returns copies of what the recorder saw.
func (r *recorder) snapshot() (committed []string, responses []Response, aborts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.committed...), append([]Response(nil), r.responses...), r.aborts
}

func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.committed)
}

// check fails the test on any contract violation.
func (r *recorder) check(t *testing.T) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, b := range r.bad {
		t.Error(b)
	}
}

// follow runs Follow in the background until the test ends; the returned
// function waits for its result.
func follow(t *testing.T, url string, h Handler, opts Options) (wait func(d time.Duration) error, cancel context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, url, h, opts) }()
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
				t.Errorf("Follow did not return within %v (returned %v after cancel)", d, result)
			}
		})
		return result
	}
	t.Cleanup(func() {
		cancel()
		err := wait(10 * time.Second)
		if err != nil && !errors.Is(err, context.Canceled) && !t.Failed() {
			t.Logf("Follow returned %v", err)
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
