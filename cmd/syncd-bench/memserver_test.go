package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
)

// The memory source cuts a catch-up into responses of at most -chunk bytes
// with Stream-Up-To-Date on the last only, and syncd's consumer reads every
// message through it; at the tail it answers long-poll with 204 and SSE
// with an up-to-date control event.
func TestMemSourceSpeaksTheReadSide(t *testing.T) {
	t.Parallel()
	w, err := genW1(5000, 500, 7)
	if err != nil {
		t.Fatal(err)
	}
	for _, gz := range []bool{false, true} {
		m, err := startMem([]*workload{w}, 64<<10, gz, 50*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		url := m.StreamURL(w.name)
		offset, responses := "-1", 0
		for {
			resp, err := http.Get(url + "?offset=" + offset)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if len(body) > 64<<10 {
				t.Fatalf("response of %d bytes, want ≤ 64 KiB", len(body))
			}
			responses++
			offset = resp.Header.Get("Stream-Next-Offset")
			if resp.Header.Get("Stream-Up-To-Date") == "true" {
				break
			}
		}
		if responses < 10 || offset != memOffset(w.events) {
			t.Fatalf("gzip %v: catch-up in %d responses ending at %q; want many, ending at %q", gz, responses, offset, memOffset(w.events))
		}
		if _, err := readSplit(context.Background(), url, w.events); err != nil {
			t.Fatalf("gzip %v: %v", gz, err)
		}
		resp, err := http.Get(url + "?live=long-poll&offset=" + offset)
		if err != nil || resp.StatusCode != http.StatusNoContent || resp.Header.Get("Stream-Up-To-Date") != "true" {
			t.Fatalf("long-poll at the tail: %v %v", resp, err)
		}
		resp.Body.Close()
		r, err := consumer.NewReader(url, consumer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := r.Next(context.Background(), consumer.Position{Offset: offset, UpToDate: true})
		if err != nil || !got.Live || !got.UpToDate || got.NextOffset != offset {
			t.Fatalf("SSE at the tail: %+v %v", got, err)
		}
		for _, err := range got.Messages(context.Background()) {
			if err != nil && !strings.Contains(err.Error(), "context") {
				t.Fatal(err)
			}
		}
		_ = r.Close()
		shutdownMem(context.Background(), m)
	}
}
