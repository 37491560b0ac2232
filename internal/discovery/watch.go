package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/state"
)

// Entry is one stream of the registry.
type Entry struct {
	Path        string
	ContentType string
}

// JSON reports whether the stream is in JSON mode, the only one syncd reads.
func (e Entry) JSON() bool {
	ct := strings.ToLower(strings.TrimSpace(e.ContentType))
	return ct == "application/json" || strings.HasPrefix(ct, "application/json;")
}

// Change is one registry change: Entry appeared, or (Deleted) went away.
type Change struct {
	Entry
	Deleted bool
}

// absentRetry is how often a registry that does not exist yet is polled (the
// reference server creates it with the first stream).
const absentRetry = time.Second

// Watch tails the registry stream at registryURL until ctx ends and calls
// fn with the changes of each response, after the response was read whole
// (a broken response reports nothing). The first calls replay the registry
// from its beginning. Transient failures are retried by the reader; a
// missing registry (404) is polled until it appears; other errors are
// logged and retried after a pause. Watch returns ctx's error.
func Watch(ctx context.Context, registryURL string, opts consumer.Options, log *slog.Logger, fn func([]Change)) error {
	r, err := consumer.NewReader(registryURL, opts)
	if err != nil {
		return err
	}
	defer r.Close()
	w := &watcher{fn: fn, known: map[string]Entry{}}
	pos := consumer.Position{Offset: "-1"}
	absentLogged := false
	for {
		resp, err := r.Next(ctx, pos)
		if err == nil {
			if !w.read(ctx, resp) {
				continue // broken: read it again
			}
			pos = consumer.Position{Offset: resp.NextOffset, Cursor: resp.Cursor, UpToDate: resp.UpToDate}
			if !resp.Closed {
				continue
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		delay := absentRetry
		switch {
		case errors.Is(err, consumer.ErrNotFound):
			if !absentLogged {
				log.Info("registry stream not found yet; waiting for it (the server must run with its registry enabled)", "url", registryURL)
				absentLogged = true
			}
		case err == nil:
			log.Warn("registry stream closed by its writer; no further streams will be discovered", "url", registryURL)
			<-ctx.Done()
			return ctx.Err()
		default:
			log.Warn("registry stream failed; retrying", "url", registryURL, "err", err)
			delay = 5 * time.Second
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// watcher keeps the registry's state and turns each response into changes.
type watcher struct {
	fn        func([]Change)
	known     map[string]Entry  // the registry's state at the reader's position
	pending   map[string]*Entry // this response's changes; nil means deleted
	resetSeen bool              // this response reset the registry
}

// read applies one response: it reports its changes to fn and returns true
// once the response was read whole, or false (reporting nothing) if it broke.
func (w *watcher) read(ctx context.Context, resp *consumer.Response) bool {
	w.pending, w.resetSeen = map[string]*Entry{}, false
	for m, err := range resp.Messages(ctx) {
		if err != nil {
			w.pending, w.resetSeen = nil, false
			return false
		}
		w.message(m)
	}
	w.end()
	return true
}

func (w *watcher) message(m consumer.Message) {
	raw := m.Raw
	var s string
	if json.Unmarshal(raw, &s) == nil { // a JSON text appended as a string
		raw = []byte(s)
	}
	ev := state.Decode(raw)
	switch {
	case ev.Kind == state.KindControl && ev.Control == state.Reset:
		w.pending, w.resetSeen = map[string]*Entry{}, true
	case ev.Kind == state.KindChange && ev.Change.Type == "stream":
		c := ev.Change
		if c.Op == state.Delete {
			w.pending[c.Key] = nil
			return
		}
		var v struct {
			Path        string `json:"path"`
			ContentType string `json:"contentType"`
		}
		_ = json.Unmarshal(c.Value, &v)
		if v.Path == "" {
			v.Path = c.Key
		}
		w.pending[c.Key] = &Entry{Path: strings.TrimPrefix(v.Path, "/v1/stream/"), ContentType: v.ContentType}
	}
}

// end merges the response's changes into known and reports them.
func (w *watcher) end() {
	var out []Change
	if w.resetSeen {
		for k, e := range w.known {
			if _, ok := w.pending[k]; !ok {
				out = append(out, Change{Entry: e, Deleted: true})
				delete(w.known, k)
			}
		}
	}
	for k, e := range w.pending {
		old, had := w.known[k]
		switch {
		case e == nil && had:
			delete(w.known, k)
			out = append(out, Change{Entry: old, Deleted: true})
		case e != nil && (!had || old != *e):
			w.known[k] = *e
			out = append(out, Change{Entry: *e})
		}
	}
	w.pending = nil
	if len(out) > 0 {
		w.fn(out)
	}
}
