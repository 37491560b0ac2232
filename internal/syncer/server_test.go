package syncer

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// streamServer serves one stream over the read side of the protocol from
// messages held in memory: catch-ups split into responses of at most chunk
// messages with Stream-Up-To-Date only on the last (PROTOCOL.md 5.6, which
// the reference server never does), and long-polls at the tail. Offsets are
// the 16-digit count of messages before them. Faults are armed per offset.
type streamServer struct {
	t     *testing.T
	srv   *httptest.Server
	chunk int

	mu       sync.Mutex
	msgs     [][]byte
	closed   bool
	missing  bool           // answer 404
	refuse   bool           // answer 401
	gone     map[string]int // offset → how many more 410s
	broken   map[string]int // offset → how many more truncated bodies
	failures map[string]int // offset → how many more 503s
	appended chan struct{}  // closed and replaced on every append
	requests int            // requests answered
}

func newStreamServer(t *testing.T, msgs [][]byte, chunk int) *streamServer {
	t.Helper()
	s := &streamServer{t: t, chunk: chunk, msgs: msgs, gone: map[string]int{}, broken: map[string]int{},
		failures: map[string]int{}, appended: make(chan struct{})}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// recorded reads testdata/stream.jsonl: one message per line, # comments.
func recorded(t *testing.T) [][]byte {
	t.Helper()
	f, err := os.Open("testdata/stream.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 && line[0] != '#' {
			out = append(out, bytes.Clone(line))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func (s *streamServer) url() string { return s.srv.URL + "/v1/stream/rec" }

func offset(i int) string { return fmt.Sprintf("%016d", i) }

// append adds messages at the tail and wakes long-polls.
func (s *streamServer) append(msgs ...[]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.msgs = append(s.msgs, msgs...)
	close(s.appended)
	s.appended = make(chan struct{})
}

// set changes the server's state under its lock.
func (s *streamServer) set(f func(s *streamServer)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

func (s *streamServer) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	off := q.Get("offset")
	s.mu.Lock()
	s.requests++
	if s.missing {
		s.mu.Unlock()
		http.Error(w, "no such stream", http.StatusNotFound)
		return
	}
	if s.refuse {
		s.mu.Unlock()
		http.Error(w, "bad token", http.StatusUnauthorized)
		return
	}
	if take(s.gone, off) {
		s.mu.Unlock()
		http.Error(w, "offset before retention", http.StatusGone)
		return
	}
	if take(s.failures, off) {
		s.mu.Unlock()
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	start := 0
	if off != "-1" {
		n, err := strconv.Atoi(off)
		if err != nil || n > len(s.msgs) {
			s.mu.Unlock()
			http.Error(w, "bad offset", http.StatusBadRequest)
			return
		}
		start = n
	}
	if q.Get("live") == "long-poll" && start == len(s.msgs) && !s.closed {
		wake := s.appended
		s.mu.Unlock()
		select {
		case <-wake:
		case <-time.After(50 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		s.mu.Lock()
	}
	end := min(start+s.chunk, len(s.msgs))
	body := "[" + string(bytes.Join(s.msgs[start:end], []byte(","))) + "]"
	broken := take(s.broken, off) && end > start
	upToDate, closed := end == len(s.msgs), s.closed && end == len(s.msgs)
	s.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Stream-Next-Offset", offset(end))
	h.Set("Stream-Cursor", "c"+offset(end))
	if upToDate {
		h.Set("Stream-Up-To-Date", "true")
	}
	if closed {
		h.Set("Stream-Closed", "true")
	}
	if q.Get("live") == "long-poll" && end == start && !closed {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if broken {
		body = strings.TrimSuffix(body, "]")[:len(body)/2] // a truncated array
	}
	_, _ = w.Write([]byte(body))
}

// take consumes one armed fault of m at key.
func take(m map[string]int, key string) bool {
	if m[key] <= 0 {
		return false
	}
	m[key]--
	return true
}
