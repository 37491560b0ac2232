package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/discovery"
	"github.com/syncd-io/syncd/internal/mapping"
	"github.com/syncd-io/syncd/internal/redact"
	"github.com/syncd-io/syncd/internal/sink/mysql"
	"github.com/syncd-io/syncd/internal/syncer"
)

// Config is syncd's whole configuration, read once from the environment (and
// command-line flags that override it). Every field's env tag is part of the
// public contract documented in the README.
type Config struct {
	Streams            string        `env:"SYNCD_STREAMS" help:"comma-separated streams: URL or name=URL (required); may be empty when the SYNCD_CONFIG file lists streams"`
	DatabaseURL        string        `env:"SYNCD_DATABASE_URL" envDefault:"sqlite:syncd.db" help:"postgres://…, mysql://… (or mariadb://…) or sqlite:PATH"`
	Schema             string        `env:"SYNCD_SCHEMA" envDefault:"syncd" help:"Postgres schema for every syncd table"`
	Live               string        `env:"SYNCD_LIVE" envDefault:"sse" help:"live tailing mode: sse or long-poll"`
	StartOffset        string        `env:"SYNCD_START_OFFSET" envDefault:"-1" help:"where a stream without a checkpoint starts: -1 or now"`
	OnInvalid          string        `env:"SYNCD_ON_INVALID" envDefault:"dead-letter" help:"invalid messages: dead-letter or halt"`
	MaxBatchBytes      int64         `env:"SYNCD_MAX_BATCH_BYTES" envDefault:"67108864" help:"pending bytes written into the open transaction (memory bound)"`
	CatchupCommitBytes int64         `env:"SYNCD_CATCHUP_COMMIT_BYTES" envDefault:"0" help:"also commit during a catch-up after this many bytes (0: off)"`
	HTTPAddr           string        `env:"SYNCD_HTTP_ADDR" help:"address of /metrics, /healthz and /readyz; set but empty disables them (default :9090)"`
	AuthToken          string        `env:"SYNCD_AUTH_TOKEN" help:"bearer token sent to the stream server"`
	AuthTokenFile      string        `env:"SYNCD_AUTH_TOKEN_FILE" help:"file holding the bearer token, re-read when it changes"`
	OnGone             string        `env:"SYNCD_ON_GONE" envDefault:"halt" help:"a 410 Gone (offset no longer retained): halt, or resync (re-read from -1, replacing the stream's rows)"`
	TLSCAFile          string        `env:"SYNCD_TLS_CA_FILE" help:"PEM file of CA certificates trusted for the stream server, besides the system pool"`
	Headers            string        `env:"SYNCD_HEADERS" help:"extra request headers: 'Name: value' items separated by newlines or ';' (values never logged)"`
	SSEIdleTimeout     time.Duration `env:"SYNCD_SSE_IDLE_TIMEOUT" envDefault:"75s" help:"a connection silent this long is dead (must exceed the server's SSE keep-alive and long-poll timeout)"`
	MaxMessageBytes    int           `env:"SYNCD_MAX_MESSAGE_BYTES" envDefault:"16777216" help:"a larger message is a reject (kept as a prefix), never held in memory whole"`
	Types              []string      `env:"SYNCD_TYPES" help:"comma-separated allowlist of entity types; other types are rejects (default: all)"`
	ShutdownTimeout    time.Duration `env:"SYNCD_SHUTDOWN_TIMEOUT" envDefault:"10s" help:"how long shutdown may take before syncd exits anyway"`
	LogLevel           string        `env:"SYNCD_LOG_LEVEL" envDefault:"info" help:"debug, info, warn or error"`
	LogFormat          string        `env:"SYNCD_LOG_FORMAT" envDefault:"json" help:"json or text"`
	Leases             string        `env:"SYNCD_LEASES" envDefault:"off" help:"on: share the streams with other replicas on the same Postgres through leases; off: run every stream here"`
	LeaseTTL           time.Duration `env:"SYNCD_LEASE_TTL" envDefault:"15s" help:"lease lifetime with SYNCD_LEASES=on (renewed every TTL/3; a crashed replica's streams move after it)"`
	ReplicaID          string        `env:"SYNCD_REPLICA_ID" help:"this replica's lease owner id (default hostname-pid-random)"`
	ConfigFile         string        `env:"SYNCD_CONFIG" help:"YAML file of per-stream settings and per-type tables (names, key scope, typed columns, indexes)"`
	TxIDRetention      time.Duration `env:"SYNCD_TXID_RETENTION" envDefault:"24h" help:"how long syncd_txids keeps a committed txid (0: forever)"`
	DBWait             time.Duration `env:"SYNCD_DB_WAIT" envDefault:"0" help:"how long run and migrate wait for the database at startup (0: forever)"`
	HTTPCompression    string        `env:"SYNCD_HTTP_COMPRESSION" envDefault:"gzip" help:"body encoding asked of the stream server: gzip, or none (Accept-Encoding: identity; better for a server on the same host or cluster)"`

	// explicit holds the variables given in the environment or as flags
	// (not defaults): they win over the SYNCD_CONFIG file. Set by loadConfig.
	explicit map[string]bool
	// given holds every variable's value as given (for messages).
	given map[string]string
	// file is the SYNCD_CONFIG file, read and compiled once by loadConfig
	// (nil without one): nothing reads it again.
	file *mapping.File
	// redact masks this configuration's secrets in whatever syncd prints
	// (nil: only the forms redact recognises).
	redact *redact.Redactor

	Subscription     string `env:"SYNCD_SUBSCRIPTION" help:"serve the glob items of SYNCD_STREAMS through the pull-wake subscription of this id on their server: a handful of connections instead of one per stream"`
	WakeStream       string `env:"SYNCD_WAKE_STREAM" help:"wake stream of SYNCD_SUBSCRIPTION, relative to /v1/stream/ (default syncd-wake/ID; created as a JSON stream when missing)"`
	MetricsPerStream string `env:"SYNCD_METRICS_PER_STREAM" envDefault:"on" help:"on: metric series per stream; off: one aggregated series (stream=\"_all\") for thousands of streams"`
}

// errNoStreams is the error of a configuration that names no stream.
var errNoStreams = errors.New("SYNCD_STREAMS is required (unless the SYNCD_CONFIG file lists streams): a comma-separated list of stream URLs, each optionally prefixed with name= (e.g. chat=http://localhost:4437/v1/stream/chat)")

// fileLoader reads and compiles a SYNCD_CONFIG file (mapping.Load; tests
// count the calls).
type fileLoader func(path string) (*mapping.File, error)

// defaultHTTPAddr is where the ops endpoints listen unless SYNCD_HTTP_ADDR is set.
const defaultHTTPAddr = ":9090"

// StreamSpec is one parsed item of SYNCD_STREAMS.
type StreamSpec = syncer.Stream

// loadConfig reads the environment, then the flags set on fs (named after the
// variables: SYNCD_DATABASE_URL is --database-url), then the SYNCD_CONFIG
// file, and validates the result.
func loadConfig(environ []string, fs *flag.FlagSet, args []string, needStreams bool) (Config, []string, error) {
	return readConfig(environ, fs, args, needStreams, mapping.Load)
}

// readConfig is loadConfig with the file read by load, exactly once.
func readConfig(environ []string, fs *flag.FlagSet, args []string, needStreams bool, load fileLoader) (Config, []string, error) {
	vars := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			vars[k] = v
		}
	}
	flagVals := registerConfigFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, nil, err
	}
	fs.Visit(func(f *flag.Flag) {
		if name, ok := flagVals[f.Name]; ok {
			vars[name] = f.Value.String()
		}
	})
	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: vars}); err != nil {
		return Config{}, nil, describeEnvError(err, vars)
	}
	// caarlos0/env treats an empty value as unset; for SYNCD_HTTP_ADDR empty
	// means "disabled", so its default applies only when it is truly unset.
	if _, set := vars["SYNCD_HTTP_ADDR"]; !set {
		cfg.HTTPAddr = defaultHTTPAddr
	}
	cfg.explicit, cfg.given = map[string]bool{}, vars
	for name, v := range vars {
		cfg.explicit[name] = v != ""
	}
	var fileErr error
	if cfg.ConfigFile != "" {
		cfg.file, fileErr = load(cfg.ConfigFile)
	}
	if err := cfg.validate(needStreams, fileErr); err != nil {
		return cfg, nil, err // the caller may still register its secrets
	}
	return cfg, fs.Args(), nil
}

// registerConfigFlags adds one string flag per variable and returns the map
// from flag name to variable name.
func registerConfigFlags(fs *flag.FlagSet) map[string]string {
	names := map[string]string{}
	only := commandVariables[strings.TrimPrefix(fs.Name(), "syncd ")]
	t := reflect.TypeFor[Config]()
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("env")
		if name == "" || (only != nil && !slices.Contains(only, name)) {
			continue
		}
		flagName := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "SYNCD_")), "_", "-")
		usage := f.Tag.Get("help") + " (" + name
		if d := f.Tag.Get("envDefault"); d != "" {
			usage += ", default " + d
		}
		fs.String(flagName, "", usage+")")
		names[flagName] = name
	}
	return names
}

// commandVariables lists, for the commands that only touch the database,
// the variables they use: their -h shows only those flags (the environment
// is still read whole, and validated). run takes every variable.
var commandVariables = map[string][]string{
	"migrate": {"SYNCD_DATABASE_URL", "SYNCD_SCHEMA", "SYNCD_CONFIG", "SYNCD_DB_WAIT", "SYNCD_LOG_LEVEL", "SYNCD_LOG_FORMAT"},
	"status": {"SYNCD_DATABASE_URL", "SYNCD_SCHEMA", "SYNCD_AUTH_TOKEN", "SYNCD_AUTH_TOKEN_FILE", "SYNCD_TLS_CA_FILE",
		"SYNCD_HEADERS", "SYNCD_LOG_LEVEL", "SYNCD_LOG_FORMAT"},
	"reset":   {"SYNCD_DATABASE_URL", "SYNCD_SCHEMA", "SYNCD_START_OFFSET", "SYNCD_LOG_LEVEL", "SYNCD_LOG_FORMAT"},
	"rejects": {"SYNCD_DATABASE_URL", "SYNCD_SCHEMA", "SYNCD_LOG_LEVEL", "SYNCD_LOG_FORMAT"},
}

// invalid is the one message of a variable whose value is not accepted:
// the variable, its value (redacted: pass redact.Mask for a secret), what
// is wrong when there is more to say, and what is accepted with an example.
func invalid(name, value, want string, cause ...error) error {
	msg := fmt.Sprintf("%s=%q is not valid", name, redact.String(value))
	if err := errors.Join(cause...); err != nil {
		msg += ": " + err.Error()
	}
	return fmt.Errorf("%s: want %s", msg, want)
}

// describeEnvError names the variable and the value behind a caarlos0/env
// parse error, and says what its type accepts.
func describeEnvError(err error, vars map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	t := reflect.TypeFor[Config]()
	var out []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if errors.As(e, &pe) {
			if f, ok := t.FieldByName(pe.Name); ok {
				name := f.Tag.Get("env")
				out = append(out, invalid(name, vars[name], typeWant(f)))
				continue
			}
		}
		out = append(out, e)
	}
	return errors.Join(out...)
}

// typeWant says what a variable of field f's type accepts, with an example.
func typeWant(f reflect.StructField) string {
	switch f.Type {
	case reflect.TypeFor[time.Duration]():
		return "a duration such as 15s or 1m"
	}
	switch f.Type.Kind() {
	case reflect.Int, reflect.Int64:
		ex := f.Tag.Get("envDefault")
		if ex == "" || ex == "0" {
			ex = "1048576"
		}
		return "a whole number such as " + ex
	}
	return "a value of type " + f.Type.String()
}

// raw returns the value of variable name as given (the environment or a
// flag), or fallback when it was not given.
func (c Config) raw(name, fallback string) string {
	if v, ok := c.given[name]; ok {
		return v
	}
	return fallback
}

// validate checks the settings (fileErr: reading the SYNCD_CONFIG file
// failed); streams are optional for commands that only touch the database.
// Each error is an invalid message naming the variable.
func (c Config) validate(needStreams bool, fileErr error) error {
	var errs []error
	bad := func(name, value, want string, cause ...error) {
		errs = append(errs, invalid(name, c.raw(name, value), want, cause...))
	}
	if fileErr != nil {
		errs = append(errs, fileErr)
	} else if _, err := c.runStreams(); err != nil && (needStreams || strings.TrimSpace(c.Streams) != "") {
		errs = append(errs, err)
	}
	if c.TxIDRetention < 0 {
		bad("SYNCD_TXID_RETENTION", c.TxIDRetention.String(), "a duration such as 24h, or 0 to keep txids forever")
	}
	if c.DBWait < 0 {
		bad("SYNCD_DB_WAIT", c.DBWait.String(), "a duration such as 5m, or 0 to wait for the database forever")
	}
	if _, _, err := parseDatabaseURL(c.DatabaseURL); err != nil {
		errs = append(errs, err)
	}
	if !validIdentifier(c.Schema) {
		bad("SYNCD_SCHEMA", c.Schema, "a SQL identifier of letters, digits and _ (not starting with a digit, at most 63 bytes), e.g. syncd")
	}
	if c.Live != string(consumer.SSE) && c.Live != string(consumer.LongPoll) {
		bad("SYNCD_LIVE", c.Live, "sse or long-poll")
	}
	if c.StartOffset != "-1" && c.StartOffset != "now" {
		bad("SYNCD_START_OFFSET", c.StartOffset, "-1 (the beginning) or now (the current tail)")
	}
	if c.OnInvalid != string(syncer.DeadLetter) && c.OnInvalid != string(syncer.Halt) {
		bad("SYNCD_ON_INVALID", c.OnInvalid, "dead-letter or halt")
	}
	if c.MaxBatchBytes < 1<<20 {
		bad("SYNCD_MAX_BATCH_BYTES", fmt.Sprint(c.MaxBatchBytes), "a byte count of at least 1048576, e.g. 67108864")
	}
	if c.MaxMessageBytes < 1024 {
		bad("SYNCD_MAX_MESSAGE_BYTES", fmt.Sprint(c.MaxMessageBytes), "a byte count of at least 1024, e.g. 16777216")
	}
	for _, t := range c.Types {
		if strings.TrimSpace(t) == "" {
			bad("SYNCD_TYPES", strings.Join(c.Types, ","), "a comma-separated list of non-empty type names, e.g. message,user")
			break
		}
	}
	if c.CatchupCommitBytes < 0 {
		bad("SYNCD_CATCHUP_COMMIT_BYTES", fmt.Sprint(c.CatchupCommitBytes), "0 (off) or a positive byte count, e.g. 268435456")
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		bad("SYNCD_LOG_LEVEL", c.LogLevel, "debug, info, warn or error")
	}
	if strings.ContainsFunc(c.AuthToken, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		errs = append(errs, invalid("SYNCD_AUTH_TOKEN", redact.Mask, "a token without spaces or control characters (it is sent as Authorization: Bearer TOKEN)"))
	}
	if c.AuthToken != "" && c.AuthTokenFile != "" {
		errs = append(errs, errors.New("SYNCD_AUTH_TOKEN and SYNCD_AUTH_TOKEN_FILE are both set: set only one"))
	}
	if c.AuthTokenFile != "" {
		if _, err := os.Stat(c.AuthTokenFile); err != nil {
			bad("SYNCD_AUTH_TOKEN_FILE", c.AuthTokenFile, "a readable file holding the token, e.g. /var/run/secrets/syncd/token", err)
		}
	}
	errs = append(errs, c.validateTransport()...)
	errs = append(errs, c.validateScale()...)
	errs = append(errs, c.validateSubscription()...)
	if c.HTTPAddr != "" {
		if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
			bad("SYNCD_HTTP_ADDR", c.HTTPAddr, "host:port or :port such as :9090, or empty to disable")
		}
	}
	if c.ShutdownTimeout <= 0 {
		bad("SYNCD_SHUTDOWN_TIMEOUT", c.ShutdownTimeout.String(), "a positive duration such as 10s")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("SYNCD_LOG_FORMAT", c.LogFormat, "json or text")
	}
	return errors.Join(errs...)
}

// envStreams parses SYNCD_STREAMS (none when it is empty).
func (c Config) envStreams() ([]StreamSpec, error) {
	var out []StreamSpec
	seen := map[string]bool{}
	for item := range strings.SplitSeq(c.Streams, ",") {
		item = strings.TrimSpace(item)
		if item == "" || discovery.IsGlob(item) { // globs: see Globs
			continue
		}
		spec, err := parseStream(item)
		if err != nil {
			return nil, err
		}
		if seen[spec.Name] {
			return nil, fmt.Errorf("SYNCD_STREAMS: stream name %q appears twice; give one of them a distinct name=URL", spec.Name)
		}
		seen[spec.Name] = true
		out = append(out, spec)
	}
	return out, nil
}

// streamExample is the example of every message about a stream item.
const streamExample = "URL or name=URL, e.g. chat=http://localhost:4437/v1/stream/chat or team/chat=https://ds.example/v1/stream/chat"

// streamError is an item of SYNCD_STREAMS (or a stream of the file) that is
// not valid; problem says what is wrong with it.
type streamError struct{ item, problem string }

func (e *streamError) Error() string {
	return fmt.Sprintf("SYNCD_STREAMS item %q is not valid: %s; want %s", redactURL(e.item), e.problem, streamExample)
}

// splitStreamItem splits a SYNCD_STREAMS item into its name and URL. The
// name is what precedes the first "=" that is followed by http:// or
// https://, so a name may hold slashes and colons (team/chat=http://…); an
// item that starts with http:// or https:// is a URL without a name. An
// item with no "=http(s)://" but an "=" before any "://" is name=URL with a
// URL of another scheme, which parseStream then refuses by its scheme.
func splitStreamItem(item string) (name, raw string) {
	lower := strings.ToLower(item)
	isHTTP := func(s string) bool { return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") }
	if isHTTP(lower) {
		return "", item
	}
	for i := 1; i < len(item); i++ {
		if item[i] == '=' && isHTTP(lower[i+1:]) {
			return item[:i], item[i+1:]
		}
	}
	if i := strings.Index(item, "="); i > 0 && !strings.Contains(item[:i], "://") {
		return item[:i], item[i+1:]
	}
	return "", item
}

func parseStream(item string) (StreamSpec, error) {
	name, raw := splitStreamItem(item)
	bad := func(format string, args ...any) (StreamSpec, error) {
		return StreamSpec{}, &streamError{item, fmt.Sprintf(format, args...)}
	}
	if raw == "" {
		return bad("the URL after %q= is empty", name)
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return bad("its URL does not parse: %v", err)
	case u.Scheme == "":
		return bad("%q is not a URL: it has no http:// or https:// scheme", redactURL(raw))
	case u.Scheme != "http" && u.Scheme != "https":
		return bad("its URL's scheme is %s, not http or https", u.Scheme)
	case u.Host == "":
		return bad("its URL has no host")
	case u.RawQuery != "" || u.Fragment != "":
		return bad("its URL must not carry a query or fragment: syncd adds the offset itself")
	}
	if name == "" {
		name = strings.TrimPrefix(strings.TrimPrefix(u.Path, "/v1/stream/"), "/")
	}
	if name == "" {
		return bad("its URL has no path to name the stream by; give a name with name=URL")
	}
	return StreamSpec{Name: name, URL: raw}, nil
}

// parseDatabaseURL returns the dialect ("postgres", "mysql" or "sqlite")
// and the driver's connection string (the file path for SQLite).
func parseDatabaseURL(s string) (dialect, dsn string, err error) {
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return "postgres", s, nil
	case strings.HasPrefix(s, "mysql://"), strings.HasPrefix(s, "mariadb://"):
		if _, err := mysql.ParseURL(s); err != nil {
			return "", "", invalid("SYNCD_DATABASE_URL", s, mysql.URLForms, err)
		}
		return "mysql", s, nil
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(s, "sqlite:")
		path = strings.TrimPrefix(path, "//") // sqlite:///abs/path.db
		if path == "" {
			break
		}
		return "sqlite", path, nil
	}
	return "", "", invalid("SYNCD_DATABASE_URL", s, "postgres://…, postgresql://…, mysql://…, mariadb://… or sqlite:PATH, e.g. sqlite:syncd.db")
}

// redactURL hides the secrets of a URL (or any text) that a message names;
// see package redact.
func redactURL(s string) string { return redact.String(s) }

// secrets registers every secret of the configuration with r: the database
// URL's password, the auth token, the SYNCD_HEADERS values and the
// credentials of the stream URLs (and those of the file's streams).
func (c Config) secrets(r *redact.Redactor) {
	r.AddURL(c.DatabaseURL)
	r.Add(c.AuthToken)
	headers, _ := parseHeaders(c.Headers)
	for _, h := range headers {
		r.Add(h[1])
	}
	for item := range strings.SplitSeq(c.Streams, ",") {
		if i := strings.Index(item, "://"); i > 0 {
			r.AddURL(item[strings.LastIndexAny(item[:i], "=")+1:])
		}
	}
	if c.file != nil {
		for _, s := range c.file.Streams {
			r.AddURL(s.URL)
		}
	}
}

func validIdentifier(s string) bool {
	if s == "" || len(s) > 63 || (s[0] >= '0' && s[0] <= '9') {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	err := l.UnmarshalText([]byte(s))
	return l, err
}

// newLogger returns the logger of every command: every line, at every
// level, passes through the configuration's redactor.
func newLogger(c Config, w io.Writer) *slog.Logger {
	level, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if c.LogFormat == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(c.redact.Handler(h))
}

// consumerOptions is the reader configuration shared by every stream.
func (c Config) consumerOptions(log *slog.Logger) consumer.Options {
	tokens := newTokenSource(c.AuthToken, c.AuthTokenFile, log, c.redact)
	return c.withTransport(consumer.Options{Live: consumer.Mode(c.Live), Logger: log, Header: tokens.header, MaxMessageBytes: c.MaxMessageBytes})
}
