package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/syncd-io/syncd/internal/dstest"
)

// The secrets TestNoSecretInAnyOutput puts in every place syncd may print.
const (
	secretUserInfo = "pw-userinfo-4f1a" // SYNCD_DATABASE_URL user info
	secretQuery    = "pw-query-9c2e"    // SYNCD_DATABASE_URL ?password=
	secretToken    = "tok-bearer-77d0"  // SYNCD_AUTH_TOKEN
	secretHeader   = "hdr-value-31b8"   // SYNCD_HEADERS value
	secretStream   = "tok-stream-5a6c"  // a stream URL's user info
	secretStreamQ  = "tok-streamq-e0d4" // a stream URL's ?token=
	secretDeadDB   = "pw-dead-db-2b7f"  // the password of an unreachable database
)

// TestNoSecretInAnyOutput runs the real binary at debug level with a secret
// in each place (the database password as user info and as a password=
// parameter, the bearer token, a header value, a stream URL's user info and
// its ?token=) and greps everything it printed: the run's log, `migrate`,
// `status` in both formats, /readyz, and the errors of a refused stream
// item and of an unreachable database.
func TestNoSecretInAnyOutput(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the real binary")
	}
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{LongPollTimeout: time.Second})
	b := postgresBackend(t)
	ctx := context.Background()
	name := "secret-stream"
	if err := srv.Create(ctx, name); err != nil {
		t.Fatal(err)
	}
	if _, err := srv.Append(ctx, name, change("user", "alice", "insert", map[string]any{"n": 1})); err != nil {
		t.Fatal(err)
	}
	dbURL, err := url.Parse(b.url)
	if err != nil {
		t.Fatal(err)
	}
	dbURL.User = url.UserPassword(dbURL.User.Username(), secretUserInfo)
	q := dbURL.Query()
	q.Set("password", secretQuery)
	dbURL.RawQuery = q.Encode()
	streamURL, _ := url.Parse(srv.StreamURL(name))
	streamURL.User = url.User(secretStream)
	environ := []string{
		"SYNCD_DATABASE_URL=" + dbURL.String(), "SYNCD_SCHEMA=" + b.schema,
		"SYNCD_STREAMS=" + streamURL.String(),
		"SYNCD_AUTH_TOKEN=" + secretToken,
		"SYNCD_HEADERS=X-Tenant: " + secretHeader,
		"SYNCD_LOG_LEVEL=debug", "SYNCD_LOG_FORMAT=text",
	}
	var printed strings.Builder
	record := func(what, out string) {
		printed.WriteString("=== " + what + "\n" + out + "\n")
	}

	code, out := runProc(t, environ, "migrate")
	record("migrate", out)
	if code != 0 {
		t.Fatalf("migrate exited %d:\n%s", code, out)
	}
	p := startProc(t, append(environ, "SYNCD_HTTP_ADDR=127.0.0.1:0"), "run")
	addr := opsAddr(t, p)
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	var ready string
	eventually(t, 30*time.Second, "/readyz 200", func() bool {
		code, body := readyz()
		ready = body
		return code == 200
	})
	record("/readyz", ready)
	for _, args := range [][]string{{"status", "--json"}, {"status"}} {
		code, out := runProc(t, environ, args...)
		record(strings.Join(args, " "), out)
		if code != 0 || !strings.Contains(out, name) {
			t.Errorf("%v exited %d:\n%s", args, code, out)
		}
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if err := <-p.done; err != nil {
		t.Errorf("run after SIGTERM: %v", err)
	}
	record("run", p.out.String())
	if !strings.Contains(p.out.String(), "level=DEBUG") {
		t.Errorf("the run logged nothing at debug level:\n%s", p.out.String())
	}

	// Errors: a stream item refused, an unreachable database.
	badStream := srv.StreamURL(name) + "?token=" + secretStreamQ
	code, out = runProc(t, append(environ, "SYNCD_STREAMS="+badStream), "run", "--once")
	record("refused stream", out)
	if code != exitUsage {
		t.Errorf("a stream URL with a query: exit %d, want %d:\n%s", code, exitUsage, out)
	}
	deadAddr := deadPort(t)
	dead := "postgres://app:" + secretDeadDB + "@" + deadAddr + "/x?connect_timeout=1&password=" + secretDeadDB
	code, out = runProc(t, append(environ, "SYNCD_DATABASE_URL="+dead, "SYNCD_DB_WAIT=1s", "SYNCD_HTTP_ADDR="), "run", "--once")
	record("unreachable database", out)
	if code == 0 || !strings.Contains(out, "SYNCD_DB_WAIT") {
		t.Errorf("an unreachable database: exit %d:\n%s", code, out)
	}
	// /readyz while waiting for that database.
	w := startProc(t, append(environ, "SYNCD_DATABASE_URL="+dead, "SYNCD_HTTP_ADDR=127.0.0.1:0"), "run")
	addr = opsAddr(t, w)
	waitFor(t, w, "waiting for the database")
	eventually(t, 30*time.Second, "/readyz to give the database error", func() bool {
		code, body := readyz()
		ready = body
		return code == 503 && strings.Contains(body, "waiting for the database: ") && strings.Contains(body, deadAddr)
	})
	record("/readyz while waiting", ready)
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	<-w.done
	record("run while waiting", w.out.String())

	all := printed.String()
	for _, s := range []string{secretUserInfo, secretQuery, secretToken, secretHeader, secretStream, secretStreamQ, secretDeadDB} {
		if strings.Contains(all, s) {
			t.Errorf("secret %s printed:\n%s", s, all)
		}
	}
	if !strings.Contains(all, "xxxxx") {
		t.Errorf("nothing was masked, so nothing was tested:\n%s", all)
	}
}

// TestPanicIsRedacted: a panic of the main goroutine is printed without
// its secrets (by form and registered) and exits 2.
func TestPanicIsRedacted(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	env := &environment{stderr: &out}
	env.redactor().Add("pw-registered-panic")
	code := -1
	func() {
		defer exitOnPanic(env, func(c int) { code = c })
		panic("connect postgres://u:pw-url-panic@h/x: pw-registered-panic")
	}()
	if code != 2 || !strings.Contains(out.String(), "panic: connect postgres://u:xxxxx@h/x: xxxxx") || !strings.Contains(out.String(), "goroutine") {
		t.Errorf("exit %d, output:\n%s", code, out.String())
	}
	if strings.Contains(out.String(), "pw-") {
		t.Errorf("the panic shows a secret:\n%s", out.String())
	}
}

// opsAddr waits until the process's ops server listens and returns its address.
func opsAddr(t *testing.T, p *proc) string {
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
