package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/metrics"
	"github.com/syncd-io/syncd/internal/ops"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/subscription"
	"github.com/syncd-io/syncd/internal/syncer"
)

// maxServerConns caps the connections to each stream server with
// SYNCD_SUBSCRIPTION: the wake reader holds one, the catch-ups and control
// requests share the others (catch-ups beyond them wait for one). It is one
// below the target of 8 because Go's transport frees a slot just before it
// closes the socket, so a new connection may briefly overlap a closing one.
const maxServerConns = 7

// maxSubscriptionLease is the longest lease_ttl_ms a server accepts.
const maxSubscriptionLease = 10 * time.Minute

// defaultWakeStream is SYNCD_WAKE_STREAM's default; %s is SYNCD_SUBSCRIPTION.
const defaultWakeStream = "syncd-wake/%s"

// wakeStream is the wake stream's path relative to /v1/stream/.
func (c Config) wakeStream() string {
	if c.WakeStream != "" {
		return strings.Trim(c.WakeStream, "/")
	}
	return fmt.Sprintf(defaultWakeStream, c.Subscription)
}

// validateSubscription checks SYNCD_SUBSCRIPTION, SYNCD_WAKE_STREAM and
// SYNCD_METRICS_PER_STREAM.
func (c Config) validateSubscription() []error {
	var errs []error
	if c.MetricsPerStream != "on" && c.MetricsPerStream != "off" {
		errs = append(errs, invalid("SYNCD_METRICS_PER_STREAM", c.MetricsPerStream, "on (a series per stream) or off (one aggregated series)"))
	}
	switch wake := c.wakeStream(); {
	case c.WakeStream != "" && (strings.ContainsAny(wake, "*?#") || strings.HasPrefix(wake, "__ds")):
		errs = append(errs, invalid("SYNCD_WAKE_STREAM", c.WakeStream, "a stream path relative to /v1/stream/, without globs, outside __ds, e.g. syncd-wake/rooms"))
	case c.WakeStream != "" && c.Subscription == "":
		errs = append(errs, invalid("SYNCD_WAKE_STREAM", c.WakeStream, "empty unless SYNCD_SUBSCRIPTION is set (it names that subscription's wake stream)"))
	}
	if c.Subscription == "" {
		return errs
	}
	if strings.ContainsAny(c.Subscription, "/*?# ") {
		errs = append(errs, invalid("SYNCD_SUBSCRIPTION", c.Subscription, "an id without '/', '*', '?', '#' or spaces, e.g. syncd-rooms"))
	}
	if c.LeaseTTL > maxSubscriptionLease {
		errs = append(errs, invalid("SYNCD_LEASE_TTL", c.LeaseTTL.String(), "with SYNCD_SUBSCRIPTION, a duration from 1s to 10m (the server's lease_ttl_ms range), e.g. 15s"))
	}
	if c.Leases == "on" {
		errs = append(errs, errors.New("SYNCD_SUBSCRIPTION and SYNCD_LEASES=on are both set: replicas share a subscription through its claim; turn leases off"))
	}
	globs, err := c.Globs()
	if err != nil {
		return errs // reported by validateScale
	}
	if len(globs) == 0 {
		errs = append(errs, errors.New("SYNCD_SUBSCRIPTION needs a glob item in SYNCD_STREAMS (such as http://ds:4437/v1/stream/rooms/*): a subscription serves the streams its pattern matches"))
	}
	servers := map[string]bool{}
	for _, g := range globs {
		for seg := range strings.SplitSeq(g.Pattern, "/") {
			if seg != "*" && seg != "**" && strings.ContainsAny(seg, "*?[") {
				errs = append(errs, fmt.Errorf("SYNCD_SUBSCRIPTION: glob segment %q of %s is not valid: want whole segments * and ** besides literal ones (the server's subscription patterns), e.g. rooms/*", seg, redactURL(g.StreamURL(g.Pattern))))
			}
		}
		if servers[g.Base] {
			errs = append(errs, fmt.Errorf("SYNCD_SUBSCRIPTION: SYNCD_STREAMS holds two globs on %s; a subscription id serves one pattern per server: merge them into one glob (** matches any depth)", redactURL(g.Base)))
		}
		servers[g.Base] = true
	}
	return errs
}

// subscriptions are the pull-wake schedulers of `syncd run` with
// SYNCD_SUBSCRIPTION: one per glob item (each on its own server).
type subscriptions struct {
	scheds []*subscription.Scheduler
	static []syncer.Stream // the explicit items, still one loop each
}

// newSubscriptions creates or re-confirms the subscription of every glob
// item; a subscription of that id with another configuration stops startup.
// It returns nil without SYNCD_SUBSCRIPTION. The schedulers share the plan's
// HTTP client with every stream reader, its transport capped at
// maxServerConns connections per server whatever the number of streams.
func newSubscriptions(ctx context.Context, p *plan, db sink.Sink, once bool) (*subscriptions, error) {
	if p.Subscription == "" || once {
		return nil, nil
	}
	log := p.log
	copts := p.consumer
	if t, ok := copts.HTTPClient.Transport.(*http.Transport); ok {
		t.MaxConnsPerHost = maxServerConns
	}
	subs := &subscriptions{static: p.streams}
	worker := lease.NewOwner(p.ReplicaID)
	for _, g := range p.globs {
		client := subscription.NewClient(g.Base, p.Subscription, copts.HTTPClient, copts.Header)
		sched := subscription.New(subscription.Options{
			Client:      client,
			Config:      subscription.Config{Pattern: g.Pattern, WakeStream: p.wakeStream(), LeaseTTL: p.LeaseTTL},
			Worker:      worker,
			StartOffset: p.StartOffset,
			Checkpoints: db.Checkpoints,
			Reader:      copts,
			Logger:      log,
		})
		if err := sched.Setup(ctx); err != nil {
			return nil, err
		}
		subs.scheds = append(subs.scheds, sched)
	}
	log.Info("serving globs through pull-wake subscriptions", "subscription", p.Subscription, "worker", worker,
		"concurrency", subscription.DefaultConcurrency, "max_connections", maxServerConns, "wake_stream", p.wakeStream())
	return subs, nil
}

// source returns the syncer's Source: the explicit streams as loops and the
// schedulers; without subscriptions, fallback.
func (s *subscriptions) source(fallback syncer.Source) syncer.Source {
	if s == nil {
		return fallback
	}
	return func(ctx context.Context, sy *syncer.Syncer) error {
		for _, st := range s.static {
			if err := sy.Start(st); err != nil {
				return err
			}
		}
		var wg sync.WaitGroup
		for _, sched := range s.scheds {
			wg.Go(func() { _ = sched.Run(ctx, sy.CatchUp) })
		}
		wg.Wait()
		return nil
	}
}

// register adds the subscriptions' series to reg.
func (s *subscriptions) register(reg prometheus.Registerer) {
	if s != nil {
		reg.MustRegister(subscription.NewCollector(s.scheds...))
	}
}

// readiness reports the subscriptions for /readyz.
func (s *subscriptions) readiness() []ops.SubscriptionState {
	out := make([]ops.SubscriptionState, 0, len(s.scheds))
	for _, sched := range s.scheds {
		st := sched.Status()
		rs := ops.SubscriptionState{ID: st.ID, Ready: st.Ready, Claimed: st.Claimed, Generation: st.Generation,
			Linked: st.Linked, Pending: max(st.Pending, 0), Failed: st.Failed, Error: st.LastError}
		if !st.LastAck.IsZero() {
			t := st.LastAck.UTC()
			rs.LastAck = &t
		}
		out = append(out, rs)
	}
	return out
}

// serve adds the subscriptions to the ops server's /readyz.
func (s *subscriptions) serve(srv *opsServer) {
	if s != nil && srv != nil {
		srv.ServeSubscriptions(s.readiness)
	}
}

// newMetrics creates the metric recorders, aggregated over the streams when
// SYNCD_METRICS_PER_STREAM=off.
func newMetrics(cfg Config, reg prometheus.Registerer) *metrics.Metrics {
	m := metrics.New(reg)
	if cfg.MetricsPerStream == "off" {
		m.AggregateStreams()
	}
	return m
}

// streamCollector returns the per-stream gauges, or their aggregate when
// SYNCD_METRICS_PER_STREAM=off.
func streamCollector(cfg Config, s *syncer.Syncer) prometheus.Collector {
	if cfg.MetricsPerStream == "off" {
		return syncer.NewAggregateCollector(s)
	}
	return syncer.NewCollector(s)
}

// subscriptionStatusJSON is one subscription in `syncd status`: the server's
// view (linked streams and their acked offsets, compared with the
// checkpoints) and, when a syncd on this host answers on SYNCD_HTTP_ADDR, its
// claim state.
type subscriptionStatusJSON struct {
	ID         string `json:"id"`
	Server     string `json:"server"`
	Pattern    string `json:"pattern"`
	WakeStream string `json:"wake_stream"`
	Linked     int    `json:"streams_linked"`
	// NoCheckpoint counts linked streams syncd never committed (backfill due).
	NoCheckpoint int `json:"streams_without_checkpoint"`
	// Behind counts linked streams whose checkpoint is before the server's
	// acked offset (linked at their tail after a re-create: catch-up due).
	Behind int    `json:"streams_behind_acked"`
	Error  string `json:"error,omitempty"`
	// Process is the running syncd's state (claimed, generation, pending,
	// last ack), read from its /readyz; nil when none answered.
	Process *ops.SubscriptionState `json:"process,omitempty"`
}

// subscriptionStatus reports each glob's subscription; nil without
// SYNCD_SUBSCRIPTION.
func subscriptionStatus(ctx context.Context, cfg Config, hc *http.Client, header func(http.Header), cps []sink.Checkpoint) []subscriptionStatusJSON {
	globs, err := cfg.Globs()
	if cfg.Subscription == "" || err != nil {
		return nil
	}
	offsets := make(map[string]string, len(cps))
	for _, c := range cps {
		offsets[c.Stream] = c.NextOffset
	}
	running := runningSubscriptions(ctx, cfg.HTTPAddr)
	out := make([]subscriptionStatusJSON, 0, len(globs))
	for _, g := range globs {
		st := subscriptionStatusJSON{ID: cfg.Subscription, Server: redactURL(g.Base), Pattern: g.Pattern, WakeStream: cfg.wakeStream()}
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		info, err := subscription.NewClient(g.Base, cfg.Subscription, hc, header).Get(gctx)
		cancel()
		if err != nil {
			st.Error = err.Error()
		}
		st.Linked = len(info.Streams)
		for _, l := range info.Streams {
			switch off := offsets[l.Path]; {
			case off == "" || off == "-1" || off == "now":
				st.NoCheckpoint++
			case off < l.AckedOffset:
				st.Behind++
			}
		}
		for i := range running {
			if running[i].ID == st.ID {
				st.Process = &running[i]
			}
		}
		out = append(out, st)
	}
	return out
}

// runningSubscriptions reads the subscriptions of a syncd answering /readyz
// at addr (a port alone means this host), or nil.
func runningSubscriptions(ctx context.Context, addr string) []ops.SubscriptionState {
	if addr == "" {
		return nil
	}
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var body struct {
		Subscriptions []ops.SubscriptionState `json:"subscriptions"`
	}
	if json.NewDecoder(resp.Body).Decode(&body) != nil {
		return nil
	}
	return body.Subscriptions
}

// printSubscriptions writes the subscription lines of `syncd status`.
func printSubscriptions(w io.Writer, subs []subscriptionStatusJSON) {
	for _, s := range subs {
		fmt.Fprintf(w, "subscription %s on %s: pattern %s, wake stream %s; %d streams linked, %d without a checkpoint, %d behind the acked offset\n",
			s.ID, s.Server, s.Pattern, s.WakeStream, s.Linked, s.NoCheckpoint, s.Behind)
		if s.Error != "" {
			fmt.Fprintf(w, "  server: %s\n", s.Error)
		}
		if p := s.Process; p != nil {
			last := "never"
			if p.LastAck != nil {
				last = p.LastAck.Format(time.RFC3339)
			}
			fmt.Fprintf(w, "  running syncd: claimed=%t generation=%d streams pending=%d failed=%d last ack=%s\n",
				p.Claimed, p.Generation, p.Pending, p.Failed, last)
		} else {
			fmt.Fprintln(w, "  running syncd: none answered on SYNCD_HTTP_ADDR (claim state unknown)")
		}
	}
}
