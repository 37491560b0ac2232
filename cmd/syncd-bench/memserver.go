package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// memServer is the memory-speed source: an in-process HTTP server on
// loopback that speaks the read side of the Durable Streams protocol for
// workloads held in memory, so that a catch-up measures syncd's engine and
// not the server. A catch-up is cut into responses of at most chunk bytes
// (the last response of a backlog carries Stream-Up-To-Date, the others do
// not: PROTOCOL.md 5.6); at the tail it answers long-poll (204 after the
// poll timeout) and SSE (a control event, then keep-alives). Its streams
// never grow: it has no write side.
type memServer struct {
	srv     *http.Server
	ln      net.Listener
	streams map[string]*memStream
	poll    time.Duration
	// latency delays every catch-up response's headers, as a round trip
	// to a server across a network would (-mem-latency).
	latency time.Duration
}

// memStream is one workload as the server hands it out.
type memStream struct {
	msgs   [][]byte       // every message, in order
	chunks map[int]*chunk // precomputed catch-up responses by first message
}

// chunk is one catch-up response: the JSON array of msgs[from:to], and the
// same body gzip-compressed when the server compresses.
type chunk struct {
	from, to int
	body, gz []byte
}

// memOffset is the offset before message i: fixed width, so offsets order
// as strings do, as the protocol wants.
func memOffset(i int) string { return fmt.Sprintf("%016d", i) }

// startMem serves the workloads under /v1/stream/NAME with catch-up
// responses of at most chunk bytes (at least one message each), gzip-encoded
// for clients that ask when gz is set.
func startMem(ws []*workload, chunkBytes int, gz bool, poll time.Duration) (*memServer, error) {
	m := &memServer{streams: map[string]*memStream{}, poll: poll}
	for _, w := range ws {
		s, err := newMemStream(w, chunkBytes, gz)
		if err != nil {
			return nil, fmt.Errorf("memory source %s: %w", w.name, err)
		}
		m.streams[w.name] = s
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	m.ln = ln
	m.srv = &http.Server{Handler: m, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = m.srv.Serve(ln) }()
	return m, nil
}

// StreamURL is the URL of a workload's stream.
func (m *memServer) StreamURL(name string) string {
	return "http://" + m.ln.Addr().String() + "/v1/stream/" + name
}

// Close stops the server and its open connections.
func (m *memServer) Close() error { return m.srv.Close() }

// newMemStream splits w's POST bodies into messages and precomputes the
// catch-up responses from the start of the stream.
func newMemStream(w *workload, chunkBytes int, gz bool) (*memStream, error) {
	s := &memStream{chunks: map[int]*chunk{}}
	for _, body := range w.posts {
		var msgs []json.RawMessage
		if err := json.Unmarshal(body, &msgs); err != nil {
			return nil, err
		}
		for _, msg := range msgs {
			s.msgs = append(s.msgs, msg)
		}
	}
	for from := 0; from < len(s.msgs); {
		c := s.build(from, chunkBytes)
		if gz {
			var b bytes.Buffer
			zw, _ := gzip.NewWriterLevel(&b, gzip.BestSpeed)
			_, _ = zw.Write(c.body)
			if err := zw.Close(); err != nil {
				return nil, err
			}
			c.gz = b.Bytes()
		}
		s.chunks[from] = c
		from = c.to
	}
	return s, nil
}

// build makes the catch-up response starting at message from.
func (s *memStream) build(from, limit int) *chunk {
	b := []byte{'['}
	to := from
	for to < len(s.msgs) && (to == from || len(b)+len(s.msgs[to])+2 <= limit) {
		if to > from {
			b = append(b, ',')
		}
		b = append(b, s.msgs[to]...)
		to++
	}
	return &chunk{from: from, to: to, body: append(b, ']')}
}

func (m *memServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, "/v1/stream/")
	s := m.streams[name]
	if !ok || s == nil {
		http.Error(w, "stream not found", http.StatusNotFound)
		return
	}
	end := len(s.msgs)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if r.Method == http.MethodHead {
		h.Set("Stream-Next-Offset", memOffset(end))
		return
	}
	if r.Method != http.MethodGet {
		http.Error(w, "read-only memory source", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	from, err := parseMemOffset(q.Get("offset"), end)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cursor := strconv.Itoa(1 + atoiOr(q.Get("cursor"), 0))
	switch q.Get("live") {
	case "":
		m.catchUp(w, r, s, from)
	case "long-poll":
		if from < end {
			h.Set("Stream-Cursor", cursor)
			m.catchUp(w, r, s, from)
			return
		}
		select { // the stream never grows: wait out the poll
		case <-r.Context().Done():
			return
		case <-time.After(m.poll):
		}
		h.Set("Stream-Next-Offset", memOffset(end))
		h.Set("Stream-Up-To-Date", "true")
		h.Set("Stream-Cursor", cursor)
		w.WriteHeader(http.StatusNoContent)
	case "sse":
		m.sse(w, r, s, from, cursor)
	default:
		http.Error(w, "unknown live mode", http.StatusBadRequest)
	}
}

// catchUp writes one response from message from: a precomputed chunk when
// from is where one starts (always, for a reader that follows
// Stream-Next-Offset), else one built now.
func (m *memServer) catchUp(w http.ResponseWriter, r *http.Request, s *memStream, from int) {
	if m.latency > 0 {
		time.Sleep(m.latency)
	}
	c := s.chunks[from]
	if c == nil {
		c = s.build(from, 1<<20)
		if from >= len(s.msgs) {
			c = &chunk{from: from, to: from, body: []byte("[]")}
		}
	}
	h := w.Header()
	h.Set("Stream-Next-Offset", memOffset(c.to))
	if c.to == len(s.msgs) {
		h.Set("Stream-Up-To-Date", "true")
	}
	body := c.body
	if c.gz != nil && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		h.Set("Content-Encoding", "gzip")
		body = c.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
}

// sse sends the messages from from as data events of up to 1 MiB, a
// control event at the tail, then a keep-alive control event every poll
// interval until the client leaves.
func (m *memServer) sse(w http.ResponseWriter, r *http.Request, s *memStream, from int, cursor string) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	f, _ := w.(http.Flusher)
	control := func() {
		fmt.Fprintf(w, "event: control\ndata: {\"streamNextOffset\":%q,\"streamCursor\":%q,\"upToDate\":true}\n\n", memOffset(len(s.msgs)), cursor)
		if f != nil {
			f.Flush()
		}
	}
	for from < len(s.msgs) {
		c := s.build(from, 1<<20)
		_, _ = w.Write([]byte("event: data\ndata: "))
		_, _ = w.Write(c.body)
		_, _ = w.Write([]byte("\n\n"))
		from = c.to
	}
	control()
	t := time.NewTicker(m.poll)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
			control()
		}
	}
}

// parseMemOffset maps a request offset to a message index: -1 is the
// start, now the end, anything else one of our offsets.
func parseMemOffset(s string, end int) (int, error) {
	switch s {
	case "", "-1":
		return 0, nil
	case "now":
		return end, nil
	}
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i > end || len(s) != 16 {
		return 0, fmt.Errorf("offset %q is not one of this stream's", s)
	}
	return i, nil
}

func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}

// shutdownMem closes m if it was started.
func shutdownMem(ctx context.Context, m *memServer) {
	if m != nil {
		_ = m.srv.Shutdown(ctx)
		_ = m.Close()
	}
}
