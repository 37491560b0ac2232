package consumer

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

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
	body, want := bigBody(6000, 300) // ~2 MB: several times all the pages
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
	if n := len(r.pages); n != readAheadPages {
		t.Errorf("%d pages back after the responses, want %d", n, readAheadPages)
	}
}

// A caller that stops early stops the goroutine splitting ahead (goleak
// checks that none is left) and drops the connection; the next read works.
func TestReadAheadStopsWithTheCaller(t *testing.T) {
	t.Parallel()
	body, want := bigBody(6000, 300)
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
	body, want := bigBody(6000, 300)
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
