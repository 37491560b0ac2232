// Package subscription serves the glob items of SYNCD_STREAMS through a
// Durable Streams pull-wake subscription: a client of the server's control API
// (create, claim, ack, release) and the scheduler that tails the wake stream,
// claims the subscription and catches up the streams with pending work
// through the syncer's normal commit path, without a connection per stream.
package subscription

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// streamPrefix is where the protocol serves streams; subscription patterns
// and stream paths are relative to it.
const streamPrefix = "/v1/stream/"

// Error codes of the control API that the scheduler acts on.
var (
	// ErrAlreadyClaimed: another worker holds the subscription.
	ErrAlreadyClaimed = errors.New("ALREADY_CLAIMED")
	// ErrFenced: the claim's generation is stale (the lease expired and the
	// subscription was woken or claimed again).
	ErrFenced = errors.New("FENCED")
	// ErrNoPendingWork: no linked stream has data past its acked offset.
	ErrNoPendingWork = errors.New("NO_PENDING_WORK")
	// ErrNotFound: the subscription does not exist (e.g. the server restarted
	// and kept its subscriptions in memory).
	ErrNotFound = errors.New("SUBSCRIPTION_NOT_FOUND")
	// ErrTokenInvalid: the claim token was refused (expired or not valid).
	ErrTokenInvalid = errors.New("TOKEN_INVALID")
	// ErrExists: a subscription of that ID exists with another configuration.
	ErrExists = errors.New("SUBSCRIPTION_ALREADY_EXISTS")
	// ErrInvalidOffset: an ack regressed or passed a stream's tail.
	ErrInvalidOffset = errors.New("INVALID_OFFSET")
)

var codes = map[string]error{
	"ALREADY_CLAIMED": ErrAlreadyClaimed, "FENCED": ErrFenced, "NO_PENDING_WORK": ErrNoPendingWork,
	"SUBSCRIPTION_NOT_FOUND": ErrNotFound, "TOKEN_INVALID": ErrTokenInvalid, "TOKEN_EXPIRED": ErrTokenInvalid,
	"SUBSCRIPTION_ALREADY_EXISTS": ErrExists, "INVALID_OFFSET": ErrInvalidOffset,
}

// APIError is a refused control request; errors.Is matches the Err* of its code.
type APIError struct {
	Method, URL string
	Status      int
	Code        string
	Message     string
	Holder      string // ALREADY_CLAIMED: the current holder
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s %s: %d %s", e.Method, e.URL, e.Status, e.Code)
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.Holder != "" {
		s += " (held by " + e.Holder + ")"
	}
	return s
}

// Is matches the sentinel of the error's code.
func (e *APIError) Is(target error) bool { return codes[e.Code] == target && target != nil }

// Config is a pull-wake subscription's configuration as syncd creates it.
type Config struct {
	Pattern    string        `json:"pattern"`     // glob relative to /v1/stream/
	WakeStream string        `json:"wake_stream"` // path relative to /v1/stream/
	LeaseTTL   time.Duration `json:"-"`
}

func (c Config) String() string {
	return fmt.Sprintf("type=pull-wake pattern=%s wake_stream=%s lease_ttl_ms=%d", c.Pattern, c.WakeStream, c.LeaseTTL.Milliseconds())
}

// Link is one stream linked to the subscription.
type Link struct {
	Path        string `json:"path"`
	AckedOffset string `json:"acked_offset"`
	TailOffset  string `json:"tail_offset"` // claims only
	HasPending  bool   `json:"has_pending"` // claims only
}

// Info is the server's view of a subscription.
type Info struct {
	ID         string `json:"id"`
	Type       string `json:"type"`
	Pattern    string `json:"pattern"`
	WakeStream string `json:"wake_stream"`
	LeaseTTLMs int64  `json:"lease_ttl_ms"`
	Streams    []Link `json:"streams"`
}

// Config returns the configuration the server holds.
func (i Info) Config() Config {
	return Config{Pattern: i.Pattern, WakeStream: i.WakeStream, LeaseTTL: time.Duration(i.LeaseTTLMs) * time.Millisecond}
}

// Claim is a granted claim: the token authorizes acks and the release of
// this generation only.
type Claim struct {
	WakeID     string `json:"wake_id"`
	Generation int64  `json:"generation"`
	Token      string `json:"token"`
	LeaseTTLMs int64  `json:"lease_ttl_ms"`
	Streams    []Link `json:"streams"`
}

// Ack is the processed offset of one stream.
type Ack struct {
	Stream string `json:"stream"`
	Offset string `json:"offset"`
}

// Client talks to one server's subscription control API.
type Client struct {
	base   string // scheme://host[:port][prefix], without /v1/stream/
	id     string
	http   *http.Client
	header func(http.Header) // the service token and extra headers, may be nil
}

// NewClient returns the client of subscription id on the server at base
// (scheme://host[:port], without /v1/stream/). header, when set, adds the
// service credentials to every request; ack and release replace the
// Authorization header with the claim's token.
func NewClient(base, id string, hc *http.Client, header func(http.Header)) *Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	return &Client{base: strings.TrimSuffix(base, "/"), id: id, http: hc, header: header}
}

// ID is the subscription's id.
func (c *Client) ID() string { return c.id }

// StreamURL is the URL of the stream at path (relative to /v1/stream/).
func (c *Client) StreamURL(path string) string { return c.base + streamPrefix + path }

func (c *Client) actionURL(action string) string {
	u := c.base + streamPrefix + "__ds/subscriptions/" + url.PathEscape(c.id)
	if action != "" {
		u += "/" + action
	}
	return u
}

// EnsureWakeStream creates the wake stream as a JSON stream when missing.
func (c *Client) EnsureWakeStream(ctx context.Context, path string) error {
	u := c.StreamURL(path)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, u, nil)
	if err != nil {
		return err
	}
	c.auth(req, "")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("create wake stream %s: %w", u, err)
	}
	defer drain(resp)
	switch resp.StatusCode {
	case http.StatusOK, http.StatusCreated, http.StatusNoContent:
		return nil
	case http.StatusConflict:
		return fmt.Errorf("create wake stream %s: it exists with another content type; SYNCD_WAKE_STREAM must name a JSON stream or a free path", u)
	}
	return fmt.Errorf("create wake stream %s: status %d", u, resp.StatusCode)
}

// Ensure creates the subscription or confirms it has cfg. A subscription of
// that id with another configuration is a *ConflictError.
func (c *Client) Ensure(ctx context.Context, cfg Config) (Info, error) {
	body := map[string]any{"type": "pull-wake", "pattern": cfg.Pattern, "wake_stream": cfg.WakeStream, "lease_ttl_ms": cfg.LeaseTTL.Milliseconds()}
	var info Info
	err := c.do(ctx, http.MethodPut, c.actionURL(""), "", body, &info)
	if errors.Is(err, ErrExists) {
		ce := &ConflictError{ID: c.id, URL: c.actionURL(""), Want: cfg, Err: err}
		if have, gerr := c.Get(ctx); gerr == nil {
			hc := have.Config()
			ce.Have = &hc
		}
		return Info{}, ce
	}
	return info, err
}

// Get returns the subscription as the server holds it.
func (c *Client) Get(ctx context.Context) (Info, error) {
	var info Info
	err := c.do(ctx, http.MethodGet, c.actionURL(""), "", nil, &info)
	return info, err
}

// Claim claims the subscription for worker.
func (c *Client) Claim(ctx context.Context, worker string) (Claim, error) {
	var cl Claim
	err := c.do(ctx, http.MethodPost, c.actionURL("claim"), "", map[string]string{"worker": worker}, &cl)
	return cl, err
}

// Ack records processed offsets under the claim and extends its lease; with
// done it also ends the claim, and nextWake says the server woke the
// subscription again at once (work arrived meanwhile).
func (c *Client) Ack(ctx context.Context, cl Claim, acks []Ack, done bool) (nextWake bool, err error) {
	body := map[string]any{"wake_id": cl.WakeID, "generation": cl.Generation, "acks": acks, "done": done}
	if acks == nil {
		body["acks"] = []Ack{}
	}
	var out struct {
		NextWake bool `json:"next_wake"`
	}
	err = c.do(ctx, http.MethodPost, c.actionURL("ack"), cl.Token, body, &out)
	return out.NextWake, err
}

// Release gives the claim up without marking the work done.
func (c *Client) Release(ctx context.Context, cl Claim) error {
	body := map[string]any{"wake_id": cl.WakeID, "generation": cl.Generation}
	return c.do(ctx, http.MethodPost, c.actionURL("release"), cl.Token, body, nil)
}

// auth adds the service headers, then the claim token when given.
func (c *Client) auth(req *http.Request, token string) {
	if c.header != nil {
		c.header(req.Header)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
}

// do sends one JSON request and decodes a 2xx answer into out (when not nil).
func (c *Client) do(ctx context.Context, method, u, token string, in, out any) error {
	var body io.Reader
	if in != nil {
		raw, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	c.auth(req, token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer drain(resp)
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, u, err)
	}
	if resp.StatusCode/100 != 2 {
		return apiError(method, u, resp.StatusCode, raw)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, u, err)
	}
	return nil
}

func apiError(method, u string, status int, raw []byte) error {
	var body struct {
		Error struct {
			Code          string `json:"code"`
			Message       string `json:"message"`
			CurrentHolder string `json:"current_holder"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &body)
	e := &APIError{Method: method, URL: u, Status: status, Code: body.Error.Code, Message: body.Error.Message, Holder: body.Error.CurrentHolder}
	if e.Code == "" {
		e.Code = http.StatusText(status)
	}
	return e
}

func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
}

// ConflictError stops startup: the subscription exists with another
// configuration.
type ConflictError struct {
	ID   string
	URL  string
	Want Config
	Have *Config // nil when it could not be read
	Err  error
}

func (e *ConflictError) Error() string {
	have := "another configuration (could not be read)"
	if e.Have != nil {
		have = e.Have.String()
	}
	return fmt.Sprintf("SYNCD_SUBSCRIPTION=%s: the server already holds a subscription of that id with %s, but this syncd wants %s; "+
		"pick another SYNCD_SUBSCRIPTION, align SYNCD_STREAMS/SYNCD_WAKE_STREAM/SYNCD_LEASE_TTL with the existing one, "+
		"or delete it (DELETE %s) when no other replica uses it", e.ID, have, e.Want, e.URL)
}

func (e *ConflictError) Unwrap() error { return e.Err }
