package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/pgtest"
)

// BenchmarkLiveLatency measures append → committed-row latency while syncd
// tails live: each iteration appends one event to the reference server and
// polls the database (every 200 µs) until its row is visible. It reports the
// p50 and p99 over the iterations; run it with at least 1000 of them:
//
//	go test -run '^$' -bench BenchmarkLiveLatency -benchtime 1000x ./cmd/syncd
//
// Postgres is measured when SYNCD_TEST_DATABASE_URL is set.
func BenchmarkLiveLatency(b *testing.B) {
	srv := dstest.StartT(b, dstest.Options{})
	dbs := []string{"sqlite"}
	if os.Getenv("SYNCD_TEST_DATABASE_URL") != "" {
		dbs = append(dbs, "postgres")
	}
	for _, db := range dbs {
		for _, mode := range []string{"sse", "long-poll"} {
			b.Run(db+"/"+mode, func(b *testing.B) { benchLiveLatency(b, srv, db, mode) })
		}
	}
}

func benchLiveLatency(b *testing.B, srv *dstest.Server, dbKind, mode string) {
	ctx := context.Background()
	name := fmt.Sprintf("latency-%s-%s-%d", dbKind, mode, b.N)
	if err := srv.Create(ctx, name); err != nil {
		b.Fatal(err)
	}
	env, db := latencyDatabase(b, dbKind)
	env = append(env, "SYNCD_STREAMS="+srv.StreamURL(name), "SYNCD_LIVE="+mode, "SYNCD_LOG_LEVEL=error", "SYNCD_HTTP_ADDR=127.0.0.1:0")
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan int, 1)
	var out syncBuffer
	go func() { done <- Main(runCtx, &environment{environ: env, stdout: &out, stderr: &out}, []string{"run"}) }()
	b.Cleanup(func() {
		cancel()
		<-done
	})

	visible := func(key string) bool {
		var one int
		return db.QueryRow(`SELECT 1 FROM lat WHERE key = $1`, key).Scan(&one) == nil
	}
	wait := func(key string) {
		deadline := time.Now().Add(time.Minute)
		for !visible(key) {
			if time.Now().After(deadline) {
				b.Fatalf("row %s not visible after a minute; syncd output:\n%s", key, out.String())
			}
			time.Sleep(200 * time.Microsecond)
		}
	}
	// Warm up: the entity table exists and syncd is tailing live.
	if _, err := srv.Append(ctx, name, change("lat", "warmup", "insert", 0)); err != nil {
		b.Fatal(err)
	}
	wait("warmup")

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		key := fmt.Sprintf("k%d", i)
		start := time.Now()
		if _, err := srv.Append(ctx, name, change("lat", key, "insert", map[string]any{"i": i})); err != nil {
			b.Fatal(err)
		}
		wait(key)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
}

// latencyDatabase returns the environment and a reading connection for a
// fresh SQLite file or Postgres schema.
func latencyDatabase(b *testing.B, kind string) ([]string, *sql.DB) {
	if kind == "sqlite" {
		path := filepath.Join(b.TempDir(), "syncd.db")
		db, err := sql.Open("sqlite", path)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { db.Close() })
		return []string{"SYNCD_DATABASE_URL=sqlite:" + path}, db
	}
	url, schema := pgtest.New(b)
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.RuntimeParams["search_path"] = schema
	db := stdlib.OpenDB(*cfg)
	b.Cleanup(func() { db.Close() })
	return []string{"SYNCD_DATABASE_URL=" + url, "SYNCD_SCHEMA=" + schema}, db
}
