// Package fleet decides which streams run in this process: the fixed
// streams plus those that globs discover in the server's registry and, with
// leases, only those whose lease this replica holds. It turns discovery and
// lease changes into Start and Stop calls on a Runner (the syncer).
package fleet

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"sync"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/discovery"
	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/syncer"
)

// Runner runs streams; *syncer.Syncer is the one syncd uses.
type Runner interface {
	// Start starts the stream unless it runs already, and returns at once.
	Start(st syncer.Stream) error
	// Stop stops the named stream and returns once nothing of it runs.
	Stop(name string)
}

var _ Runner = (*syncer.Syncer)(nil)

// Options configure a Fleet.
type Options struct {
	// Static are the streams that always run here (with leases: that run
	// on some replica).
	Static []syncer.Stream
	// Globs select the streams of the server's registry that run as they
	// appear; a stream deleted from the registry stops.
	Globs []discovery.Glob
	// Consumer configures the readers of the registry streams.
	Consumer consumer.Options
	// Leases, when its Store is set, shares the streams with the other
	// replicas on the database: only those whose lease this replica holds
	// run here. Its Set and Logger are filled in by New.
	Leases lease.Options
	// Logger receives the fleet's and the lease manager's logs; nil
	// discards them.
	Logger *slog.Logger
}

// Fleet keeps a Runner running the streams this process should run.
type Fleet struct {
	static   []syncer.Stream
	globs    []discovery.Glob
	consumer consumer.Options
	leases   *lease.Manager // nil: every wanted stream runs here
	log      *slog.Logger

	mu     sync.Mutex
	runner Runner
	wanted map[string]syncer.Stream
}

// New returns a Fleet; Run (or the syncer, through Source) starts it.
func New(opts Options) *Fleet {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Fleet{
		static:   slices.Clone(opts.Static),
		globs:    slices.Clone(opts.Globs),
		consumer: opts.Consumer,
		log:      log.With("component", "fleet"),
		wanted:   map[string]syncer.Stream{},
	}
	if opts.Leases.Store != nil {
		lo := opts.Leases
		lo.Set, lo.Logger = leaseSet{f}, log
		f.leases = lease.NewManager(lo)
		log.Info("leases on: sharing streams with other replicas", "owner", lo.Owner, "ttl", lo.TTL)
	}
	return f
}

// Leases returns the lease manager, or nil when leases are off.
func (f *Fleet) Leases() *lease.Manager { return f.leases }

// Source returns the Fleet as a syncer's Source.
func (f *Fleet) Source() syncer.Source {
	return func(ctx context.Context, s *syncer.Syncer) error { return f.Run(ctx, s) }
}

// Run starts the static streams on r, follows the registries of the globs
// and, with leases, keeps this replica's share of the leases, until ctx
// ends. With leases, every stream is stopped and its lease released before
// Run returns; without, the streams are left to r.
func (f *Fleet) Run(ctx context.Context, r Runner) error {
	f.attach(r)
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

// attach sets the Runner that Start and Stop calls go to.
func (f *Fleet) attach(r Runner) {
	f.mu.Lock()
	f.runner = r
	f.mu.Unlock()
}

// apply turns registry changes into wanted streams.
func (f *Fleet) apply(globs []discovery.Glob, changes []discovery.Change) {
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
func (f *Fleet) want(st syncer.Stream) {
	f.mu.Lock()
	if _, ok := f.wanted[st.Name]; ok {
		f.mu.Unlock()
		return
	}
	f.wanted[st.Name] = st
	r := f.runner
	f.mu.Unlock()
	if f.leases == nil {
		f.start(r, st)
	}
}

// unwant removes a stream; without leases it stops at once.
func (f *Fleet) unwant(name string) {
	f.mu.Lock()
	delete(f.wanted, name)
	r := f.runner
	f.mu.Unlock()
	if f.leases == nil {
		r.Stop(name)
	}
}

// publish tells the lease manager which streams are wanted.
func (f *Fleet) publish() {
	if f.leases == nil {
		return
	}
	f.mu.Lock()
	names := slices.Collect(maps.Keys(f.wanted))
	f.mu.Unlock()
	f.leases.Want(names)
}

func (f *Fleet) start(r Runner, st syncer.Stream) {
	if err := r.Start(st); err != nil {
		f.log.Warn("cannot start stream", "stream", st.Name, "err", err)
	}
}

// leaseSet is the lease.Set of a Fleet: the lease manager starts and stops
// the wanted streams whose leases it takes and loses.
type leaseSet struct{ f *Fleet }

// Start implements lease.Set: the lease of name was taken.
func (s leaseSet) Start(name string) {
	s.f.mu.Lock()
	st, ok := s.f.wanted[name]
	r := s.f.runner
	s.f.mu.Unlock()
	if !ok {
		return // no longer wanted: the manager gives the lease back next round
	}
	s.f.start(r, st)
}

// Stop implements lease.Set: the lease of name was lost or given up.
func (s leaseSet) Stop(name string) {
	s.f.mu.Lock()
	r := s.f.runner
	s.f.mu.Unlock()
	r.Stop(name)
}
