package ops

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-io/syncd/internal/redact"
	"github.com/syncd-io/syncd/internal/syncer"
)

type pinger struct{ err error }

func (p pinger) Ping(context.Context) error { return p.err }

type streams []syncer.StreamStatus

func (s streams) Status() []syncer.StreamStatus { return s }

// TestReadyzBeforeAndAfterTheDatabase: without a database /readyz is 503
// with the reason and /healthz 200; once attached it reports the database
// and the streams; every reason is redacted.
func TestReadyzBeforeAndAfterTheDatabase(t *testing.T) {
	t.Parallel()
	srv := New("127.0.0.1:0", prometheus.NewRegistry(), nil, nil, slog.New(slog.DiscardHandler))
	r := redact.New()
	r.Add("pw-registered")
	srv.Redact(r)
	web := httptest.NewServer(srv.Handler())
	t.Cleanup(web.Close)
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(web.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	srv.Waiting("waiting for the database: dial postgres://u:pw-userinfo@h/x: refused (pw-registered)")
	if code, _ := get("/healthz"); code != 200 {
		t.Errorf("/healthz = %d while waiting", code)
	}
	code, body := get("/readyz")
	if code != 503 || !strings.Contains(body, "waiting for the database: dial postgres://u:xxxxx@h/x: refused (xxxxx)") {
		t.Errorf("/readyz while waiting = %d %s", code, body)
	}

	srv.Attach(streams{{Name: "s", Ready: true}}, pinger{})
	if code, body := get("/readyz"); code != 200 || !strings.Contains(body, `"database":"ok"`) {
		t.Errorf("/readyz attached = %d %s", code, body)
	}
	srv.Attach(streams{{Name: "s", Problem: "the stream server refuses the credentials (401): check SYNCD_AUTH_TOKEN"}}, pinger{})
	if code, body := get("/readyz"); code != 503 || !strings.Contains(body, `"problem":"the stream server refuses the credentials (401): check SYNCD_AUTH_TOKEN"`) {
		t.Errorf("/readyz of a stream whose token is refused = %d %s, want 503 with the problem", code, body)
	}
	srv.Attach(streams{{Name: "s", Ready: true, Halted: "reject at http://h/s?token=pw-halted"}}, pinger{errors.New("password=pw-ping")})
	code, body = get("/readyz")
	if code != 503 || strings.Contains(body, "pw-") || !strings.Contains(body, "unreachable") {
		t.Errorf("/readyz with a failing ping and a halt = %d %s", code, body)
	}
}
