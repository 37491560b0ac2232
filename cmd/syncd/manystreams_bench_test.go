package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

// BenchmarkManyStreams runs the real syncd binary on 1,000 live streams found
// through a glob (the registry), with appends spread over them by background
// writers, and measures append → visible-row latency on randomly chosen
// streams, the process's RSS and its goroutines:
//
//	go test -run '^$' -bench BenchmarkManyStreams -benchtime 500x ./cmd/syncd
//
// Postgres is used when SYNCD_TEST_DATABASE_URL is set, SQLite otherwise.
func BenchmarkManyStreams(b *testing.B) {
	const streams = 1000
	ctx := context.Background()
	srv := dstest.StartT(b, dstest.Options{Registry: true})
	names := createStreams(b, srv, "many", streams)
	kind := benchDatabase()
	env, db := latencyDatabase(b, kind)
	addr := freeAddr(b)
	bin := filepath.Join(b.TempDir(), "syncd")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		b.Fatalf("go build: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "run")
	cmd.Env = append(os.Environ(), append(env, "SYNCD_STREAMS="+srv.URL+"/v1/stream/many/*", "SYNCD_LOG_LEVEL=warn", "SYNCD_HTTP_ADDR="+addr)...)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	count := func() int {
		var n int
		_ = db.QueryRow(`SELECT count(*) FROM lat`).Scan(&n)
		return n
	}
	for i, name := range names { // one row per stream: every stream is live
		if _, err := srv.Append(ctx, name, change("lat", fmt.Sprintf("warm-%d", i), "insert", 0)); err != nil {
			b.Fatal(err)
		}
	}
	for deadline := time.Now().Add(3 * time.Minute); count() < streams; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d streams synced; syncd output:\n%s", count(), streams, out.String())
		}
	}

	// Background writers: appends spread over all streams.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 9))
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				name := names[r.IntN(streams)]
				_, _ = srv.Append(ctx, name, change("load", fmt.Sprintf("%s-%d", name, r.IntN(10)), "upsert", map[string]any{"i": i}))
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	r := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		key := fmt.Sprintf("k%d", i)
		start := time.Now()
		if _, err := srv.Append(ctx, names[r.IntN(streams)], change("lat", key, "insert", map[string]any{"i": i})); err != nil {
			b.Fatal(err)
		}
		for deadline := start.Add(time.Minute); ; time.Sleep(200 * time.Microsecond) {
			var one int
			if db.QueryRow(`SELECT 1 FROM lat WHERE key = $1`, key).Scan(&one) == nil {
				break
			}
			if time.Now().After(deadline) {
				b.Fatalf("row %s not visible after a minute", key)
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(rssBytes(b, cmd.Process.Pid))/(1<<20), "rss-MB")
	b.ReportMetric(scrape(b, addr, "go_goroutines"), "goroutines")
	b.ReportMetric(0, "ns/op")
}

func freeAddr(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// rssBytes reads VmRSS of a process from /proc (Linux).
func rssBytes(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Logf("no RSS: %v", err)
		return 0
	}
	m := regexp.MustCompile(`VmRSS:\s+(\d+) kB`).FindSubmatch(raw)
	if m == nil {
		return 0
	}
	kb, _ := strconv.ParseInt(string(m[1]), 10, 64)
	return kb << 10
}

// scrape reads one unlabelled sample from syncd's /metrics.
func scrape(b *testing.B, addr, name string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return -1
}

// benchDatabase is the database a benchmark writes to: Postgres when
// SYNCD_TEST_DATABASE_URL is set, SQLite otherwise.
func benchDatabase() string {
	if os.Getenv("SYNCD_TEST_DATABASE_URL") != "" {
		return "postgres"
	}
	return "sqlite"
}
