package postgres_test

import (
	"testing"

	"github.com/syncd-io/syncd/internal/pgtest"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/postgres"
	"github.com/syncd-io/syncd/internal/sink/sinktest"
)

func open(t testing.TB) *postgres.Sink {
	t.Helper()
	s, _, _ := openIn(t)
	return s
}

// openIn is open that also returns the database URL and the sink's schema.
func openIn(t testing.TB) (*postgres.Sink, string, string) {
	t.Helper()
	url, schema := pgtest.New(t)
	s, err := postgres.New(t.Context(), url, schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, url, schema
}

func TestSink(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sink.Sink { return open(t) })
}

func BenchmarkWrite(b *testing.B) {
	sinktest.BenchmarkWrite(b, func(b *testing.B) sink.Sink { return open(b) })
}
