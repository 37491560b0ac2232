package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
	"github.com/syncd-io/syncd/internal/pgtest"
	"github.com/syncd-io/syncd/internal/subscription"
)

// subscriptionStreams is how many streams TestSubscriptionManyStreams runs per
// backend; SYNCD_TEST_SUBSCRIPTION_STREAMS overrides it (the 2,000
// fits a machine with cores to spare).
const subscriptionStreams = 300

// maxSubscriptionConns bounds the TCP connections to the stream server that a
// subscription-mode syncd may hold (the target: 8).
const maxSubscriptionConns = 8

func streamCount(t *testing.T) int {
	if s := os.Getenv("SYNCD_TEST_SUBSCRIPTION_STREAMS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("SYNCD_TEST_SUBSCRIPTION_STREAMS=%q: want a positive count", s)
		}
		return n
	}
	return subscriptionStreams
}

// establishedConns counts the ESTABLISHED TCP connections of process pid to
// the local port, by matching its socket inodes against /proc/net/tcp{,6}.
func establishedConns(t testing.TB, pid, port int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return -1 // the process is gone
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	n := 0
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "01" { // 01: ESTABLISHED
				continue
			}
			_, remPort, _ := strings.Cut(fields[2], ":")
			if p, err := strconv.ParseInt(remPort, 16, 32); err == nil && int(p) == port && inodes[fields[9]] {
				n++
			}
		}
		f.Close()
	}
	return n
}

func serverPort(t testing.TB, srv *dstest.Server) int {
	t.Helper()
	i := strings.LastIndex(srv.URL, ":")
	port, err := strconv.Atoi(srv.URL[i+1:])
	if err != nil {
		t.Fatalf("port of %s: %v", srv.URL, err)
	}
	return port
}

// procOps waits for a syncd process's ops server and returns its address.
func procOps(t *testing.T, p *proc) string {
	t.Helper()
	var addr string
	eventually(t, 30*time.Second, "the ops server to listen", func() bool {
		if m := listenLine.FindStringSubmatch(p.out.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	return addr
}

// opsGet fetches a path of a process's ops server; status 0 when it is down.
func opsGet(addr, path string) (int, string) {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// assertAllAtTail waits until every stream's checkpoint is the server's
// tail, then checks the rows and that events_applied counts every change
// event exactly once.
func (f *fleetLog) assertAllAtTail(t *testing.T, srv *dstest.Server, b *backend, names []string, timeout time.Duration) {
	t.Helper()
	tails := map[string]string{}
	for _, name := range names {
		tail, err := srv.Tail(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		tails[name] = tail
	}
	var behind []string
	eventually(t, timeout, "every stream to reach its tail", func() bool {
		rs, err := b.open(t).Query(`SELECT stream, next_offset FROM syncd_checkpoints`)
		if err != nil {
			return false
		}
		defer rs.Close()
		got := map[string]string{}
		for rs.Next() {
			var s, o string
			if err := rs.Scan(&s, &o); err != nil {
				t.Fatal(err)
			}
			got[s] = o
		}
		behind = behind[:0]
		for _, name := range names {
			if got[name] != tails[name] {
				behind = append(behind, name)
			}
		}
		return len(behind) == 0
	})
	assertTables(t, b, f.m)
	for _, name := range names {
		if _, applied, _, _ := b.checkpoint(t, name); applied != int64(f.changes[name]) {
			t.Errorf("%s: events_applied = %d, want %d (double-apply or loss)", name, applied, f.changes[name])
		}
	}
}

// createStreams creates n streams named prefix/NNNN (NNNN padded to at
// least four digits) and returns their names.
func createStreams(t testing.TB, srv *dstest.Server, prefix string, n int) []string {
	t.Helper()
	names := make([]string, n)
	for i := range n {
		names[i] = fmt.Sprintf("%s/%04d", prefix, i)
		if err := srv.Create(context.Background(), names[i]); err != nil {
			t.Fatal(err)
		}
	}
	return names
}

// TestSubscriptionManyStreams runs a real syncd process in subscription mode
// over a glob of many streams, a third of them holding events before it
// starts, with appends to random streams while it runs and a stream created
// after start: every stream ends at its tail with exact tables and
// events_applied, the wake stream was created, and syncd held a handful of
// TCP connections to the server throughout (counted from /proc), not one per
// stream. Metrics are aggregated (SYNCD_METRICS_PER_STREAM=off).
func TestSubscriptionManyStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("runs hundreds of streams")
	}
	t.Parallel()
	n := streamCount(t)
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	port := serverPort(t, srv)
	forEachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		prefix := "many-" + b.name
		names := createStreams(t, srv, prefix+"/s", n)
		f := &fleetLog{m: newModel(), changes: map[string]int{}}
		for i, name := range names {
			if i%3 == 0 {
				if err := f.append(t, srv, name, change("item", name+"-pre", "insert", map[string]any{"i": i}),
					change("item", name+"-pre2", "upsert", map[string]any{"i": i})); err != nil {
					t.Fatal(err)
				}
			}
		}
		sub := "many-" + b.name
		wake := "syncd-wake/" + sub
		if _, err := srv.Tail(ctx, wake); err == nil {
			t.Fatalf("wake stream %s exists before syncd starts", wake)
		}
		started := time.Now()
		p := startProc(t, b.env("SYNCD_STREAMS="+srv.URL+"/v1/stream/"+prefix+"/s/*", "SYNCD_SUBSCRIPTION="+sub,
			"SYNCD_LEASE_TTL=5s", "SYNCD_LOG_LEVEL=info", "SYNCD_HTTP_ADDR=127.0.0.1:0", "SYNCD_METRICS_PER_STREAM=off"), "run")
		addr := procOps(t, p)
		eventually(t, 2*time.Minute, "/readyz after the backfill", func() bool {
			code, _ := opsGet(addr, "/readyz")
			return code == http.StatusOK
		})
		t.Logf("%s: %d streams ready (backfill of %d) after %s", b.name, n, (n+2)/3, time.Since(started).Round(time.Millisecond))
		if _, err := srv.Tail(ctx, wake); err != nil {
			t.Fatalf("wake stream %s not created: %v", wake, err)
		}

		var maxConns atomic.Int64
		sampling := make(chan struct{})
		sampled := make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				if c := int64(establishedConns(t, p.cmd.Process.Pid, port)); c > maxConns.Load() {
					maxConns.Store(c)
				}
				select {
				case <-sampling:
					return
				case <-time.After(20 * time.Millisecond):
				}
			}
		}()
		stop := make(chan struct{})
		appended := f.appendLoop(t, srv, names, 11, stop)
		f.awaitAppends(t, 100)
		late := prefix + "/s/late"
		if err := srv.Create(ctx, late); err != nil {
			t.Fatal(err)
		}
		if err := f.append(t, srv, late, change("item", late+"-1", "insert", map[string]any{"late": true})); err != nil {
			t.Fatal(err)
		}
		f.awaitAppends(t, 200)
		close(stop)
		if err := <-appended; err != nil {
			t.Fatal(err)
		}
		f.assertAllAtTail(t, srv, b, append(names, late), 2*time.Minute)
		close(sampling)
		<-sampled
		t.Logf("%s: at most %d established connections to the server while syncing %d streams", b.name, maxConns.Load(), n+1)
		if c := maxConns.Load(); c < 1 || c > maxSubscriptionConns {
			t.Errorf("syncd held up to %d connections to the server, want 1..%d", c, maxSubscriptionConns)
		}

		_, body := opsGet(addr, "/metrics")
		if v := metric(body, "syncd_subscription_streams_linked", `subscription="`+sub+`"`); v != float64(n+1) {
			t.Errorf("syncd_subscription_streams_linked = %v, want %d", v, n+1)
		}
		if metric(body, "syncd_subscription_acks_total") <= 0 || metric(body, "syncd_subscription_wakes_total") <= 0 {
			t.Errorf("no acks or wakes counted:\n%s", grepLines(body, "syncd_subscription_"))
		}
		if metric(body, "syncd_commits_total", `stream="_all"`) <= 0 || strings.Contains(body, `stream="`+names[0]+`"`) {
			t.Errorf("per-stream series with SYNCD_METRICS_PER_STREAM=off:\n%s", grepLines(body, "syncd_commits_total"))
		}
		_, ready := opsGet(addr, "/readyz")
		var rz struct {
			Subscriptions []ops_sub `json:"subscriptions"`
		}
		if err := json.Unmarshal([]byte(ready), &rz); err != nil || len(rz.Subscriptions) != 1 || rz.Subscriptions[0].ID != sub ||
			rz.Subscriptions[0].LastAck == nil || rz.Subscriptions[0].Generation < 1 {
			t.Errorf("/readyz subscriptions: %s", ready)
		}

		code, status := syncdRun(ctx, b.env("SYNCD_STREAMS="+srv.URL+"/v1/stream/"+prefix+"/s/*", "SYNCD_SUBSCRIPTION="+sub, "SYNCD_HTTP_ADDR="+addr), "status")
		wantLine := fmt.Sprintf("subscription %s on %s: pattern %s/s/*, wake stream %s; %d streams linked, 0 without a checkpoint, 0 behind the acked offset",
			sub, srv.URL, prefix, wake, n+1)
		if code != 0 || !strings.Contains(status, wantLine) || !strings.Contains(status, "running syncd: claimed=") {
			t.Errorf("syncd status exited %d, want the line %q and the running state:\n%s", code, wantLine, grepLines(status, "subscription"))
		}

		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		if err := <-p.done; err != nil {
			t.Fatalf("syncd exit: %v\n%s", err, p.out)
		}
		if t.Failed() {
			t.Logf("syncd's log:\n%s", p.out)
		}
	})
}

type ops_sub struct {
	ID         string     `json:"id"`
	Generation int64      `json:"generation"`
	LastAck    *time.Time `json:"last_ack"`
}

func grepLines(body, prefix string) string {
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), prefix) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// TestSubscriptionConflict: a subscription of the configured id that exists
// with another pattern stops startup with a message naming both
// configurations and the fix.
func TestSubscriptionConflict(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	ctx := context.Background()
	c := subscription.NewClient(srv.URL, "taken", http.DefaultClient, nil)
	if err := c.EnsureWakeStream(ctx, "elsewhere"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Ensure(ctx, subscription.Config{Pattern: "other/*", WakeStream: "elsewhere", LeaseTTL: 30 * time.Second}); err != nil {
		t.Fatal(err)
	}
	env := []string{"SYNCD_DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "s.db"), "SYNCD_HTTP_ADDR=", "SYNCD_LOG_FORMAT=text",
		"SYNCD_STREAMS=" + srv.URL + "/v1/stream/mine/*", "SYNCD_SUBSCRIPTION=taken"}
	code, out := syncdRun(ctx, env, "run")
	if code == 0 {
		t.Fatalf("syncd started over a conflicting subscription:\n%s", out)
	}
	for _, want := range []string{"SYNCD_SUBSCRIPTION=taken", "pattern=other/*", "wake_stream=elsewhere", "pattern=mine/*",
		"wake_stream=syncd-wake/taken", "lease_ttl_ms=15000", "pick another SYNCD_SUBSCRIPTION"} {
		if !strings.Contains(out, want) {
			t.Errorf("startup error lacks %q:\n%s", want, out)
		}
	}
}

// TestSubscriptionConfigErrors: the settings that cannot work together are
// refused at startup, naming the variable.
func TestSubscriptionConfigErrors(t *testing.T) {
	t.Parallel()
	base := []string{"SYNCD_DATABASE_URL=sqlite:" + filepath.Join(t.TempDir(), "s.db"), "SYNCD_HTTP_ADDR="}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"SYNCD_STREAMS=http://ds/v1/stream/a", "SYNCD_SUBSCRIPTION=x"}, "SYNCD_SUBSCRIPTION needs a glob item"},
		{[]string{"SYNCD_STREAMS=http://ds/v1/stream/room-*", "SYNCD_SUBSCRIPTION=x"}, `glob segment "room-*"`},
		{[]string{"SYNCD_STREAMS=http://ds/v1/stream/a/*,http://ds/v1/stream/b/*", "SYNCD_SUBSCRIPTION=x"}, "two globs on http://ds"},
		{[]string{"SYNCD_STREAMS=http://ds/v1/stream/a/*", "SYNCD_WAKE_STREAM=w"}, `SYNCD_WAKE_STREAM="w" is not valid: want empty unless SYNCD_SUBSCRIPTION is set`},
		{[]string{"SYNCD_STREAMS=http://ds/v1/stream/a", "SYNCD_METRICS_PER_STREAM=some"}, `SYNCD_METRICS_PER_STREAM="some"`},
		{[]string{"SYNCD_STREAMS=http://ds/v1/stream/a/*", "SYNCD_SUBSCRIPTION=x", "SYNCD_LEASE_TTL=11m"}, `SYNCD_LEASE_TTL="11m0s" is not valid: want with SYNCD_SUBSCRIPTION`},
		{[]string{"SYNCD_STREAMS=http://ds/v1/stream/a/*", "SYNCD_SUBSCRIPTION=x", "SYNCD_LEASES=on"}, "SYNCD_SUBSCRIPTION and SYNCD_LEASES=on are both set"},
	} {
		code, out := syncdRun(context.Background(), append(append([]string(nil), base...), tc.env...), "run")
		if code == 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, want an error containing %q:\n%s", tc.env, code, tc.want, out)
		}
	}
}

// TestSubscriptionReplicasKill runs two replicas on one Postgres with the same
// subscription and SIGKILLs the one holding the claim: the other takes over
// once the lease expires, and every stream ends exact with each change
// applied once.
func TestSubscriptionReplicasKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs two syncd processes")
	}
	t.Parallel()
	url, schema := pgtest.New(t)
	b := &backend{name: "postgres", url: url, schema: schema, owner: t}
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	names := createStreams(t, srv, "rep/s", 40)
	env := b.env("SYNCD_STREAMS="+srv.URL+"/v1/stream/rep/s/*", "SYNCD_SUBSCRIPTION=rep", "SYNCD_LEASE_TTL=2s",
		"SYNCD_LOG_LEVEL=info", "SYNCD_HTTP_ADDR=127.0.0.1:0")
	procs := map[string]*proc{}
	addrs := map[string]string{}
	for _, id := range []string{"a", "b"} {
		procs[id] = startProc(t, append(env, "SYNCD_REPLICA_ID="+id), "run")
		addrs[id] = procOps(t, procs[id])
	}
	f := &fleetLog{m: newModel(), changes: map[string]int{}}
	stop := make(chan struct{})
	appended := f.appendLoop(t, srv, names, 5, stop)
	f.awaitAppends(t, 50)

	// Kill whichever replica is seen holding the claim.
	var victim, survivor string
	eventually(t, 30*time.Second, "a replica to hold the claim", func() bool {
		for _, id := range []string{"a", "b"} {
			if _, body := opsGet(addrs[id], "/metrics"); metric(body, "syncd_subscription_claimed") == 1 {
				victim = id
				_ = procs[id].cmd.Process.Signal(syscall.SIGKILL)
				return true
			}
		}
		return false
	})
	<-procs[victim].done
	killed := time.Now()
	survivor = map[string]string{"a": "b", "b": "a"}[victim]
	// Whether the victim still held the claim when it died (its round may
	// have ended between the scrape and the kill); the lease-expiry path
	// itself is covered deterministically by TestSubscriptionTakeoverAfterLease.
	probe := subscription.NewClient(srv.URL, "rep", http.DefaultClient, nil)
	held := false
	if cl, err := probe.Claim(context.Background(), "probe"); err == nil {
		_ = probe.Release(context.Background(), cl)
	} else {
		held = strings.Contains(err.Error(), "held by "+victim)
	}
	_, body := opsGet(addrs[survivor], "/metrics")
	acksBefore := metric(body, "syncd_subscription_acks_total")
	f.awaitAppends(t, 50)
	eventually(t, 30*time.Second, survivor+" to claim and ack after the kill", func() bool {
		_, body := opsGet(addrs[survivor], "/metrics")
		return metric(body, "syncd_subscription_acks_total") > acksBefore
	})
	t.Logf("%s killed (still holding the claim: %t); %s acked again after %s (lease TTL 2s)", victim, held, survivor, time.Since(killed).Round(time.Millisecond))
	f.awaitAppends(t, 50)
	close(stop)
	if err := <-appended; err != nil {
		t.Fatal(err)
	}
	f.assertAllAtTail(t, srv, b, names, time.Minute)
	if t.Failed() {
		t.Logf("%s's log:\n%s", survivor, procs[survivor].out)
	}
}

// TestSubscriptionServerRestart restarts a file-backed server in the middle
// of a run: the server forgets its subscriptions (the reference server keeps
// them in memory), syncd re-creates it, catches up what was appended around
// the restart from its own checkpoints, and every stream ends exact — the
// explicit item served by its own loop too.
func TestSubscriptionServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("restarts the server")
	}
	t.Parallel()
	path := filepath.Join(t.TempDir(), "s.db")
	b := &backend{name: "sqlite", url: "sqlite:" + path, owner: t}
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second, DataDir: t.TempDir()})
	names := createStreams(t, srv, "rs/s", 30)
	// An explicit item next to the glob keeps its own loop (and connection).
	if err := srv.Create(context.Background(), "rs-explicit"); err != nil {
		t.Fatal(err)
	}
	names = append(names, "rs-explicit")
	p := startProc(t, b.env("SYNCD_STREAMS="+srv.URL+"/v1/stream/rs/s/*,"+srv.StreamURL("rs-explicit"), "SYNCD_SUBSCRIPTION=rs",
		"SYNCD_LEASE_TTL=2s", "SYNCD_LOG_LEVEL=info"), "run")
	waitFor(t, p, "subscription ready")
	f := &fleetLog{m: newModel(), changes: map[string]int{}}
	phase := func(seed uint64) {
		stop := make(chan struct{})
		appended := f.appendLoop(t, srv, names, seed, stop)
		f.awaitAppends(t, 60)
		close(stop)
		if err := <-appended; err != nil {
			t.Fatal(err)
		}
	}
	phase(1)
	if err := srv.Restart(context.Background()); err != nil {
		t.Fatal(err)
	}
	phase(2)
	f.assertAllAtTail(t, srv, b, names, time.Minute)
	if !strings.Contains(p.out.String(), "subscription missing on the server") {
		t.Errorf("syncd did not notice the lost subscription:\n%s", p.out)
	}
	if t.Failed() {
		t.Logf("syncd's log:\n%s", p.out)
	}
}

// TestSubscriptionTakeoverAfterLease plays a claimant that died mid-work: a
// worker claims the subscription and never acks. syncd (ALREADY_CLAIMED if
// it tries) waits; once the lease expires the server wakes the subscription
// again, syncd claims and syncs the stream, and the dead worker's token is
// fenced.
func TestSubscriptionTakeoverAfterLease(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	b := &backend{name: "sqlite", url: "sqlite:" + filepath.Join(t.TempDir(), "s.db"), owner: t}
	names := createStreams(t, srv, "tk/s", 3)
	p := startProc(t, b.env("SYNCD_STREAMS="+srv.URL+"/v1/stream/tk/s/*", "SYNCD_SUBSCRIPTION=tk", "SYNCD_LEASE_TTL=2s",
		"SYNCD_LOG_LEVEL=debug", "SYNCD_REPLICA_ID=live"), "run")
	waitFor(t, p, "subscription ready")
	f := &fleetLog{m: newModel(), changes: map[string]int{}}
	ghost := subscription.NewClient(srv.URL, "tk", http.DefaultClient, nil)
	var cl subscription.Claim
	i := 0
	eventually(t, time.Minute, "the ghost worker to win a claim", func() bool {
		i++
		if err := f.append(t, srv, names[i%len(names)], change("item", fmt.Sprintf("g-%d", i), "insert", map[string]any{"i": i})); err != nil {
			t.Fatal(err)
		}
		var err error
		cl, err = ghost.Claim(ctx, "ghost")
		return err == nil
	})
	// Work that only a claim can deliver now: the ghost holds it.
	if err := f.append(t, srv, names[0], change("item", "after-ghost", "insert", map[string]any{"late": true})); err != nil {
		t.Fatal(err)
	}
	// Only a claim can deliver that append (no wake is written while the
	// ghost holds the subscription): syncd gets it once the lease expired.
	f.assertAllAtTail(t, srv, b, names, time.Minute)
	if _, err := ghost.Ack(ctx, cl, nil, false); !errors.Is(err, subscription.ErrFenced) && !errors.Is(err, subscription.ErrTokenInvalid) {
		t.Fatalf("the dead worker's ack after the takeover: %v, want FENCED", err)
	}
}
