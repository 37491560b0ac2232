package syncer

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-io/syncd/internal/metrics"
	"github.com/syncd-io/syncd/internal/table"
)

// TestGoneResyncReplacesRows: after a first sync, the server no longer
// retains the stored offset and holds a different history; under
// SYNCD_ON_GONE=resync the stream is re-read from -1 and its rows replaced in
// one transaction.
func TestGoneResyncReplacesRows(t *testing.T) {
	f := newFixture(t, 25)
	if err := f.run(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	tail := offset(len(f.srv.msgs))
	newHistory := [][]byte{
		[]byte(`{"type":"user","key":"zoe","value":{"n":1},"headers":{"operation":"insert"}}`),
		[]byte(`{"type":"user","key":"yan","value":{"n":2},"headers":{"operation":"insert"}}`),
	}
	f.srv.set(func(s *streamServer) { s.msgs = newHistory; s.gone[tail] = 1 })
	f.opts.OnGone = GoneResync
	if err := f.run(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	want := materialize(t, newHistory)
	before := materialize(t, recorded(t))
	want.events += before.events // the counters keep counting across the resync
	want.rejects += before.rejects
	assertSynced(t, f.db, "rec", want)
}

// TestGoneHalts: under SYNCD_ON_GONE=halt a 410 stops the stream with an
// error naming the offset, and the rows stay as committed.
func TestGoneHalts(t *testing.T) {
	f := newFixture(t, 25)
	if err := f.run(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	tail := offset(len(f.srv.msgs))
	f.srv.set(func(s *streamServer) { s.gone[tail] = 1 })
	err := f.run(t, t.Context())
	var ge *GoneError
	if !errors.As(err, &ge) || ge.Offset != tail {
		t.Fatalf("run: %v, want a *GoneError at %s", err, tail)
	}
	if cp := checkpoint(t, f.db, "rec"); cp.Halted == "" || cp.NextOffset != tail {
		t.Errorf("checkpoint %+v: want the halt recorded at %s", cp, tail)
	}
	assertSynced(t, f.db, "rec", f.model(t))
}

// TestMissingStreamIsWaitedFor: a stream that does not exist yet is waited
// for, then synced; one that disappears after a commit stops.
func TestMissingStreamIsWaitedFor(t *testing.T) {
	f := newFixture(t, 50)
	f.srv.set(func(s *streamServer) { s.missing = true })
	f.opts.Once = false
	s, stop := f.start(t)
	waitFor(t, func() bool { return requests(f) >= 3 })
	if n := f.faults.called("begin"); n != 0 {
		t.Fatalf("%d transactions begun while the stream did not exist", n)
	}
	f.srv.set(func(s *streamServer) { s.missing = false })
	waitFor(t, func() bool { return len(f.committed()) > 0 && s.Status()[0].Ready })
	f.srv.set(func(s *streamServer) { s.missing = true })
	f.srv.append([]byte(`{"type":"user","key":"late","value":1,"headers":{"operation":"insert"}}`))
	waitFor(t, func() bool { return s.Status()[0].Halted != "" })
	if h := s.Status()[0].Halted; !strings.Contains(h, "no longer exists (404)") {
		t.Errorf("halt reason %q, want the disappeared stream explained", h)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if cp := checkpoint(t, f.db, "rec"); cp.Halted == "" {
		t.Error("the stop is not recorded in the checkpoint")
	}
}

// requests counts the HTTP requests the fixture's server answered.
func requests(f *fixture) int {
	f.srv.mu.Lock()
	defer f.srv.mu.Unlock()
	return f.srv.requests
}

// TestLiveCommitsEachResponse tails the stream live: every appended
// response is its own commit, reported to OnCommit with its txids, and the
// collector and metrics see it.
func TestLiveCommitsEachResponse(t *testing.T) {
	f := newFixture(t, 200)
	f.opts.Once = false
	reg := prometheus.NewRegistry()
	f.opts.Metrics = metrics.New(reg)
	s, stop := f.start(t)
	reg.MustRegister(NewCollector(s))
	waitFor(t, func() bool { return len(f.committed()) == 1 })
	f.srv.append([]byte(`{"type":"user","key":"live","value":{"n":1},"headers":{"operation":"insert","txid":"live-1"}}`))
	waitFor(t, func() bool { return len(f.committed()) == 2 })
	c := f.committed()[1]
	if c.Events != 1 || len(c.TxIDs) != 1 || c.TxIDs[0] != "live-1" || c.Ops["insert"] != 1 {
		t.Errorf("live commit %+v: want one insert with txid live-1", c)
	}
	// A rejected event's txid travels in the result, so its waiters learn
	// at once that no commit will apply it.
	f.srv.append([]byte(`{"type":"user","value":{"n":1},"headers":{"operation":"insert","txid":"bad-1"}}`))
	waitFor(t, func() bool { return len(f.committed()) == 3 })
	if c := f.committed()[2]; c.Rejects != 1 || len(c.RejectedTxIDs) != 1 || c.RejectedTxIDs[0] != "bad-1" {
		t.Errorf("commit of a reject %+v: want its txid bad-1 among RejectedTxIDs", c)
	}
	if n := f.faults.conflicts(); n != 0 {
		t.Errorf("%d checkpoint conflicts with no other writer", n)
	}
	if n := counter(t, reg, "syncd_commits_total"); n != 3 {
		t.Errorf("syncd_commits_total = %v, want 3", n)
	}
	if v := counter(t, reg, "syncd_up_to_date"); v != 1 {
		t.Errorf("syncd_up_to_date = %v, want 1", v)
	}
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	assertSynced(t, f.db, "rec", f.model(t))
}

// counter sums the samples of a counter or gauge family.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// waitFor polls cond until it holds, failing the test after 30 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestConversionNullsReachMetrics: the NULLs a mapped column stored for
// values it could not convert travel in the commit's result to the metric.
func TestConversionNullsReachMetrics(t *testing.T) {
	f := newFixture(t, 50)
	f.srv.set(func(s *streamServer) {
		s.msgs = [][]byte{
			[]byte(`{"type":"item","key":"a","value":{"n":"not a number"},"headers":{"operation":"insert"}}`),
			[]byte(`{"type":"item","key":"b","value":{"n":2},"headers":{"operation":"insert"}}`),
		}
	})
	m := table.Mapping{Types: []table.TypeMapping{{Type: "item", Columns: []table.Column{{Name: "n", Path: "n", Type: table.BigInt}}}}}
	if err := f.db.Configure(t.Context(), m); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	f.opts.Metrics = metrics.New(reg)
	if err := f.run(t, t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := counter(t, reg, "syncd_column_conversion_nulls_total"); n != 1 {
		t.Errorf("syncd_column_conversion_nulls_total = %v, want 1", n)
	}
}
