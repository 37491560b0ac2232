// Package dstest runs the pinned Durable Streams reference server
// (npm @durable-streams/server, locked in tools/dsserver) for tests, the demo and
// benchmarks, and offers small helpers to create, append to, close and delete
// streams and to inject faults through the server's built-in /_test/inject-error.
//
// The server is a real Node process on a free loopback port; nothing is mocked.
package dstest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a reference server process.
type Options struct {
	// DataDir makes the server file-backed, so it keeps its streams across Restart.
	DataDir string
	// LongPollTimeout is the server's long-poll timeout and SSE keep-alive
	// interval; zero means 30 s (the server's default).
	LongPollTimeout time.Duration
	// Registry enables the __registry__ stream of stream lifecycle events.
	Registry bool
	// Port pins the listening port; zero picks a free one.
	Port int
}

// Server is one running reference server process.
type Server struct {
	URL  string
	opts Options

	mu    sync.Mutex
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// Dir returns the folder holding the pinned server (package.json, lockfile,
// server.mjs), found relative to this source file.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "tools", "dsserver")
}

// Start launches a server and returns once it accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	s := &Server{opts: opts}
	if err := s.start(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// StartT launches a server for a test and stops it when the test ends.
func StartT(t testing.TB, opts Options) *Server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start reference server: %v", err)
	}
	t.Cleanup(func() { _ = s.Stop() })
	return s
}

func (s *Server) start(ctx context.Context) error {
	dir := Dir()
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@durable-streams", "server")); err != nil {
		return fmt.Errorf("reference server not installed in %s: run `npm ci --prefix tools/dsserver` (or `make deps`)", dir)
	}
	args := []string{"server.mjs", "--port", strconv.Itoa(s.opts.Port)}
	if s.opts.DataDir != "" {
		args = append(args, "--data-dir", s.opts.DataDir)
	}
	if s.opts.LongPollTimeout > 0 {
		args = append(args, "--long-poll-timeout-ms", strconv.FormatInt(s.opts.LongPollTimeout.Milliseconds(), 10))
	}
	if s.opts.Registry {
		args = append(args, "--registry")
	}
	cmd := exec.Command("node", args...)
	cmd.Dir = dir
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node: %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()

	type started struct {
		URL string `json:"url"`
	}
	lines := make(chan string, 1)
	go func() {
		// The file-backed store logs to stdout before the server prints its
		// URL: pass on the first line that looks like the URL object.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if line := sc.Text(); strings.HasPrefix(line, "{") {
				lines <- line
				break
			}
		}
		close(lines)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case line, ok := <-lines:
		var st started
		if !ok || json.Unmarshal([]byte(line), &st) != nil || st.URL == "" {
			_ = cmd.Process.Kill()
			return fmt.Errorf("reference server printed %q instead of its URL", line)
		}
		s.mu.Lock()
		s.URL, s.cmd, s.stdin, s.done = st.URL, cmd, stdin, done
		if s.opts.Port == 0 {
			// Pin the port so Restart comes back on the same address.
			if i := strings.LastIndex(st.URL, ":"); i >= 0 {
				s.opts.Port, _ = strconv.Atoi(st.URL[i+1:])
			}
		}
		s.mu.Unlock()
		return nil
	case <-done:
		return errors.New("reference server exited before printing its URL")
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return ctx.Err()
	}
}

// Stop stops the server gracefully (closing its stdin) and waits for it.
func (s *Server) Stop() error {
	s.mu.Lock()
	cmd, stdin, done := s.cmd, s.stdin, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	_ = stdin.Close()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
	return nil
}

// Kill stops the server abruptly (SIGKILL), as a crash would.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-done
	}
}

// Restart stops the server and starts it again on the same port (and data
// directory, if any).
func (s *Server) Restart(ctx context.Context) error {
	if err := s.Stop(); err != nil {
		return err
	}
	var err error
	for attempt := 0; attempt < 50; attempt++ {
		if err = s.start(ctx); err == nil {
			return nil
		}
		select { // the port may linger briefly after the old process exits
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return err
}

// StreamURL returns the URL of the stream named name (under /v1/stream/).
func (s *Server) StreamURL(name string) string {
	return s.URL + "/v1/stream/" + name
}

// Create creates a JSON-mode stream (idempotent on the reference server).
func (s *Server) Create(ctx context.Context, name string) error {
	_, err := s.do(ctx, http.MethodPut, s.StreamURL(name), nil, nil, http.StatusCreated, http.StatusOK)
	return err
}

// Append posts messages (each a JSON value) as one JSON array and returns the
// stream's next offset after the append.
func (s *Server) Append(ctx context.Context, name string, msgs ...any) (string, error) {
	raw := make([]json.RawMessage, len(msgs))
	for i, m := range msgs {
		b, err := toJSON(m)
		if err != nil {
			return "", err
		}
		raw[i] = b
	}
	body, err := json.Marshal(raw)
	if err != nil {
		return "", err
	}
	h, err := s.do(ctx, http.MethodPost, s.StreamURL(name), body, nil, http.StatusOK, http.StatusNoContent)
	if err != nil {
		return "", err
	}
	return h.Get("Stream-Next-Offset"), nil
}

// AppendRaw posts body as is (it must be a JSON array for a JSON stream).
func (s *Server) AppendRaw(ctx context.Context, name string, body []byte) (string, error) {
	h, err := s.do(ctx, http.MethodPost, s.StreamURL(name), body, nil, http.StatusOK, http.StatusNoContent)
	if err != nil {
		return "", err
	}
	return h.Get("Stream-Next-Offset"), nil
}

// CloseStream marks the stream closed (EOF for readers).
func (s *Server) CloseStream(ctx context.Context, name string) error {
	_, err := s.do(ctx, http.MethodPost, s.StreamURL(name), nil, map[string]string{"Stream-Closed": "true"}, http.StatusOK, http.StatusNoContent)
	return err
}

// Delete deletes the stream.
func (s *Server) Delete(ctx context.Context, name string) error {
	_, err := s.do(ctx, http.MethodDelete, s.StreamURL(name), nil, nil, http.StatusOK, http.StatusNoContent)
	return err
}

// Tail returns the stream's current next offset (HEAD).
func (s *Server) Tail(ctx context.Context, name string) (string, error) {
	h, err := s.do(ctx, http.MethodHead, s.StreamURL(name), nil, nil, http.StatusOK)
	if err != nil {
		return "", err
	}
	return h.Get("Stream-Next-Offset"), nil
}

// Fault is the JSON body of the reference server's /_test/inject-error; zero
// fields are omitted. Path is the stream's path (e.g. /v1/stream/chat).
type Fault struct {
	Path              string    `json:"path"`
	Status            int       `json:"status,omitempty"`
	Count             int       `json:"count,omitempty"`
	RetryAfter        int       `json:"retryAfter,omitempty"`
	DelayMs           int       `json:"delayMs,omitempty"`
	JitterMs          int       `json:"jitterMs,omitempty"`
	DropConnection    bool      `json:"dropConnection,omitempty"`
	TruncateBodyBytes int       `json:"truncateBodyBytes,omitempty"`
	CorruptBody       bool      `json:"corruptBody,omitempty"`
	Probability       float64   `json:"probability,omitempty"`
	Method            string    `json:"method,omitempty"`
	InjectSSEEvent    *SSEEvent `json:"injectSseEvent,omitempty"`
}

// SSEEvent is an SSE event the server injects into a live SSE response.
type SSEEvent struct {
	EventType string `json:"eventType"`
	Data      string `json:"data"`
}

// Inject installs a fault.
func (s *Server) Inject(ctx context.Context, f Fault) error {
	body, err := json.Marshal(f)
	if err != nil {
		return err
	}
	_, err = s.do(ctx, http.MethodPost, s.URL+"/_test/inject-error", body, nil, http.StatusOK, http.StatusNoContent, http.StatusCreated)
	return err
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults(ctx context.Context) error {
	_, err := s.do(ctx, http.MethodDelete, s.URL+"/_test/inject-error", nil, nil, http.StatusOK, http.StatusNoContent)
	return err
}

func (s *Server) do(ctx context.Context, method, url string, body []byte, hdr map[string]string, ok ...int) (http.Header, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return nil, err
	}
	if method == http.MethodPut || method == http.MethodPost {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := writeClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	for _, code := range ok {
		if resp.StatusCode == code {
			return resp.Header, nil
		}
	}
	return nil, fmt.Errorf("%s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(msg))
}

// writeClient opens a fresh connection per request. The reference server
// closes idle keep-alive connections after 5 s; a POST sent on one at that
// moment fails with "connection reset" and, not being idempotent, is not
// retried by Go, which would make tests flaky.
var writeClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

func toJSON(m any) ([]byte, error) {
	switch v := m.(type) {
	case json.RawMessage:
		return v, nil
	case []byte:
		return v, nil
	case string:
		return []byte(v), nil
	default:
		return json.Marshal(v)
	}
}
