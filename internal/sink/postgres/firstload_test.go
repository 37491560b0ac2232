package postgres_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/postgres"
	"github.com/syncd-io/syncd/internal/state"
)

// bigBatch is n upserts of type typ (past the COPY threshold when n ≥ 1000)
// with values tagged by tag.
func bigBatch(typ, tag string, from, n int) *state.Batch {
	b := state.NewBatch()
	for i := from; i < from+n; i++ {
		b.AddChange(state.Change{Type: typ, Key: fmt.Sprintf("k%05d", i), Op: state.Upsert,
			Value: []byte(fmt.Sprintf(`{"tag":%q,"i":%d}`, tag, i))}, "o-"+tag)
	}
	return b
}

func write(t *testing.T, tx sink.Tx, b *state.Batch) {
	t.Helper()
	if err := tx.Write(t.Context(), b); err != nil {
		t.Fatal(err)
	}
}

// counts returns how many rows of the table of type "t" each stream wrote
// with which tag.
func counts(t *testing.T, url, schema string) map[string]int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT stream || '/' || (value->>'tag') || '/' || synced_offset, count(*) FROM `+
		pgx.Identifier{schema, "t"}.Sanitize()+` WHERE synced_at IS NOT NULL GROUP BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for rows.Next() {
		var k string
		var n int
		if err := rows.Scan(&k, &n); err != nil {
			t.Fatal(err)
		}
		out[k] = n
	}
	return out
}

// A large batch into an empty table is copied straight in (first load); the
// next large batch into the now filled table still upserts; and a first load
// that races a concurrent writer of the same shared table falls back to the
// upsert instead of failing on the duplicate key.
func TestFirstLoad(t *testing.T) {
	ctx := t.Context()
	s, url, schema := newSink(t, "a", "b")

	// Stream a holds key k00000 uncommitted while stream b first-loads
	// k00000…k01499 into the table, which still looks empty to b.
	ta, err := s.Begin(ctx, "a", "-1")
	if err != nil {
		t.Fatal(err)
	}
	write(t, ta, bigBatch("t", "a1", 0, 1))
	tb, err := s.Begin(ctx, "b", "-1")
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() { wrote <- tb.Write(ctx, bigBatch("t", "b1", 0, 1500)) }()
	// b's COPY waits on a's key; a commits; b must fall back and win.
	waitBlocked(t, url, schema)
	if _, err := ta.Commit(ctx, sink.Commit{NextOffset: "1", UpToDate: true, Events: 1}); err != nil {
		t.Fatal(err)
	}
	if err := <-wrote; err != nil {
		t.Fatalf("b's write after a's commit: %v", err)
	}
	if _, err := tb.Commit(ctx, sink.Commit{NextOffset: "1", UpToDate: true, Events: 1500}); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, url, schema); len(got) != 1 || got["b/b1/o-b1"] != 1500 {
		t.Fatalf("after the race: %v, want all 1500 rows from b", got)
	}

	// The table is no longer empty: a second large batch upserts over it.
	ta, err = s.Begin(ctx, "a", "1")
	if err != nil {
		t.Fatal(err)
	}
	write(t, ta, bigBatch("t", "a2", 1000, 1500))
	if _, err := ta.Commit(ctx, sink.Commit{NextOffset: "2", UpToDate: true, Events: 1500}); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, url, schema); len(got) != 2 || got["b/b1/o-b1"] != 1000 || got["a/a2/o-a2"] != 1500 {
		t.Fatalf("after the second load: %v, want 1000 rows from b and 1500 from a", got)
	}
}

// newSink returns a migrated sink in a fresh schema, with a checkpoint for
// each of streams.
func newSink(t *testing.T, streams ...string) (*postgres.Sink, string, string) {
	t.Helper()
	s, url, schema := openIn(t)
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	for _, st := range streams {
		if _, err := s.Checkpoint(t.Context(), st, "http://x/"+st, "-1"); err != nil {
			t.Fatal(err)
		}
	}
	return s, url, schema
}

// waitBlocked waits until a COPY into schema waits on a lock.
func waitBlocked(t *testing.T, url, schema string) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var n int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM pg_stat_activity
			WHERE wait_event_type = 'Lock' AND query ILIKE 'copy%' AND strpos(query, $1) > 0`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case <-t.Context().Done():
			t.Fatal("b's write never waited on a's key")
		default:
		}
	}
}

// A first load whose batch also deletes keys (coalesced: inserted, then
// deleted) leaves exactly the batch's live rows, in a table that had none.
func TestFirstLoadWithDeletes(t *testing.T) {
	ctx := t.Context()
	s, url, schema := newSink(t, "a")
	b := bigBatch("t", "a1", 0, 1600)
	for i := 1500; i < 1600; i++ { // the last 100 keys end deleted
		b.AddChange(state.Change{Type: "t", Key: fmt.Sprintf("k%05d", i), Op: state.Delete}, "o-a1")
	}
	tx, err := s.Begin(ctx, "a", "-1")
	if err != nil {
		t.Fatal(err)
	}
	write(t, tx, b)
	if _, err := tx.Commit(ctx, sink.Commit{NextOffset: "1", UpToDate: true, Events: 1700}); err != nil {
		t.Fatal(err)
	}
	if got := counts(t, url, schema); len(got) != 1 || got["a/a1/o-a1"] != 1500 {
		t.Fatalf("after the first load: %v, want the 1500 rows not deleted", got)
	}
}
