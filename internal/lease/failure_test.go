package lease_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/syncd-io/syncd/internal/lease"
)

// The failures below are real database errors: a trigger that rejects the
// statement, or a connection pool that was closed.

func TestAcquireFailureStartsNothing(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, "a", longTTL)
	c.failOn(t, "INSERT")
	a.Want([]string{"x"})
	err := a.Tick(t.Context())
	if err == nil || !strings.Contains(err.Error(), "acquire leases") {
		t.Fatalf("round with a failing acquire: %v", err)
	}
	if len(a.Held()) != 0 || len(a.set.Running()) != 0 {
		t.Errorf("holds %v and runs %v after a failed acquire", a.Held(), a.set.Running())
	}
}

// TestRenewFailureKeepsStreams: one failed renewal does not stop streams;
// their leases are still valid until the TTL (Run decides when to give up).
func TestRenewFailureKeepsStreams(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, "a", longTTL)
	a.Want([]string{"x", "y"})
	a.tick(t)
	c.failOn(t, "UPDATE")
	err := a.Tick(t.Context())
	if err == nil || !strings.Contains(err.Error(), "renew leases") {
		t.Fatalf("round with a failing renewal: %v", err)
	}
	if got := a.set.Running(); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("running after one failed renewal: %v, want [x y]", got)
	}
}

// TestReleaseFailureStillStops: a stream no longer wanted stops even when
// its lease cannot be deleted (it then expires within the TTL).
func TestReleaseFailureStillStops(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, "a", longTTL)
	a.Want([]string{"x"})
	a.tick(t)
	c.failOn(t, "DELETE")
	a.Want(nil)
	err := a.Tick(t.Context())
	if err == nil || !strings.Contains(err.Error(), "release leases") {
		t.Fatalf("round with a failing release: %v", err)
	}
	if len(a.set.Running()) != 0 || len(a.Held()) != 0 {
		t.Errorf("after the failed release: runs %v, holds %v", a.set.Running(), a.Held())
	}
}

func TestHeartbeatFailure(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, "a", longTTL)
	_ = a.store.Close()
	a.Want([]string{"x"})
	err := a.Tick(t.Context())
	if err == nil || !strings.Contains(err.Error(), "heartbeat of a") {
		t.Fatalf("round on a closed pool: %v", err)
	}
	if len(a.set.Running()) != 0 {
		t.Errorf("runs %v without a heartbeat", a.set.Running())
	}
}

// TestRunStopsStreamsWhenDatabaseIsLost: when no round succeeds for longer
// than the TTL, another replica may hold the leases, so Run stops every
// stream; leaving then fails too and is only logged.
func TestRunStopsStreamsWhenDatabaseIsLost(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, "a", time.Second)
	a.Want([]string{"x", "y"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	await(t, "a to run both streams", func() bool { return len(a.set.Running()) == 2 })

	_ = a.store.Close()
	await(t, "a to stop its streams", func() bool { return len(a.set.Running()) == 0 })
	if got := a.set.Stopped(); !slices.Equal(got, []string{"x", "y"}) {
		t.Errorf("stopped %v, want [x y]", got)
	}
	if len(a.Held()) != 0 {
		t.Errorf("still believes it holds %v", a.Held())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// TestLeaveFailureKeepsRows: a replica that cannot release its leases on
// the way out still stops its streams; the rows stay until they expire.
func TestLeaveFailureKeepsRows(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, "a", longTTL)
	a.Want([]string{"x"})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	await(t, "a to run x", func() bool { return len(a.set.Running()) == 1 })
	c.failOn(t, "DELETE")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(a.set.Running()) != 0 {
		t.Errorf("still runs %v after Run returned", a.set.Running())
	}
	if got := c.owners(t); got["x"] != "a" {
		t.Errorf("lease rows: %v, want x still held by a until it expires", got)
	}
}

// TestCollector: the gauges report the leases held and the live replicas.
func TestCollector(t *testing.T) {
	c := newCluster(t)
	a, b := c.replica(t, "a", longTTL), c.replica(t, "b", longTTL)
	b.tick(t)
	a.Want(streams(4))
	a.tick(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(lease.NewCollector(a.Manager))
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body := rec.Body.String()
	if n := strings.Count(body, "\nsyncd_lease_owned{"); n != 2 {
		t.Errorf("%d syncd_lease_owned series, want 2 (half of 4 streams):\n%s", n, body)
	}
	for s := range a.Held() {
		if want := fmt.Sprintf(`syncd_lease_owned{owner="a",stream=%q} 1`, s); !strings.Contains(body, want) {
			t.Errorf("no %s in\n%s", want, body)
		}
	}
	if n := strings.Count(body, "\nsyncd_lease_expires_seconds{"); n != 2 {
		t.Errorf("%d syncd_lease_expires_seconds series, want 2:\n%s", n, body)
	}
	if !strings.Contains(body, "\nsyncd_lease_replicas 2\n") {
		t.Errorf("syncd_lease_replicas is not 2:\n%s", body)
	}
}
