package ops

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/syncer"
	"github.com/syncd-io/syncd/internal/table"
)

type noStreams struct{}

func (noStreams) Status() []syncer.StreamStatus { return nil }

// TestTxIDWait drives /v1/txid against a real SQLite sink: 408 before the
// commit, a waiting request answered by the commit, 200 after it.
func TestTxIDWait(t *testing.T) {
	// Only the hub can answer the waiting request below.
	txidPollInterval = time.Hour
	t.Cleanup(func() { txidPollInterval = time.Second })
	ctx := t.Context()
	db, err := sqlite.New(ctx, filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	mapping := table.Mapping{Types: []table.TypeMapping{{Type: "t", Columns: []table.Column{{Name: "n", Path: "n", Type: table.BigInt}}}}}
	if err := db.Configure(ctx, mapping); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Checkpoint(ctx, "s", "http://x/s", "-1"); err != nil {
		t.Fatal(err)
	}
	hub := NewTxIDHub()
	srv := New("127.0.0.1:0", prometheus.NewRegistry(), noStreams{}, db, slog.New(slog.DiscardHandler))
	srv.ServeTxIDs(db, hub)
	web := httptest.NewServer(srv.Handler())
	t.Cleanup(web.Close)
	get := func(path string) (int, txidCommit) {
		resp, err := http.Get(web.URL + path)
		if err != nil {
			t.Error(err)
			return 0, txidCommit{}
		}
		defer resp.Body.Close()
		var body txidCommit
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if code, _ := get("/v1/txid/tx-1?timeout=50ms"); code != http.StatusRequestTimeout {
		t.Fatalf("before the commit: %d, want 408", code)
	}
	done := make(chan int, 1)
	go func() {
		code, body := get("/v1/txid/tx-1?timeout=30s")
		if body.Stream != "s" || body.Offset != "o1" {
			t.Errorf("body = %+v", body)
		}
		done <- code
	}()
	// Commit only once the request waits on the hub (with the poll at an
	// hour, only the hub's wake-up can then answer it within its timeout).
	for deadline := time.Now().Add(10 * time.Second); hub.waiting("tx-1") == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the request never waited on the hub")
		}
	}
	tx, err := db.Begin(ctx, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	b := state.NewBatch()
	b.AddChange(state.Change{Type: "t", Key: "k", Op: state.Upsert, Value: []byte(`{"n":"x"}`), TxID: "tx-1"}, "o1")
	if err := tx.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	res, err := tx.Commit(ctx, sink.Commit{NextOffset: "o1", UpToDate: true, Events: 1})
	if err != nil {
		t.Fatal(err)
	}
	hub.Committed(res.TxIDs) // what the stream loop's OnCommit does
	if code := <-done; code != http.StatusOK {
		t.Fatalf("waiting request: %d", code)
	}
	if code, body := get("/v1/txid/tx-1?timeout=0s&stream=s"); code != http.StatusOK || body.TxID != "tx-1" {
		t.Fatalf("after the commit: %d %+v", code, body)
	}
	if _, err := db.Checkpoint(ctx, "other", "http://x/other", "-1"); err != nil {
		t.Fatal(err)
	}
	if code, _ := get("/v1/txid/tx-1?timeout=0s&stream=other"); code != http.StatusRequestTimeout {
		t.Fatalf("another stream: %d, want 408", code)
	}
	if code, _ := get("/v1/txid/tx-1?timeout=1h"); code != http.StatusBadRequest {
		t.Fatalf("a timeout over the limit: %d, want 400", code)
	}
}

// TestTxIDRejectedAndUnknownStream: a txid whose event was dead-lettered is
// answered 422 "rejected" at once, not after the timeout; a stream= the
// database has no checkpoint of is answered 404.
func TestTxIDRejectedAndUnknownStream(t *testing.T) {
	ctx := t.Context()
	db, err := sqlite.New(ctx, filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Checkpoint(ctx, "s", "http://x/s", "-1"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin(ctx, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	b := state.NewBatch()
	b.AddReject(state.Reject{Raw: []byte(`{"headers":{"txid":"tx-bad"}}`), ResponseOffset: "-1", Position: 4, Reason: "type is missing", TxID: "tx-bad"})
	if err := tx.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx, sink.Commit{NextOffset: "o1", UpToDate: true, Rejects: 1}); err != nil {
		t.Fatal(err)
	}
	srv := New("127.0.0.1:0", prometheus.NewRegistry(), noStreams{}, db, slog.New(slog.DiscardHandler))
	srv.ServeTxIDs(db, NewTxIDHub())
	web := httptest.NewServer(srv.Handler())
	t.Cleanup(web.Close)
	get := func(path string) (int, map[string]any) {
		resp, err := http.Get(web.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	// A timeout of a minute: only an answer at once passes (the test would
	// otherwise hit its own deadline first).
	code, body := get("/v1/txid/tx-bad?timeout=1m")
	if code != http.StatusUnprocessableEntity || body["status"] != "rejected" || body["reason"] != "type is missing" || body["stream"] != "s" || body["position"] != 4.0 {
		t.Errorf("rejected txid: %d %v, want 422 rejected with the reason", code, body)
	}
	if code, body := get("/v1/txid/tx-bad?timeout=1m&stream=s"); code != http.StatusUnprocessableEntity {
		t.Errorf("rejected txid of its stream: %d %v", code, body)
	}
	if code, body := get("/v1/txid/tx-bad?timeout=1m&stream=typo"); code != http.StatusNotFound || body["status"] != "unknown stream" {
		t.Errorf("unknown stream: %d %v, want 404", code, body)
	}
}
