package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/syncd-io/syncd/internal/jsonscan"
)

// FuzzDecode checks that Decode never panics, classifies every input, and
// returns only changes that satisfy the protocol, with Value a slice of the
// input that is itself valid JSON.
func FuzzDecode(f *testing.F) {
	seeds := []string{
		``, `{`, `[]`, `null`, `"x"`, `1e9`, `{}`, `{"headers":{}}`,
		`{"headers":{"control":"reset"}}`,
		`{"headers":{"control":"snapshot-start","offset":"1_2"}}`,
		`{"headers":{"control":5}}`,
		realisticEvent,
		`{"type":"t","key":"k","headers":{"operation":"delete"}}`,
		`{"type":"t","key":"k","value":null,"headers":{"operation":"upsert","txid":"x","timestamp":"2025-01-15T10:30:00.5+01:00"}}`,
		`{"\u0074ype":"t\ud800","key":"\"k\\","value":[{"a":"}"}],"headers":{"operation":"update"}}`,
		"{\"type\":\"\xff\",\"key\":\"k\",\"value\":\"\xfe\",\"headers\":{\"operation\":\"insert\"}}",
		` { "type" : "t" , "key" : "k" , "value" : -0.0e+1 , "headers" : { "operation" : "insert" } } `,
		`{"type":"t","key":"k","value":1,"value":{},"headers":{"operation":"insert","timestamp":"bad"}}`,
		`{"type":"t","key":"k","value":{"a":{"b":1}},"\u0068eaders":{"operation":"insert"},"old_value":{"c":2}}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var sc jsonscan.Scanner
		if _, ok := sc.Valid(raw); ok != json.Valid(raw) {
			t.Fatalf("jsonscan(%q) = %v, json.Valid says %v", raw, ok, json.Valid(raw))
		}
		in := bytes.Clone(raw)
		ev := Decode(raw)
		if !bytes.Equal(in, raw) {
			t.Fatalf("Decode modified its input")
		}
		// The borrowing decoder says the same, with or without a scan.
		if got := DecodeBorrowed(raw, nil); !reflect.DeepEqual(got, ev) {
			t.Fatalf("DecodeBorrowed(%q) = %+v, Decode says %+v", raw, got, ev)
		}
		// Decode scans with ScanNested; a scan that records every nested
		// member decodes the same.
		if r, ok := sc.Valid(raw); ok {
			if got := DecodeBorrowed(raw, r); !reflect.DeepEqual(got, ev) {
				t.Fatalf("DecodeBorrowed(%q, full scan) = %+v, Decode says %+v", raw, got, ev)
			}
		}
		switch ev.Kind {
		case KindChange:
			checkChange(t, raw, ev.Change)
		case KindControl:
			if ev.Control < SnapshotStart || ev.Control > Reset {
				t.Fatalf("control %d", ev.Control)
			}
		case KindReject:
			if ev.Reason == "" || !utf8.ValidString(ev.Reason) {
				t.Fatalf("reject reason %q", ev.Reason)
			}
		default:
			t.Fatalf("Kind %d", ev.Kind)
		}
		if want := referenceDecode(raw); !sameEvent(ev, want) {
			t.Fatalf("Decode(%q) = %+v, reference decoder says %+v", raw, ev, want)
		}
	})
}

// referenceDecode is a slow, obviously-correct Decode built on maps of
// json.RawMessage (exact member names, last duplicate wins, as JSON.parse).
// Its reasons are not meaningful; only the kind and the change are compared.
func referenceDecode(raw []byte) Event {
	var msg map[string]json.RawMessage
	if json.Unmarshal(raw, &msg) != nil || msg == nil || !utf8.Valid(raw) || holdsNUL(raw) {
		return reject("x")
	}
	var h map[string]json.RawMessage
	if json.Unmarshal(msg["headers"], &h) != nil || h == nil {
		return reject("x")
	}
	if ctl, ok := h["control"]; ok {
		var s string
		_ = json.Unmarshal(ctl, &s)
		controls := map[string]Control{"snapshot-start": SnapshotStart, "snapshot-end": SnapshotEnd, "reset": Reset}
		if c, ok := controls[s]; ok && ctl[0] == '"' {
			return Event{Kind: KindControl, Control: c}
		}
		return reject("x")
	}
	return referenceChange(msg, h)
}

func referenceChange(msg, h map[string]json.RawMessage) Event {
	var c Change
	var op, ts, txid *string
	if json.Unmarshal(msg["type"], &c.Type) != nil || json.Unmarshal(msg["key"], &c.Key) != nil ||
		json.Unmarshal(h["operation"], &op) != nil || op == nil ||
		!optional(h["txid"], &txid) || !optional(h["timestamp"], &ts) ||
		c.Type == "" || c.Key == "" || !strOrAbsent(h["txid"]) || !strOrAbsent(h["timestamp"]) {
		return reject("x")
	}
	ops := map[string]Operation{"insert": Insert, "update": Update, "upsert": Upsert, "delete": Delete}
	if c.Op = ops[*op]; c.Op == 0 {
		return reject("x")
	}
	if txid != nil {
		if c.TxID = *txid; c.TxID == "" {
			return reject("x")
		}
	}
	if ts != nil {
		if _, err := time.Parse(time.RFC3339Nano, *ts); err != nil {
			return reject("x")
		}
		c.Timestamp = *ts
	}
	if v, ok := msg["value"]; c.Op != Delete {
		if !ok {
			return reject("x")
		}
		c.Value = v
	}
	return Event{Kind: KindChange, Change: c}
}

// optional decodes raw into p unless the member is absent.
func optional(raw json.RawMessage, p **string) bool {
	return raw == nil || json.Unmarshal(raw, p) == nil
}

// strOrAbsent reports whether an optional member is absent or a string
// (json.Unmarshal of null into a *string would otherwise accept null).
func strOrAbsent(raw json.RawMessage) bool {
	return raw == nil || raw[0] == '"'
}

// sameEvent compares everything but reject reasons.
func sameEvent(got, want Event) bool {
	if got.Kind != want.Kind {
		return false
	}
	switch got.Kind {
	case KindControl:
		return got.Control == want.Control
	case KindChange:
		g, w := got.Change, want.Change
		return g.Type == w.Type && g.Key == w.Key && g.Op == w.Op && g.TxID == w.TxID &&
			g.Timestamp == w.Timestamp && bytes.Equal(g.Value, w.Value) && (g.Value == nil) == (w.Value == nil)
	}
	return true
}

// checkChange checks the guarantees of a decoded change.
func checkChange(t *testing.T, raw []byte, c Change) {
	t.Helper()
	if c.Type == "" || c.Key == "" || c.Op < Insert || c.Op > Delete {
		t.Fatalf("invalid change %+v", c)
	}
	if c.Op == Delete && c.Value != nil {
		t.Fatalf("delete with Value %q", c.Value)
	}
	if c.Op != Delete && (!json.Valid(c.Value) || !bytes.Contains(raw, c.Value)) {
		t.Fatalf("Value %q is not valid JSON taken from the input", c.Value)
	}
	if c.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, c.Timestamp); err != nil {
			t.Fatalf("accepted timestamp %q: %v", c.Timestamp, err)
		}
	}
}

// realisticEvent is a ~200-byte change as the reference server stores it.
const realisticEvent = `{"type":"message","key":"msg:01JH6Z5C7P3Q","value":{"id":"01JH6Z5C7P3Q","room":"general",` +
	`"author":"alice","text":"Hello, world!","edited":false},"headers":{"operation":"upsert","txid":"tx-8812",` +
	`"timestamp":"2025-01-15T10:30:00.123Z","offset":"0000000000000042_0000000000000211"}}`

func BenchmarkDecode(b *testing.B) {
	raw := []byte(realisticEvent)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if ev := Decode(raw); ev.Kind != KindChange {
			b.Fatal(ev.Reason)
		}
	}
}

func BenchmarkBatchAddChange(b *testing.B) {
	ev := Decode([]byte(realisticEvent))
	batch := NewBatch()
	b.ReportAllocs()
	for b.Loop() {
		batch.AddChange(ev.Change, "0000000000000042_0000000000000211")
	}
}

// BenchmarkBatchCatchUp adds W1-like changes: 100,000 keys of 4 types,
// each rewritten about ten times in a random order, as a catch-up does.
func BenchmarkBatchCatchUp(b *testing.B) {
	ev := Decode([]byte(realisticEvent))
	types := []string{"user", "order", "product", "comment"}
	const keys = 100_000
	changes := make([]Change, 0, keys)
	for i := range keys {
		c := ev.Change
		c.Type, c.Key = types[i%4], fmt.Sprintf("k%07d", i)
		changes = append(changes, c)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	order := make([]int, 1<<20)
	for i := range order {
		order[i] = rng.IntN(keys)
	}
	batch := NewBatch()
	for _, c := range changes {
		batch.AddChange(c, "o")
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		c := changes[order[i&(len(order)-1)]]
		c.Key = strings.Clone(c.Key) // as Decode hands it over: a fresh string
		batch.AddChange(c, "o")
		i++
	}
}

// holdsNUL reports whether any string (or member name) of the JSON document
// raw contains U+0000.
func holdsNUL(raw []byte) bool {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return false
	}
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case string:
			return strings.ContainsRune(x, 0)
		case []any:
			return slices.ContainsFunc(x, walk)
		case map[string]any:
			for k, e := range x {
				if strings.ContainsRune(k, 0) || walk(e) {
					return true
				}
			}
		}
		return false
	}
	return walk(v)
}
