package syncer

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-io/syncd/internal/metrics"
	"github.com/syncd-io/syncd/internal/sink"
)

// tail is the offset after the recorded stream's last message.
func (f *fixture) tail() string {
	f.srv.mu.Lock()
	defer f.srv.mu.Unlock()
	return offset(len(f.srv.msgs))
}

// TestCatchUpRunsToUpToDateAndResumes catches a stream up without Once in
// the options, appends, and catches it up again: each call returns the
// checkpoint committed at the tail and the tables equal the stream.
func TestCatchUpRunsToUpToDateAndResumes(t *testing.T) {
	f := newFixture(t, 7)
	f.opts.Once = false
	f.opts.Source = func(ctx context.Context, _ *Syncer) error { <-ctx.Done(); return nil }
	s, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	st := f.opts.Streams[0]
	cp, err := s.CatchUp(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	if !cp.UpToDate || cp.NextOffset != f.tail() {
		t.Fatalf("first catch-up committed %+v", cp)
	}
	assertSynced(t, f.db, st.Name, f.model(t))

	f.srv.append([]byte(`{"type":"user","key":"late","value":{"n":1},"headers":{"operation":"insert"}}`))
	cp2, err := s.CatchUp(t.Context(), st)
	if err != nil {
		t.Fatal(err)
	}
	if cp2.NextOffset == cp.NextOffset || !cp2.UpToDate {
		t.Fatalf("second catch-up committed %+v after %+v", cp2, cp)
	}
	assertSynced(t, f.db, st.Name, f.model(t))
	if got := checkpoint(t, f.db, st.Name); got.NextOffset != cp2.NextOffset {
		t.Fatalf("stored checkpoint %s, CatchUp returned %s", got.NextOffset, cp2.NextOffset)
	}
}

// TestAggregateCollector folds the loops' gauges into one _all series: any
// stopped stream shows, up to date only when all are, nothing without loops.
func TestAggregateCollector(t *testing.T) {
	f := newFixture(t, 7)
	f.opts.Once = false
	f.opts.Source = func(ctx context.Context, _ *Syncer) error { <-ctx.Done(); return nil }
	s, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewAggregateCollector(s))
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 0 {
		t.Fatalf("without loops: %v %v, want no series", mfs, err)
	}
	s.streams = []*streamLoop{newStreamLoop(Stream{Name: "a"}, &s.opts), newStreamLoop(Stream{Name: "b"}, &s.opts)}
	s.streams[0].setCommitted(sink.Checkpoint{NextOffset: "1", UpToDate: true}, true)
	s.streams[1].status.snap.Halted = "boom"
	got := map[string]float64{}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) != 1 || mf.GetMetric()[0].GetLabel()[0].GetValue() != metrics.AllStreams {
			t.Fatalf("%s: %v, want one _all series", mf.GetName(), mf.GetMetric())
		}
		got[mf.GetName()] = mf.GetMetric()[0].GetGauge().GetValue()
	}
	if got["syncd_up_to_date"] != 0 || got["syncd_stream_stopped"] != 1 || got["syncd_stream_closed"] != 0 {
		t.Fatalf("aggregated gauges %v: want up_to_date 0 (b is not), stopped 1 (b is)", got)
	}
}

// TestCatchUpPanicGoesToOnPanic: a panic in a loop run by CatchUp, on a
// goroutine the syncer did not start (the subscription scheduler's), still
// reaches OnPanic with the loop's stack.
func TestCatchUpPanicGoesToOnPanic(t *testing.T) {
	f := newFixture(t, 200)
	f.opts.Once = false
	f.opts.Source = func(ctx context.Context, _ *Syncer) error { <-ctx.Done(); return nil }
	got := make(chan string, 1)
	f.opts.Validate = func(string, []byte) string { panic("validator broke") }
	f.opts.OnPanic = func(v any, stack []byte) {
		got <- fmt.Sprint(v) + "\n" + string(stack)
		runtime.Goexit() // stands for cmd/syncd's exit
	}
	s, err := New(f.opts)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _, _ = s.CatchUp(t.Context(), f.opts.Streams[0]) }()
	if p := <-got; !strings.Contains(p, "validator broke") || !strings.Contains(p, "syncer.(*streamLoop)") {
		t.Errorf("OnPanic got %q, want the panic value and the loop's stack", p)
	}
}
