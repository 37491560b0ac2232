package consumer

import (
	"context"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"

	"github.com/syncd-io/syncd/internal/dstest"
)

// wireRecorder wraps a Transport and records, per request, the
// Accept-Encoding written on the wire (the Transport adds gzip itself, so the
// request header alone would not show it) and how the body came back: gzip
// decoded by the Transport, or the server's Content-Encoding.
type wireRecorder struct {
	mu       sync.Mutex
	accepted []string
	answered []string
	next     *http.Transport
}

func (w *wireRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var accept []string
	trace := &httptrace.ClientTrace{WroteHeaderField: func(k string, v []string) {
		if strings.EqualFold(k, "Accept-Encoding") {
			accept = append(accept, v...)
		}
	}}
	resp, err := w.next.RoundTrip(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
	if err != nil {
		return nil, err
	}
	answer := resp.Header.Get("Content-Encoding")
	if resp.Uncompressed {
		answer = "gzip (decoded)"
	}
	w.mu.Lock()
	w.accepted = append(w.accepted, strings.Join(accept, ","))
	w.answered = append(w.answered, answer)
	w.mu.Unlock()
	return resp, nil
}

// testCompression reads a catch-up from the reference server with each
// Compression setting: gzip (and the default) must ask for gzip, get a gzip
// body and deliver the messages decoded; none must send Accept-Encoding:
// identity and get an unencoded body with the same messages.
func testCompression(t *testing.T, srv *dstest.Server) {
	stream := "compression"
	createStream(t, srv, stream)
	want := numbered(0, 50, 200) // large enough for the server to compress
	appendMsgs(t, srv, stream, want...)
	for _, tc := range []struct {
		c              Compression
		accept, answer string
	}{{"", "gzip", "gzip (decoded)"}, {Gzip, "gzip", "gzip (decoded)"}, {None, "identity", ""}} {
		rec := &wireRecorder{next: NewTransport()}
		client := &http.Client{Transport: rec}
		r := newReader(t, srv.StreamURL(stream), Options{HTTPClient: client, Compression: tc.c})
		resp, err := r.Next(context.Background(), Position{Offset: "-1"})
		if err != nil {
			t.Fatal(err)
		}
		assertMessages(t, messages(t, resp), want)
		rec.mu.Lock()
		if len(rec.accepted) != 1 || rec.accepted[0] != tc.accept || rec.answered[0] != tc.answer {
			t.Errorf("Compression %q: sent Accept-Encoding %q, body %q; want %q and %q", tc.c, rec.accepted, rec.answered, tc.accept, tc.answer)
		}
		rec.mu.Unlock()
		_ = r.Close()
		rec.next.CloseIdleConnections()
	}
}

func TestCompressionRejectsUnknown(t *testing.T) {
	t.Parallel()
	if _, err := NewReader("http://127.0.0.1:1/s", Options{Compression: "br"}); err == nil || !strings.Contains(err.Error(), "compression") {
		t.Fatalf("NewReader with Compression br = %v, want an error naming compression", err)
	}
}
