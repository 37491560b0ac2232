package consumer

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// These tests use an httptest server only for what the reference server
// cannot produce.

// fakeServer answers request n (0-based) with handle; it records the queries.
type fakeServer struct {
	*httptest.Server
	mu      sync.Mutex
	queries []string
	auth    []string
}

func newFake(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, n int)) *fakeServer {
	t.Helper()
	f := &fakeServer{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		n := len(f.queries)
		f.queries = append(f.queries, r.URL.RawQuery)
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		f.mu.Unlock()
		handle(w, r, n)
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeServer) requests() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.queries...)
}

// reply writes a JSON response with Stream-* headers.
func reply(w http.ResponseWriter, status int, next string, upToDate, closed bool, body string) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if next != "" {
		h.Set("Stream-Next-Offset", next)
	}
	if upToDate {
		h.Set("Stream-Up-To-Date", "true")
	}
	if closed {
		h.Set("Stream-Closed", "true")
	}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(body))
}

func sseHeaders(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
}

func TestCatchUpOverSeveralResponses(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch r.URL.Query().Get("offset") {
		case "-1":
			reply(w, 200, "a", false, false, `[1,2]`)
		case "a":
			reply(w, 200, "b", false, false, `[3]`)
		case "b":
			reply(w, 200, "c", false, false, ``) // an empty body is []
		case "c":
			reply(w, 200, "c", true, true, `[]`)
		default:
			http.Error(w, "bad offset", 400)
		}
	})
	rec := newCollector(Position{Offset: "-1"})
	wait, _ := drive(t, fs.URL+"/s", rec, Options{})
	if err := wait(5 * time.Second); err != nil {
		t.Fatalf("reader = %v", err)
	}
	got, resps, _ := rec.snapshot()
	assertMessages(t, got, []string{"1", "2", "3"})
	if len(resps) != 4 {
		t.Fatalf("%d responses, want 4: %+v", len(resps), resps)
	}
	for i, r := range resps {
		if r.UpToDate != (i == 3) || r.Closed != (i == 3) || r.Live {
			t.Errorf("response %d = %+v", i, r)
		}
	}
	if q := fs.requests(); !equal(q, []string{"offset=-1", "offset=a", "offset=b", "offset=c"}) {
		t.Errorf("requests = %q", q)
	}
	rec.check(t)
}

func TestRawElementsUntouched(t *testing.T) {
	t.Parallel()
	body := "[ {\"a\" : 1 ,\n \"b\":[ 2 ]} ,[1, 2]\t, \"s \\\" ]\" ,null , -0.5e+3 ]"
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, "1", true, true, body)
	})
	rec := newCollector(Position{Offset: "-1"})
	wait, _ := drive(t, fs.URL, rec, Options{})
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _, _ := rec.snapshot()
	assertMessages(t, got, []string{"{\"a\" : 1 ,\n \"b\":[ 2 ]}", "[1, 2]", `"s \" ]"`, "null", "-0.5e+3"})
}

func TestHeadersCaseInsensitive(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.Header().Set("Stream-Next-Offset", "1")
		w.Header().Set("Stream-Up-To-Date", "TRUE")
		w.Header().Set("Stream-Closed", "True")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(`[1]`))
	})
	rec := newCollector(Position{Offset: "-1"})
	wait, _ := drive(t, fs.URL, rec, Options{})
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, resps, _ := rec.snapshot(); !resps[0].UpToDate || !resps[0].Closed {
		t.Errorf("response = %+v", resps[0])
	}
}

func TestOffsetsAreEscaped(t *testing.T) {
	t.Parallel()
	const odd = "a b&c=d/e+f%g?h#"
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if got := r.URL.Query().Get("offset"); got != odd {
			http.Error(w, "offset "+got, 400)
			return
		}
		reply(w, 200, odd, true, true, `[]`)
	})
	rec := newCollector(Position{Offset: odd})
	wait, _ := drive(t, fs.URL, rec, Options{})
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestSSECROnlyAndSpans(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		sseHeaders(w)
		// Two data events, a comment and an unknown event before one control:
		// one response with positions running across both data events.
		_, _ = w.Write([]byte(":hi\revent: data\rdata: [1,\rdata: 2]\r\revent: other\rdata: [9]\r\r" +
			"event: data\rdata: [3]\r\revent: control\rdata: {\"streamNextOffset\":\"x\",\"streamCursor\":\"c1\",\"upToDate\":true}\r\r" +
			"event: control\rdata: {\"streamNextOffset\":\"x\",\"streamClosed\":true}\r\r"))
	})
	rec := newCollector(Position{Offset: "-1", UpToDate: true})
	wait, _ := drive(t, fs.URL, rec, Options{})
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, resps, _ := rec.snapshot()
	assertMessages(t, got, []string{"1", "2", "3"})
	if len(resps) != 2 || resps[0].NextOffset != "x" || resps[0].Cursor != "c1" || !resps[0].UpToDate || !resps[0].Live ||
		resps[1].Offset != "x" || !resps[1].Closed || !resps[1].UpToDate {
		t.Errorf("responses = %+v", resps)
	}
	if q := fs.requests(); !equal(q, []string{"live=sse&offset=-1"}) {
		t.Errorf("requests = %q", q)
	}
	rec.check(t)
}

// An SSE connection that ends without streamClosed is reconnected from the
// last control event's offset and cursor.
func TestSSEReconnectsFromLastControl(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		sseHeaders(w)
		switch n {
		case 0:
			_, _ = w.Write([]byte("event: data\ndata: [1]\n\nevent: control\ndata: {\"streamNextOffset\":\"o1\",\"streamCursor\":\"c1\",\"upToDate\":true}\n\n" +
				"event: data\ndata: [2]\n\n")) // cut before its control: [2] is dropped
		default:
			_, _ = w.Write([]byte("event: data\ndata: [2]\n\nevent: control\ndata: {\"streamNextOffset\":\"o2\",\"streamClosed\":true}\n\n"))
		}
	})
	rec := newCollector(Position{Offset: "-1", UpToDate: true})
	wait, _ := drive(t, fs.URL, rec, Options{})
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _, _ := rec.snapshot()
	assertMessages(t, got, []string{"1", "2"})
	if q := fs.requests(); !equal(q, []string{"live=sse&offset=-1", "cursor=c1&live=sse&offset=o1"}) {
		t.Errorf("requests = %q", q)
	}
}

func TestLargeMessageTruncated(t *testing.T) {
	t.Parallel()
	big := `{"k":"` + strings.Repeat("x", 200) + `"}`
	for _, mode := range []string{"catch-up", "sse"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
				if mode == "sse" {
					sseHeaders(w)
					_, _ = w.Write([]byte("event: data\ndata: [1," + big + "]\n\nevent: data\ndata: [\"after\"]\n\n" +
						"event: control\ndata: {\"streamNextOffset\":\"1\",\"streamClosed\":true}\n\n"))
					return
				}
				reply(w, 200, "1", true, true, `[1,`+big+`,"after"]`)
			})
			rec := newCollector(Position{Offset: "-1", UpToDate: mode == "sse"})
			wait, _ := drive(t, fs.URL, rec, Options{MaxMessageBytes: 64})
			if err := wait(5 * time.Second); err != nil {
				t.Fatal(err)
			}
			got, _, _ := rec.snapshot()
			assertMessages(t, got, []string{"1", big[:64], `"after"`})
			msgs := rec.metas
			if !msgs[1].Truncated || msgs[1].Size != int64(len(big)) || msgs[0].Truncated || msgs[2].Truncated || msgs[2].Position != 2 {
				t.Errorf("messages = %+v", msgs)
			}
		})
	}
}

func TestBrokenBodyRetriedAtTheSameOffset(t *testing.T) {
	t.Parallel()
	bodies := []string{
		`[1,2] garbage`,   // garbage after the array
		`[1,2`,            // cut off
		`{"not":"array"}`, // not an array
		`[1,2]`,
	}
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, "2", true, n == len(bodies)-1, bodies[min(n, len(bodies)-1)])
	})
	var retried []error // each broken body is paced by a backoff before the next request
	rec := newCollector(Position{Offset: "-1"})
	wait, _ := drive(t, fs.URL+"/s", rec, fastRetry(Options{OnRetry: func(_ int, _ time.Duration, err error) { retried = append(retried, err) }}))
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, resps, broken := rec.snapshot()
	assertMessages(t, got, []string{"1", "2"})
	if broken != 3 || len(resps) != 1 {
		t.Errorf("%d broken, %d responses; want 3 and 1", broken, len(resps))
	}
	if len(retried) != 3 {
		t.Errorf("%d retries, want 3", len(retried))
	}
	for _, err := range append(retried, rec.broken...) {
		msg := err.Error()
		if !errors.Is(err, ErrBrokenResponse) || !errors.Is(err, ErrCorruptBody) || !strings.Contains(msg, fs.URL+"/s") || !strings.Contains(msg, `"-1"`) {
			t.Errorf("broken-body error %q: want ErrBrokenResponse and ErrCorruptBody, naming the URL and offset", msg)
		}
	}
	for _, q := range fs.requests() {
		if q != "offset=-1" {
			t.Errorf("request %q: a retry must re-read the same offset", q)
		}
	}
	rec.check(t)
}

func TestPermanentStatusNotRetried(t *testing.T) {
	t.Parallel()
	for status, sentinel := range map[int]error{400: ErrBadRequest, 404: ErrNotFound, 410: ErrGone} {
		fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
			http.Error(w, "no such thing", status)
		})
		rec := newCollector(Position{Offset: "0_42"})
		wait, _ := drive(t, fs.URL+"/v1/stream/s", rec, Options{})
		err := wait(5 * time.Second)
		var se *StatusError
		if !errors.As(err, &se) || se.Status != status || se.Offset != "0_42" || se.URL != fs.URL+"/v1/stream/s" || !strings.Contains(se.Body, "no such thing") {
			t.Errorf("status %d: Next = %#v", status, err)
		}
		for _, other := range []error{ErrBadRequest, ErrNotFound, ErrGone} {
			if errors.Is(err, other) != (other == sentinel) {
				t.Errorf("status %d: errors.Is(err, %v) = %v", status, other, !(other == sentinel))
			}
		}
		if n := len(fs.requests()); n != 1 {
			t.Errorf("status %d: %d requests, want 1", status, n)
		}
	}
}

func TestTransientStatusRetried(t *testing.T) {
	t.Parallel()
	statuses := []int{500, 502, 503, 504, 429, 401}
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		if n < len(statuses) {
			http.Error(w, "later", statuses[n])
			return
		}
		reply(w, 200, "1", true, true, `[1]`)
	})
	var attempts []int
	var tokens int
	rec := newCollector(Position{Offset: "-1"})
	wait, _ := drive(t, fs.URL, rec, fastRetry(Options{
		OnRetry: func(a int, _ time.Duration, err error) { attempts = append(attempts, a) },
		Header: func(h http.Header) {
			tokens++
			h.Set("Authorization", fmt.Sprintf("Bearer %d", tokens))
		},
	}))
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(attempts) != "[1 2 3 4 5 6]" {
		t.Errorf("retry attempts = %v", attempts)
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for i, a := range fs.auth {
		if a != fmt.Sprintf("Bearer %d", i+1) {
			t.Errorf("request %d carried %q: Header must be called for every request", i, a)
		}
	}
}

func TestCancelIsPrompt(t *testing.T) {
	t.Parallel()
	cases := map[string]func(w http.ResponseWriter, r *http.Request){
		// A long-poll the server holds open.
		"long-poll": func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() },
		// An SSE connection that stays silent.
		"sse": func(w http.ResponseWriter, r *http.Request) {
			sseHeaders(w)
			w.(http.Flusher).Flush()
			<-r.Context().Done()
		},
		// A long Retry-After: Next is in its backoff sleep.
		"backoff": func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "3600")
			http.Error(w, "busy", http.StatusServiceUnavailable)
		},
	}
	for name, handle := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) { handle(w, r) })
			live := SSE
			if name == "long-poll" {
				live = LongPoll
			}
			rec := newCollector(Position{Offset: "1", UpToDate: name != "backoff"})
			wait, cancel := drive(t, fs.URL, rec, Options{Live: live})
			eventually(t, "a request", func() bool { return len(fs.requests()) > 0 })
			start := time.Now()
			cancel()
			if err := wait(2 * time.Second); !errors.Is(err, context.Canceled) {
				t.Errorf("reader = %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("the reader took %v to return after cancel", d)
			}
		})
	}
}

func TestIdleSSEReconnected(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		sseHeaders(w)
		if n == 0 { // silent: a dead connection
			w.(http.Flusher).Flush()
			<-r.Context().Done()
			return
		}
		_, _ = w.Write([]byte("event: data\ndata: [1]\n\nevent: control\ndata: {\"streamNextOffset\":\"2\",\"streamClosed\":true}\n\n"))
	})
	var errs []error
	rec := newCollector(Position{Offset: "1", UpToDate: true})
	wait, _ := drive(t, fs.URL, rec, fastRetry(Options{
		IdleTimeout: 200 * time.Millisecond,
		OnRetry:     func(_ int, _ time.Duration, err error) { errs = append(errs, err) },
	}))
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if len(errs) != 1 || !errors.Is(errs[0], ErrIdle) {
		t.Errorf("retries = %v, want one ErrIdle", errs)
	}
	got, _, _ := rec.snapshot()
	assertMessages(t, got, []string{"1"})
}

func TestNotJSONStream(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Stream-Next-Offset", "1")
		_, _ = w.Write([]byte("bytes"))
	})
	wait, _ := drive(t, fs.URL, newCollector(Position{Offset: "-1"}), Options{})
	if err := wait(5 * time.Second); !errors.Is(err, ErrNotJSON) {
		t.Errorf("reader = %v, want ErrNotJSON", err)
	}
}

func TestBadOptions(t *testing.T) {
	t.Parallel()
	if _, err := NewReader("http://x", Options{Live: "websocket"}); err == nil {
		t.Error("unknown live mode accepted")
	}
	if _, err := NewReader("ftp://x", Options{}); err == nil {
		t.Error("ftp URL accepted")
	}
}

// An SSE span too large for memory is read again as a streamed catch-up,
// then tailing goes back to SSE.
func TestSSESpanTooLargeFallsBackToCatchUp(t *testing.T) {
	t.Parallel()
	big := `"` + strings.Repeat("x", 100) + `"`
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		switch {
		case r.URL.Query().Get("live") == "":
			reply(w, 200, "2", true, false, `[1,`+big+`]`)
		case r.URL.Query().Get("offset") == "0":
			sseHeaders(w)
			_, _ = w.Write([]byte("event: data\ndata: [1]\n\nevent: data\ndata: [" + big + "]\n\n"))
		default:
			sseHeaders(w)
			_, _ = w.Write([]byte("event: control\ndata: {\"streamNextOffset\":\"2\",\"streamClosed\":true}\n\n"))
		}
	})
	rec := newCollector(Position{Offset: "0", UpToDate: true})
	wait, _ := drive(t, fs.URL, rec, Options{MaxMessageBytes: 16, spanLimit: 64})
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	got, _, _ := rec.snapshot()
	assertMessages(t, got, []string{"1", big[:16]})
	if q := fs.requests(); !equal(q, []string{"live=sse&offset=0", "offset=0", "live=sse&offset=2"}) {
		t.Errorf("requests = %q", q)
	}
}

// A catch-up response that neither advances nor says up to date is paced by
// the backoff instead of looping hot.
func TestNoProgressIsPaced(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, n int) {
		reply(w, 200, "0", n >= 3, n >= 3, `[]`)
	})
	var retries int
	rec := newCollector(Position{Offset: "0"})
	wait, _ := drive(t, fs.URL, rec, fastRetry(Options{OnRetry: func(int, time.Duration, error) { retries++ }}))
	if err := wait(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if retries != 3 {
		t.Errorf("%d retries, want 3", retries)
	}
}
