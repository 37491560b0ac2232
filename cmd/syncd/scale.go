package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/syncd-io/syncd/internal/discovery"
	"github.com/syncd-io/syncd/internal/fleet"
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
		if name, _ := splitStreamItem(item); name != "" {
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
	if err != nil && c.hasGlobs() && errors.Is(err, errNoStreams) {
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
		errs = append(errs, invalid("SYNCD_LEASES", c.Leases, "on or off, e.g. on"))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, invalid("SYNCD_LEASE_TTL", c.LeaseTTL.String(), "a duration of at least 1s such as 15s"))
	}
	if dialect, _, err := parseDatabaseURL(c.DatabaseURL); err == nil && dialect == "sqlite" && c.Leases == "on" {
		errs = append(errs, errors.New("SYNCD_LEASES=on needs a Postgres or MySQL SYNCD_DATABASE_URL: SQLite runs a single replica"))
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

// newFleet returns the fleet that decides which streams run in this
// process, or nil when the streams are a fixed list run by this process
// alone (no glob, no leases, or --once, which ignores leases: a one-shot
// catch-up is fenced by the checkpoint compare-and-set like any writer).
func newFleet(cfg Config, db sink.Sink, once bool, log *slog.Logger) (*fleet.Fleet, error) {
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
	if cfg.Subscription != "" { // the globs are served by subscriptions
		return nil, nil
	}
	if len(globs) == 0 && (cfg.Leases != "on" || once) {
		return nil, nil
	}
	opts := fleet.Options{Static: static, Globs: globs, Consumer: cfg.consumerOptions(log), Logger: log}
	if cfg.Leases == "on" && !once {
		store := db.Leases()
		if store == nil {
			return nil, errors.New("SYNCD_LEASES=on: this database cannot hold leases")
		}
		opts.Leases = lease.Options{Store: store, Owner: lease.NewOwner(cfg.ReplicaID), TTL: cfg.LeaseTTL}
	}
	return fleet.New(opts), nil
}

// fleetSource returns fl as the syncer's Source (nil for a fixed list).
func fleetSource(fl *fleet.Fleet) syncer.Source {
	if fl == nil {
		return nil
	}
	return fl.Source()
}

// registerLeases adds the lease gauges of fl to reg, when leases are on.
func registerLeases(reg prometheus.Registerer, fl *fleet.Fleet) {
	if fl != nil && fl.Leases() != nil {
		reg.MustRegister(lease.NewCollector(fl.Leases()))
	}
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
