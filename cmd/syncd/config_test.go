package main

import (
	"context"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/syncd-io/syncd/internal/dstest"
)

// TestEveryVariableSaysWhatIsWrong has one case per variable of Config
// (found by reflection, so a new variable without a case fails): a value
// that does not parse or is out of range gets the one kind of message —
// the variable, the value (masked when secret), what is accepted — and
// exit status 2. A variable that accepts any value says so.
func TestEveryVariableSaysWhatIsWrong(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	type badCase struct {
		value string // a value that is not accepted
		shown string // how the message shows it (default: value)
		want  string // part of what the message says is accepted
		any   bool   // every value is accepted
	}
	cases := map[string]badCase{
		"SYNCD_STREAMS":              {value: "chat=ftp://h/v1/stream/chat", want: "URL or name=URL, e.g. chat=http://"},
		"SYNCD_DATABASE_URL":         {value: "mongodb://u:hunter2@h/db", shown: "mongodb://u:xxxxx@h/db", want: "postgres://…, postgresql://…, mysql://…, mariadb://… or sqlite:PATH"},
		"SYNCD_SCHEMA":               {value: "bad-name", want: "a SQL identifier"},
		"SYNCD_LIVE":                 {value: "websocket", want: "sse or long-poll"},
		"SYNCD_START_OFFSET":         {value: "5", want: "-1 (the beginning) or now"},
		"SYNCD_ON_INVALID":           {value: "ignore", want: "dead-letter or halt"},
		"SYNCD_MAX_BATCH_BYTES":      {value: "lots", want: "a whole number such as 67108864"},
		"SYNCD_CATCHUP_COMMIT_BYTES": {value: "-5", want: "0 (off) or a positive byte count"},
		"SYNCD_HTTP_ADDR":            {value: "nine-thousand", want: "host:port or :port such as :9090"},
		"SYNCD_AUTH_TOKEN":           {value: "two words-hunter2", shown: "xxxxx", want: "a token without spaces"},
		"SYNCD_AUTH_TOKEN_FILE":      {value: filepath.Join(dir, "missing"), want: "a readable file holding the token"},
		"SYNCD_ON_GONE":              {value: "ignore", want: "halt or resync"},
		"SYNCD_TLS_CA_FILE":          {value: notPEM, want: "a readable PEM file"},
		"SYNCD_HEADERS":              {value: "X-Key hunter2", shown: "xxxxx", want: "'Name: value' items"},
		"SYNCD_SSE_IDLE_TIMEOUT":     {value: "10ms", want: "a duration of at least 1s"},
		"SYNCD_MAX_MESSAGE_BYTES":    {value: "12", want: "a byte count of at least 1024"},
		"SYNCD_TYPES":                {value: "a,,b", want: "a comma-separated list of non-empty type names"},
		"SYNCD_SHUTDOWN_TIMEOUT":     {value: "0s", want: "a positive duration such as 10s"},
		"SYNCD_LOG_LEVEL":            {value: "loud", want: "debug, info, warn or error"},
		"SYNCD_LOG_FORMAT":           {value: "xml", want: "json or text"},
		"SYNCD_LEASES":               {value: "maybe", want: "on or off"},
		"SYNCD_LEASE_TTL":            {value: "banana", want: "a duration such as 15s or 1m"},
		"SYNCD_REPLICA_ID":           {value: "any id/ü", any: true},
		"SYNCD_CONFIG":               {value: filepath.Join(dir, "missing.yaml"), want: "a readable YAML file"},
		"SYNCD_TXID_RETENTION":       {value: "-1h", want: "a duration such as 24h, or 0"},
		"SYNCD_DB_WAIT":              {value: "forever", want: "a duration such as 15s or 1m"},
		"SYNCD_SUBSCRIPTION":         {value: "rooms/all", want: "an id without '/'"},
		"SYNCD_WAKE_STREAM":          {value: "wake/*", want: "a stream path relative to /v1/stream/, without globs"},
		"SYNCD_METRICS_PER_STREAM":   {value: "some", want: "on (a series per stream) or off"},
		"SYNCD_HTTP_COMPRESSION":     {value: "br", want: "gzip or none"},
	}
	typ := reflect.TypeFor[Config]()
	for i := range typ.NumField() {
		name := typ.Field(i).Tag.Get("env")
		if name == "" {
			continue
		}
		c, ok := cases[name]
		if !ok {
			t.Errorf("%s has no case: add a value it refuses and the message it gets", name)
			continue
		}
		delete(cases, name)
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			environ := []string{"SYNCD_STREAMS=http://h/v1/stream/s", name + "=" + c.value}
			if c.any {
				fs := flag.NewFlagSet("t", flag.ContinueOnError)
				fs.SetOutput(io.Discard)
				if _, _, err := loadConfig(environ, fs, nil, true); err != nil {
					t.Errorf("%s=%q refused: %v", name, c.value, err)
				}
				return
			}
			code, out := syncdRun(context.Background(), environ, "run", "--once")
			shown := c.value
			if c.shown != "" {
				shown = c.shown
			}
			head := name + `="` + shown + `" is not valid`
			if name == "SYNCD_STREAMS" {
				head = name + ` item "` + shown + `" is not valid`
			}
			want := "want " + c.want
			if code != exitUsage || !strings.Contains(out, head) || !strings.Contains(out, want) {
				t.Errorf("exit %d, output:\n%s\nwant exit %d with %q and %q", code, out, exitUsage, head, want)
			}
			if strings.Contains(out, "hunter2") {
				t.Errorf("the message shows a secret: %s", out)
			}
		})
	}
	for name := range cases {
		t.Errorf("case for %s, which Config does not read", name)
	}
}

// TestStreamNames: a name may hold slashes; the item splits at the first
// "=" followed by http:// or https://; a wrong item says what is wrong.
func TestStreamNames(t *testing.T) {
	t.Parallel()
	ok := []struct{ item, name, url string }{
		{"team/chat=http://h/v1/stream/chat", "team/chat", "http://h/v1/stream/chat"},
		{"rooms/general=https://h:8443/v1/stream/rooms/general", "rooms/general", "https://h:8443/v1/stream/rooms/general"},
		{"http://h/v1/stream/rooms/general", "rooms/general", "http://h/v1/stream/rooms/general"},
		{"a:b=http://h/x", "a:b", "http://h/x"},
		{"x=y=http://h/v1/stream/z", "x=y", "http://h/v1/stream/z"},
		{"HTTP://h/v1/stream/up", "up", "HTTP://h/v1/stream/up"},
	}
	for _, c := range ok {
		s, err := parseStream(c.item)
		if err != nil || s.Name != c.name || s.URL != c.url {
			t.Errorf("%q: got %+v, %v; want name %q URL %q", c.item, s, err, c.name, c.url)
		}
	}
	bad := []struct{ item, problem string }{
		{"chat=ftp://h/x", "scheme is ftp, not http or https"},
		{"chat=", "the URL after \"chat\"= is empty"},
		{"h/v1/stream/x", "has no http:// or https:// scheme"},
		{"http:///v1/stream/x", "has no host"},
		{"http://h/v1/stream/x?token=hunter2", "must not carry a query"},
		{"http://h", "no path to name the stream by"},
		{"chat=http://h/%zz", "does not parse"},
	}
	for _, c := range bad {
		_, err := parseStream(c.item)
		if err == nil || !strings.Contains(err.Error(), c.problem) || !strings.Contains(err.Error(), "want URL or name=URL") {
			t.Errorf("%q: %v; want it to say %q", c.item, err, c.problem)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: the message shows the token: %v", c.item, err)
		}
	}
}

// TestStreamNameWithSlashesSyncs: team/chat=URL runs, and its checkpoint
// is kept under that name.
func TestStreamNameWithSlashesSyncs(t *testing.T) {
	t.Parallel()
	srv := dstest.StartT(t, dstest.Options{})
	ctx := context.Background()
	if err := srv.Create(ctx, "chat-slash"); err != nil {
		t.Fatal(err)
	}
	events := []any{change("message", "m1", "insert", "hello")}
	if _, err := srv.Append(ctx, "chat-slash", events...); err != nil {
		t.Fatal(err)
	}
	b := sqliteBackend(t)
	runOnce(t, b.env("SYNCD_STREAMS=team/chat="+srv.StreamURL("chat-slash")))
	m := newModel()
	m.apply(t, "team/chat", events...)
	assertTables(t, b, m)
	if _, applied, _, _ := b.checkpoint(t, "team/chat"); applied != 1 {
		t.Errorf("events_applied = %d, want 1", applied)
	}
}
