package lease_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/pgtest"
	"github.com/syncd-io/syncd/internal/sink/postgres"
)

// longTTL is the lease lifetime of tests that drive the Manager by Tick: no
// lease expires on its own while they run, so every takeover a test sees
// comes from what it did (a release, an expiry it wrote).
const longTTL = time.Hour

// cluster is one schema of a real Postgres that the replicas of a test share.
type cluster struct {
	url, schema string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	url, schema := pgtest.New(t)
	c := &cluster{url: url, schema: schema}
	c.store(t) // creates syncd_leases and syncd_replicas
	return c
}

// store opens the Postgres sink, the lease store syncd runs with, on a pool
// of its own (as each replica process has) and applies the migrations.
func (c *cluster) store(t *testing.T) *postgres.Sink {
	t.Helper()
	ctx := context.Background()
	s, err := postgres.New(ctx, c.url, c.schema, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", c.schema, err)
	}
	return s
}

// exec runs SQL on a connection of its own; @s stands for the schema.
func (c *cluster) exec(t *testing.T, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	sql = strings.ReplaceAll(sql, "@s", pgx.Identifier{c.schema}.Sanitize())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// owners returns the owner of every lease row, expired or not.
func (c *cluster) owners(t *testing.T) map[string]string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, c.url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, _ := conn.Query(ctx, `SELECT stream, owner FROM `+pgx.Identifier{c.schema, "syncd_leases"}.Sanitize())
	out := map[string]string{}
	var stream, owner string
	if _, err := pgx.ForEachRow(rows, []any{&stream, &owner}, func() error { out[stream] = owner; return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// expire makes owner look crashed: its heartbeat and leases ran out.
func (c *cluster) expire(t *testing.T, owner string) {
	t.Helper()
	c.exec(t, `UPDATE @s.syncd_leases SET expires_at = now() - interval '1 second' WHERE owner = '`+owner+`';
		UPDATE @s.syncd_replicas SET expires_at = now() - interval '1 second' WHERE owner = '`+owner+`'`)
}

// failOn makes every statement of kind event (INSERT, UPDATE, DELETE) on
// syncd_leases fail in the database, as a lost or read-only database does.
func (c *cluster) failOn(t *testing.T, event string) {
	t.Helper()
	c.exec(t, `CREATE OR REPLACE FUNCTION @s.injected_failure() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'injected failure of %', TG_OP; END $$;
		CREATE TRIGGER fail_`+strings.ToLower(event)+` BEFORE `+event+` ON @s.syncd_leases
		FOR EACH STATEMENT EXECUTE FUNCTION @s.injected_failure()`)
}

// recorder is the Set of a test replica: it records what the Manager
// started and stopped.
type recorder struct {
	mu      sync.Mutex
	running map[string]bool
	starts  map[string]int
	stops   []string
}

func newRecorder() *recorder {
	return &recorder{running: map[string]bool{}, starts: map[string]int{}}
}

func (r *recorder) Start(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.running[s] = true
	r.starts[s]++
}

func (r *recorder) Stop(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.running, s)
	r.stops = append(r.stops, s)
}

// Running returns the running streams, sorted.
func (r *recorder) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for s := range r.running {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Stopped returns the streams stopped so far, sorted.
func (r *recorder) Stopped() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(slices.Values(r.stops))
}

// replica is one Manager and the Set it drives.
type replica struct {
	*lease.Manager
	set   *recorder
	store *postgres.Sink
}

func (c *cluster) replica(t *testing.T, owner string, ttl time.Duration) *replica {
	t.Helper()
	r := &replica{set: newRecorder(), store: c.store(t)}
	r.Manager = lease.NewManager(lease.Options{Store: r.store.Leases(), Owner: owner, TTL: ttl, Set: r.set})
	return r
}

// tick runs one lease round and fails the test on an error.
func (r *replica) tick(t *testing.T) {
	t.Helper()
	if err := r.Tick(t.Context()); err != nil {
		t.Fatalf("%s: lease round: %v", r.Owner(), err)
	}
}

// heldNames returns the streams whose lease the replica holds, sorted.
func (r *replica) heldNames() []string {
	var out []string
	for s := range r.Held() {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
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

func streams(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "s" + string(rune('a'+i))
	}
	return out
}

func TestAcquireAndRenew(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, "a", longTTL)
	a.Want([]string{"x", "y", "z"})
	a.tick(t)
	if got := a.set.Running(); !slices.Equal(got, []string{"x", "y", "z"}) {
		t.Fatalf("running after the first round: %v", got)
	}
	if got := c.owners(t); len(got) != 3 || got["x"] != "a" || got["y"] != "a" || got["z"] != "a" {
		t.Fatalf("lease rows: %v", got)
	}
	if a.Live() != 1 {
		t.Errorf("live replicas = %d, want 1", a.Live())
	}

	// Leases about to run out are extended by the next round, without
	// restarting their streams.
	c.exec(t, `UPDATE @s.syncd_leases SET expires_at = now() + interval '1 second'`)
	before := time.Now()
	a.tick(t)
	for s, exp := range a.Held() {
		if exp.Before(before.Add(longTTL / 2)) {
			t.Errorf("lease of %s expires at %s: not renewed for the TTL", s, exp)
		}
	}
	for s, n := range a.set.starts {
		if n != 1 {
			t.Errorf("%s started %d times, want once", s, n)
		}
	}
	if len(a.set.Stopped()) != 0 {
		t.Errorf("renewal stopped %v", a.set.Stopped())
	}
}

// TestTakeoverAfterExpiry: a crashed replica's leases are taken once they
// expire, and the replica, if it was only paused, stops those streams at
// its next round instead of writing on.
func TestTakeoverAfterExpiry(t *testing.T) {
	c := newCluster(t)
	a, b := c.replica(t, "a", longTTL), c.replica(t, "b", longTTL)
	all := []string{"x", "y"}
	a.Want(all)
	a.tick(t)
	b.Want(all)
	b.tick(t)
	if got := b.heldNames(); len(got) != 0 {
		t.Fatalf("b took %v while a held every lease", got)
	}

	c.expire(t, "a")
	b.tick(t)
	if got := b.set.Running(); !slices.Equal(got, all) {
		t.Fatalf("b runs %v after a's leases expired, want %v", got, all)
	}
	if got := c.owners(t); got["x"] != "b" || got["y"] != "b" {
		t.Fatalf("lease rows after the takeover: %v", got)
	}

	a.tick(t) // a wakes up: its renewal finds the leases gone
	if got := a.set.Running(); len(got) != 0 {
		t.Errorf("a still runs %v after losing its leases", got)
	}
	if got := a.set.Stopped(); !slices.Equal(got, all) {
		t.Errorf("a stopped %v, want %v", got, all)
	}
	if len(a.Held()) != 0 {
		t.Errorf("a still believes it holds %v", a.Held())
	}
}

// TestLeaveHandsOverAtOnce: a replica that stops gracefully stops its
// streams and releases its leases, so another takes them at its next round
// rather than after the TTL.
func TestLeaveHandsOverAtOnce(t *testing.T) {
	c := newCluster(t)
	a, b := c.replica(t, "a", longTTL), c.replica(t, "b", longTTL)
	all := streams(4)
	a.Want(all)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	await(t, "a to run every stream", func() bool { return len(a.set.Running()) == len(all) })

	b.Want(all)
	b.tick(t)
	if b.Live() != 2 || len(b.Held()) != 0 {
		t.Fatalf("b: live %d, holds %v; want 2 live and nothing free to take", b.Live(), b.Held())
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := a.set.Running(); len(got) != 0 {
		t.Errorf("a still runs %v after Run returned", got)
	}
	if got := c.owners(t); len(got) != 0 {
		t.Errorf("lease rows after a left: %v", got)
	}
	b.tick(t)
	if got := b.set.Running(); !slices.Equal(got, all) {
		t.Errorf("b runs %v after a left, want %v", got, all)
	}
	if b.Live() != 1 {
		t.Errorf("b counts %d live replicas after a left, want 1", b.Live())
	}
}

// TestFairShare: a replica that holds every stream gives back what exceeds
// its share when another joins, keeping the streams it ranks highest; the
// newcomer takes the rest; no stream is held twice.
func TestFairShare(t *testing.T) {
	c := newCluster(t)
	a, b := c.replica(t, "a", longTTL), c.replica(t, "b", longTTL)
	all := streams(10)
	a.Want(all)
	b.Want(all)
	a.tick(t)
	if len(a.Held()) != 10 {
		t.Fatalf("a alone holds %d leases, want 10", len(a.Held()))
	}
	b.tick(t) // joins: two live, nothing free
	a.tick(t) // gives back its surplus
	want := a.Rank(all)[:5]
	slices.Sort(want)
	if got := a.heldNames(); !slices.Equal(got, want) {
		t.Fatalf("a kept %v, want its five highest ranked %v", got, want)
	}
	if got := a.set.Running(); !slices.Equal(got, want) {
		t.Fatalf("a runs %v, want %v", got, want)
	}
	b.tick(t)
	got := b.heldNames()
	if len(got) != 5 || slices.ContainsFunc(got, func(s string) bool { return slices.Contains(want, s) }) {
		t.Fatalf("b holds %v, want the five a gave back", got)
	}
	if owners := c.owners(t); len(owners) != 10 {
		t.Errorf("lease rows: %v", owners)
	}
}

// TestRendezvousPreference: replicas that start together each take first
// the streams they rank highest, and different owners rank differently, so
// they seldom contend for one lease.
func TestRendezvousPreference(t *testing.T) {
	c := newCluster(t)
	a, b := c.replica(t, "a", longTTL), c.replica(t, "b", longTTL)
	all := streams(12)
	rankA, rankB := a.Rank(all), b.Rank(all)
	if slices.Equal(rankA, rankB) {
		t.Fatalf("owners a and b rank %v the same", all)
	}
	if again := c.replica(t, "a", longTTL).Rank(all); !slices.Equal(rankA, again) {
		t.Fatalf("rank of one owner is not stable: %v then %v", rankA, again)
	}
	if sorted := slices.Sorted(slices.Values(rankA)); !slices.Equal(sorted, all) {
		t.Fatalf("rank is not a permutation: %v", rankA)
	}

	b.tick(t) // b is live and wants nothing yet
	a.Want(all)
	a.tick(t)
	want := slices.Clone(rankA[:6])
	slices.Sort(want)
	if got := a.heldNames(); !slices.Equal(got, want) {
		t.Fatalf("a took %v, want its six highest ranked %v", got, want)
	}
	b.Want(all)
	b.tick(t)
	if got := len(a.Held()) + len(b.Held()); got != 12 || len(b.Held()) != 6 {
		t.Fatalf("a holds %d, b holds %d; want 6 each", len(a.Held()), len(b.Held()))
	}
}

// TestUnwantedLeaseReleased: a stream no longer wanted is stopped and its
// lease row deleted.
func TestUnwantedLeaseReleased(t *testing.T) {
	c := newCluster(t)
	a := c.replica(t, "a", longTTL)
	a.Want([]string{"x", "y", "z"})
	a.tick(t)
	a.Want([]string{"x"})
	a.tick(t)
	if got := a.set.Running(); !slices.Equal(got, []string{"x"}) {
		t.Errorf("running: %v, want [x]", got)
	}
	if got := a.set.Stopped(); !slices.Equal(got, []string{"y", "z"}) {
		t.Errorf("stopped: %v, want [y z]", got)
	}
	if got := c.owners(t); len(got) != 1 || got["x"] != "a" {
		t.Errorf("lease rows: %v, want only x", got)
	}
}

// TestHeartbeatCountsLiveReplicas: Live counts the replicas with an
// unexpired heartbeat; a crashed one drops out once it expired.
func TestHeartbeatCountsLiveReplicas(t *testing.T) {
	c := newCluster(t)
	rs := []*replica{c.replica(t, "a", longTTL), c.replica(t, "b", longTTL), c.replica(t, "c", longTTL)}
	for _, r := range rs {
		r.tick(t)
	}
	if got := rs[2].Live(); got != 3 {
		t.Fatalf("live after three heartbeats: %d, want 3", got)
	}
	c.expire(t, "a")
	rs[1].tick(t)
	if got := rs[1].Live(); got != 2 {
		t.Errorf("live after a expired: %d, want 2", got)
	}
}

func TestNewOwner(t *testing.T) {
	if got := lease.NewOwner("replica-1"); got != "replica-1" {
		t.Errorf("NewOwner(replica-1) = %q", got)
	}
	x, y := lease.NewOwner(""), lease.NewOwner("")
	if x == "" || x == y {
		t.Errorf("generated owners %q and %q are not unique", x, y)
	}
}
