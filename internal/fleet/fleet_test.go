package fleet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/discovery"
	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/pgtest"
	"github.com/syncd-io/syncd/internal/sink/postgres"
	"github.com/syncd-io/syncd/internal/syncer"
)

// registryClient reads the registry in TestRunDiscovers; its idle
// connections are closed before looking for leaks.
var registryClient = &http.Client{Transport: &http.Transport{}}

func TestMain(m *testing.M) {
	code := m.Run()
	registryClient.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections() // dstest's requests
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintf(os.Stderr, "goleak: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// placement is where streams run across the fleets of a test; it records
// any stream started while another fleet runs it.
type placement struct {
	mu      sync.Mutex
	where   map[string]string // stream → runner
	doubled []string
}

// runner is a Runner that records what runs.
type runner struct {
	name  string
	place *placement // nil: not shared

	mu      sync.Mutex
	running map[string]syncer.Stream
	starts  int
	fail    map[string]bool // Start fails for these
}

func newRunner(name string, place *placement) *runner {
	return &runner{name: name, place: place, running: map[string]syncer.Stream{}, fail: map[string]bool{}}
}

func (r *runner) Start(st syncer.Stream) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail[st.Name] {
		return errors.New("injected start failure")
	}
	if _, ok := r.running[st.Name]; ok {
		return nil
	}
	if p := r.place; p != nil {
		p.mu.Lock()
		if other, ok := p.where[st.Name]; ok {
			p.doubled = append(p.doubled, fmt.Sprintf("%s started on %s while running on %s", st.Name, r.name, other))
		}
		p.where[st.Name] = r.name
		p.mu.Unlock()
	}
	r.running[st.Name] = st
	r.starts++
	return nil
}

func (r *runner) Stop(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.running[name]; !ok {
		return
	}
	delete(r.running, name)
	if p := r.place; p != nil {
		p.mu.Lock()
		delete(p.where, name)
		p.mu.Unlock()
	}
}

// names returns the running streams, sorted.
func (r *runner) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.running))
}

func (r *runner) stream(name string) (syncer.Stream, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	st, ok := r.running[name]
	return st, ok
}

// await polls cond until it holds; the test's own timeout bounds it.
func await(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatalf("gave up waiting for %s", what)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// leaseStore opens the Postgres sink (syncd's lease store) on schema, with
// a pool of its own as each replica process has, and migrates it.
func leaseStore(t *testing.T, url, schema string) *postgres.Sink {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.New(ctx, url, schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", schema, err)
	}
	return s
}

// leased returns lease options on store for owner. The TTL is long so that
// no lease expires by itself during a test; the short interval lets the
// replicas converge on their shares quickly.
func leased(store lease.Store, owner string) lease.Options {
	return lease.Options{Store: store, Owner: owner, TTL: time.Minute, Interval: 20 * time.Millisecond}
}

// running is a Fleet's Run in the background.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

func start(t *testing.T, f *Fleet, r Runner) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	run := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- f.Run(ctx, r) }()
	t.Cleanup(func() { run.stop(t) })
	return run
}

// stop ends Run and waits for it (once; later calls return at once).
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	if err, ok := <-r.done; ok {
		close(r.done)
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	}
}

func staticStreams(n int) []syncer.Stream {
	out := make([]syncer.Stream, n)
	for i := range out {
		name := fmt.Sprintf("static/s%02d", i)
		out[i] = syncer.Stream{Name: name, URL: "http://ds.invalid/v1/stream/" + name}
	}
	return out
}

func streamNames(sts []syncer.Stream) []string {
	out := make([]string, len(sts))
	for i, st := range sts {
		out[i] = st.Name
	}
	return out
}

func TestStaticStreamsStart(t *testing.T) {
	static := staticStreams(3)
	f := New(Options{Static: static})
	if f.Leases() != nil {
		t.Fatal("a fleet without a lease store has a lease manager")
	}
	r := newRunner("a", nil)
	run := start(t, f, r)
	await(t, "the static streams to start", func() bool { return len(r.names()) == 3 })
	run.stop(t)
	if got, want := r.names(), streamNames(static); !slices.Equal(got, want) {
		t.Errorf("running %v, want %v", got, want)
	}
	if st, _ := r.stream(static[1].Name); st.URL != static[1].URL {
		t.Errorf("started %s with URL %q, want %q", st.Name, st.URL, static[1].URL)
	}
}

// TestLeasesSplitStreams: two fleets on one database share the streams, a
// stream never runs in both at once, and a fleet that stops hands its
// streams to the other.
func TestLeasesSplitStreams(t *testing.T) {
	url, schema := pgtest.New(t)
	static := staticStreams(8)
	place := &placement{where: map[string]string{}}
	fa := New(Options{Static: static, Leases: leased(leaseStore(t, url, schema).Leases(), "a")})
	fb := New(Options{Static: static, Leases: leased(leaseStore(t, url, schema).Leases(), "b")})
	if fa.Leases() == nil || fa.Leases().Owner() != "a" {
		t.Fatalf("fleet a's lease manager: %v", fa.Leases())
	}
	ra, rb := newRunner("a", place), newRunner("b", place)
	runA := start(t, fa, ra)
	start(t, fb, rb)

	await(t, "the fleets to run four streams each", func() bool {
		a, b := ra.names(), rb.names()
		return len(a) == 4 && len(b) == 4
	})
	all := append(ra.names(), rb.names()...)
	slices.Sort(all)
	if want := streamNames(static); !slices.Equal(all, want) {
		t.Fatalf("running %v, want each of %v once", all, want)
	}

	runA.stop(t)
	if got := ra.names(); len(got) != 0 {
		t.Errorf("a still runs %v after Run returned", got)
	}
	await(t, "b to take over a's streams", func() bool { return len(rb.names()) == 8 })
	place.mu.Lock()
	defer place.mu.Unlock()
	if len(place.doubled) > 0 {
		t.Errorf("streams ran on both fleets:\n%v", place.doubled)
	}
}

func mustGlob(t *testing.T, raw string) discovery.Glob {
	t.Helper()
	g, err := discovery.ParseGlob(raw)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func added(path, contentType string) discovery.Change {
	return discovery.Change{Entry: discovery.Entry{Path: path, ContentType: contentType}}
}

func deleted(path string) discovery.Change {
	return discovery.Change{Entry: discovery.Entry{Path: path}, Deleted: true}
}

// TestApplyStartsAndStops: registry changes that match a glob start and
// stop streams; others, and streams that are not JSON, are left alone.
func TestApplyStartsAndStops(t *testing.T) {
	var logs bytes.Buffer
	globs := []discovery.Glob{mustGlob(t, "http://ds:4437/v1/stream/rooms/*"), mustGlob(t, "http://other:4437/v1/stream/lobby/**")}
	f := New(Options{Globs: globs, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	r := newRunner("a", nil)
	r.fail["rooms/broken"] = true
	f.attach(r)

	f.apply(globs, []discovery.Change{
		added("rooms/a", "application/json"),
		added("rooms/b", "text/plain"),
		added("rooms/a/deep", "application/json"),
		added("lobby/x/y", "application/json; charset=utf-8"),
		added("elsewhere", "application/json"),
		added("rooms/broken", "application/json"),
	})
	if got := r.names(); !slices.Equal(got, []string{"lobby/x/y", "rooms/a"}) {
		t.Fatalf("running %v, want [lobby/x/y rooms/a]", got)
	}
	if st, _ := r.stream("lobby/x/y"); st.URL != "http://other:4437/v1/stream/lobby/x/y" {
		t.Errorf("lobby/x/y started with URL %q: not on its glob's server", st.URL)
	}
	for _, want := range []string{"skipping a matching stream that is not JSON", "cannot start stream"} {
		if !bytes.Contains(logs.Bytes(), []byte(want)) {
			t.Errorf("no %q in the log:\n%s", want, logs.String())
		}
	}

	f.apply(globs, []discovery.Change{added("rooms/a", "application/json"), deleted("lobby/x/y"), deleted("rooms/never")})
	if got := r.names(); !slices.Equal(got, []string{"rooms/a"}) {
		t.Errorf("running %v after deleting lobby/x/y, want [rooms/a]", got)
	}
	if r.starts != 2 {
		t.Errorf("%d starts, want 2: a stream discovered twice starts once", r.starts)
	}
}

// TestApplyWithLeases: with leases, a discovered stream runs once this
// replica holds its lease, and a deleted one stops and gives its lease back.
func TestApplyWithLeases(t *testing.T) {
	url, schema := pgtest.New(t)
	globs := []discovery.Glob{mustGlob(t, "http://ds:4437/v1/stream/rooms/*")}
	f := New(Options{Leases: leased(leaseStore(t, url, schema).Leases(), "a")})
	r := newRunner("a", nil)
	start(t, f, r)

	f.apply(globs, []discovery.Change{added("rooms/a", "application/json"), added("rooms/b", "application/json")})
	await(t, "the discovered streams to run", func() bool { return len(r.names()) == 2 })
	f.apply(globs, []discovery.Change{deleted("rooms/a")})
	await(t, "the deleted stream to stop", func() bool { return slices.Equal(r.names(), []string{"rooms/b"}) })
	await(t, "its lease to be given back", func() bool {
		_, held := f.Leases().Held()["rooms/a"]
		return !held
	})
}

// TestRunDiscovers follows a real registry: a matching stream created on the
// server starts, and stops when it is deleted.
func TestRunDiscovers(t *testing.T) {
	srv := dstest.StartT(t, dstest.Options{Registry: true, LongPollTimeout: time.Second})
	ctx := t.Context()
	if err := srv.Create(ctx, "fleet/rooms/early"); err != nil {
		t.Fatal(err)
	}
	f := New(Options{
		Globs:    []discovery.Glob{mustGlob(t, srv.URL+"/v1/stream/fleet/rooms/*")},
		Consumer: consumer.Options{HTTPClient: registryClient},
	})
	r := newRunner("a", nil)
	start(t, f, r)
	await(t, "the existing stream to start", func() bool { return slices.Equal(r.names(), []string{"fleet/rooms/early"}) })
	for _, name := range []string{"fleet/rooms/late", "fleet/lobby/other"} {
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	await(t, "the new matching stream to start", func() bool { return len(r.names()) == 2 })
	if st, _ := r.stream("fleet/rooms/late"); st.URL != srv.StreamURL("fleet/rooms/late") {
		t.Errorf("started fleet/rooms/late with URL %q, want %q", st.URL, srv.StreamURL("fleet/rooms/late"))
	}
	if err := srv.Delete(ctx, "fleet/rooms/early"); err != nil {
		t.Fatal(err)
	}
	await(t, "the deleted stream to stop", func() bool { return slices.Equal(r.names(), []string{"fleet/rooms/late"}) })
}
