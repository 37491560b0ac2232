// Command syncd-bench is what `make bench` runs: in one run on the local
// machine it starts the pinned Durable Streams reference server (in memory),
// generates the W1 and W2 workloads, and measures side by side the time to
// merely download a stream, the real `syncd run --once` catching it up into
// Postgres and SQLite (wall time and peak RSS), W2 into Postgres against a
// raw COPY of the same rows, and the append → row-visible latency of a live
// syncd over SSE and long-poll. Every catch-up is verified against the state
// the generator expects: a fast wrong answer fails the benchmark.
//
// It prints a table with the min and median of every figure over the runs
// and writes all of them as JSON, for comparison across commits.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/dstest"
)

// defaultPostgres is the local database used when SYNCD_TEST_DATABASE_URL is unset.
const defaultPostgres = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// config is the command line.
type config struct {
	runs       int
	events     int
	keys       int
	w2         int
	liveEvents int
	liveRate   int
	seed       uint64
	jsonPath   string
	skip       map[string]bool
	pgURL      string
	mysqlURL   string
	syncdBin   string
	profileDir string
	serve      bool
	sources    []string      // "mem", "node"
	chunk      int           // memory source: catch-up response size
	memGzip    bool          // memory source: gzip for clients that ask
	memLatency time.Duration // memory source: delay before each catch-up response
	compare    string        // a second syncd binary run back to back on W1
}

// parts are the measurements -skip can leave out.
var parts = []string{"read", "postgres", "sqlite", "schema", "history", "w2", "live", "mysql"}

// sourceNames are the stream servers -source can pick: the in-process
// memory-speed source and the Node reference server.
var sourceNames = []string{"mem", "node"}

func parseFlags() (config, error) {
	var c config
	var skip, sources string
	flag.IntVar(&c.runs, "runs", 3, "measurement runs (figures are reported as min/median)")
	flag.IntVar(&c.events, "events", 1_000_000, "W1 change events")
	flag.IntVar(&c.keys, "keys", 0, "W1 distinct keys (0: events/10)")
	flag.IntVar(&c.w2, "w2", 200_000, "W2 inserts of distinct keys")
	flag.IntVar(&c.liveEvents, "live-events", 2000, "events per live-latency measurement")
	flag.IntVar(&c.liveRate, "live-rate", 100, "live appends per second")
	flag.Uint64Var(&c.seed, "seed", 1, "workload seed")
	flag.StringVar(&c.jsonPath, "json", "bench-results/latest.json", "where to write the results as JSON (empty: nowhere)")
	flag.StringVar(&skip, "skip", "", "comma-separated parts to leave out: "+strings.Join(parts, ", "))
	flag.StringVar(&c.pgURL, "postgres", "", "Postgres URL (default: SYNCD_TEST_DATABASE_URL, else "+defaultPostgres+")")
	flag.StringVar(&c.mysqlURL, "mysql", "", "MySQL/MariaDB server URL without a database (default: SYNCD_TEST_MYSQL_URL, else "+defaultMySQL+")")
	flag.StringVar(&c.syncdBin, "syncd", "", "syncd binary to measure (default: build ./cmd/syncd into a temporary folder)")
	flag.StringVar(&c.profileDir, "profile", "", "instead of measuring, run the W1 catch-ups in-process under the CPU profiler and write the profiles into this folder")
	flag.StringVar(&sources, "source", "mem,node", "comma-separated stream servers to measure W1/W2 from: mem (in-process, memory speed) and node (the reference server)")
	flag.IntVar(&c.chunk, "chunk", 1<<20, "memory source: bytes per catch-up response (Stream-Up-To-Date on the last only)")
	flag.DurationVar(&c.memLatency, "mem-latency", 0, "memory source: delay each catch-up response's headers by this much, as a round trip to a remote server would")
	flag.BoolVar(&c.memGzip, "mem-gzip", false, "memory source: serve gzip (precompressed) to clients that ask, as production servers do")
	flag.StringVar(&c.compare, "compare", "", "a second syncd binary (e.g. built from main): W1 catch-ups from the memory source run with it right after each one with -syncd, into fresh databases, for a before/after within one run")
	flag.BoolVar(&c.serve, "serve", false, "only set up the server with W1 and W2, print their URLs and wait for a signal (for manual profiling)")
	flag.Parse()
	if c.keys <= 0 {
		c.keys = max(c.events/10, 1)
	}
	if c.runs < 1 || c.events < c.keys || c.liveEvents < 1 || c.liveRate < 1 || c.w2 < 1 {
		return c, fmt.Errorf("bad flags: want runs ≥ 1, events ≥ keys, live-events, live-rate and w2 ≥ 1")
	}
	for _, p := range strings.Split(sources, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !contains(sourceNames, p) {
			return c, fmt.Errorf("-source: unknown source %q (want %s)", p, strings.Join(sourceNames, ", "))
		}
		c.sources = append(c.sources, p)
	}
	if len(c.sources) == 0 || c.chunk < 1024 {
		return c, fmt.Errorf("bad flags: want at least one -source and -chunk ≥ 1024")
	}
	c.skip = map[string]bool{}
	for _, p := range strings.Split(skip, ",") {
		if p = strings.TrimSpace(p); p == "" {
			continue
		}
		if !contains(parts, p) {
			return c, fmt.Errorf("-skip: unknown part %q (want %s)", p, strings.Join(parts, ", "))
		}
		c.skip[p] = true
	}
	if c.pgURL == "" {
		c.pgURL = os.Getenv("SYNCD_TEST_DATABASE_URL")
	}
	if c.pgURL == "" {
		c.pgURL = defaultPostgres
	}
	if c.mysqlURL == "" {
		c.mysqlURL = os.Getenv("SYNCD_TEST_MYSQL_URL")
	}
	if c.mysqlURL == "" {
		c.mysqlURL = defaultMySQL
	}
	return c, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func main() {
	c, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "syncd-bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, c); err != nil {
		fmt.Fprintln(os.Stderr, "syncd-bench:", err)
		os.Exit(1)
	}
}

// bench is the state shared by the measurements of one invocation.
type bench struct {
	cfg    config
	srv    *dstest.Server // nil when neither the node source nor live is measured
	mem    *memServer
	pg     *pgx.Conn
	bin    string
	tmp    string
	w1, w2 *workload
}

func run(ctx context.Context, c config) error {
	b := &bench{cfg: c}
	var err error
	if b.tmp, err = os.MkdirTemp("", "syncd-bench-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.tmp)

	logf("generating W1 (%d events over %d keys) and W2 (%d inserts), seed %d", c.events, c.keys, c.w2, c.seed)
	if b.w1, err = genW1(c.events, c.keys, c.seed); err != nil {
		return err
	}
	if b.w2, err = genW2(c.w2, c.seed); err != nil {
		return err
	}
	if b.bin = c.syncdBin; b.bin == "" && c.profileDir == "" && !c.serve {
		logf("building syncd")
		if b.bin, err = buildSyncd(ctx, b.tmp); err != nil {
			return err
		}
	}
	if contains(c.sources, "mem") {
		start := time.Now()
		if b.mem, err = startMem([]*workload{b.w1, b.w2}, c.chunk, c.memGzip, 30*time.Second); err != nil {
			return err
		}
		b.mem.latency = c.memLatency
		defer shutdownMem(context.WithoutCancel(ctx), b.mem)
		logf("memory source ready: catch-up in responses of ≤ %d bytes (gzip: %v, latency %s), %.1f s", c.chunk, c.memGzip, c.memLatency, time.Since(start).Seconds())
	}
	if contains(c.sources, "node") || !c.skip["live"] {
		if b.srv, err = dstest.Start(ctx, dstest.Options{}); err != nil {
			return err
		}
		defer b.srv.Stop()
	}
	for _, w := range []*workload{b.w1, b.w2} {
		if !contains(c.sources, "node") {
			break
		}
		start := time.Now()
		if err := appendWorkload(ctx, b.srv, w); err != nil {
			return err
		}
		logf("appended %s: %d events, %.0f MB in %d POSTs, %.1f s", w.name, w.events, mb(w.bytes), len(w.posts), time.Since(start).Seconds())
	}
	if b.pg, err = pgx.Connect(ctx, c.pgURL); err != nil {
		return fmt.Errorf("connect to Postgres (set SYNCD_TEST_DATABASE_URL): %w", err)
	}
	defer b.pg.Close(context.WithoutCancel(ctx))

	if c.serve {
		for _, src := range c.sources {
			fmt.Printf("%s W1: %s\n%s W2: %s\n", src, b.streamURL(src, b.w1), src, b.streamURL(src, b.w2))
		}
		<-ctx.Done()
		return nil
	}
	if c.profileDir != "" {
		return b.profile(ctx)
	}
	var runs []map[string]float64
	for i := range c.runs {
		logf("run %d of %d", i+1, c.runs)
		r, err := b.measure(ctx, i)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		runs = append(runs, r)
	}
	rep := newReport(c, runs)
	rep.print(os.Stdout)
	if c.jsonPath != "" {
		if err := rep.write(c.jsonPath); err != nil {
			return err
		}
		logf("wrote %s", c.jsonPath)
	}
	return nil
}

// appendWorkload creates the workload's stream and appends its POSTs in order.
func appendWorkload(ctx context.Context, srv *dstest.Server, w *workload) error {
	if err := srv.Create(ctx, w.name); err != nil {
		return err
	}
	for _, body := range w.posts {
		if _, err := srv.AppendRaw(ctx, w.name, body); err != nil {
			return fmt.Errorf("append %s: %w", w.name, err)
		}
	}
	return nil
}

// streamURL is the URL of w's stream on source src.
func (b *bench) streamURL(src string, w *workload) string {
	if src == "mem" {
		return b.mem.StreamURL(w.name)
	}
	return b.srv.StreamURL(w.name)
}

// prefix is the key prefix of a source's figures: none for the Node server
// (the keys of earlier results), "mem_" for the memory source.
func prefix(src string) string {
	if src == "mem" {
		return "mem_"
	}
	return ""
}

// measure does one run of every part not skipped and returns its figures.
// Every source is measured in turn within the run, each database's floor
// right after syncd's catch-up into it, so ratios compare like with like.
func (b *bench) measure(ctx context.Context, run int) (map[string]float64, error) {
	c, r := b.cfg, map[string]float64{}
	for _, src := range c.sources {
		if err := b.measureW1(ctx, run, src, r); err != nil {
			return nil, err
		}
	}
	if !c.skip["schema"] && contains(c.sources, "node") {
		if err := b.measureSchema(ctx, run, r); err != nil {
			return nil, err
		}
	}
	if !c.skip["history"] {
		if err := b.measureHistory(ctx, run, r); err != nil {
			return nil, err
		}
	}
	if !c.skip["w2"] {
		for _, src := range c.sources {
			if err := b.measureW2(ctx, run, src, r); err != nil {
				return nil, err
			}
		}
	}
	if !c.skip["mysql"] && b.srv != nil { // the MariaDB part reads from the reference server
		if err := b.measureMySQL(ctx, run, r); err != nil {
			return nil, err
		}
	}
	if !c.skip["live"] {
		if err := b.measureLive(ctx, run, r); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// measureW1 measures W1 from one source: pure read, read + split, and the
// catch-up into each database with its floor.
func (b *bench) measureW1(ctx context.Context, run int, src string, r map[string]float64) error {
	c, p := b.cfg, prefix(src)
	w1URL := b.streamURL(src, b.w1)
	if !c.skip["read"] {
		d, n, err := pureRead(ctx, w1URL)
		if err != nil {
			return err
		}
		r[p+"read_w1_s"], r[p+"read_w1_mb"] = d.Seconds(), mb(n)
		logf("  [%s] pure read W1: %.2f s (%.0f MB)", src, d.Seconds(), mb(n))
		if d, err = readSplit(ctx, w1URL, b.w1.events); err != nil {
			return err
		}
		r[p+"split_w1_s"] = d.Seconds()
		logf("  [%s] read + split W1: %.2f s", src, d.Seconds())
	}
	for _, dialect := range []string{"postgres", "sqlite"} {
		if c.skip[dialect] {
			continue
		}
		t, cleanup, err := b.target(ctx, dialect, fmt.Sprintf("%sw1_%d", p, run))
		if err != nil {
			return err
		}
		d, rss, err := runOnce(ctx, b.bin, t, b.w1.name+"="+w1URL)
		if err == nil {
			err = b.verify(ctx, t, b.w1)
		}
		var floor time.Duration
		if err == nil {
			if dialect == "postgres" {
				floor, err = floorPostgres(ctx, b.pg, t)
			} else {
				floor, err = floorSQLite(ctx, t)
			}
		}
		cleanup()
		if err != nil {
			return fmt.Errorf("W1 from %s into %s: %w", src, dialect, err)
		}
		key := p + "w1_" + dialect
		r[key+"_s"], r[key+"_rss_mb"], r[key+"_floor_s"] = d.Seconds(), mb(rss), floor.Seconds()
		read := r[p+"read_w1_s"]
		if read > 0 {
			r[key+"_ratio"] = d.Seconds() / read
			r[key+"_floor_ratio"] = d.Seconds() / (read + floor.Seconds())
		}
		logf("  [%s] W1 → %s: %.2f s, peak RSS %.0f MB, verified; floor (INSERT … SELECT) %.2f s; ÷ (read + floor) %.2f",
			src, dialect, d.Seconds(), mb(rss), floor.Seconds(), r[key+"_floor_ratio"])
		if c.compare != "" && src == "mem" { // the Node server dominates its own figures
			if err := b.compareW1(ctx, run, src, dialect, w1URL, r); err != nil {
				return err
			}
		}
	}
	return nil
}

// compareW1 runs the -compare binary on W1 into a fresh database right
// after the -syncd one, verified the same way.
func (b *bench) compareW1(ctx context.Context, run int, src, dialect, url string, r map[string]float64) error {
	p := prefix(src)
	t, cleanup, err := b.target(ctx, dialect, fmt.Sprintf("%sw1cmp_%d", p, run))
	if err != nil {
		return err
	}
	defer cleanup()
	d, rss, err := runOnce(ctx, b.cfg.compare, t, b.w1.name+"="+url)
	if err == nil {
		err = b.verify(ctx, t, b.w1)
	}
	if err != nil {
		return fmt.Errorf("W1 from %s into %s with -compare: %w", src, dialect, err)
	}
	key := p + "w1_" + dialect
	r[key+"_compare_s"], r[key+"_compare_rss_mb"] = d.Seconds(), mb(rss)
	r[key+"_vs_compare"] = r[key+"_s"] / d.Seconds()
	logf("  [%s] W1 → %s with -compare: %.2f s, peak RSS %.0f MB, verified; -syncd ÷ -compare %.2f", src, dialect, d.Seconds(), mb(rss), r[key+"_vs_compare"])
	return nil
}

// measureSchema times the W1 catch-up into Postgres with a JSON Schema on
// each of its four types (issue 9's validation cost), verified like the rest.
func (b *bench) measureSchema(ctx context.Context, run int, r map[string]float64) error {
	dir, err := os.MkdirTemp("", "syncd-bench-schema-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfgPath, err := writeSchemaConfig(dir)
	if err != nil {
		return err
	}
	t, cleanup, err := b.target(ctx, "postgres", fmt.Sprintf("w1s_%d", run))
	if err != nil {
		return err
	}
	defer cleanup()
	d, rss, err := runOnce(ctx, b.bin, t, b.w1.name+"="+b.srv.StreamURL(b.w1.name), "SYNCD_CONFIG="+cfgPath)
	if err == nil {
		err = b.verify(ctx, t, b.w1)
	}
	if err != nil {
		return fmt.Errorf("W1 with schemas into postgres: %w", err)
	}
	r["w1_postgres_schema_s"], r["w1_postgres_schema_rss_mb"] = d.Seconds(), mb(rss)
	if plain := r["w1_postgres_s"]; plain > 0 {
		r["w1_postgres_schema_cost_s"] = d.Seconds() - plain
	}
	logf("  W1 → postgres with a schema per type: %.2f s, peak RSS %.0f MB, verified", d.Seconds(), mb(rss))
	return nil
}

// measureW2 times W2 from src into Postgres with syncd, the Postgres sink
// alone and a raw COPY, back to back.
func (b *bench) measureW2(ctx context.Context, run int, src string, r map[string]float64) error {
	p := prefix(src)
	url := b.streamURL(src, b.w2)
	d, _, err := pureRead(ctx, url)
	if err != nil {
		return err
	}
	r[p+"read_w2_s"] = d.Seconds()
	t, cleanup, err := b.target(ctx, "postgres", fmt.Sprintf("%sw2_%d", p, run))
	if err != nil {
		return err
	}
	defer cleanup()
	d, _, err = runOnce(ctx, b.bin, t, b.w2.name+"="+url)
	if err == nil {
		err = b.verify(ctx, t, b.w2)
	}
	if err != nil {
		return fmt.Errorf("W2 into postgres: %w", err)
	}
	cp, err := rawCopy(ctx, b.pg, t.schema, b.w2.rows)
	if err != nil {
		return err
	}
	st, sclean, err := b.target(ctx, "postgres", fmt.Sprintf("%sw2sink_%d", p, run))
	if err != nil {
		return err
	}
	defer sclean()
	sw, err := sinkWrite(ctx, b.cfg.pgURL, st.schema, b.w2)
	if err == nil {
		err = b.verify(ctx, st, b.w2)
	}
	if err != nil {
		return fmt.Errorf("W2 through the Postgres sink: %w", err)
	}
	n := float64(b.w2.events)
	r[p+"w2_sink_s"], r[p+"w2_sink_rows_per_s"], r[p+"w2_sink_copy_ratio"] = sw.Seconds(), n/sw.Seconds(), cp.Seconds()/sw.Seconds()
	r[p+"w2_postgres_s"], r[p+"w2_postgres_rows_per_s"] = d.Seconds(), n/d.Seconds()
	r[p+"copy_s"], r[p+"copy_rows_per_s"] = cp.Seconds(), n/cp.Seconds()
	r[p+"w2_copy_ratio"] = cp.Seconds() / d.Seconds()
	logf("  [%s] W2 → postgres: %.2f s (%.0f rows/s, verified); sink write alone %.2f s (%.0f rows/s, verified); raw COPY %.2f s (%.0f rows/s); pure read %.2f s",
		src, d.Seconds(), n/d.Seconds(), sw.Seconds(), n/sw.Seconds(), cp.Seconds(), n/cp.Seconds(), r[p+"read_w2_s"])
	return nil
}

// liveModes are the live-latency measurements: database and tailing mode.
var liveModes = []struct{ dialect, mode string }{
	{"postgres", "sse"}, {"postgres", "long-poll"}, {"sqlite", "sse"},
}

func (b *bench) measureLive(ctx context.Context, run int, r map[string]float64) error {
	for _, m := range liveModes {
		if b.cfg.skip[m.dialect] {
			continue
		}
		name := fmt.Sprintf("live_%s_%s", m.dialect, strings.ReplaceAll(m.mode, "-", ""))
		t, cleanup, err := b.target(ctx, m.dialect, fmt.Sprintf("%s_%d", name, run))
		if err != nil {
			return err
		}
		res, err := measureLive(ctx, b.bin, b.srv, t, fmt.Sprintf("%s-%d", name, run), m.mode, b.cfg.liveEvents, b.cfg.liveRate, b.cfg.pgURL)
		cleanup()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		r[name+"_p50_ms"], r[name+"_p99_ms"] = ms(res.P50), ms(res.P99)
		logf("  live %s over %s: p50 %.1f ms, p99 %.1f ms, max %.1f ms (%d events at %d/s)",
			m.dialect, m.mode, ms(res.P50), ms(res.P99), ms(res.Max), b.cfg.liveEvents, b.cfg.liveRate)
	}
	return nil
}

// target prepares a fresh database for one measurement: a new Postgres
// schema or a new SQLite file. cleanup drops it.
func (b *bench) target(ctx context.Context, dialect, name string) (target, func(), error) {
	if dialect == "sqlite" {
		path := filepath.Join(b.tmp, name+".db")
		cleanup := func() {
			for _, s := range []string{"", "-wal", "-shm"} {
				_ = os.Remove(path + s)
			}
		}
		cleanup()
		return target{dialect: dialect, url: "sqlite:" + path, path: path}, cleanup, nil
	}
	schema := fmt.Sprintf("syncd_bench_%d_%s", os.Getpid(), name)
	drop := "DROP SCHEMA IF EXISTS " + pgx.Identifier{schema}.Sanitize() + " CASCADE"
	if _, err := b.pg.Exec(ctx, drop); err != nil {
		return target{}, nil, err
	}
	cleanup := func() { _, _ = b.pg.Exec(context.WithoutCancel(ctx), drop) }
	return target{dialect: dialect, url: b.cfg.pgURL, schema: schema}, cleanup, nil
}

func (b *bench) verify(ctx context.Context, t target, w *workload) error {
	db, err := openTarget(t, b.cfg.pgURL)
	if err != nil {
		return err
	}
	defer db.Close()
	return verifyTables(ctx, db, w.name, w)
}

func mb(n int64) float64         { return float64(n) / (1 << 20) }
func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// machine describes where the figures were measured.
func machine() map[string]any {
	m := map[string]any{"cpus": runtime.NumCPU(), "goos": runtime.GOOS, "goarch": runtime.GOARCH, "go": runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		if _, err := fmt.Sscanf(string(b), "MemTotal: %d kB", &kb); err == nil {
			m["memory_gb"] = float64(kb) / (1 << 20)
		}
	}
	return m
}
