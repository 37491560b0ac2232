package sqlite_test

import (
	"path/filepath"
	"testing"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/sinktest"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
)

func open(t testing.TB) sink.Sink {
	t.Helper()
	s, err := sqlite.New(t.Context(), filepath.Join(t.TempDir(), "syncd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSink(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sink.Sink { return open(t) })
}

func BenchmarkWrite(b *testing.B) {
	sinktest.BenchmarkWrite(b, func(b *testing.B) sink.Sink { return open(b) })
}
