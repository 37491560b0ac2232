package discovery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
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
	w := &watcher{fn: fn, known: map[string]Entry{}, pos: consumer.Position{Offset: "-1"}}
	absentLogged := false
	for {
		err := consumer.Follow(ctx, registryURL, w, opts)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		delay := absentRetry
		var se *consumer.StatusError
		switch {
		case errors.As(err, &se) && se.Status == http.StatusNotFound:
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

// watcher is the consumer.Handler of the registry stream.
type watcher struct {
	fn        func([]Change)
	pos       consumer.Position
	known     map[string]Entry  // the registry's state at pos
	pending   map[string]*Entry // this response's changes; nil means deleted
	resetSeen bool              // this response reset the registry
}

func (w *watcher) Position() consumer.Position { return w.pos }

func (w *watcher) Begin(consumer.Response) error {
	w.pending, w.resetSeen = map[string]*Entry{}, false
	return nil
}

func (w *watcher) Message(m consumer.Message) error {
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
			return nil
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
	return nil
}

func (w *watcher) End(r consumer.Response) error {
	w.pos = consumer.Position{Offset: r.NextOffset, Cursor: r.Cursor, UpToDate: r.UpToDate}
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
	return nil
}

func (w *watcher) Abort(error) { w.pending, w.resetSeen = nil, false }
