// Command ds-conformance-adapter lets the official Durable Streams client
// conformance suite (packages/client-conformance-tests in
// durable-streams/durable-streams) drive syncd's own reader. It speaks the
// suite's JSON-lines adapter protocol on stdin/stdout: one command per line
// in, one result per line out.
//
// Reads go through internal/consumer (Reader and Head), exactly as syncd
// reads. Writes (create, append, close, delete) are plain HTTP requests: they
// only set up what the reads are tested against. syncd reads JSON-mode
// streams only, so a read of a stream in another mode answers NOT_SUPPORTED,
// and so do the producer-only commands.
//
// Usage (from the suite's folder):
//
//	npx tsx src/cli.ts --run /path/to/ds-conformance-adapter --consumer --verbose
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
)

// command is the union of the protocol's commands; fields unused by a
// command are zero.
type command struct {
	Type        string            `json:"type"`
	ServerURL   string            `json:"serverUrl"`
	Path        string            `json:"path"`
	ContentType string            `json:"contentType"`
	TTLSeconds  *int              `json:"ttlSeconds"`
	ExpiresAt   string            `json:"expiresAt"`
	Headers     map[string]string `json:"headers"`
	Closed      bool              `json:"closed"`
	Data        *string           `json:"data"`
	Binary      bool              `json:"binary"`
	Seq         *int64            `json:"seq"`
	Offset      string            `json:"offset"`
	Live        json.RawMessage   `json:"live"`
	TimeoutMs   int               `json:"timeoutMs"`
	MaxChunks   int               `json:"maxChunks"`
	WaitForUTD  bool              `json:"waitForUpToDate"`
}

// errorResult is the protocol's ErrorResult.
type errorResult struct {
	Type        string `json:"type"`
	Success     bool   `json:"success"`
	CommandType string `json:"commandType"`
	Status      int    `json:"status,omitempty"`
	ErrorCode   string `json:"errorCode"`
	Message     string `json:"message"`
}

func fail(cmd, code string, status int, format string, args ...any) errorResult {
	return errorResult{Type: "error", CommandType: cmd, Status: status, ErrorCode: code, Message: fmt.Sprintf(format, args...)}
}

// adapter holds the state across commands: the server and the content type
// of each stream it created or looked at.
type adapter struct {
	server string
	client *http.Client

	mu           sync.Mutex
	contentTypes map[string]string
}

func main() {
	a := &adapter{client: &http.Client{}, contentTypes: map[string]string{}}
	if err := a.serve(context.Background(), os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "ds-conformance-adapter:", err)
		os.Exit(1)
	}
}

// serve answers commands until shutdown or the end of input.
func (a *adapter) serve(ctx context.Context, in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var cmd command
		var result any
		if err := json.Unmarshal([]byte(line), &cmd); err != nil {
			result = fail("unknown", "INTERNAL_ERROR", 0, "bad command line: %v", err)
		} else {
			result = a.handle(ctx, cmd)
		}
		if err := enc.Encode(result); err != nil {
			return err
		}
		if cmd.Type == "shutdown" {
			return nil
		}
	}
	return sc.Err()
}

func (a *adapter) handle(ctx context.Context, cmd command) any {
	switch cmd.Type {
	case "init":
		a.server = strings.TrimRight(cmd.ServerURL, "/")
		a.mu.Lock()
		clear(a.contentTypes)
		a.mu.Unlock()
		return map[string]any{
			"type": "init", "success": true, "clientName": "syncd-consumer", "clientVersion": "dev",
			"features": map[string]bool{"sse": true, "longPoll": true, "auto": true, "streaming": true},
		}
	case "create":
		return a.create(ctx, cmd)
	case "connect":
		return a.connect(ctx, cmd)
	case "append":
		return a.append(ctx, cmd)
	case "close":
		return a.close(ctx, cmd)
	case "delete":
		return a.delete(ctx, cmd)
	case "head":
		return a.head(ctx, cmd)
	case "read":
		return a.read(ctx, cmd)
	case "shutdown":
		return map[string]any{"type": "shutdown", "success": true}
	}
	return fail(cmd.Type, "NOT_SUPPORTED", 0, "%s is not supported: this adapter tests syncd's stream reader", cmd.Type)
}

func (a *adapter) url(path string) string { return a.server + path }

func (a *adapter) setContentType(path, ct string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.contentTypes[path] = ct
}

func (a *adapter) contentType(path string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ct, ok := a.contentTypes[path]
	return ct, ok
}
