package mysql_test

import (
	"fmt"
	"testing"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/table"
)

// TestSoftDeletesLoadData: batches large enough for LOAD DATA … REPLACE
// and for several soft-delete statements keep the tombstone contract (a
// reinsert clears deleted_at) and number every history row once.
func TestSoftDeletesLoadData(t *testing.T) {
	const n = 2500 // more than loadThreshold and than softDeleteRows
	s := open(t)
	ctx := t.Context()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	m := table.Mapping{Types: []table.TypeMapping{{Type: "m", History: true, Deletes: table.DeletesSoft}}}
	if err := s.Configure(ctx, m); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Checkpoint(ctx, "s", "u", "-1"); err != nil {
		t.Fatal(err)
	}
	var seq int64
	commit := func(from, to string, op state.Operation) {
		t.Helper()
		b := state.NewBatch()
		b.SetHistory(func(string) bool { return true })
		b.SetSeqBase(seq)
		for i := range n {
			c := state.Change{Type: "m", Key: fmt.Sprintf("k%05d", i), Op: op}
			if op != state.Delete {
				c.Value = []byte(fmt.Sprintf(`{"i":%d,"to":%q}`, i, to))
			}
			b.AddChange(c, to)
		}
		seq += n
		tx, err := s.Begin(ctx, "s", from)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if err := tx.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Commit(ctx, sink.Commit{NextOffset: to, UpToDate: true, Events: n}); err != nil {
			t.Fatal(err)
		}
	}
	live := func(want int, offset string) {
		t.Helper()
		rows, err := s.ColumnValues(ctx, "m", []string{"key", "deleted_at", "synced_offset"})
		if err != nil {
			t.Fatal(err)
		}
		alive := 0
		for _, r := range rows {
			if r["deleted_at"] == nil {
				alive++
			}
			if r["synced_offset"] != offset {
				t.Fatalf("row %v: synced_offset, want %s", r, offset)
			}
		}
		if len(rows) != n || alive != want {
			t.Fatalf("%d rows, %d live; want %d rows, %d live", len(rows), alive, n, want)
		}
	}
	commit("-1", "1", state.Insert)
	live(n, "1")
	commit("1", "2", state.Delete)
	live(0, "2")
	commit("2", "3", state.Upsert)
	live(n, "3")
	hist, err := s.ColumnValues(ctx, table.HistoryName("m"), []string{"seq"})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for _, r := range hist {
		seen[r["seq"].(int64)] = true
	}
	if len(hist) != 3*n || len(seen) != 3*n || !seen[1] || !seen[3*n] {
		t.Fatalf("history holds %d rows, %d distinct seqs; want seq 1…%d once each", len(hist), len(seen), 3*n)
	}
}
