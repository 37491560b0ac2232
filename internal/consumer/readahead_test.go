package consumer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/jsonscan"
)

// overPages is a number of bigBody messages of 300 bytes that holds twice
// what all the read-ahead pages hold, so that the goroutine has to wait for
// the caller to give pages back.
const overPages = 2 * readAheadPages * pageBytes / 300

// bigBody returns a JSON array of n objects, message i padded to about size
// bytes, some of them invalid JSON, and the messages themselves.
func bigBody(n, size int) ([]byte, []string) {
	var buf bytes.Buffer
	var want []string
	buf.WriteByte('[')
	for i := range n {
		if i > 0 {
			buf.WriteByte(',')
		}
		m := fmt.Sprintf(`{"i":%d,"pad":"%s","h":{"k":"v%d"}}`, i, strings.Repeat("x", size), i)
		if i%97 == 5 {
			m = fmt.Sprintf(`{"i":%d,"bad":}`, i)
		}
		want = append(want, m)
		buf.WriteString(m)
	}
	buf.WriteByte(']')
	return buf.Bytes(), want
}

// bodyReader returns a Reader of a stream whose every response is body,
// up to date.
func bodyReader(t *testing.T, body []byte) *Reader {
	fs := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Stream-Next-Offset", "9")
		w.Header().Set("Stream-Up-To-Date", "true")
		_, _ = w.Write(body)
	})
	return newReader(t, fs.URL, Options{})
}

// A body many pages long arrives whole and in order, each message with the
// scan of its own bytes (or none when it is invalid), however far the
// splitting runs ahead of the caller.
func TestReadAheadDeliversEveryPageInOrder(t *testing.T) {
	t.Parallel()
	body, want := bigBody(overPages, 300)
	huge := `{"huge":"` + strings.Repeat("y", 3*pageBytes) + `"}`
	body = append(append(body[:len(body)-1], ','), huge+"]"...)
	want = append(want, huge)
	r := bodyReader(t, body)
	for range 2 { // the second response reuses the pages
		resp := next(t, r, Position{})
		i, scanned, valid := 0, 0, 0
		for m, err := range resp.Messages(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			if m.Position != i || string(m.Raw) != want[i] {
				t.Fatalf("message %d at position %d = %.40q, want %.40q", i, m.Position, m.Raw, want[i])
			}
			checkScan(t, m)
			if !strings.Contains(want[i], `"bad":}`) {
				valid++
			}
			if m.Scan != nil {
				scanned++ // checkScan saw it is valid and scanned right
			}
			i++
		}
		if i != len(want) || resp.Bytes != int64(len(body)) {
			t.Fatalf("%d messages, %d bytes; want %d, %d", i, resp.Bytes, len(want), len(body))
		}
		// Only messages that span two reads of the body come unscanned.
		if scanned < valid*9/10 {
			t.Errorf("%d of %d valid messages scanned while splitting", scanned, valid)
		}
	}
	wantAllPages(t, r)
}

// wantAllPages checks that every read-ahead page is back in r's pool, and
// that no more than keptPages of them hold memory.
func wantAllPages(t *testing.T, r *Reader) {
	t.Helper()
	n := len(r.pages)
	if n != readAheadPages {
		t.Errorf("%d pages in the pool, want all %d", n, readAheadPages)
	}
	holding := 0
	for range n {
		p := <-r.pages
		if p.data != nil {
			holding++
		}
		r.pages <- p
	}
	if holding > keptPages {
		t.Errorf("%d free pages hold memory after the read-ahead, want at most %d", holding, keptPages)
	}
}

// A Reader that caught up and then follows the tail by long-poll, one
// small response at a time, reuses the page it kept: no page buffer is
// allocated per response (the kept page used to end up behind the empty
// ones, and each response took an empty page and filled it anew).
func TestReadAheadLiveTailReusesTheKeptPage(t *testing.T) { // not parallel: it counts the process's allocations
	body, _ := bigBody(overPages, 300)
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Query().Get("live") == "" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Stream-Next-Offset", "a")
			w.Header().Set("Stream-Up-To-Date", "true")
			_, _ = w.Write(body)
			return
		}
		reply(w, 200, "a", true, false, `[{"x":1}]`)
	})
	r := newReader(t, fs.URL, Options{Live: LongPoll})
	_ = messages(t, next(t, r, Position{}))
	const live = 32
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range live {
		if got := messages(t, next(t, r, Position{Offset: "a", UpToDate: true})); len(got) != 1 {
			t.Fatalf("live response: %d messages, want 1", len(got))
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / live; per > 64<<10 {
		t.Errorf("%d KiB allocated per one-message live response, want far less than a page (%d KiB)", per>>10, (pageBytes+64<<10)>>10)
	}
	wantAllPages(t, r)
}

// A caller that stops early stops the goroutine splitting ahead (goleak
// checks that none is left) and drops the connection; the next read works.
func TestReadAheadStopsWithTheCaller(t *testing.T) {
	t.Parallel()
	body, want := bigBody(overPages, 300)
	r := bodyReader(t, body)
	resp := next(t, r, Position{})
	for m, err := range resp.Messages(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		if m.Position == 10 {
			break
		}
	}
	if got := messages(t, next(t, r, Position{})); len(got) != len(want) {
		t.Fatalf("next response: %d messages, want %d", len(got), len(want))
	}
}

// A caller that panics mid-body leaves no goroutine splitting ahead behind
// (goleak), and the Reader reads the next response.
func TestReadAheadSurvivesACallerPanic(t *testing.T) {
	t.Parallel()
	body, want := bigBody(overPages, 300)
	r := bodyReader(t, body)
	resp := next(t, r, Position{})
	func() {
		defer func() {
			if v := recover(); v != "caller broke" {
				t.Fatalf("recovered %v", v)
			}
		}()
		for m := range resp.Messages(context.Background()) {
			if m.Position == 10 {
				panic("caller broke")
			}
		}
	}()
	if got := messages(t, next(t, r, Position{})); len(got) != len(want) {
		t.Fatalf("next response: %d messages, want %d", len(got), len(want))
	}
}

// When a catch-up body ends and more is to come, the next response is
// requested before the caller asks for it; Next hands over that response
// for exactly its position, and anything else is requested anew.
func TestReadAheadRequestsTheNextResponse(t *testing.T) {
	t.Parallel()
	asked := make(chan string, 8)
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		off := r.URL.Query().Get("offset")
		asked <- off
		switch off {
		case "-1":
			reply(w, 200, "a", false, false, `[1,2]`)
		case "a":
			reply(w, 200, "b", false, false, `[3]`)
		case "b":
			reply(w, 200, "b", true, false, `[4]`)
		}
	})
	r := newReader(t, fs.URL, Options{})
	wantAsked := func(off string) {
		t.Helper()
		select {
		case got := <-asked:
			if got != off {
				t.Fatalf("server asked for offset %q, want %q", got, off)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("offset %q never requested", off)
		}
	}
	first := next(t, r, Position{})
	wantAsked("-1")
	assertMessages(t, messages(t, first), []string{"1", "2"})
	wantAsked("a") // before the caller's Next
	second := next(t, r, Position{Offset: first.NextOffset})
	assertMessages(t, messages(t, second), []string{"3"})
	wantAsked("b")
	// The caller goes back (as after a failed commit): the response read
	// ahead is dropped and the offset requested.
	again := next(t, r, Position{Offset: first.NextOffset})
	wantAsked("a")
	assertMessages(t, messages(t, again), []string{"3"})
	wantAsked("b")
	third := next(t, r, Position{Offset: again.NextOffset})
	assertMessages(t, messages(t, third), []string{"4"})
	if !third.UpToDate {
		t.Fatalf("third response = %+v, want up to date", third)
	}
	if n := len(fs.requests()); n != 5 {
		t.Errorf("%d requests, want 5 (nothing requested after an up-to-date response): %q", n, fs.requests())
	}
}

// A response requested ahead that fails is the caller's failure when it
// asks for that offset, handled as if Next had sent the request: a 503 is
// retried at the same offset, a 404 is returned.
func TestReadAheadFailureIsNexts(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		status int
		want   error // nil: retried, then read
	}{{http.StatusServiceUnavailable, nil}, {http.StatusNotFound, ErrNotFound}} {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			t.Parallel()
			var failed atomic.Bool
			fs := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
				switch r.URL.Query().Get("offset") {
				case "-1":
					reply(w, 200, "a", false, false, `[1]`)
				case "a":
					if !failed.Swap(true) {
						http.Error(w, "no", tc.status)
						return
					}
					reply(w, 200, "b", true, false, `[2]`)
				}
			})
			r := newReader(t, fs.URL, fastRetry(Options{}))
			first := next(t, r, Position{})
			assertMessages(t, messages(t, first), []string{"1"})
			resp, err := r.Next(context.Background(), Position{Offset: first.NextOffset})
			if tc.want != nil {
				if !errors.Is(err, tc.want) {
					t.Fatalf("Next = %v, want %v", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertMessages(t, messages(t, resp), []string{"2"})
			if q := fs.requests(); len(q) != 3 || q[1] != "offset=a" || q[2] != "offset=a" {
				t.Errorf("requests = %q, want -1, then a twice", q)
			}
		})
	}
}

// A caller whose ctx ends while the next response is being requested ahead
// gets ctx's error from Next, promptly; nothing is left running (goleak).
func TestReadAheadCancelWhileRequesting(t *testing.T) {
	t.Parallel()
	asked := make(chan struct{})
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Query().Get("offset") == "-1" {
			reply(w, 200, "a", false, false, `[1]`)
			return
		}
		close(asked)
		<-r.Context().Done() // never answers
	})
	r := newReader(t, fs.URL, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	first := next(t, r, Position{})
	assertMessages(t, messages(t, first), []string{"1"})
	<-asked
	cancel()
	if _, err := r.Next(ctx, Position{Offset: first.NextOffset}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next = %v, want context.Canceled", err)
	}
}

// A caller that stops early in a response whose successor is requested
// ahead stops the goroutine with it; reading again from the start works.
func TestReadAheadStopsWithTheCallerMidChain(t *testing.T) {
	t.Parallel()
	body, want := bigBody(overPages, 300)
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Query().Get("offset") == "-1" {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Stream-Next-Offset", "a")
			_, _ = w.Write(body)
			return
		}
		reply(w, 200, "b", true, false, `[1]`)
	})
	r := newReader(t, fs.URL, Options{})
	for _, stopAt := range []int{10, len(want) - 1} {
		resp := next(t, r, Position{})
		for m, err := range resp.Messages(context.Background()) {
			if err != nil {
				t.Fatal(err)
			}
			if m.Position == stopAt {
				break
			}
		}
	}
	if got := messages(t, next(t, r, Position{})); len(got) != len(want) {
		t.Fatalf("read again: %d messages, want %d", len(got), len(want))
	}
	_ = r.Close() // stops the goroutine reading "a" ahead
	wantAllPages(t, r)
}

// Peek shows the messages after the one being yielded that are already in
// memory, exactly as they are yielded next; outside the loop it shows none.
func TestPeekShowsWhatComesNext(t *testing.T) {
	t.Parallel()
	body, want := bigBody(3000, 300)
	r := bodyReader(t, body)
	resp := next(t, r, Position{})
	peeked := 0
	for m, err := range resp.Messages(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		for k := 1; k <= 3; k++ {
			ahead, ok := resp.Peek(k)
			if !ok {
				break
			}
			peeked++
			if i := m.Position + k; ahead.Position != i || string(ahead.Raw) != want[i] {
				t.Fatalf("Peek(%d) at %d = %d %.30q, want %d %.30q", k, m.Position, ahead.Position, ahead.Raw, i, want[i])
			}
			if (ahead.Scan != nil) != !strings.Contains(want[m.Position+k], `"bad":}`) && ahead.Scan != nil {
				t.Fatalf("Peek(%d) at %d: an invalid message with a scan", k, m.Position)
			}
		}
	}
	if peeked < len(want) {
		t.Errorf("Peek showed %d messages over %d yielded: it should see most of a page ahead", peeked, len(want))
	}
	if _, ok := resp.Peek(1); ok {
		t.Error("Peek after the loop showed a message")
	}
}

// chained serves a catch-up of one-message responses, never up to date:
// offset "-1" holds [1] and moves to "1", offset n holds [n+1] (or [] at
// emptyAt) and moves to n+1. Each request's offset goes to asked.
func chained(t *testing.T, emptyAt int, asked chan<- string) *fakeServer {
	return newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		off := r.URL.Query().Get("offset")
		if asked != nil {
			asked <- off
		}
		n := 0
		if off != "-1" {
			n, _ = strconv.Atoi(off)
		}
		body := "[" + strconv.Itoa(n+1) + "]"
		if n == emptyAt {
			body = "[]"
		}
		reply(w, 200, strconv.Itoa(n+1), false, false, body)
	})
}

// The goroutine splits one response ahead of the caller's, not more, and
// requests the one after it as its headers arrive: until the caller takes
// the next response, nothing beyond is requested; and when the caller goes
// back, every page returns to the pool, the response requested early is
// dropped, and the next read works (an empty response read ahead used to
// leave pages out).
func TestReadAheadOneResponseAhead(t *testing.T) {
	t.Parallel()
	asked := make(chan string, 16)
	fs := chained(t, 1, asked)
	r := newReader(t, fs.URL, Options{})
	first := next(t, r, Position{})
	assertMessages(t, messages(t, first), []string{"1"})
	for _, want := range []string{"-1", "1", "2"} {
		select {
		case got := <-asked:
			if got != want {
				t.Fatalf("asked for %q, want %q", got, want)
			}
		case <-time.After(30 * time.Second): // a bound, not a wait: "2" comes without the caller
			t.Fatalf("%q was not requested before the caller took the response before it", want)
		}
	}
	// "1" (empty) is read ahead whole and "2" requested early; "2" is
	// split, and "3" requested, only once the caller takes "1".
	for !closed(r.chain.tail.ahead.ready) || !closed(r.chain.tail.ahead.next.ahead.full) {
		runtime.Gosched()
	}
	if q := fs.requests(); len(q) != 3 {
		t.Fatalf("requests before the caller took the second response: %q, want 3", q)
	}
	second := next(t, r, Position{Offset: first.NextOffset})
	assertMessages(t, messages(t, second), nil) // the empty one
	if got := <-asked; got != "3" {
		t.Fatalf("asked for %q, want 3", got)
	}
	// The caller goes back to its checkpoint (a failed commit).
	again := next(t, r, Position{Offset: "-1"})
	wantAllPages(t, r)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound, not a wait
	defer cancel()
	var got []string
	for m, err := range again.Messages(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, string(m.Raw))
	}
	assertMessages(t, got, []string{"1"})
}

// When ctx ends while the goroutine waits for a page, Messages says so: a
// body cut short never looks read whole.
func TestReadAheadCancelMidBodyIsAnError(t *testing.T) {
	t.Parallel()
	body, want := bigBody(overPages, 300)
	r := bodyReader(t, body)
	resp := next(t, r, Position{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, sawErr := 0, false
	for m, err := range resp.Messages(ctx) {
		if err != nil {
			sawErr = true
			if !errors.Is(err, context.Canceled) {
				t.Errorf("err = %v, want context.Canceled", err)
			}
			break
		}
		if m.Position == 10 {
			for len(r.pages) > 0 { // the goroutine takes every free page, then waits
				runtime.Gosched()
			}
			cancel()
		}
		n++
	}
	if !sawErr {
		t.Fatalf("Messages ended with no error after %d of %d messages", n, len(want))
	}
}

// A Next from another position than the one requested ahead does not wait
// for that request's answer.
func TestReadAheadOtherPositionDoesNotWait(t *testing.T) {
	t.Parallel()
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Query().Get("offset") == "-1" {
			reply(w, 200, "a", false, false, `[1]`)
			return
		}
		<-r.Context().Done() // the next chunk never comes
	})
	r := newReader(t, fs.URL, Options{})
	first := next(t, r, Position{})
	assertMessages(t, messages(t, first), []string{"1"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound, not a wait
	defer cancel()
	again, err := r.Next(ctx, Position{Offset: "-1"}) // back to the checkpoint
	if err != nil {
		t.Fatalf("Next from the checkpoint: %v", err)
	}
	assertMessages(t, messages(t, again), []string{"1"})
}

// A response requested ahead that failed because the ctx of the Messages
// that started the read-ahead ended is not the caller's failure: Next asks
// for the offset itself, without a retry.
func TestReadAheadOwnCtxEndingIsNotNexts(t *testing.T) {
	t.Parallel()
	var held atomic.Bool
	asked := make(chan struct{})
	fs := newFake(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		if r.URL.Query().Get("offset") == "-1" {
			reply(w, 200, "a", false, false, `[1]`)
			return
		}
		if !held.Swap(true) {
			close(asked)
			<-r.Context().Done() // the request made ahead hangs until cancelled
			return
		}
		reply(w, 200, "b", true, false, `[2]`)
	})
	retries := 0
	r := newReader(t, fs.URL, fastRetry(Options{OnRetry: func(int, time.Duration, error) { retries++ }}))
	first := next(t, r, Position{})
	ctx, cancel := context.WithCancel(context.Background())
	for _, err := range first.Messages(ctx) {
		if err != nil {
			t.Fatal(err)
		}
	}
	<-asked
	cancel() // a per-response ctx, say
	second := next(t, r, Position{Offset: first.NextOffset})
	assertMessages(t, messages(t, second), []string{"2"})
	if retries != 0 {
		t.Errorf("%d retries: the read-ahead's cancelled request was taken for Next's", retries)
	}
}

// closed reports whether ch, which holds no value, is closed.
func closed[T any](ch chan T) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// recording is a Prepared that keeps what it was given: each raw message,
// and what its scan says of the members (nil: no scan).
type recording struct {
	raws   []string
	scans  [][]string
	resets *atomic.Int32
}

func (p *recording) Add(raw []byte, scan *jsonscan.Result) {
	p.raws = append(p.raws, string(raw))
	p.scans = append(p.scans, members(scan))
}

func (p *recording) Reset() {
	p.raws, p.scans = p.raws[:0], p.scans[:0]
	p.resets.Add(1)
}

// members returns the names and values of a scan's members, nil for none.
func members(scan *jsonscan.Result) []string {
	if scan == nil {
		return nil
	}
	out := []string{}
	for k := range scan.Members {
		out = append(out, string(scan.Name(k)), string(scan.Value(k)))
	}
	return out
}

// With NewPrepared, every message carries what its page's Prepared made of
// it on the read-ahead goroutine: the same bytes, with a scan that describes
// them (the message itself then has none), and pages are reset as they are
// reused.
func TestPreparedOnTheReadAhead(t *testing.T) {
	t.Parallel()
	body, want := bigBody(6000, 300)
	fs := newFake(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Stream-Next-Offset", "9")
		w.Header().Set("Stream-Up-To-Date", "true")
		_, _ = w.Write(body)
	})
	var resets atomic.Int32
	r := newReader(t, fs.URL, Options{NewPrepared: func() Prepared { return &recording{resets: &resets} }})
	resp := next(t, r, Position{})
	n, scanned := 0, 0
	for m, err := range resp.Messages(context.Background()) {
		if err != nil {
			t.Fatal(err)
		}
		p, ok := m.Prepared.(*recording)
		if !ok {
			t.Fatalf("message %d: Prepared = %T", m.Position, m.Prepared)
		}
		if got := p.raws[m.Index]; got != want[m.Position] || string(m.Raw) != got {
			t.Fatalf("message %d: prepared %.30q, want %.30q", m.Position, got, want[m.Position])
		}
		if m.Scan != nil {
			t.Fatalf("message %d carries a scan besides Prepared", m.Position)
		}
		if got := p.scans[m.Index]; got != nil {
			scanned++
			var sc jsonscan.Scanner
			res, _ := sc.Valid([]byte(want[m.Position]))
			if w := members(res); !slices.Equal(got, w) {
				t.Fatalf("message %d: prepared with a scan of members %q, want %q", m.Position, got, w)
			}
		}
		n++
	}
	if n != len(want) || resets.Load() == 0 || scanned == 0 {
		t.Fatalf("%d messages (%d scanned), %d resets; want %d, some, some", n, scanned, resets.Load(), len(want))
	}
}
