package mysql_test

import (
	"testing"

	"github.com/syncd-io/syncd/internal/mysqltest"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/mysql"
	"github.com/syncd-io/syncd/internal/sink/sinktest"
)

func open(t testing.TB) *mysql.Sink {
	t.Helper()
	s, err := mysql.New(t.Context(), mysqltest.New(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestSink(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sink.Sink { return open(t) })
}

// TestSinkInsertOnly runs the suite with LOAD DATA LOCAL INFILE off, as on a
// server with local_infile=OFF: every upsert is a multi-row INSERT.
func TestSinkInsertOnly(t *testing.T) {
	sinktest.Run(t, func(t *testing.T) sink.Sink {
		s := open(t)
		s.DisableLoadData()
		return s
	})
}

func BenchmarkWrite(b *testing.B) {
	b.Run("load", func(b *testing.B) {
		sinktest.BenchmarkWrite(b, func(b *testing.B) sink.Sink { return open(b) })
	})
	b.Run("insert", func(b *testing.B) {
		sinktest.BenchmarkWrite(b, func(b *testing.B) sink.Sink {
			s := open(b)
			s.DisableLoadData()
			return s
		})
	})
}

// TestInitialized: a database without syncd's tables is not initialized
// (and asking creates nothing); after Migrate it is.
func TestInitialized(t *testing.T) {
	s := open(t)
	for range 2 {
		if ok, err := s.Initialized(t.Context()); err != nil || ok {
			t.Fatalf("Initialized before Migrate = %v, %v; want false", ok, err)
		}
	}
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.Initialized(t.Context()); err != nil || !ok {
		t.Fatalf("Initialized after Migrate = %v, %v; want true", ok, err)
	}
}
