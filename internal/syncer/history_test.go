package syncer

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/table"
)

// wantHistoryRows returns the history the recorded stream should leave for
// typ: every change event of the type, in order, as "seq key operation",
// seq counting every change event of the stream (rejects and controls have
// none).
func wantHistoryRows(msgs [][]byte, typ string) []string {
	var out []string
	seq := 0
	for _, m := range msgs {
		ev := state.Decode(m)
		if ev.Kind != state.KindChange {
			continue
		}
		seq++
		if ev.Change.Type == typ {
			out = append(out, fmt.Sprintf("%d %s %s", seq, ev.Change.Key, ev.Change.Op))
		}
	}
	return out
}

// historyRows reads the rows of a history table as "seq key operation",
// ordered by seq.
func historyRows(t *testing.T, f *fixture, name string) []string {
	t.Helper()
	rows, err := f.db.ColumnValues(t.Context(), name, []string{"seq", "key", "operation"})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(rows, func(a, b map[string]any) int { return cmp.Compare(a["seq"].(int64), b["seq"].(int64)) })
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%d %v %v", r["seq"], r["key"], r["operation"])
	}
	return out
}

// TestHistorySeqWhateverTheBoundaries syncs the recorded stream with history
// on one type under different response sizes, flushes into the open
// transaction, progress commits and database faults: the history table
// always holds exactly the type's change events, numbered among all the
// stream's change events.
func TestHistorySeqWhateverTheBoundaries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		chunk    int
		maxBatch int
		catchup  int64
		fault    string
	}{
		{"one response", 1000, 64 << 20, 0, ""},
		{"small responses, flushes", 3, 256, 0, ""},
		{"progress commits", 7, 64 << 20, 500, ""},
		{"failed background write", 10, 256, 0, "write"},
		{"failed commit", 10, 64 << 20, 300, "commit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.chunk)
			f.opts.MaxBatchBytes = tc.maxBatch
			f.opts.CatchupCommitBytes = tc.catchup
			f.opts.History = func(typ string) bool { return typ == "message" }
			if err := f.db.Configure(t.Context(), table.Mapping{Types: []table.TypeMapping{{Type: "message", History: true}}}); err != nil {
				t.Fatal(err)
			}
			if tc.fault != "" {
				f.faults.arm(tc.fault, errDisk)
			}
			// A seq numbered twice would fail every commit on the primary
			// key and be retried forever: bound the run.
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if err := f.run(t, ctx); err != nil {
				t.Fatal(err)
			}
			if tc.fault != "" && f.faults.fired(tc.fault) != 1 {
				t.Fatalf("the %s fault did not fire", tc.fault)
			}
			assertSynced(t, f.db, "rec", f.model(t))
			want := wantHistoryRows(f.srv.msgs, "message")
			got := historyRows(t, f, "message_history")
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("history:\n got %q\nwant %q", got, want)
			}
			if cp := checkpoint(t, f.db, "rec"); cp.EventsApplied != int64(changeEvents(f.srv.msgs)) {
				t.Fatalf("events_applied %d", cp.EventsApplied)
			}
			// Appended events continue the numbering after a restart.
			f.srv.append(
				[]byte(`{"type":"message","key":"late","value":{"n":9},"headers":{"operation":"insert"}}`),
				[]byte(`{"type":"user","key":"late","value":{"n":9},"headers":{"operation":"insert"}}`),
				[]byte(`{"type":"message","key":"late","headers":{"operation":"delete"}}`),
			)
			if err := f.run(t, t.Context()); err != nil {
				t.Fatal(err)
			}
			want = wantHistoryRows(f.srv.msgs, "message")
			if got := historyRows(t, f, "message_history"); strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Fatalf("history after the restart:\n got %q\nwant %q", got, want)
			}
		})
	}
}

// changeEvents counts the stream's change events.
func changeEvents(msgs [][]byte) int {
	n := 0
	for _, m := range msgs {
		if state.Decode(m).Kind == state.KindChange {
			n++
		}
	}
	return n
}
