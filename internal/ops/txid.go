package ops

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
)

// Read-your-writes: an app that wrote an event with headers.txid asks
// GET /v1/txid/{txid}?timeout=5s and gets 200 once a commit that applied it
// is visible in the database, or 408 at the timeout. Waiters are woken by
// this process's commits (TxIDHub, fed by NotifyCommits) and also look in
// syncd_txids once a second, for commits of other replicas.

// Bounds of the timeout query parameter.
const (
	defaultTxIDTimeout = 5 * time.Second
	maxTxIDTimeout     = 5 * time.Minute
)

// txidPollInterval is how often a waiting request looks in syncd_txids (a
// variable for tests).
var txidPollInterval = time.Second

// TxIDStore finds committed and rejected txids, and the streams there are.
type TxIDStore interface {
	LookupTxID(ctx context.Context, txid string) ([]sink.TxIDRow, error)
	RejectedTxID(ctx context.Context, txid string) ([]sink.RejectRow, error)
	Checkpoints(ctx context.Context) ([]sink.Checkpoint, error)
}

// TxIDHub wakes the requests waiting for a txid when this process commits it.
type TxIDHub struct {
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
}

// NewTxIDHub returns an empty hub.
func NewTxIDHub() *TxIDHub {
	return &TxIDHub{waiters: map[string]map[chan struct{}]struct{}{}}
}

// Committed wakes the waiters of each txid, which a commit just applied.
func (h *TxIDHub) Committed(txids []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range txids {
		for ch := range h.waiters[id] {
			close(ch)
		}
		delete(h.waiters, id)
	}
}

// wait returns a channel closed when txid is next committed, and the
// function that stops waiting.
func (h *TxIDHub) wait(txid string) (<-chan struct{}, func()) {
	ch := make(chan struct{})
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.waiters[txid] == nil {
		h.waiters[txid] = map[chan struct{}]struct{}{}
	}
	h.waiters[txid][ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if w := h.waiters[txid]; w != nil {
			delete(w, ch)
			if len(w) == 0 {
				delete(h.waiters, txid)
			}
		}
	}
}

// waiting returns how many requests wait for txid.
func (h *TxIDHub) waiting(txid string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.waiters[txid])
}

// txidCommit is the body of a 200 from /v1/txid/{txid}.
type txidCommit struct {
	Status      string    `json:"status"` // "committed"
	TxID        string    `json:"txid"`
	Stream      string    `json:"stream"`
	Offset      string    `json:"offset"`
	CommittedAt time.Time `json:"committed_at"`
}

// ServeTxIDs adds GET /v1/txid/{txid}?timeout=5s[&stream=NAME] to the
// server. With stream, only a commit of that stream counts.
func (s *Server) ServeTxIDs(store TxIDStore, hub *TxIDHub) {
	mux, ok := s.srv.Handler.(*http.ServeMux)
	if !ok {
		panic("ops: server handler is not a ServeMux") // unreachable: New builds one
	}
	mux.HandleFunc("GET /v1/txid/{txid}", func(w http.ResponseWriter, r *http.Request) {
		serveTxID(w, r, store, hub, s.log)
	})
}

func serveTxID(w http.ResponseWriter, r *http.Request, store TxIDStore, hub *TxIDHub, log *slog.Logger) {
	txid, stream := r.PathValue("txid"), r.URL.Query().Get("stream")
	timeout := defaultTxIDTimeout
	if v := r.URL.Query().Get("timeout"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 || d > maxTxIDTimeout {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("timeout=%q: want a duration from 0s to %s, such as 5s", v, maxTxIDTimeout)})
			return
		}
		timeout = d
	}
	if stream != "" {
		known, err := streamKnown(r.Context(), store, stream)
		if err != nil {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		}
		if !known {
			writeJSON(w, http.StatusNotFound, map[string]string{"txid": txid, "stream": stream, "status": "unknown stream",
				"error": fmt.Sprintf("stream %q has no checkpoint in this database: check the name (`syncd status` lists them)", stream)})
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	poll := time.NewTicker(txidPollInterval)
	defer poll.Stop()
	for {
		// Register before looking, so a commit between the two is not missed.
		woken, stop := hub.wait(txid)
		found, err := lookupTxID(r.Context(), store, txid, stream)
		var rejected *txidReject
		if err == nil && found == nil {
			rejected, err = lookupRejected(r.Context(), store, txid, stream)
		}
		switch {
		case err != nil:
			stop()
			log.Warn("txid lookup failed", "txid", txid, "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
			return
		case found != nil:
			stop()
			writeJSON(w, http.StatusOK, found)
			return
		case rejected != nil:
			stop()
			writeJSON(w, http.StatusUnprocessableEntity, rejected)
			return
		}
		select {
		case <-woken:
		case <-poll.C:
		case <-ctx.Done():
			stop()
			if r.Context().Err() == nil {
				writeJSON(w, http.StatusRequestTimeout, map[string]string{"txid": txid, "status": "not committed yet"})
			}
			return
		}
		stop()
	}
}

// lookupTxID returns the most recent commit of txid (by stream, when set), or nil.
func lookupTxID(ctx context.Context, store TxIDStore, txid, stream string) (*txidCommit, error) {
	rows, err := store.LookupTxID(ctx, txid)
	if err != nil {
		return nil, err
	}
	for _, row := range rows {
		if stream == "" || row.Stream == stream {
			return &txidCommit{Status: "committed", TxID: row.TxID, Stream: row.Stream, Offset: row.NextOffset, CommittedAt: row.CommittedAt}, nil
		}
	}
	return nil, nil
}

// txidReject is the body of a 422 from /v1/txid/{txid}: the event carrying
// the txid was dead-lettered, so no commit will ever apply it.
type txidReject struct {
	Status     string    `json:"status"` // "rejected"
	TxID       string    `json:"txid"`
	Stream     string    `json:"stream"`
	Offset     string    `json:"offset"` // the offset of the response that held it
	Position   int       `json:"position"`
	Reason     string    `json:"reason"`
	RejectedAt time.Time `json:"rejected_at"`
}

// lookupRejected returns the latest reject that carried txid (of stream,
// when set), or nil.
func lookupRejected(ctx context.Context, store TxIDStore, txid, stream string) (*txidReject, error) {
	rows, err := store.RejectedTxID(ctx, txid)
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if stream == "" || r.Stream == stream {
			return &txidReject{Status: "rejected", TxID: txid, Stream: r.Stream, Offset: r.ResponseOffset,
				Position: r.Position, Reason: r.Reason, RejectedAt: r.CreatedAt}, nil
		}
	}
	return nil, nil
}

// streamKnown reports whether the database holds a checkpoint of stream.
func streamKnown(ctx context.Context, store TxIDStore, stream string) (bool, error) {
	cps, err := store.Checkpoints(ctx)
	if err != nil {
		return false, err
	}
	return slices.ContainsFunc(cps, func(c sink.Checkpoint) bool { return c.Stream == stream }), nil
}
