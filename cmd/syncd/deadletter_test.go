package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/syncd-io/syncd/internal/dstest"
)

// TestDeadLetterEveryInvalidKind appends every kind of invalid message the
// decoder knows between valid ones: each lands in syncd_rejects with its raw
// bytes exactly as the server returned them, its position and a reason, and
// the valid messages around it are applied.
func TestDeadLetterEveryInvalidKind(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	invalid := []struct{ raw, reason string }{
		{`{"key":"k","value":1,"headers":{"operation":"insert"}}`, "type is missing"},
		{`{"type":"","key":"k","value":1,"headers":{"operation":"insert"}}`, "type is empty"},
		{`{"type":7,"key":"k","value":1,"headers":{"operation":"insert"}}`, "type is a JSON number"},
		{`{"type":"t","value":1,"headers":{"operation":"insert"}}`, "key is missing"},
		{`{"type":"t","key":"","value":1,"headers":{"operation":"insert"}}`, "key is empty"},
		{`{"type":"t","key":["k"],"value":1,"headers":{"operation":"insert"}}`, "key is a JSON array"},
		{`{"type":"t","key":"k","value":1,"headers":{"operation":"merge"}}`, "unknown operation"},
		{`{"type":"t","key":"k","headers":{"operation":"insert"}}`, "value is missing"},
		{`{"type":"t","key":"k","headers":{"operation":"update"}}`, "value is missing"},
		{`{"type":"t","key":"k","headers":{"operation":"upsert"}}`, "value is missing"},
		{`{"type":"t","key":"k","value":1,"headers":{"operation":"insert","txid":""}}`, "headers.txid is empty"},
		{`{"type":"t","key":"k","value":1,"headers":{"operation":"insert","timestamp":"yesterday"}}`, "not an RFC 3339"},
		{`42`, "JSON number, not an object"},
		{`"just a string"`, "JSON string, not an object"},
		{`[{"type":"t"}]`, "JSON array, not an object"},
		{`null`, "JSON null, not an object"},
		{`{"type":"t","key":"k","value":1}`, "headers is missing"},
		{`{"type":"t","key":"k","value":1,"headers":"insert"}`, "headers is a JSON string"},
		{`{"headers":{"control":"rewind"}}`, "unknown control"},
	}
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		name := "deadletter-" + b.name
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		m := newModel()
		var events []any
		for i, bad := range invalid {
			good := change("t", "good-"+string(rune('a'+i)), "insert", i)
			events = append(events, good, json.RawMessage(bad.raw))
			m.apply(t, name, good)
		}
		if _, err := srv.Append(ctx, name, events...); err != nil {
			t.Fatal(err)
		}
		runOnce(t, b.env("SYNCD_STREAMS="+srv.StreamURL(name)))
		assertTables(t, b, m)

		served := servedMessages(t, srv.StreamURL(name))
		rejects := b.rejects(t, name)
		if len(rejects) != len(invalid) {
			t.Fatalf("%d rejects, want %d: %+v", len(rejects), len(invalid), rejects)
		}
		for i, r := range rejects {
			want := invalid[i]
			if r.Position != 2*i+1 || r.ResponseOffset != "-1" {
				t.Errorf("reject %d at position %d offset %s, want %d and -1", i, r.Position, r.ResponseOffset, 2*i+1)
			}
			if r.Raw != string(served[r.Position]) {
				t.Errorf("reject %d raw = %q, the server served %q", i, r.Raw, served[r.Position])
			}
			if !strings.Contains(r.Reason, want.reason) {
				t.Errorf("reject %d (%s): reason %q, want it to mention %q", i, want.raw, r.Reason, want.reason)
			}
		}
		if _, applied, rejected, _ := b.checkpoint(t, name); applied != int64(len(invalid)) || rejected != int64(len(invalid)) {
			t.Errorf("events_applied=%d rejects=%d, want %d each", applied, rejected, len(invalid))
		}
	})
}

// servedMessages reads the stream from the beginning and returns each
// message's bytes as the server sent them.
func servedMessages(t *testing.T, url string) []json.RawMessage {
	t.Helper()
	resp, err := http.Get(url + "?offset=-1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // [
		t.Fatal(err)
	}
	var out []json.RawMessage
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatal(err)
		}
		out = append(out, raw)
	}
	return out
}
