package sinktest

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/table"
)

// firstLoadTests are the tests of large batches into tables that hold no
// row yet, which a dialect may write in a first-load path (plain inserts,
// no deletes) instead of upserts; Run runs them with the rest.
var firstLoadTests = []struct {
	name string
	fn   func(t *testing.T, s Sink)
}{
	{"FirstLoad", testFirstLoad},
	{"FirstLoadKeyScopeStream", testFirstLoadKeyScopeStream},
	{"FirstLoadOverTombstone", testFirstLoadOverTombstone},
}

// firstLoadRows is the size of the first-load batches: past every
// dialect's bulk threshold (Postgres copies from 1000 rows).
const firstLoadRows = 1200

// loadBatch returns firstLoadRows upserts of typ, keys k00000…, value
// {"i":N} (the key's number), txid "t", read at offset "1", with the keys
// of skip left out and the keys of deletes deleted instead.
func loadBatch(typ string, skip, deletes []string) (changes []change, want map[string]string) {
	want = map[string]string{}
	for i := range firstLoadRows {
		key := fmt.Sprintf("k%05d", i)
		switch {
		case slices.Contains(skip, key):
		case slices.Contains(deletes, key):
			changes = append(changes, change{typ: typ, key: key, txid: "t", offset: "1"})
		default:
			value := fmt.Sprintf(`{"i":%d}`, i)
			changes = append(changes, change{typ: typ, key: key, value: value, txid: "t", offset: "1"})
			want[key] = value
		}
	}
	return changes, want
}

// testFirstLoad: one large batch into a table that is empty and into one
// that is not. In the empty one, deletes of keys never written and a key
// written then deleted within the batch leave nothing. In the other, a row
// of another stream under a key of the batch is taken over, a row of the
// stream is updated, and a delete removes the stream's row.
func testFirstLoad(t *testing.T, s Sink) {
	checkpoint(t, s, "s")
	checkpoint(t, s, "other")
	commit(t, s, "other", "-1", "o", batch(upsert("held", "k00007", `"theirs"`)))
	commit(t, s, "s", "-1", "0", batch(upsert("held", "k00008", `"old"`), upsert("held", "k00009", `"doomed"`)))

	fresh, wantFresh := loadBatch("fresh", nil, []string{"k00003"})
	held, wantHeld := loadBatch("held", nil, []string{"k00009"})
	b := state.NewBatch()
	addAll := func(changes []change) {
		for _, c := range changes {
			ch := state.Change{Type: c.typ, Key: c.key, Op: state.Upsert, Value: []byte(c.value), TxID: c.txid}
			if c.value == "" {
				ch.Op, ch.Value = state.Delete, nil
			}
			b.AddChange(ch, c.offset)
		}
	}
	// k00003 of fresh is written before it is deleted; x… are never written.
	addAll([]change{{typ: "fresh", key: "k00003", value: `"brief"`, offset: "1"}})
	for i := range 300 {
		addAll([]change{{typ: "fresh", key: fmt.Sprintf("x%05d", i), offset: "1"}})
	}
	addAll(fresh)
	addAll(held)
	commit(t, s, "s", "0", "1", b)
	wantRows(t, s, "fresh", wantFresh)
	wantRows(t, s, "held", wantHeld)
	for _, typ := range []string{"fresh", "held"} {
		for _, r := range fullRows(t, s, typ) {
			if r.Stream != "s" || r.TxID != "t" || r.SyncedOffset != "1" {
				t.Fatalf("%s row %s: stream %q txid %q synced_offset %q, want s, t, 1", typ, r.Key, r.Stream, r.TxID, r.SyncedOffset)
			}
		}
	}
}

// testFirstLoadKeyScopeStream: in key scope stream, a large batch of a
// stream that has no row in the table yet leaves the rows of another
// stream under the same keys alone, deletes included.
func testFirstLoadKeyScopeStream(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "msg", KeyScope: table.ScopeStream}}})
	checkpoint(t, s, "s")
	checkpoint(t, s, "other")
	commit(t, s, "other", "-1", "o", batch(upsert("msg", "k00001", `"theirs"`), upsert("msg", "k00002", `"theirs too"`)))
	changes, want := loadBatch("msg", nil, []string{"k00002"})
	commit(t, s, "s", "-1", "1", batch(changes...))
	var got, wantAll []string
	for _, r := range fullRows(t, s, "msg") {
		got = append(got, r.Stream+"/"+r.Key+"="+canonical(t, r.Value))
	}
	for k, v := range want {
		wantAll = append(wantAll, "s/"+k+"="+canonical(t, []byte(v)))
	}
	wantAll = append(wantAll, `other/k00001="theirs"`, `other/k00002="theirs too"`)
	slices.Sort(got)
	slices.Sort(wantAll)
	if strings.Join(got, " ") != strings.Join(wantAll, " ") {
		t.Fatalf("rows: got %d, want %d; first difference at %d", len(got), len(wantAll), firstDiff(got, wantAll))
	}
}

// testFirstLoadOverTombstone: with soft deletes, a table whose only row
// is a tombstone is not empty: a large batch revives the tombstone's key
// and marks the live row it deletes.
func testFirstLoadOverTombstone(t *testing.T, s Sink) {
	configure(t, s, table.Mapping{Types: []table.TypeMapping{{Type: "user", Deletes: table.DeletesSoft}}})
	checkpoint(t, s, "s")
	commit(t, s, "s", "-1", "0", batch(upsert("user", "k00005", `{"old":1}`), upsert("user", "k01300", `{"live":1}`)))
	commit(t, s, "s", "0", "0b", batch(del("user", "k00005")))
	changes, want := loadBatch("user", nil, nil)
	changes = append(changes, change{typ: "user", key: "k01300", offset: "1"})
	commit(t, s, "s", "0b", "1", batch(changes...))
	rows := softRows(t, s, "user")
	if len(rows) != len(want)+1 {
		t.Fatalf("%d rows, want %d", len(rows), len(want)+1)
	}
	if got, wantRow := rows[5], `s/k00005={"i":5} live t NULL 1`; got != wantRow {
		t.Fatalf("revived row = %q, want %q", got, wantRow)
	}
	if got, wantRow := rows[len(rows)-1], `s/k01300={"live":1} deleted NULL NULL 1`; got != wantRow {
		t.Fatalf("deleted row = %q, want %q", got, wantRow)
	}
}

// firstDiff returns the first index where a and b differ.
func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
