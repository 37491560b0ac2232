package postgres_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

// TestLargeBatch drives the COPY path (batches of a type past the COPY
// threshold), two types in one Write so the staging table is reused.
func TestLargeBatch(t *testing.T) {
	t.Parallel()
	s := migrated(t)
	ctx := t.Context()
	const n = 1500
	b := state.NewBatch()
	for _, typ := range []string{"a", "b"} {
		for i := range n {
			c := state.Change{Type: typ, Key: fmt.Sprintf("%s%05d", typ, i), Op: state.Upsert, Value: []byte(fmt.Sprint(i))}
			switch i % 3 {
			case 0:
				c.Value = []byte("null")
			case 1:
				c.TxID, c.Timestamp = fmt.Sprint("tx", i%10), "2024-01-02T03:04:05Z"
			}
			b.AddChange(c, "o1")
		}
	}
	tx, err := s.Begin(ctx, "s", "-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := tx.Write(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Commit(ctx, sink.Commit{NextOffset: "o1", Events: 2 * n}); err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"a", "b"} {
		rows, err := s.Rows(ctx, typ)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != n {
			t.Fatalf("%s has %d rows, want %d", typ, len(rows), n)
		}
		for i, r := range rows {
			want := fmt.Sprint(i)
			if i%3 == 0 {
				want = "null"
			}
			wantTx, wantAt := "", time.Time{}
			if i%3 == 1 {
				wantTx, wantAt = fmt.Sprint("tx", i%10), time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
			}
			if r.Key != fmt.Sprintf("%s%05d", typ, i) || string(r.Value) != want || r.TxID != wantTx ||
				!r.EventTime.Equal(wantAt) || r.Stream != "s" || r.SyncedOffset != "o1" {
				t.Fatalf("%s row %d = %+v", typ, i, r)
			}
		}
	}
}
