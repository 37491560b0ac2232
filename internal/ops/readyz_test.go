package ops

import (
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-io/syncd/internal/sink/sqlite"
)

// TestReadyzReportsSubscriptions: a subscription before its first round, or
// with a failed stream, makes /readyz 503 and is listed with its state.
func TestReadyzReportsSubscriptions(t *testing.T) {
	db, err := sqlite.New(t.Context(), filepath.Join(t.TempDir(), "s.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	state := SubscriptionState{ID: "sub", Generation: 3, Linked: 10, Pending: 2}
	srv := New("127.0.0.1:0", prometheus.NewRegistry(), noStreams{}, db, slog.New(slog.DiscardHandler))
	srv.ServeSubscriptions(func() []SubscriptionState { return []SubscriptionState{state} })
	get := func() (int, readiness) {
		rec := httptest.NewRecorder()
		srv.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		var body readiness
		if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		return rec.Code, body
	}
	if code, body := get(); code != http.StatusServiceUnavailable || len(body.Subscriptions) != 1 || body.Subscriptions[0].Generation != 3 {
		t.Fatalf("before the first round: %d %+v", code, body)
	}
	state.Ready, state.Claimed = true, true
	if code, body := get(); code != http.StatusOK || !body.Subscriptions[0].Claimed || body.Subscriptions[0].Pending != 2 {
		t.Fatalf("after the first round: %d %+v", code, body)
	}
	state.Failed = 1
	if code, body := get(); code != http.StatusServiceUnavailable || body.Subscriptions[0].Ready {
		t.Fatalf("with a failed stream: %d %+v", code, body)
	}
}
