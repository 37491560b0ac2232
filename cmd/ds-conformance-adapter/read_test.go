package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

// readResult is what the tests look at in a read result.
type readResult struct {
	Success   bool   `json:"success"`
	ErrorCode string `json:"errorCode"`
	Offset    string `json:"offset"`
	UpToDate  bool   `json:"upToDate"`
	Chunks    []struct {
		Data string `json:"data"`
	} `json:"chunks"`
}

// TestRead drives the adapter's read command, which pulls from
// consumer.Reader, against the reference server: a catch-up read, live reads
// in both modes that stop at up-to-date, and the error codes of a missing
// stream and a bad offset.
func TestRead(t *testing.T) {
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: 500 * time.Millisecond})
	ctx := context.Background()
	if err := srv.Create(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	tail, err := srv.Append(ctx, "s", map[string]any{"n": 1}, map[string]any{"n": 2})
	if err != nil {
		t.Fatal(err)
	}
	cmds := []string{
		`{"type":"init","serverUrl":"` + srv.URL + `"}`,
		`{"type":"read","path":"/v1/stream/s","offset":"-1","live":false}`,
		`{"type":"read","path":"/v1/stream/s","offset":"-1","live":"long-poll","waitForUpToDate":true}`,
		`{"type":"read","path":"/v1/stream/s","offset":"-1","live":"sse","waitForUpToDate":true}`,
		`{"type":"read","path":"/v1/stream/nope","offset":"-1","live":false}`,
		`{"type":"read","path":"/v1/stream/s","offset":"not an offset","live":false}`,
	}
	var out bytes.Buffer
	a := &adapter{client: &http.Client{}, contentTypes: map[string]string{}}
	t.Cleanup(a.client.CloseIdleConnections)
	if err := a.serve(ctx, strings.NewReader(strings.Join(cmds, "\n")), &out); err != nil {
		t.Fatal(err)
	}
	var results []readResult
	for line := range strings.Lines(out.String()) {
		var r readResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("result %q: %v", line, err)
		}
		results = append(results, r)
	}
	if len(results) != len(cmds) {
		t.Fatalf("%d results for %d commands:\n%s", len(results), len(cmds), out.String())
	}
	for i, mode := range []string{"catch-up", "long-poll", "sse"} {
		r := results[1+i]
		if !r.Success || !r.UpToDate || r.Offset != tail || len(r.Chunks) != 1 || r.Chunks[0].Data != `[{"n":1},{"n":2}]` {
			t.Errorf("%s read = %+v, want one chunk of both messages, up to date at %q", mode, r, tail)
		}
	}
	if r := results[4]; r.Success || r.ErrorCode != "NOT_FOUND" {
		t.Errorf("read of a missing stream = %+v, want NOT_FOUND", r)
	}
	if r := results[5]; r.Success || r.ErrorCode != "INVALID_OFFSET" {
		t.Errorf("read at a bad offset = %+v, want INVALID_OFFSET", r)
	}
}
