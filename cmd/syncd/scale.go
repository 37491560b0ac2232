package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/discovery"
	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/sqlite"
	"github.com/syncd-io/syncd/internal/syncer"
)

// Globs parses the glob items of SYNCD_STREAMS (those holding a `*`).
func (c Config) Globs() ([]discovery.Glob, error) {
	var out []discovery.Glob
	for item := range strings.SplitSeq(c.Streams, ",") {
		item = strings.TrimSpace(item)
		if !discovery.IsGlob(item) {
			continue
		}
		if i := strings.Index(item, "="); i > 0 && !strings.Contains(item[:i], "/") && !strings.Contains(item[:i], ":") {
			return nil, fmt.Errorf("SYNCD_STREAMS: glob %q cannot take a name: each discovered stream is named by its path", redactURL(item))
		}
		g, err := discovery.ParseGlob(item)
		if err != nil {
			return nil, fmt.Errorf("SYNCD_STREAMS: glob %w", err)
		}
		out = append(out, g)
	}
	return out, nil
}

// hasGlobs reports whether SYNCD_STREAMS holds a glob.
func (c Config) hasGlobs() bool {
	return slices.ContainsFunc(strings.Split(c.Streams, ","), discovery.IsGlob)
}

// runStreams is StreamList, except that with a glob no fixed stream is needed.
func (c Config) runStreams() ([]StreamSpec, error) {
	streams, err := c.StreamList()
	if err != nil && c.hasGlobs() && strings.HasPrefix(err.Error(), "SYNCD_STREAMS is required") {
		return nil, nil
	}
	return streams, err
}

// validateScale checks the discovery and replica settings.
func (c Config) validateScale() []error {
	var errs []error
	if _, err := c.Globs(); err != nil {
		errs = append(errs, err)
	}
	if c.Leases != "on" && c.Leases != "off" {
		errs = append(errs, fmt.Errorf("SYNCD_LEASES=%q is not valid: accepted values are on or off", c.Leases))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("SYNCD_LEASE_TTL=%s is not valid: accepted values are durations of at least 1s", c.LeaseTTL))
	}
	if dialect, _, err := parseDatabaseURL(c.DatabaseURL); err == nil && dialect != "postgres" && c.Leases == "on" {
		errs = append(errs, errors.New("SYNCD_LEASES=on needs a Postgres SYNCD_DATABASE_URL: SQLite runs a single replica"))
	}
	return errs
}

// lockSQLite makes `syncd run` the only runner on a SQLite file: a second
// process fails at once with a clear message. It does nothing on Postgres.
func lockSQLite(cfg Config) (func(), error) {
	dialect, path, err := parseDatabaseURL(cfg.DatabaseURL)
	if err != nil || dialect != "sqlite" {
		return func() {}, err
	}
	return sqlite.LockRunner(path)
}

// fleet decides which streams run in this process: the fixed streams of
// SYNCD_STREAMS plus those its globs discover in the server's registry and,
// with SYNCD_LEASES=on, only those whose lease this replica holds.
type fleet struct {
	static   []syncer.Stream
	globs    []discovery.Glob
	consumer consumer.Options
	leases   *lease.Manager // nil: every wanted stream runs here
	log      *slog.Logger

	mu     sync.Mutex
	s      *syncer.Syncer
	wanted map[string]syncer.Stream
}

// newFleet returns nil when the streams are a fixed list run by this process
// alone (no glob, no leases, or --once, which ignores leases: a one-shot
// catch-up is fenced by the checkpoint compare-and-set like any writer).
func newFleet(cfg Config, db sink.Sink, once bool, log *slog.Logger) (*fleet, error) {
	globs, err := cfg.Globs()
	if err != nil {
		return nil, err
	}
	static, err := cfg.runStreams()
	if err != nil {
		return nil, err
	}
	if len(globs) > 0 && once {
		return nil, errors.New("run --once cannot follow a glob of SYNCD_STREAMS: discovery never ends; list the streams instead")
	}
	if len(globs) == 0 && (cfg.Leases != "on" || once) {
		return nil, nil
	}
	f := &fleet{static: static, globs: globs, consumer: cfg.consumerOptions(log), log: log.With("component", "fleet"), wanted: map[string]syncer.Stream{}}
	if cfg.Leases == "on" && !once {
		store := db.Leases()
		if store == nil {
			return nil, errors.New("SYNCD_LEASES=on: this database cannot hold leases")
		}
		f.leases = lease.NewManager(lease.Options{Store: store, Owner: lease.NewOwner(cfg.ReplicaID), TTL: cfg.LeaseTTL, Set: f, Logger: log})
		log.Info("leases on: sharing streams with other replicas", "owner", f.leases.Owner(), "ttl", cfg.LeaseTTL)
	}
	return f, nil
}

// source returns the fleet as the syncer's Source (nil for a fixed list).
func (f *fleet) source() syncer.Source {
	if f == nil {
		return nil
	}
	return f.run
}

// register adds the lease gauges to reg.
func (f *fleet) register(reg prometheus.Registerer) {
	if f != nil && f.leases != nil {
		reg.MustRegister(lease.NewCollector(f.leases))
	}
}

func (f *fleet) run(ctx context.Context, s *syncer.Syncer) error {
	f.mu.Lock()
	f.s = s
	f.mu.Unlock()
	for _, st := range f.static {
		f.want(st)
	}
	f.publish()
	var wg sync.WaitGroup
	if f.leases != nil {
		wg.Go(func() { _ = f.leases.Run(ctx) })
	}
	byRegistry := map[string][]discovery.Glob{}
	for _, g := range f.globs {
		byRegistry[g.RegistryURL()] = append(byRegistry[g.RegistryURL()], g)
	}
	for url, globs := range byRegistry {
		f.log.Info("discovering streams in the registry", "url", url, "globs", len(globs))
		wg.Go(func() {
			_ = discovery.Watch(ctx, url, f.consumer, f.log, func(cs []discovery.Change) { f.apply(globs, cs) })
		})
	}
	<-ctx.Done()
	wg.Wait()
	return nil
}

// apply turns registry changes into wanted streams.
func (f *fleet) apply(globs []discovery.Glob, changes []discovery.Change) {
	for _, c := range changes {
		i := slices.IndexFunc(globs, func(g discovery.Glob) bool { return g.Match(c.Path) })
		if i < 0 {
			continue
		}
		switch {
		case c.Deleted:
			f.log.Info("stream deleted from the registry; stopping it (its rows stay)", "stream", c.Path)
			f.unwant(c.Path)
		case !c.JSON():
			f.log.Info("skipping a matching stream that is not JSON", "stream", c.Path, "content_type", c.ContentType)
		default:
			f.log.Info("stream discovered", "stream", c.Path)
			f.want(syncer.Stream{Name: c.Path, URL: globs[i].StreamURL(c.Path)})
		}
	}
	f.publish()
}

// want adds a stream; without leases it starts at once.
func (f *fleet) want(st syncer.Stream) {
	f.mu.Lock()
	if _, ok := f.wanted[st.Name]; ok {
		f.mu.Unlock()
		return
	}
	f.wanted[st.Name] = st
	s := f.s
	f.mu.Unlock()
	if f.leases == nil {
		if err := s.Start(st); err != nil {
			f.log.Warn("cannot start stream", "stream", st.Name, "err", err)
		}
	}
}

// unwant removes a stream; without leases it stops at once.
func (f *fleet) unwant(name string) {
	f.mu.Lock()
	delete(f.wanted, name)
	s := f.s
	f.mu.Unlock()
	if f.leases == nil {
		s.Stop(name)
	}
}

// publish tells the lease manager which streams are wanted.
func (f *fleet) publish() {
	if f.leases == nil {
		return
	}
	f.mu.Lock()
	names := slices.Collect(maps.Keys(f.wanted))
	f.mu.Unlock()
	f.leases.Want(names)
}

// Start implements lease.Set: the lease of name was taken.
func (f *fleet) Start(name string) {
	f.mu.Lock()
	st, ok := f.wanted[name]
	s := f.s
	f.mu.Unlock()
	if !ok {
		return // no longer wanted: the manager gives the lease back next round
	}
	if err := s.Start(st); err != nil {
		f.log.Warn("cannot start stream", "stream", name, "err", err)
	}
}

// Stop implements lease.Set: the lease of name was lost or given up.
func (f *fleet) Stop(name string) {
	f.mu.Lock()
	s := f.s
	f.mu.Unlock()
	s.Stop(name)
}

// addLeases fills in each stream's lease owner and expiry, when the database
// holds leases (Postgres) and the lease is unexpired.
func addLeases(ctx context.Context, db sink.Sink, streams []streamStatusJSON) error {
	store := db.Leases()
	if store == nil {
		return nil
	}
	leases, now, err := store.Leases(ctx)
	if err != nil {
		return err
	}
	byStream := map[string]lease.Lease{}
	for _, l := range leases {
		if l.ExpiresAt.After(now) {
			byStream[l.Stream] = l
		}
	}
	for i := range streams {
		if l, ok := byStream[streams[i].Stream]; ok {
			exp := l.ExpiresAt.UTC()
			streams[i].Owner, streams[i].LeaseExpires = l.Owner, &exp
		}
	}
	return nil
}
