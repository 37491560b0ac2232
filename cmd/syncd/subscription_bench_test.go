package main

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

// BenchmarkSubscriptionVsSSE runs the real syncd binary over N streams under
// one glob, once per mode: a pull-wake subscription (SYNCD_SUBSCRIPTION) and
// one SSE connection per stream (discovery through the registry). After every
// stream is synced, 1 % of the streams receive an append each second for the
// measured period; it reports append → visible-row p50/p99, and at the end the
// process's RSS, goroutines and established TCP connections to the server:
//
//	SYNCD_TEST_BENCH_STREAMS=10000 SYNCD_TEST_BENCH_SECONDS=30 \
//	  go test -run '^$' -bench BenchmarkSubscriptionVsSSE -benchtime 1x -timeout 60m ./cmd/syncd
//
// N defaults to 1,000 and the period to 20 s; SYNCD_TEST_BENCH_MODES=subscription
// runs one mode. Postgres is used when SYNCD_TEST_DATABASE_URL is set, SQLite
// otherwise.
func BenchmarkSubscriptionVsSSE(b *testing.B) {
	n := benchEnv(b, "SYNCD_TEST_BENCH_STREAMS", 1000)
	period := time.Duration(benchEnv(b, "SYNCD_TEST_BENCH_SECONDS", 20)) * time.Second
	ctx := context.Background()
	srv := dstest.StartT(b, dstest.Options{Registry: true})
	port := serverPort(b, srv)
	names := createStreams(b, srv, "bench/s", n)
	kind := benchDatabase()
	bin := filepath.Join(b.TempDir(), "syncd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	modes := []string{"subscription", "sse"}
	if m := os.Getenv("SYNCD_TEST_BENCH_MODES"); m != "" {
		modes = strings.Split(m, ",")
	}
	for _, mode := range modes {
		b.Run(mode, func(b *testing.B) {
			env, db := latencyDatabase(b, kind)
			addr := freeAddr(b)
			env = append(env, "SYNCD_STREAMS="+srv.URL+"/v1/stream/bench/s/*", "SYNCD_LOG_LEVEL=warn",
				"SYNCD_HTTP_ADDR="+addr, "SYNCD_METRICS_PER_STREAM=off")
			if mode == "subscription" {
				env = append(env, "SYNCD_SUBSCRIPTION=bench-"+kind)
			}
			cmd := exec.Command(bin, "run")
			cmd.Env = append(os.Environ(), env...)
			var out syncBuffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

			// Every stream gets one row of this mode and must be synced first.
			warm := time.Now()
			for i, name := range names {
				if _, err := srv.Append(ctx, name, change("lat", fmt.Sprintf("%s-warm-%d", mode, i), "insert", 0)); err != nil {
					b.Fatal(err)
				}
			}
			count := func() int {
				var c int
				_ = db.QueryRow(`SELECT count(*) FROM lat WHERE key LIKE $1`, mode+"-warm-%").Scan(&c)
				return c
			}
			for deadline := time.Now().Add(10 * time.Minute); count() < n; time.Sleep(100 * time.Millisecond) {
				if time.Now().After(deadline) {
					b.Fatalf("only %d of %d streams synced; syncd output:\n%s", count(), n, out.String())
				}
			}
			b.Logf("%s: %d streams synced %s after the first append", mode, n, time.Since(warm).Round(time.Millisecond))

			b.ResetTimer()
			lat := measureLatency(b, srv, db, names, mode, period)
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
			rss := float64(rssBytes(b, cmd.Process.Pid)) / (1 << 20)
			conns := establishedConns(b, cmd.Process.Pid, port)
			gor := scrape(b, addr, "go_goroutines")
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
			b.ReportMetric(rss, "rss-MB")
			b.ReportMetric(gor, "goroutines")
			b.ReportMetric(float64(conns), "tcp-conns")
			b.ReportMetric(0, "ns/op")
			b.Logf("| %s | %d | %d | %.0f | %.0f | %d | %.1f | %.1f |", mode, n, len(lat), rss, gor, conns, pct(0.50), pct(0.99))
		})
	}
}

func benchEnv(b *testing.B, name string, def int) int {
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 1 {
		b.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return v
}

// measureLatency appends to 1 % of the streams each second (spread over
// 100 ms ticks) for period, and returns each append's time until its row was
// visible in the database, polled every 5 ms.
func measureLatency(b *testing.B, srv *dstest.Server, db *sql.DB, names []string, mode string, period time.Duration) []time.Duration {
	b.Helper()
	ctx := context.Background()
	perTick := max(1, len(names)/1000)
	var mu sync.Mutex
	sent := map[string]time.Time{}
	var lat []time.Duration
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // the appender
		defer close(done)
		r := rand.New(rand.NewPCG(3, 4))
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		i := 0
		for end := time.Now().Add(period); time.Now().Before(end); <-tick.C {
			for range perTick {
				key := fmt.Sprintf("%s-p-%d", mode, i)
				i++
				mu.Lock()
				sent[key] = time.Now()
				mu.Unlock()
				if _, err := srv.Append(ctx, names[r.IntN(len(names))], change("lat", key, "insert", map[string]any{"i": i})); err != nil {
					b.Error(err)
					return
				}
			}
		}
	})
	poll := func() int {
		mu.Lock()
		keys := make([]any, 0, len(sent))
		for k := range sent {
			if len(keys) == 500 {
				break
			}
			keys = append(keys, k)
		}
		mu.Unlock()
		if len(keys) == 0 {
			return 0
		}
		marks := make([]string, len(keys))
		for i := range keys {
			marks[i] = "$" + strconv.Itoa(i+1)
		}
		rows, err := db.Query(`SELECT key FROM lat WHERE key IN (`+strings.Join(marks, ",")+`)`, keys...)
		if err != nil {
			return len(keys)
		}
		now := time.Now()
		mu.Lock()
		for rows.Next() {
			var k string
			if rows.Scan(&k) == nil {
				if t, ok := sent[k]; ok {
					lat = append(lat, now.Sub(t))
					delete(sent, k)
				}
			}
		}
		left := len(sent)
		mu.Unlock()
		rows.Close()
		return left
	}
	deadline := time.Time{}
	for {
		left := poll()
		select {
		case <-done:
			if deadline.IsZero() {
				deadline = time.Now().Add(2 * time.Minute)
			}
			if left == 0 {
				wg.Wait()
				return lat
			}
			if time.Now().After(deadline) {
				b.Fatalf("%d rows still not visible 2 minutes after the last append", left)
			}
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
}
