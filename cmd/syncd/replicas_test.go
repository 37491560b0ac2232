package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/mysqltest"
	"github.com/syncd-io/syncd/internal/pgtest"
)

// fleetLog records what the test appended to many streams, to compute the
// expected rows and each stream's count of change events.
type fleetLog struct {
	mu       sync.Mutex
	m        *model
	changes  map[string]int
	appended int // batches appended so far
}

func (f *fleetLog) append(t *testing.T, srv *dstest.Server, name string, events ...any) error {
	if _, err := srv.Append(context.Background(), name, events...); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	before := f.m.changes
	f.m.apply(t, name, events...)
	f.changes[name] += f.m.changes - before
	f.appended++
	return nil
}

// awaitAppends waits until n more batches were appended, so that a replica
// is stopped or a run ends while writes are in flight.
func (f *fleetLog) awaitAppends(t *testing.T, n int) {
	t.Helper()
	f.mu.Lock()
	target := f.appended + n
	f.mu.Unlock()
	eventually(t, 30*time.Second, fmt.Sprintf("%d more appended batches", n), func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.appended >= target
	})
}

// appendLoop appends small batches to random streams until stop closes.
func (f *fleetLog) appendLoop(t *testing.T, srv *dstest.Server, names []string, seed uint64, stop <-chan struct{}) <-chan error {
	done := make(chan error, 1)
	go func() {
		r := rand.New(rand.NewPCG(seed, 1))
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			name := names[r.IntN(len(names))]
			events := []any{
				change("item", fmt.Sprintf("%s-%d", name, r.IntN(5)), "upsert", map[string]any{"i": i}),
				change("item", fmt.Sprintf("%s-%d", name, r.IntN(5)), []string{"update", "delete"}[r.IntN(2)], map[string]any{"i": i}),
			}
			if err := f.append(t, srv, name, events...); err != nil {
				done <- err
				return
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	return done
}

// assertExact waits until every stream's checkpoint is the server's tail,
// then checks the rows and that events_applied equals the change events.
func (f *fleetLog) assertExact(t *testing.T, srv *dstest.Server, b *backend, names []string) {
	t.Helper()
	eventually(t, 30*time.Second, "every stream to reach its tail", func() bool {
		for _, name := range names {
			tail, err := srv.Tail(context.Background(), name)
			if err != nil {
				t.Fatal(err)
			}
			var off string
			if b.open(t).QueryRow(`SELECT next_offset FROM syncd_checkpoints WHERE stream = `+b.param(), name).Scan(&off) != nil || off != tail {
				return false
			}
		}
		return true
	})
	assertTables(t, b, f.m)
	for _, name := range names {
		if _, applied, _, _ := b.checkpoint(t, name); applied != int64(f.changes[name]) {
			t.Errorf("%s: events_applied = %d, want %d (double-apply or loss)", name, applied, f.changes[name])
		}
	}
}

// owners returns the unexpired lease count of each owner (nil before the
// migrations ran).
func owners(t *testing.T, b *backend) map[string]int {
	t.Helper()
	rs, err := b.open(t).Query(`SELECT owner, count(*) FROM syncd_leases WHERE expires_at > now() GROUP BY owner`)
	if err != nil {
		return nil // not migrated yet
	}
	defer rs.Close()
	out := map[string]int{}
	for rs.Next() {
		var o string
		var n int
		if err := rs.Scan(&o, &n); err != nil {
			t.Fatal(err)
		}
		out[o] = n
	}
	return out
}

// leaseRows counts owner's lease rows, expired or not.
func leaseRows(t *testing.T, b *backend, owner string) int {
	t.Helper()
	var n int
	if err := b.open(t).QueryRow(`SELECT count(*) FROM syncd_leases WHERE owner = `+b.param(), owner).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// fenceRefusal is what a stream loop logs when the checkpoint
// compare-and-set turned its commit away (another writer moved it first).
const fenceRefusal = "checkpoint moved by another writer"

// TestReplicas runs three real syncd processes with leases against one
// Postgres (and one MySQL/MariaDB database) and 50 streams receiving appends. They share the streams; a
// SIGKILLed replica's streams are taken over within the lease TTL; a
// gracefully stopped one hands over at once; every stream ends exact, each
// change applied once.
func TestReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("runs three syncd processes")
	}
	t.Run("postgres", func(t *testing.T) {
		url, schema := pgtest.New(t)
		testReplicas(t, &backend{name: "postgres", url: url, schema: schema, owner: t})
	})
	t.Run("mysql", func(t *testing.T) {
		testReplicas(t, &backend{name: "mysql", url: mysqltest.New(t), owner: t})
	})
}

func testReplicas(t *testing.T, b *backend) {
	const ttl = 2 * time.Second
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	var names, urls []string
	for i := range 50 {
		name := fmt.Sprintf("replicas/s%02d", i)
		if err := srv.Create(context.Background(), name); err != nil {
			t.Fatal(err)
		}
		names, urls = append(names, name), append(urls, srv.StreamURL(name))
	}
	env := b.env("SYNCD_STREAMS="+strings.Join(urls, ","), "SYNCD_LEASES=on", "SYNCD_LEASE_TTL="+ttl.String(), "SYNCD_LOG_LEVEL=info")
	procs := map[string]*proc{}
	for _, id := range []string{"a", "b", "c"} {
		procs[id] = startProc(t, append(env, "SYNCD_REPLICA_ID="+id), "run")
	}
	f := &fleetLog{m: newModel(), changes: map[string]int{}}
	stop := make(chan struct{})
	appended := f.appendLoop(t, srv, names, 7, stop)

	eventually(t, 20*time.Second, "three replicas to share the 50 leases", func() bool {
		o := owners(t, b)
		return len(o) == 3 && o["a"]+o["b"]+o["c"] == 50 && o["a"] >= 10 && o["b"] >= 10 && o["c"] >= 10
	})
	t.Logf("leases: %v", owners(t, b))

	// SIGKILL a: its leases expire and b and c take its streams. The wait
	// bounds only how long the test waits; the takeover time is logged.
	f.awaitAppends(t, 50)
	_ = procs["a"].cmd.Process.Signal(syscall.SIGKILL)
	<-procs["a"].done
	killed := time.Now()
	eventually(t, 30*time.Second, "b and c to take over a's streams", func() bool {
		o := owners(t, b)
		return o["a"] == 0 && o["b"]+o["c"] == 50
	})
	t.Logf("takeover after SIGKILL: %s (TTL %s); leases %v", time.Since(killed).Round(time.Millisecond), ttl, owners(t, b))

	// SIGTERM b: it deletes its lease rows on the way out (rather than
	// leaving them to expire), so c can take them at its next round.
	f.awaitAppends(t, 50)
	_ = procs["b"].cmd.Process.Signal(syscall.SIGTERM)
	if err := <-procs["b"].done; err != nil {
		t.Fatalf("b: %v\n%s", err, procs["b"].out)
	}
	stopped := time.Now()
	if n := leaseRows(t, b, "b"); n != 0 {
		t.Fatalf("b left %d lease rows behind after a graceful stop", n)
	}
	eventually(t, 30*time.Second, "c to take over b's streams", func() bool { return owners(t, b)["c"] == 50 })
	t.Logf("handover after SIGTERM: %s (TTL %s)", time.Since(stopped).Round(time.Millisecond), ttl)

	f.awaitAppends(t, 50)
	close(stop)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	f.assertExact(t, srv, b, names)
	if t.Failed() {
		t.Logf("c's log:\n%s", procs["c"].out)
	}
}

// TestSplitBrain forces two replicas to both run one stream: one holds the
// lease, the other skips the lease check (SYNCD_LEASES=off). Every batch is
// still applied once, because the checkpoint compare-and-set rejects the
// loser of each race; the test goes on appending until it has seen the
// fence refuse a commit.
func TestSplitBrain(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two syncd processes")
	}
	url, schema := pgtest.New(t)
	b := &backend{name: "postgres", url: url, schema: schema, owner: t}
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	names := []string{"split/one"}
	if err := srv.Create(context.Background(), names[0]); err != nil {
		t.Fatal(err)
	}
	env := b.env("SYNCD_STREAMS="+srv.StreamURL(names[0]), "SYNCD_LEASE_TTL=2s", "SYNCD_LOG_LEVEL=info")
	leased := startProc(t, append(env, "SYNCD_LEASES=on", "SYNCD_REPLICA_ID=leased"), "run")
	rogue := startProc(t, append(env, "SYNCD_LEASES=off"), "run")
	waitFor(t, leased, "following stream")
	waitFor(t, rogue, "following stream")
	if o := owners(t, b); o["leased"] != 1 {
		t.Fatalf("leases: %v", o)
	}

	f := &fleetLog{m: newModel(), changes: map[string]int{}}
	stop := make(chan struct{})
	appended := f.appendLoop(t, srv, names, 11, stop)
	refused := func() int { return strings.Count(leased.out.String()+rogue.out.String(), fenceRefusal) }
	eventually(t, 60*time.Second, "the checkpoint fence to refuse a commit", func() bool { return refused() > 0 })
	f.awaitAppends(t, 300) // and many more races
	close(stop)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	f.assertExact(t, srv, b, names)
	if refused() == 0 {
		t.Fatal("no commit was refused by the checkpoint fence: the split brain was not exercised")
	}
	t.Logf("%d change events; the compare-and-set turned away %d commits", f.changes[names[0]], refused())
}

// TestSQLiteSingleRunner: a second `syncd run` on the same SQLite file fails
// at once with a clear message; once the first stops, a run succeeds.
func TestSQLiteSingleRunner(t *testing.T) {
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	if err := srv.Create(context.Background(), "single"); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "syncd.db")
	env := []string{"SYNCD_DATABASE_URL=sqlite:" + path, "SYNCD_STREAMS=" + srv.StreamURL("single"), "SYNCD_HTTP_ADDR=", "SYNCD_LOG_FORMAT=text"}
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan int, 1)
	var out syncBuffer
	go func() { first <- Main(ctx, &environment{environ: env, stdout: &out, stderr: &out}, []string{"run"}) }()
	waitForLog(t, &out, "following stream")

	// The first run holds the file until cancel: a second run that waited
	// for the lock instead of failing would never return.
	code, msg := syncdRun(context.Background(), env, "run")
	if code == 0 || !strings.Contains(msg, "another syncd process is running on this SQLite file") {
		t.Fatalf("second run exited %d:\n%s", code, msg)
	}
	cancel()
	if code := <-first; code != 0 {
		t.Fatalf("first run exited %d:\n%s", code, out.String())
	}
	runOnce(t, env)
}
