package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
)

// pureRead downloads the stream from the beginning to up-to-date with a
// plain HTTP client (gzip negotiated, as syncd's client does) and discards
// the body: the time the server needs to hand out the stream.
func pureRead(ctx context.Context, streamURL string) (time.Duration, int64, error) {
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer client.CloseIdleConnections()
	start := time.Now()
	offset := "-1"
	var total int64
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, streamURL+"?offset="+url.QueryEscape(offset), nil)
		if err != nil {
			return 0, 0, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, 0, err
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if err != nil {
			return 0, 0, err
		}
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
			return 0, 0, fmt.Errorf("GET %s: %s", streamURL, resp.Status)
		}
		total += n
		next := resp.Header.Get("Stream-Next-Offset")
		if strings.EqualFold(resp.Header.Get("Stream-Up-To-Date"), "true") || next == "" || next == offset {
			return time.Since(start), total, nil
		}
		offset = next
	}
}

// readSplit reads the stream to up-to-date through syncd's consumer, which
// splits the body into messages, and discards them.
func readSplit(ctx context.Context, streamURL string, want int) (time.Duration, error) {
	client := &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}
	defer client.CloseIdleConnections()
	r, err := consumer.NewReader(streamURL, consumer.Options{HTTPClient: client})
	if err != nil {
		return 0, fmt.Errorf("read+split: %w", err)
	}
	defer r.Close()
	start := time.Now()
	pos, messages := consumer.Position{Offset: "-1"}, 0
	for !pos.UpToDate {
		resp, err := r.Next(ctx, pos)
		if err != nil {
			return 0, fmt.Errorf("read+split: %w", err)
		}
		n, ok := count(ctx, resp)
		if !ok {
			continue // broken: read it again
		}
		messages += n
		pos = consumer.Position{Offset: resp.NextOffset, Cursor: resp.Cursor, UpToDate: resp.UpToDate}
	}
	d := time.Since(start)
	if messages != want {
		return 0, fmt.Errorf("read+split: %d messages, want %d", messages, want)
	}
	return d, nil
}

// count counts a response's messages; ok is false if it broke.
func count(ctx context.Context, resp *consumer.Response) (n int, ok bool) {
	for _, err := range resp.Messages(ctx) {
		if err != nil {
			return 0, false
		}
		n++
	}
	return n, true
}
