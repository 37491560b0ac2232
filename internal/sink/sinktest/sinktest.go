// Package sinktest is the test suite every sink dialect must pass: it pins
// down the semantics of sink.Sink and sink.Tx once, for every dialect, and
// runs the tests of optional behaviours only where sink.Capabilities says
// the dialect has them. A dialect's tests call Run with a function that opens a fresh,
// empty (unmigrated) sink, and BenchmarkWrite for the write benchmark.
package sinktest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

// Sink is what the suite needs: a sink that can also show its tables and
// say what it supports. Dialect-specific tests are gated by
// Capabilities, never by the dialect's name.
type Sink interface {
	sink.Sink
	sink.Inspector
}

// Opener opens a fresh, empty, unmigrated sink that the test owns (and that
// is closed in t.Cleanup).
type Opener func(t *testing.T) sink.Sink

// Run runs the whole suite against sinks from open.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s Sink)
	}{
		{"Checkpoint", testCheckpoint},
		{"UpsertDeleteIdempotent", testUpsertDeleteIdempotent},
		{"ReplayConflicts", testReplayConflicts},
		{"SecondWriterConflicts", testSecondWriterConflicts},
		{"HostileTypeNames", testHostileTypeNames},
		{"ResetOnlyThisStream", testResetOnlyThisStream},
		{"SeveralWritesOneTx", testSeveralWrites},
		{"ResetAfterFlush", testResetAfterFlush},
		{"JSONValues", testJSONValues},
		{"RowMetadata", testRowMetadata},
		{"TxIDs", testTxIDs},
		{"Rejects", testRejects},
		{"Counters", testCounters},
		{"CommitWithoutWrite", testCommitWithoutWrite},
		{"Rollback", testRollback},
		{"ResetStream", testResetStream},
		{"ConcurrentStreams", testConcurrentStreams},
		{"OpenTxDoesNotBlockOthers", testOpenTxDoesNotBlockOthers},
		{"Result", testResult},
		{"LargeBatch", testLargeBatch},
		{"ManyLongTxIDs", testManyLongTxIDs},
		{"PrepareTable", testPrepareTable},
	}
	t.Run("MigrateIdempotent", func(t *testing.T) {
		t.Parallel()
		testMigrate(t, open)
	})
	for _, tt := range slices.Concat(tests, mappingTests, historyTests, firstLoadTests) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, Open(t, open))
		})
	}
	for _, tt := range gatedTests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := Open(t, open)
			if !tt.needs(s.Capabilities()) {
				t.Skipf("the sink's capabilities %+v do not include what this test needs", s.Capabilities())
			}
			tt.fn(t, s)
		})
	}
}

// Open opens a sink with open and migrates it.
func Open(t testing.TB, open func(t *testing.T) sink.Sink) Sink {
	t.Helper()
	tt, ok := t.(*testing.T)
	if !ok {
		panic("sinktest.Open needs a *testing.T")
	}
	s := open(tt)
	if err := s.Migrate(ctx(t)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	is, ok := s.(Sink)
	if !ok {
		t.Fatalf("%T does not implement sink.Inspector", s)
	}
	return is
}

// ctx returns a context that ends with the test (or after a minute).
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// change is a change event for batch.
type change struct {
	typ, key string
	value    string // raw JSON; "" means a delete
	txid     string
	ts       string
	offset   string
}

func upsert(typ, key, value string) change { return change{typ: typ, key: key, value: value} }
func del(typ, key string) change           { return change{typ: typ, key: key} }

// batch builds a batch of changes read at offset "o" (unless a change sets
// its own offset).
func batch(changes ...change) *sink.Batch {
	b := state.NewBatch()
	for _, c := range changes {
		ch := state.Change{Type: c.typ, Key: c.key, Op: state.Upsert, Value: []byte(c.value), TxID: c.txid, Timestamp: c.ts}
		if c.value == "" {
			ch.Op, ch.Value = state.Delete, nil
		}
		off := c.offset
		if off == "" {
			off = "o"
		}
		b.AddChange(ch, off)
	}
	return b
}

// commit writes b in one transaction of stream from offset from to offset
// to, and returns what it committed.
func commit(t testing.TB, s sink.Sink, stream, from, to string, b *sink.Batch) sink.Result {
	t.Helper()
	c := ctx(t)
	tx, err := s.Begin(c, stream, from)
	if err != nil {
		t.Fatalf("begin %s at %s: %v", stream, from, err)
	}
	t.Cleanup(func() { _ = tx.Rollback(context.Background()) })
	// The batch goes with the commit, as the stream loop's last batch does.
	res, err := tx.WriteCommit(c, b, sink.Commit{NextOffset: to, UpToDate: true, Events: int64(b.Events()), Rejects: int64(len(b.Rejects()))})
	if err != nil {
		t.Fatalf("commit %s at %s: %v", stream, to, err)
	}
	return res
}

// checkpoint creates (or reads) the stream's checkpoint, starting at -1.
func checkpoint(t testing.TB, s sink.Sink, stream string) sink.Checkpoint {
	t.Helper()
	cp, err := s.Checkpoint(ctx(t), stream, "http://example.test/v1/stream/"+stream, "-1")
	if err != nil {
		t.Fatalf("checkpoint %s: %v", stream, err)
	}
	return cp
}

// tableOf returns the table registered for typ.
func tableOf(t testing.TB, s Sink, typ string) string {
	t.Helper()
	types, err := s.Types(ctx(t))
	if err != nil {
		t.Fatalf("types: %v", err)
	}
	for _, tt := range types {
		if tt.Type == typ {
			return tt.Table
		}
	}
	t.Fatalf("type %q is not registered (types: %v)", typ, types)
	return ""
}

// rows returns the rows of typ's table as key → value (compacted JSON).
func rows(t testing.TB, s Sink, typ string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range fullRows(t, s, typ) {
		out[r.Key] = canonical(t, r.Value)
	}
	return out
}

// fullRows returns every column of typ's table, ordered by key.
func fullRows(t testing.TB, s Sink, typ string) []sink.Row {
	t.Helper()
	rs, err := s.Rows(ctx(t), tableOf(t, s, typ))
	if err != nil {
		t.Fatalf("rows of %s: %v", typ, err)
	}
	return rs
}

// canonical re-encodes JSON so that equal values compare equal whatever
// spacing or key order the database keeps.
func canonical(t testing.TB, raw []byte) string {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatalf("stored value %q is not JSON: %v", raw, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// wantRows fails unless typ's table holds exactly want (key → JSON value).
func wantRows(t testing.TB, s Sink, typ string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		want[k] = canonical(t, []byte(v))
	}
	if got := rows(t, s, typ); !reflect.DeepEqual(got, want) {
		t.Fatalf("rows of %s:\n got %v\nwant %v", typ, got, want)
	}
}

// wantCheckpoint fails unless the stream's stored offset is offset.
func wantCheckpoint(t testing.TB, s sink.Sink, stream, offset string) sink.Checkpoint {
	t.Helper()
	cps, err := s.Checkpoints(ctx(t))
	if err != nil {
		t.Fatalf("checkpoints: %v", err)
	}
	for _, cp := range cps {
		if cp.Stream == stream {
			if cp.NextOffset != offset {
				t.Fatalf("checkpoint of %s at %q, want %q", stream, cp.NextOffset, offset)
			}
			return cp
		}
	}
	t.Fatalf("no checkpoint for %s in %v", stream, cps)
	return sink.Checkpoint{}
}

// streamNames returns the streams that have a checkpoint.
func streamNames(t testing.TB, s sink.Sink) []string {
	t.Helper()
	cps, err := s.Checkpoints(ctx(t))
	if err != nil {
		t.Fatalf("checkpoints: %v", err)
	}
	var names []string
	for _, cp := range cps {
		names = append(names, cp.Stream)
	}
	return names
}

// wantConflict fails unless err is sink.ErrConflict.
func wantConflict(t testing.TB, err error) {
	t.Helper()
	if !errors.Is(err, sink.ErrConflict) {
		t.Fatalf("got %v, want sink.ErrConflict", err)
	}
}

func keys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%05d", prefix, i)
	}
	slices.Sort(out)
	return out
}
