package main

import (
	"context"
	"errors"
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

// errUpToDate stops the read+split handler at the first up-to-date response.
var errUpToDate = errors.New("up to date")

// countHandler is a consumer.Handler that only counts messages.
type countHandler struct {
	pos      consumer.Position
	messages int
	bytes    int64
}

func (h *countHandler) Position() consumer.Position      { return h.pos }
func (h *countHandler) Begin(consumer.Response) error    { return nil }
func (h *countHandler) Message(m consumer.Message) error { h.messages++; return nil }
func (h *countHandler) Abort(error)                      { h.messages = 0 }
func (h *countHandler) End(r consumer.Response) error {
	h.pos = consumer.Position{Offset: r.NextOffset, Cursor: r.Cursor, UpToDate: r.UpToDate}
	h.bytes += r.Bytes
	if r.UpToDate {
		return errUpToDate
	}
	return nil
}

// readSplit reads the stream to up-to-date through syncd's consumer, which
// splits the body into messages, and discards them.
func readSplit(ctx context.Context, streamURL string, want int) (time.Duration, error) {
	h := &countHandler{pos: consumer.Position{Offset: "-1"}}
	start := time.Now()
	err := consumer.Follow(ctx, streamURL, h, consumer.Options{HTTPClient: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()}})
	d := time.Since(start)
	if !errors.Is(err, errUpToDate) {
		return 0, fmt.Errorf("read+split: %v", err)
	}
	if h.messages != want {
		return 0, fmt.Errorf("read+split: %d messages, want %d", h.messages, want)
	}
	return d, nil
}
