package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

// These tests run against the real reference server (tools/dsserver).

func TestReaderReferenceServer(t *testing.T) {
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: 500 * time.Millisecond})
	t.Run("CatchUp", func(t *testing.T) { t.Parallel(); testCatchUp(t, srv) })
	t.Run("ClosedStreamEndsReading", func(t *testing.T) { t.Parallel(); testClosedStream(t, srv) })
	t.Run("LongPoll", func(t *testing.T) { t.Parallel(); testLive(t, srv, LongPoll) })
	t.Run("SSE", func(t *testing.T) { t.Parallel(); testLive(t, srv, SSE) })
	t.Run("SSEIgnoresUnknownEvents", func(t *testing.T) { t.Parallel(); testSSEInjectedEvent(t, srv) })
	t.Run("Faults", func(t *testing.T) { t.Parallel(); testFaults(t, srv) })
	t.Run("MissingStream", func(t *testing.T) { t.Parallel(); testMissingStream(t, srv) })
	t.Run("Head", func(t *testing.T) { t.Parallel(); testHead(t, srv) })
	t.Run("Compression", func(t *testing.T) { t.Parallel(); testCompression(t, srv) })
}

// appendMsgs appends msgs (raw JSON values) as one POST and returns the next offset.
func appendMsgs(t *testing.T, srv *dstest.Server, stream string, msgs ...string) string {
	t.Helper()
	raw := make([]any, len(msgs))
	for i, m := range msgs {
		raw[i] = json.RawMessage(m)
	}
	next, err := srv.Append(context.Background(), stream, raw...)
	if err != nil {
		t.Fatal(err)
	}
	return next
}

func createStream(t *testing.T, srv *dstest.Server, name string) {
	t.Helper()
	if err := srv.Create(context.Background(), name); err != nil {
		t.Fatal(err)
	}
}

func numbered(from, to int, pad int) []string {
	var out []string
	for i := from; i < to; i++ {
		out = append(out, fmt.Sprintf(`{"n":%d,"p":"%s"}`, i, strings.Repeat("x", pad)))
	}
	return out
}

func assertMessages(t *testing.T, got, want []string) {
	t.Helper()
	if !equal(got, want) {
		t.Fatalf("committed messages (%d):\n%q\nwant (%d):\n%q", len(got), got, len(want), want)
	}
}

func testCatchUp(t *testing.T, srv *dstest.Server) {
	const stream = "catch-up"
	createStream(t, srv, stream)
	var want []string
	for batch := range 4 {
		msgs := numbered(batch*10, batch*10+10, 3)
		appendMsgs(t, srv, stream, msgs...)
		want = append(want, msgs...)
	}
	// Arrays, scalars and null are messages too, delivered as raw elements.
	odd := []string{`[1,2,{"a":[]}]`, `"s"`, `null`, `3.5`, `true`, `{"a":[1,{"b":"c d"}]}`, `"é\"\\ ☃"`, `[]`}
	appendMsgs(t, srv, stream, odd...)
	want = append(want, odd...)

	rec := newCollector(Position{Offset: "-1"})
	wait, cancel := drive(t, srv.StreamURL(stream), rec, Options{Live: LongPoll})
	eventually(t, "up to date", func() bool {
		_, resps, _ := rec.snapshot()
		return len(resps) > 0 && resps[len(resps)-1].UpToDate
	})
	cancel()
	if err := wait(5 * time.Second); !errors.Is(err, context.Canceled) {
		t.Fatalf("reader after cancel = %v, want context.Canceled", err)
	}
	got, resps, broken := rec.snapshot()
	assertMessages(t, got, want)
	first := resps[0]
	if first.Offset != "-1" || first.Live || !first.UpToDate || first.Closed || first.Bytes == 0 || first.URL != srv.StreamURL(stream) {
		t.Errorf("first response = %+v", first)
	}
	if broken != 0 {
		t.Errorf("%d broken", broken)
	}
	rec.check(t)
}

func testClosedStream(t *testing.T, srv *dstest.Server) {
	const stream = "closed"
	createStream(t, srv, stream)
	want := numbered(0, 5, 0)
	appendMsgs(t, srv, stream, want...)
	if err := srv.CloseStream(context.Background(), stream); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []Mode{SSE, LongPoll} {
		rec := newCollector(Position{Offset: "-1"})
		wait, _ := drive(t, srv.StreamURL(stream), rec, Options{Live: mode})
		if err := wait(10 * time.Second); err != nil {
			t.Fatalf("%s: reading a closed stream = %v, want nil", mode, err)
		}
		got, resps, _ := rec.snapshot()
		assertMessages(t, got, want)
		if last := resps[len(resps)-1]; !last.Closed || !last.UpToDate {
			t.Errorf("%s: last response = %+v, want closed and up to date", mode, last)
		}
		rec.check(t)
	}
}

// recordingProxy forwards to target and records the query of every request.
func recordingProxy(t *testing.T, target string) (string, func() []string) {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	var mu sync.Mutex
	var queries []string
	ps := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(ps.Close)
	return ps.URL, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), queries...)
	}
}

func testLive(t *testing.T, srv *dstest.Server, mode Mode) {
	stream := "live-" + string(mode)
	createStream(t, srv, stream)
	want := numbered(0, 3, 0)
	appendMsgs(t, srv, stream, want...)

	proxy, queries := recordingProxy(t, srv.URL)
	var headerCalls atomic.Int64
	rec := newCollector(Position{Offset: "-1"})
	wait, _ := drive(t, proxy+"/v1/stream/"+stream, rec, Options{
		Live:   mode,
		Header: func(h http.Header) { h.Set("Authorization", fmt.Sprintf("Bearer t%d", headerCalls.Add(1))) },
	})
	eventually(t, "catch-up", func() bool { return rec.count() == 3 })

	// Idle periods: a long-poll 204 or an SSE keep-alive control, both an
	// up-to-date response without messages.
	eventually(t, "two empty live responses", func() bool {
		_, resps, _ := rec.snapshot()
		n := 0
		for _, r := range resps {
			if r.Live && r.UpToDate && r.Bytes == 0 && r.NextOffset == r.Offset {
				n++
			}
		}
		return n >= 2
	})
	for i := 3; i < 6; i++ {
		msg := numbered(i, i+1, 0)
		appendMsgs(t, srv, stream, msg...)
		want = append(want, msg...)
		eventually(t, fmt.Sprintf("live message %d", i), func() bool { return rec.count() == i+1 })
	}
	if err := srv.CloseStream(context.Background(), stream); err != nil {
		t.Fatal(err)
	}
	if err := wait(10 * time.Second); err != nil {
		t.Fatalf("reader after close = %v, want nil", err)
	}
	got, resps, broken := rec.snapshot()
	assertMessages(t, got, want)
	if last := resps[len(resps)-1]; !last.Closed || !last.Live {
		t.Errorf("last response = %+v", last)
	}
	if broken != 0 {
		t.Errorf("%d broken", broken)
	}
	rec.check(t)

	// Every live request carries its parameters in alphabetical order and,
	// after the first live response, echoes a cursor.
	qs := queries()
	if int(headerCalls.Load()) != len(qs) {
		t.Errorf("Header called %d times for %d requests", headerCalls.Load(), len(qs))
	}
	liveRE := regexp.MustCompile(`^(cursor=[^&]+&)?live=` + regexp.QuoteMeta(string(mode)) + `&offset=[^&]+$`)
	var live, withCursor int
	for _, q := range qs {
		if !strings.Contains(q, "live=") {
			continue
		}
		live++
		if !liveRE.MatchString(q) {
			t.Errorf("live request query %q is not cursor, live, offset in order", q)
		}
		if strings.HasPrefix(q, "cursor=") {
			withCursor++
		}
	}
	if live == 0 || (mode == LongPoll && withCursor < live-1) {
		t.Errorf("%d live requests, %d with a cursor: %q", live, withCursor, qs)
	}
}

func testSSEInjectedEvent(t *testing.T, srv *dstest.Server) {
	const stream = "sse-injected"
	createStream(t, srv, stream)
	want := numbered(0, 2, 0)
	appendMsgs(t, srv, stream, want...)
	err := srv.Inject(context.Background(), dstest.Fault{
		Path:           "/v1/stream/" + stream,
		Method:         http.MethodGet,
		InjectSSEEvent: &dstest.SSEEvent{EventType: "surprise", Data: `[{"evil":true}]`},
	})
	if err != nil {
		t.Fatal(err)
	}
	// Up to date from the start, so the first request is the SSE one.
	rec := newCollector(Position{Offset: "-1", UpToDate: true})
	wait, _ := drive(t, srv.StreamURL(stream), rec, Options{Live: SSE})
	eventually(t, "messages", func() bool { return rec.count() == 2 })
	appendMsgs(t, srv, stream, `{"late":1}`)
	want = append(want, `{"late":1}`)
	eventually(t, "late message", func() bool { return rec.count() == 3 })
	if err := srv.CloseStream(context.Background(), stream); err != nil {
		t.Fatal(err)
	}
	if err := wait(10 * time.Second); err != nil {
		t.Fatalf("reader = %v, want nil", err)
	}
	got, _, _ := rec.snapshot()
	assertMessages(t, got, want)
	rec.check(t)
}

func testFaults(t *testing.T, srv *dstest.Server) {
	type check func(t *testing.T, retries []time.Duration, broken int)
	atLeast := func(n int) check {
		return func(t *testing.T, retries []time.Duration, _ int) {
			if len(retries) < n {
				t.Errorf("%d retries, want at least %d", len(retries), n)
			}
		}
	}
	brokeOnce := func(t *testing.T, retries []time.Duration, broken int) {
		if broken == 0 || len(retries) == 0 {
			t.Errorf("%d broken, %d retries; want at least one of each", broken, len(retries))
		}
	}
	tests := []struct {
		name  string
		fault dstest.Fault
		modes []Mode // "" is catch-up
		pad   int
		check check
	}{
		{"503 burst", dstest.Fault{Status: 503, Count: 3}, []Mode{"", LongPoll, SSE}, 0, atLeast(3)},
		{"429 Retry-After", dstest.Fault{Status: 429, RetryAfter: 1}, []Mode{"", LongPoll, SSE}, 0,
			func(t *testing.T, retries []time.Duration, _ int) {
				if len(retries) == 0 || retries[0] < time.Second {
					t.Errorf("retry delays %v, want the first at least 1s (Retry-After)", retries)
				}
			}},
		{"drop connection", dstest.Fault{DropConnection: true}, []Mode{"", LongPoll, SSE}, 0, atLeast(1)},
		{"truncated body", dstest.Fault{TruncateBodyBytes: 40}, []Mode{"", LongPoll}, 0, brokeOnce},
		{"truncated gzip body", dstest.Fault{TruncateBodyBytes: 30}, []Mode{"", LongPoll}, 100, brokeOnce},
		{"corrupt body", dstest.Fault{CorruptBody: true}, []Mode{"", LongPoll}, 0, brokeOnce},
		{"corrupt gzip body", dstest.Fault{CorruptBody: true}, []Mode{""}, 100, brokeOnce},
		{"delay", dstest.Fault{DelayMs: 300}, []Mode{"", LongPoll, SSE}, 0, atLeast(0)},
	}
	for _, tt := range tests {
		for _, mode := range tt.modes {
			name := tt.name + "/" + string(mode)
			if mode == "" {
				name = tt.name + "/catch-up"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				stream := "fault-" + strings.NewReplacer(" ", "-", "/", "-").Replace(name)
				createStream(t, srv, stream)
				mid := appendMsgs(t, srv, stream, numbered(0, 5, tt.pad)...)
				want := numbered(5, 25, tt.pad)
				appendMsgs(t, srv, stream, want[:10]...)
				appendMsgs(t, srv, stream, want[10:]...)
				f := tt.fault
				f.Path, f.Method = "/v1/stream/"+stream, http.MethodGet
				if err := srv.Inject(context.Background(), f); err != nil {
					t.Fatal(err)
				}
				var mu sync.Mutex
				var retries []time.Duration
				rec := newCollector(Position{Offset: mid, UpToDate: mode != ""})
				live := mode
				if live == "" {
					live = LongPoll
				}
				// A connection of its own: Go's transport silently retries a
				// GET whose reused keep-alive connection drops, which would hide
				// the fault from the Reader.
				client := &http.Client{Transport: NewTransport()}
				t.Cleanup(client.CloseIdleConnections)
				wait, _ := drive(t, srv.StreamURL(stream), rec, fastRetry(Options{
					HTTPClient: client,
					Live:       live,
					OnRetry: func(_ int, d time.Duration, _ error) {
						mu.Lock()
						retries = append(retries, d)
						mu.Unlock()
					},
				}))
				eventually(t, "all messages", func() bool { return rec.count() >= len(want) })
				if err := srv.CloseStream(context.Background(), stream); err != nil {
					t.Fatal(err)
				}
				if err := wait(10 * time.Second); err != nil {
					t.Fatalf("reader = %v, want nil", err)
				}
				got, _, broken := rec.snapshot()
				assertMessages(t, got, want)
				mu.Lock()
				tt.check(t, retries, broken)
				mu.Unlock()
				rec.check(t)
			})
		}
	}
}

func testMissingStream(t *testing.T, srv *dstest.Server) {
	for _, p := range []Position{{Offset: "-1"}, {Offset: "-1", UpToDate: true}} {
		rec := newCollector(p)
		wait, _ := drive(t, srv.StreamURL("does-not-exist"), rec, Options{Live: LongPoll})
		err := wait(10 * time.Second)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != http.StatusNotFound || se.Offset != "-1" || !errors.Is(err, ErrNotFound) || errors.Is(err, ErrGone) {
			t.Fatalf("reading a missing stream = %v, want a 404 *StatusError at -1", err)
		}
		if msg := err.Error(); !strings.Contains(msg, `"-1"`) || !strings.Contains(msg, "does-not-exist") {
			t.Errorf("error %q names neither offset nor URL", msg)
		}
	}
}

func testHead(t *testing.T, srv *dstest.Server) {
	const stream = "head"
	ctx := context.Background()
	createStream(t, srv, stream)
	tail := appendMsgs(t, srv, stream, `1`, `2`)
	var auth string
	next, closed, err := Head(ctx, nil, srv.StreamURL(stream), func(h http.Header) { h.Set("Authorization", "x"); auth = "set" })
	if err != nil || next != tail || closed || auth != "set" {
		t.Fatalf("Head = %q, %v, %v; want %q, false", next, closed, err, tail)
	}
	if err := srv.CloseStream(ctx, stream); err != nil {
		t.Fatal(err)
	}
	if _, closed, err := Head(ctx, nil, srv.StreamURL(stream), nil); err != nil || !closed {
		t.Fatalf("Head after close = %v, %v; want closed", closed, err)
	}
	_, _, err = Head(ctx, nil, srv.StreamURL("nope"), nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusNotFound || se.Method != http.MethodHead {
		t.Fatalf("Head of a missing stream = %v, want a 404 *StatusError", err)
	}
}

// TestReaderAcrossRestart restarts a file-backed server while two readers
// follow it live: both reconnect and deliver every message exactly once.
func TestReaderAcrossRestart(t *testing.T) {
	srv := dstest.StartT(t, dstest.Options{DataDir: t.TempDir(), LongPollTimeout: 500 * time.Millisecond})
	ctx := context.Background()
	recs := map[Mode]*collector{}
	waits := map[Mode]func(time.Duration) error{}
	for _, mode := range []Mode{SSE, LongPoll} {
		stream := "restart-" + string(mode)
		createStream(t, srv, stream)
		appendMsgs(t, srv, stream, numbered(0, 10, 0)...)
		recs[mode] = newCollector(Position{Offset: "-1"})
		waits[mode], _ = drive(t, srv.StreamURL(stream), recs[mode], fastRetry(Options{Live: mode}))
	}
	for mode, rec := range recs {
		eventually(t, string(mode)+" catch-up", func() bool { return rec.count() == 10 })
	}
	if err := srv.Restart(ctx); err != nil {
		t.Fatal(err)
	}
	for mode, rec := range recs {
		stream := "restart-" + string(mode)
		appendMsgs(t, srv, stream, numbered(10, 20, 0)...)
		eventually(t, string(mode)+" after restart", func() bool { return rec.count() >= 20 })
		if err := srv.CloseStream(ctx, stream); err != nil {
			t.Fatal(err)
		}
		if err := waits[mode](15 * time.Second); err != nil {
			t.Fatalf("%s: reader = %v, want nil", mode, err)
		}
		got, _, _ := rec.snapshot()
		assertMessages(t, got, numbered(0, 20, 0))
		rec.check(t)
	}
}
