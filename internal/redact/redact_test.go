package redact

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, in, want string
	}{
		{"postgres user info", "open postgres://app:hunter2@db:5432/x: refused", "open postgres://app:xxxxx@db:5432/x: refused"},
		{"postgres user info, quoted", `"database":"postgresql://app:hunter2@db/x"`, `"database":"postgresql://app:xxxxx@db/x"`},
		{"user without password kept", "postgres://app@db/x", "postgres://app@db/x"},
		{"password query parameter", "postgres://db/x?sslmode=disable&password=hunter2&x=1", "postgres://db/x?sslmode=disable&password=xxxxx&x=1"},
		{"sslpassword parameter", "postgres://db/x?sslpassword=hunter2", "postgres://db/x?sslpassword=xxxxx"},
		{"passwd and pwd", "x?passwd=hunter2&pwd=hunter3", "x?passwd=xxxxx&pwd=xxxxx"},
		{"libpq keyword/value", "host=db user=app password=hunter2 dbname=x", "host=db user=app password=xxxxx dbname=x"},
		{"libpq quoted value", "host=db password='hun ter2' dbname=x", "host=db password=xxxxx dbname=x"},
		{"libpq spaces around =", "password = hunter2 host=db", "password = xxxxx host=db"},
		{"bearer token", "Authorization: Bearer abc.DEF-123_x~+/==", "Authorization: Bearer xxxxx"},
		{"basic credentials", "authorization: basic dXNlcjpwYXNz", "authorization: basic xxxxx"},
		{"stream URL token", "GET http://ds:4437/v1/stream/a?token=s3cr3t&offset=-1", "GET http://ds:4437/v1/stream/a?token=xxxxx&offset=-1"},
		{"stream URL token-like params", "https://h/s?secret=a&key=b&signature=c&sig=d&access_token=e&api_key=f&X-Amz-Signature=g",
			"https://h/s?secret=xxxxx&key=xxxxx&signature=xxxxx&sig=xxxxx&access_token=xxxxx&api_key=xxxxx&X-Amz-Signature=xxxxx"},
		{"stream URL user info", "https://tok3n@ds/v1/stream/a", "https://xxxxx@ds/v1/stream/a"},
		{"stream URL user and password", "http://me:pa55@ds/v1/stream/a", "http://xxxxx@ds/v1/stream/a"},
		{"entity key in a log line stays", "level=WARN msg=reject key=alice offset=1_2", "level=WARN msg=reject key=alice offset=1_2"},
		{"plain text stays", "stream rooms/general is up to date", "stream rooms/general is up to date"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := String(c.in); got != c.want {
				t.Errorf("String(%q)\n got %q\nwant %q", c.in, got, c.want)
			}
		})
	}
}

func TestRegisteredSecrets(t *testing.T) {
	t.Parallel()
	r := New()
	r.Add("tenant-secret-value", "ab", "")
	r.AddURL("postgres://app:hunter2@db/x?password=other-pw&sslmode=disable")
	in := "header tenant-secret-value; pw hunter2 and other-pw; ab stays; sslmode disable"
	want := "header xxxxx; pw xxxxx and xxxxx; ab stays; sslmode disable"
	if got := r.String(in); got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	var nilR *Redactor
	if got := nilR.String("postgres://a:b@h"); got != "postgres://a:xxxxx@h" {
		t.Errorf("nil Redactor: %q", got)
	}
}

type stringer struct{ s string }

func (s stringer) String() string { return s.s }

func TestHandler(t *testing.T) {
	t.Parallel()
	for _, format := range []string{"json", "text"} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			r := New()
			r.Add("header-value-1")
			opts := &slog.HandlerOptions{Level: slog.LevelDebug}
			var inner slog.Handler = slog.NewJSONHandler(&buf, opts)
			if format == "text" {
				inner = slog.NewTextHandler(&buf, opts)
			}
			log := slog.New(r.Handler(inner)).With("database", "postgres://u:pw-bound@h/x")
			log.WithGroup("g").Debug("connect postgres://u:pw-msg@h/x",
				"err", fmt.Errorf("dial: %w", errors.New("password=pw-err")),
				slog.Group("nested", "url", "http://h/s?token=pw-nested", slog.Group("deeper", "h", "header-value-1")),
				"stringer", stringer{"Bearer pw-stringer"},
				"slice", []string{"postgres://u:pw-slice@h"},
				"count", 3)
			out := buf.String()
			for _, secret := range []string{"pw-bound", "pw-msg", "pw-err", "pw-nested", "header-value-1", "pw-stringer", "pw-slice"} {
				if strings.Contains(out, secret) {
					t.Errorf("%s leaked in %s", secret, out)
				}
			}
			if !strings.Contains(out, "count") || !strings.Contains(out, "3") || strings.Count(out, Mask) < 7 {
				t.Errorf("record lost its attributes: %s", out)
			}
			if !log.Enabled(context.Background(), slog.LevelDebug) {
				t.Error("Enabled not delegated")
			}
		})
	}
}
