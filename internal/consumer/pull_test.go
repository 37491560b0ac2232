package consumer

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

// These tests pin down what only a pulled reader has: which connection a
// `from` continues, what happens to a response the caller does not finish,
// and how Messages streams.

// next calls r.Next and fails the test on an error.
func next(t *testing.T, r *Reader, from Position) *Response {
	t.Helper()
	resp, err := r.Next(context.Background(), from)
	if err != nil {
		t.Fatalf("Next(%+v) = %v", from, err)
	}
	return resp
}

// messages ranges over resp and fails the test on an error.
func messages(t *testing.T, resp *Response) []string {
	t.Helper()
	var out []string
	for m, err := range resp.Messages(context.Background()) {
		if err != nil {
			t.Fatalf("Messages of %q: %v", resp.Offset, err)
		}
		out = append(out, string(m.Raw))
	}
	return out
}

func newReader(t *testing.T, url string, opts Options) *Reader {
	t.Helper()
	r, err := NewReader(url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// A `from` equal to where the SSE connection stands continues on it; any
// other `from` closes it and reconnects there.
func TestSSEContinuesOnlyFromWhereItStands(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		sseHeaders(w)
		_, _ = w.Write([]byte("event: data\ndata: [1]\n\nevent: control\ndata: {\"streamNextOffset\":\"a\",\"streamCursor\":\"c1\",\"upToDate\":true}\n\n" +
			"event: data\ndata: [2]\n\nevent: control\ndata: {\"streamNextOffset\":\"b\",\"streamCursor\":\"c2\",\"upToDate\":true}\n\n"))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the connection stays open
	})
	r := newReader(t, fs.URL, Options{})
	first := next(t, r, Position{Offset: "-1", UpToDate: true})
	assertMessages(t, messages(t, first), []string{"1"})
	second := next(t, r, Position{Offset: first.NextOffset, Cursor: first.Cursor, UpToDate: first.UpToDate})
	assertMessages(t, messages(t, second), []string{"2"})
	if second.Offset != "a" || second.NextOffset != "b" {
		t.Errorf("second response = %+v", second)
	}
	if q := fs.requests(); !equal(q, []string{"live=sse&offset=-1"}) {
		t.Fatalf("requests = %q, want one connection for both responses", q)
	}
	// The caller goes back (as after a failed commit): a new connection.
	again := next(t, r, Position{Offset: "-1", UpToDate: true})
	assertMessages(t, messages(t, again), []string{"1"})
	if q := fs.requests(); !equal(q, []string{"live=sse&offset=-1", "cursor=c2&live=sse&offset=-1"}) {
		t.Errorf("requests = %q, want a reconnect at -1", q)
	}
}

// A response the caller leaves early is dropped with its connection; the
// next Next reads normally. Messages can be ranged once, and not after the
// next Next.
func TestUnfinishedResponses(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		// Up to date, so that nothing is requested ahead.
		reply(w, 200, "3", true, false, `[1,2,3]`)
	})
	r := newReader(t, fs.URL, Options{})
	resp := next(t, r, Position{})
	for m, err := range resp.Messages(context.Background()) {
		if err != nil || string(m.Raw) != "1" {
			t.Fatalf("first message = %q, %v", m.Raw, err)
		}
		break
	}
	for _, err := range resp.Messages(context.Background()) {
		if err == nil {
			t.Fatal("a second range over Messages yielded a message")
		}
	}
	next(t, r, Position{})
	for _, err := range resp.Messages(context.Background()) {
		if err == nil {
			t.Fatal("a response ranged after the next Next yielded a message")
		}
	}
	next(t, r, Position{}) // never ranged: the next Next drops it
	assertMessages(t, messages(t, next(t, r, Position{})), []string{"1", "2", "3"})
	if n := len(fs.requests()); n != 4 {
		t.Errorf("%d requests, want 4", n)
	}
}

// Messages yields each message as its bytes arrive: a catch-up body is never
// buffered whole.
func TestMessagesStreamTheBody(t *testing.T) {
	t.Parallel()
	got1 := make(chan struct{})
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Stream-Next-Offset", "2")
		w.Header().Set("Stream-Up-To-Date", "true")
		_, _ = w.Write([]byte(`[{"n":1},`))
		w.(http.Flusher).Flush()
		select { // the rest only once the reader has the first message
		case <-got1:
		case <-r.Context().Done():
			return
		}
		_, _ = w.Write([]byte(`{"n":2}]`))
	})
	r := newReader(t, fs.URL, Options{})
	resp := next(t, r, Position{})
	var got []string
	for m, err := range resp.Messages(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m.Raw))
		if len(got) == 1 {
			close(got1)
		}
	}
	assertMessages(t, got, []string{`{"n":1}`, `{"n":2}`})
	if resp.Bytes != int64(len(`[{"n":1},{"n":2}]`)) {
		t.Errorf("Bytes = %d after the body was read", resp.Bytes)
	}
}

// Cancelling the ctx of Messages ends a blocked body read promptly with
// ctx's error; a later Next reads the offset again.
func TestCancelMidBody(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Stream-Next-Offset", "2")
		_, _ = w.Write([]byte(`[1,`))
		w.(http.Flusher).Flush()
		<-r.Context().Done() // the rest never comes
	})
	r := newReader(t, fs.URL, Options{})
	resp := next(t, r, Position{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var got []string
	var end error
	for m, err := range resp.Messages(ctx) {
		if err != nil {
			end = err
			break
		}
		got = append(got, string(m.Raw))
		cancel() // the next read blocks on the silent server
	}
	assertMessages(t, got, []string{"1"})
	if !errors.Is(end, context.Canceled) || errors.Is(end, ErrBrokenResponse) {
		t.Fatalf("Messages ended with %v, want context.Canceled", end)
	}
	if _, err := r.Next(ctx, Position{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Next with a cancelled ctx = %v", err)
	}
}

// A long-poll 204 is an up-to-date response without messages, so that the
// caller can commit at it.
func TestLongPoll204IsAnEmptyResponse(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Stream-Up-To-Date", "true")
		w.Header().Set("Stream-Cursor", "c9")
		w.WriteHeader(http.StatusNoContent)
	})
	r := newReader(t, fs.URL, Options{Live: LongPoll})
	resp := next(t, r, Position{Offset: "5", UpToDate: true})
	if msgs := messages(t, resp); len(msgs) != 0 || !resp.UpToDate || !resp.Live || resp.NextOffset != "5" || resp.Cursor != "c9" {
		t.Errorf("204 response = %+v with %q", resp, msgs)
	}
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// An idle catch-up body is a broken response, named as idle.
func TestIdleBodyIsBroken(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n > 0 {
			reply(w, 200, "2", true, true, `[1,2]`)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Stream-Next-Offset", "2")
		_, _ = w.Write([]byte(`[1,`))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	rec := newCollector(Position{})
	wait, _ := drive(t, fs.URL, rec, fastRetry(Options{IdleTimeout: 200 * time.Millisecond}))
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _, broken := rec.snapshot()
	assertMessages(t, got, []string{"1", "2"})
	if broken != 1 || !errors.Is(rec.broken[0], ErrIdle) || !strings.Contains(rec.broken[0].Error(), "read body") {
		t.Errorf("broken = %v, want one idle body", rec.broken)
	}
}
