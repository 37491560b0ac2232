package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

// w1Schema has the shape of the W1 values of `make bench` (cmd/syncd-bench):
// formats, a pattern, nested objects, additionalProperties: false.
const w1Schema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "id": {"type": "string"}, "name": {"type": "string", "minLength": 1},
    "email": {"type": "string", "format": "email"}, "version": {"type": "integer", "minimum": 1},
    "score": {"type": "number"}, "active": {"type": "boolean"},
    "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 16},
    "address": {"type": "object", "required": ["city"], "properties": {
      "city": {"type": "string"}, "zip": {"type": "string", "pattern": "^[0-9]{5}$"},
      "geo": {"type": "object", "required": ["lat", "lng"], "properties": {
        "lat": {"type": "number"}, "lng": {"type": "number"}, "verified": {"type": "boolean"}}}}}
  },
  "required": ["id", "name", "email", "version"],
  "additionalProperties": false
}`

// BenchmarkSchemaCatchup measures what validation costs end to end: one
// iteration is a `syncd run --once` catch-up of a W1-shaped stream (four
// entity types, ~260-byte values, inserts, updates, upserts and deletes)
// into a fresh SQLite file, without and with a schema for each of the four
// types. It reports events/s and the syncd process's CPU time per event
// (getrusage: robust on a busy machine, and the reference server is another
// process):
//
//	go test -run '^$' -bench BenchmarkSchemaCatchup -benchtime 3x ./cmd/syncd
func BenchmarkSchemaCatchup(b *testing.B) {
	const events = 100_000
	srv := dstest.StartT(b, dstest.Options{})
	ctx := context.Background()
	name := "schema-bench"
	if err := srv.Create(ctx, name); err != nil {
		b.Fatal(err)
	}
	for _, body := range w1Bodies(events, events/10) {
		if _, err := srv.AppendRaw(ctx, name, body); err != nil {
			b.Fatal(err)
		}
	}
	dir := b.TempDir()
	cfg := writeSchemaConfig(b, dir, "types:\n  user: {schema: w1.json}\n  order: {schema: w1.json}\n  product: {schema: w1.json}\n  comment: {schema: w1.json}\n",
		map[string]string{"w1.json": w1Schema})
	for _, c := range []struct {
		name  string
		extra []string
	}{{"no-schema", nil}, {"schema", []string{cfg}}} {
		b.Run(c.name, func(b *testing.B) {
			var cpu time.Duration
			var wall time.Duration
			for i := 0; b.Loop(); i++ {
				env := append([]string{"SYNCD_DATABASE_URL=sqlite:" + filepath.Join(b.TempDir(), "db"), "SYNCD_HTTP_ADDR=", "SYNCD_LOG_LEVEL=error",
					"SYNCD_STREAMS=" + srv.StreamURL(name)}, c.extra...)
				before, start := cpuTime(b), time.Now()
				if code, out := syncdRun(ctx, env, "run", "--once"); code != 0 {
					b.Fatalf("exit %d: %s", code, out)
				}
				wall += time.Since(start)
				cpu += cpuTime(b) - before
			}
			n := float64(b.N * events)
			b.ReportMetric(n/wall.Seconds(), "events/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/n, "cpu-ns/event")
		})
	}
}

// cpuTime is the user and system CPU time of this process so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// w1Bodies generates a W1-shaped stream as POST bodies of 1000 events.
func w1Bodies(events, keys int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	types := []string{"user", "order", "product", "comment"}
	word := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('a' + rng.IntN(26))
		}
		return string(b)
	}
	live := make([]int, keys)
	var bodies [][]byte
	buf := []byte{'['}
	for seq := range events {
		k, op := seq, "insert"
		if seq >= keys {
			k = rng.IntN(keys)
			switch r := rng.IntN(10); {
			case live[k] == 0:
			case r == 0:
				op = "delete"
			case r < 3:
				op = "upsert"
			default:
				op = "update"
			}
		}
		key := fmt.Sprintf("k%07d", k)
		if len(buf) > 1 {
			buf = append(buf, ',')
		}
		buf = fmt.Appendf(buf, `{"type":%q,"key":%q,"headers":{"operation":%q}`, types[k%len(types)], key, op)
		if op == "delete" {
			live[k] = 0
		} else {
			live[k]++
			buf = fmt.Appendf(buf, `,"value":{"id":%q,"name":%q,"email":"%s@example.com","version":%d,"score":%s,"active":%t,"tags":[%q,%q,%q],"address":{"city":%q,"zip":"%05d","geo":{"lat":%s,"lng":%s,"verified":%t}}}`,
				key, word(12), word(8), live[k], strconv.FormatFloat(float64(rng.IntN(400000))/4, 'f', -1, 64), rng.IntN(2) == 0,
				word(5), word(6), word(4), word(9), 10000+rng.IntN(89999),
				strconv.FormatFloat(float64(rng.IntN(720)-360)/4, 'f', -1, 64), strconv.FormatFloat(float64(rng.IntN(1440)-720)/4, 'f', -1, 64), rng.IntN(3) == 0)
		}
		buf = append(buf, '}')
		if (seq+1)%1000 == 0 || seq == events-1 {
			bodies = append(bodies, append(buf, ']'))
			buf = []byte{'['}
		}
	}
	return bodies
}
