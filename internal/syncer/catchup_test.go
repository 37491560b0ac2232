package syncer

import (
	"context"
	"testing"
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
