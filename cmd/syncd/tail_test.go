package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

// TestStartOffsetNow starts a stream without a checkpoint at the tail: events
// appended before syncd started are never applied, later ones are.
func TestStartOffsetNow(t *testing.T) {
	t.Parallel()
	servers := liveServers(t)
	for _, mode := range []string{"long-poll", "sse"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv, b, ctx := servers[mode], sqliteBackend(t), context.Background()
			name := "now-" + mode
			if err := srv.Create(ctx, name); err != nil {
				t.Fatal(err)
			}
			before := []any{change("user", "old", "insert", 1), change("room", "old", "insert", 2)}
			appendAll(t, srv, name, before)
			startLive(t, liveEnv(b, mode, "SYNCD_STREAMS="+srv.StreamURL(name), "SYNCD_START_OFFSET=now"))
			waitCommitted(t, srv, b, name, 30*time.Second) // the first commit is at the tail, with no rows

			m := newModel()
			appendModel(t, srv, m, name, change("user", "new", "insert", 3), change("user", "old", "update", 4))
			waitCommitted(t, srv, b, name, 30*time.Second)
			assertExactlyOnce(t, b, m, name)
		})
	}
}

// TestEOFWhileLive closes one of two streams while syncd tails both: the
// closed one commits its last events and is marked closed, the other keeps
// receiving rows.
func TestEOFWhileLive(t *testing.T) {
	t.Parallel()
	servers := liveServers(t)
	for _, mode := range []string{"long-poll", "sse"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv, b, ctx := servers[mode], sqliteBackend(t), context.Background()
			ending, going := "eof-end-"+mode, "eof-go-"+mode
			m := newModel()
			for _, name := range []string{ending, going} {
				if err := srv.Create(ctx, name); err != nil {
					t.Fatal(err)
				}
				appendModel(t, srv, m, name, change("doc", name+"-1", "insert", 1))
			}
			run := startLive(t, liveEnv(b, mode, "SYNCD_STREAMS="+srv.StreamURL(ending)+","+srv.StreamURL(going)))
			waitCommitted(t, srv, b, ending, 30*time.Second)
			waitCommitted(t, srv, b, going, 30*time.Second)

			appendModel(t, srv, m, ending, change("doc", ending+"-2", "insert", 2))
			if err := srv.CloseStream(ctx, ending); err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "the closed checkpoint of "+ending, func() bool {
				var closed bool
				err := b.open(t).QueryRow(`SELECT closed FROM syncd_checkpoints WHERE stream = $1`, ending).Scan(&closed)
				return err == nil && closed
			})
			waitCommitted(t, srv, b, ending, 10*time.Second)

			appendModel(t, srv, m, going, change("doc", going+"-2", "insert", 2))
			waitCommitted(t, srv, b, going, 30*time.Second)
			if code, ended := run.exited(); ended {
				t.Fatalf("syncd exited %d after one of its streams ended", code)
			}
			assertTables(t, b, m)
			for _, name := range []string{ending, going} {
				if _, applied, _, _ := b.checkpoint(t, name); applied != 2 {
					t.Errorf("%s: events_applied = %d, want 2", name, applied)
				}
			}
		})
	}
}

// TestRunOnceCountsEOFAsDone: a closed stream and an open one, both caught up
// by `run --once`, which exits 0 with the closed one marked closed.
func TestRunOnceCountsEOFAsDone(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		closedName, openName := "once-closed-"+b.name, "once-open-"+b.name
		m := newModel()
		for _, name := range []string{closedName, openName} {
			if err := srv.Create(ctx, name); err != nil {
				t.Fatal(err)
			}
			appendModel(t, srv, m, name, change("doc", name, "insert", name))
		}
		if err := srv.CloseStream(ctx, closedName); err != nil {
			t.Fatal(err)
		}
		runOnce(t, b.env("SYNCD_STREAMS="+srv.StreamURL(closedName)+","+srv.StreamURL(openName)))
		assertTables(t, b, m)
		if _, _, _, closed := b.checkpoint(t, closedName); !closed {
			t.Error("closed stream not marked closed")
		}
		if _, _, _, closed := b.checkpoint(t, openName); closed {
			t.Error("open stream marked closed")
		}
		// A second run finds the closed stream already ended.
		runOnce(t, b.env("SYNCD_STREAMS="+srv.StreamURL(closedName)+","+srv.StreamURL(openName)))
		assertTables(t, b, m)
		for _, name := range []string{closedName, openName} {
			if _, applied, _, _ := b.checkpoint(t, name); applied != 1 {
				t.Errorf("%s: events_applied = %d, want 1", name, applied)
			}
		}
	})
}

// TestStreamCreatedAfterStart: a stream that does not exist yet is waited for
// (logged, not fatal); once the app creates it, its rows arrive, and the other
// stream was synced meanwhile.
func TestStreamCreatedAfterStart(t *testing.T) {
	t.Parallel()
	servers := liveServers(t)
	for _, mode := range []string{"long-poll", "sse"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv, b, ctx := servers[mode], sqliteBackend(t), context.Background()
			late, present := "late-"+mode, "present-"+mode
			m := newModel()
			if err := srv.Create(ctx, present); err != nil {
				t.Fatal(err)
			}
			appendModel(t, srv, m, present, change("doc", "p", "insert", 1))
			run := startLive(t, liveEnv(b, mode, "SYNCD_STREAMS="+srv.StreamURL(late)+","+srv.StreamURL(present)))
			eventually(t, 30*time.Second, "the log of the wait for "+late, func() bool {
				return strings.Contains(run.out.String(), "waiting for it to be created")
			})
			waitCommitted(t, srv, b, present, 30*time.Second)

			if err := srv.Create(ctx, late); err != nil {
				t.Fatal(err)
			}
			appendModel(t, srv, m, late, change("doc", "l", "insert", 2))
			waitCommitted(t, srv, b, late, 30*time.Second)
			assertTables(t, b, m)
			if n := strings.Count(run.out.String(), "waiting for it to be created"); n != 1 {
				t.Errorf("the wait was logged %d times; want once (at most once a minute)", n)
			}
		})
	}
}

// TestMissingAndDeletedStreams: with --once, a stream that does not exist is
// an error (a cron job must not hang), and a stream deleted after it was read
// stops with a report while the other stream is synced.
func TestMissingAndDeletedStreams(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackendAndMySQL(t, func(t *testing.T, b *backend) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		gone, other := "deleted-"+b.name, "other-"+b.name
		env := b.env("SYNCD_STREAMS=" + srv.StreamURL(gone) + "," + srv.StreamURL(other))
		code, out := syncdRun(ctx, env, "run", "--once")
		if code == 0 || !strings.Contains(out, "does not exist yet") {
			t.Fatalf("run --once with missing streams exited %d:\n%s", code, out)
		}

		m := newModel()
		for _, name := range []string{gone, other} {
			if err := srv.Create(ctx, name); err != nil {
				t.Fatal(err)
			}
			appendModel(t, srv, m, name, change("doc", name, "insert", 1))
		}
		runOnce(t, env)
		assertTables(t, b, m)

		if err := srv.Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}
		appendModel(t, srv, m, other, change("doc", other+"-2", "insert", 2))
		code, out = syncdRun(ctx, env, "run", "--once")
		if code == 0 || !strings.Contains(out, "no longer exists (404)") || !strings.Contains(out, "syncd reset "+gone) {
			t.Fatalf("run --once after a delete exited %d; want a failure naming the deleted stream and the remedy:\n%s", code, out)
		}
		assertTables(t, b, m) // the other stream went on; the deleted one's rows stay
	})
}

// TestGonePolicies injects a 410 Gone into the read after a first sync.
// halt: the run fails naming the stream, offset and remedies, and nothing
// changes. resync: the stream is re-read from -1 and its rows are replaced in
// one transaction (a stray row that the stream no longer produces is gone).
func TestGonePolicies(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	forEachBackend(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		name := "gone-" + b.name
		if err := srv.Create(ctx, name); err != nil {
			t.Fatal(err)
		}
		m := newModel()
		appendModel(t, srv, m, name, workload(41, 200, 50)...)
		env := b.env("SYNCD_STREAMS=" + srv.StreamURL(name))
		runOnce(t, env)
		assertExactlyOnce(t, b, m, name)
		firstChanges := m.changes
		offset, _, _, _ := b.checkpoint(t, name)

		gone := dstest.Fault{Path: "/v1/stream/" + name, Status: http.StatusGone, Method: "GET"}
		if err := srv.Inject(ctx, gone); err != nil {
			t.Fatal(err)
		}
		appendModel(t, srv, m, name, workload(42, 50, 50)...)
		code, out := syncdRun(ctx, env, "run", "--once")
		for _, want := range []string{"410", offset, "SYNCD_ON_GONE=resync", "syncd reset " + name} {
			if code == 0 || !strings.Contains(out, want) {
				t.Errorf("halt: exit %d, output lacks %q:\n%s", code, want, out)
			}
		}
		if o, _, _, _ := b.checkpoint(t, name); o != offset {
			t.Errorf("halt moved the checkpoint from %s to %s", offset, o)
		}

		// A row the stream does not produce (e.g. a delete the server no
		// longer retains): the resync must remove it with the rest.
		var table string
		if err := b.open(t).QueryRow(`SELECT table_name FROM syncd_types WHERE type = 'user'`).Scan(&table); err != nil {
			t.Fatal(err)
		}
		stray := fmt.Sprintf(`INSERT INTO %s (key, value, stream, synced_offset, synced_at) VALUES ('stray', '{"stray":true}', $1, $2, '2024-01-01T00:00:00Z')`, quote(table))
		if _, err := b.open(t).Exec(stray, name, offset); err != nil {
			t.Fatal(err)
		}
		if err := srv.Inject(ctx, gone); err != nil {
			t.Fatal(err)
		}
		runOnce(t, append(env, "SYNCD_ON_GONE=resync"))
		assertTables(t, b, m)
		if _, applied, _, _ := b.checkpoint(t, name); applied != int64(firstChanges+m.changes) {
			t.Errorf("events_applied = %d after the resync, want %d (first read) + %d (re-read)", applied, firstChanges, m.changes)
		}
	})
}

// authProxy is a reverse proxy in front of the reference server that accepts
// only the bearer tokens currently allowed, like a server rotating secrets.
type authProxy struct {
	*httptest.Server
	mu       sync.Mutex
	allowed  map[string]bool
	seen     map[string]int // requests per presented token
	rejected atomic.Int64
	cancels  map[*http.Request]context.CancelFunc
}

func newAuthProxy(t *testing.T, target string, tokens ...string) *authProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &authProxy{allowed: map[string]bool{}, seen: map[string]int{}, cancels: map[*http.Request]context.CancelFunc{}}
	for _, tok := range tokens {
		p.allowed[tok] = true
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.FlushInterval = -1
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		p.mu.Lock()
		p.seen[tok]++
		ok := p.allowed[tok]
		ctx, cancel := context.WithCancel(r.Context())
		r = r.WithContext(ctx)
		if ok {
			p.cancels[r] = cancel
		}
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			delete(p.cancels, r)
			p.mu.Unlock()
			cancel()
		}()
		if !ok {
			p.rejected.Add(1)
			http.Error(w, "bad token", http.StatusUnauthorized)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// rotate allows only tok from now on and cuts the connections opened with
// the old tokens, as a server revoking a secret would.
func (p *authProxy) rotate(tok string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.allowed = map[string]bool{tok: true}
	for _, cancel := range p.cancels {
		cancel()
	}
}

func (p *authProxy) count(tok string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[tok]
}

// TestTokenFileRotation rotates SYNCD_AUTH_TOKEN_FILE (an atomic rename, as a
// Kubernetes secret update) while syncd tails through a proxy that accepts
// only the current token: the next request carries the new token and rows
// keep arriving.
func TestTokenFileRotation(t *testing.T) {
	t.Parallel()
	servers := liveServers(t)
	for _, mode := range []string{"long-poll", "sse"} {
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			srv, b, ctx := servers[mode], sqliteBackend(t), context.Background()
			const oldTok, newTok = "token-one", "token-number-two"
			proxy := newAuthProxy(t, srv.URL, oldTok)
			tokenFile := filepath.Join(t.TempDir(), "token")
			writeAtomic(t, tokenFile, oldTok+"\n")

			name := "auth-" + mode
			if err := srv.Create(ctx, name); err != nil {
				t.Fatal(err)
			}
			m := newModel()
			appendModel(t, srv, m, name, change("doc", "before", "insert", 1))
			run := startLive(t, b.env("SYNCD_LIVE="+mode, "SYNCD_STREAMS="+proxy.URL+"/v1/stream/"+name, "SYNCD_AUTH_TOKEN_FILE="+tokenFile, "SYNCD_LOG_LEVEL=debug"))
			waitCommitted(t, srv, b, name, 30*time.Second)

			writeAtomic(t, tokenFile, newTok+"\n")
			proxy.rotate(newTok)
			appendModel(t, srv, m, name, change("doc", "after", "insert", 2))
			waitCommitted(t, srv, b, name, 30*time.Second)
			assertExactlyOnce(t, b, m, name)
			if proxy.count(newTok) == 0 {
				t.Error("no request carried the new token")
			}
			// A request sent just before the rotation may meet the new rule
			// with the old token; every later one must carry the new token.
			if n := proxy.rejected.Load(); n > 1 {
				t.Errorf("%d requests were rejected: the rotated token was not used at once", n)
			}
			if out := run.out.String(); strings.Contains(out, oldTok) || strings.Contains(out, newTok) {
				t.Errorf("a token appears in the log:\n%s", out)
			}
		})
	}
}

func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// TestTLSCAAndExtraHeaders reads through a TLS proxy with a private CA that
// requires extra headers: SYNCD_TLS_CA_FILE and SYNCD_HEADERS make it work,
// and the header values never reach the log, even at debug level.
func TestTLSCAAndExtraHeaders(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	target, _ := url.Parse(srv.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	const secret = "s3cr3t-api-key"
	proxy := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Api-Key") != secret || r.Header.Get("X-Tenant") != "acme; eu" {
			http.Error(w, "missing headers", http.StatusForbidden)
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	name := "tls"
	if err := srv.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	m := newModel()
	appendModel(t, srv, m, name, change("doc", "d", "insert", map[string]any{"ok": true}))
	b := sqliteBackend(t)
	env := b.env("SYNCD_STREAMS="+proxy.URL+"/v1/stream/"+name, "SYNCD_TLS_CA_FILE="+caFile,
		"SYNCD_HEADERS=X-Api-Key: "+secret+"\nX-Tenant: acme; eu", "SYNCD_LOG_LEVEL=debug")
	rctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	code, out := syncdRun(rctx, env, "run", "--once")
	if code != 0 {
		t.Fatalf("run --once through the TLS proxy exited %d:\n%s", code, out)
	}
	assertExactlyOnce(t, b, m, name)
	if strings.Contains(out, secret) {
		t.Errorf("the header value appears in the log:\n%s", out)
	}
}

func TestTransportConfigErrors(t *testing.T) {
	t.Parallel()
	notPEM := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		env  []string
		want string
	}{
		{[]string{"SYNCD_ON_GONE=ignore"}, "SYNCD_ON_GONE"},
		{[]string{"SYNCD_TLS_CA_FILE=/does/not/exist.pem"}, "SYNCD_TLS_CA_FILE"},
		{[]string{"SYNCD_TLS_CA_FILE=" + notPEM}, "holds no PEM certificate"},
		{[]string{"SYNCD_HEADERS=no colon here"}, "item 1 is not"},
		{[]string{"SYNCD_HEADERS=X-Ok: 1; Bad Name: hunter2"}, "item 2 is not"},
		{[]string{"SYNCD_HEADERS=Host: hunter2"}, "Host cannot be set"},
		{[]string{"SYNCD_SSE_IDLE_TIMEOUT=10ms"}, "SYNCD_SSE_IDLE_TIMEOUT"},
		{[]string{"SYNCD_SSE_IDLE_TIMEOUT=soon"}, "SYNCD_SSE_IDLE_TIMEOUT"},
		{[]string{"SYNCD_HTTP_COMPRESSION=br"}, "SYNCD_HTTP_COMPRESSION"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			env := append([]string{"SYNCD_STREAMS=http://h/v1/stream/s"}, c.env...)
			code, out := syncdRun(context.Background(), env, "run", "--once")
			if code != exitUsage || !strings.Contains(out, c.want) {
				t.Errorf("exit %d, output %q; want exit %d mentioning %q", code, out, exitUsage, c.want)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("output leaks a header value: %q", out)
			}
		})
	}
}

func TestParseHeaders(t *testing.T) {
	t.Parallel()
	got, err := parseHeaders("x-a: 1; X-B:two words ;;")
	if err != nil || len(got) != 2 || got[0] != [2]string{"X-A", "1"} || got[1] != [2]string{"X-B", "two words"} {
		t.Errorf("single line: %v %v", got, err)
	}
	got, err = parseHeaders("Cookie: a=1; b=2\r\nX-C: 3\n")
	if err != nil || len(got) != 2 || got[0] != [2]string{"Cookie", "a=1; b=2"} || got[1] != [2]string{"X-C", "3"} {
		t.Errorf("lines: %v %v", got, err)
	}
	if got, err := parseHeaders(""); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}
