package sqlite_test

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
	"github.com/syncd-io/syncd/internal/state"
)

func TestPragmas(t *testing.T) {
	t.Parallel()
	s := open(t).(*sqlite.Sink)
	for pragma, want := range map[string]string{
		"journal_mode": "wal", "synchronous": "1", "foreign_keys": "1", "busy_timeout": "30000", "cache_size": "-2000", "temp.page_size": "16384",
	} {
		var got string
		if err := s.DB().QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

// TestTwoProcesses: two sinks on one file (as two syncd processes) migrate
// together and then write different streams at once, waiting on SQLite's
// lock rather than failing with SQLITE_BUSY.
func TestTwoProcesses(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	var sinks []*sqlite.Sink
	for range 2 {
		s, err := sqlite.New(t.Context(), path, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		sinks = append(sinks, s)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*len(sinks))
	for _, s := range sinks {
		wg.Go(func() { errs <- s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, s := range sinks {
		wg.Go(func() { errs <- writeN(t, s, fmt.Sprintf("p%d", i), 20) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	rows, err := sinks[0].Rows(t.Context(), "shared")
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 40 {
		t.Fatalf("%d rows, want 40", len(rows))
	}
}

// writeN commits n one-row transactions to stream.
func writeN(t *testing.T, s sink.Sink, stream string, n int) error {
	ctx := t.Context()
	if _, err := s.Checkpoint(ctx, stream, "u", "0"); err != nil {
		return err
	}
	for i := range n {
		b := state.NewBatch()
		b.AddChange(state.Change{Type: "shared", Key: fmt.Sprintf("%s-%d", stream, i), Op: state.Upsert, Value: []byte("1")}, "o")
		tx, err := s.Begin(ctx, stream, fmt.Sprint(i))
		if err != nil {
			return err
		}
		if err := tx.Write(ctx, b); err != nil {
			return err
		}
		if _, err := tx.Commit(ctx, sink.Commit{NextOffset: fmt.Sprint(i + 1), Events: 1}); err != nil {
			return err
		}
	}
	return nil
}
