package lease

import (
	"cmp"
	"context"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"
)

// Set is what a Manager runs: the streams whose leases it holds.
type Set interface {
	// Start begins running the stream and returns at once.
	Start(stream string)
	// Stop stops the stream and returns once nothing of it is in flight.
	Stop(stream string)
}

// Options configure a Manager.
type Options struct {
	Store Store
	Owner string        // this replica's id (NewOwner)
	TTL   time.Duration // lease lifetime
	// Interval is how often Run renews and rebalances; zero means TTL/3.
	// A shorter one only moves streams sooner; the TTL still decides when
	// an unrenewed lease can be taken over.
	Interval time.Duration
	Set      Set
	Logger   *slog.Logger
}

// Manager holds this replica's leases and keeps Set running exactly the
// streams it holds.
type Manager struct {
	opts Options
	log  *slog.Logger
	kick chan struct{}

	mu     sync.Mutex
	wanted map[string]bool      // streams that should run on some replica
	held   map[string]time.Time // leases held → their expiry (database clock)
	live   int                  // live replicas at the last heartbeat
}

// NewManager returns a Manager; Run starts it.
func NewManager(opts Options) *Manager {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Interval <= 0 {
		opts.Interval = opts.TTL / 3
	}
	return &Manager{
		opts:   opts,
		log:    opts.Logger.With("component", "lease", "owner", opts.Owner),
		kick:   make(chan struct{}, 1),
		wanted: map[string]bool{},
		held:   map[string]time.Time{},
	}
}

// Owner returns this replica's id.
func (m *Manager) Owner() string { return m.opts.Owner }

// Want sets the streams that should run somewhere; the Manager takes its
// share of them at once and stops the ones no longer wanted.
func (m *Manager) Want(streams []string) {
	m.mu.Lock()
	m.wanted = make(map[string]bool, len(streams))
	for _, s := range streams {
		m.wanted[s] = true
	}
	m.mu.Unlock()
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// Held returns the leases this replica holds and their expiries.
func (m *Manager) Held() map[string]time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return maps.Clone(m.held)
}

// Live returns how many replicas were live at the last heartbeat.
func (m *Manager) Live() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live
}

// Run keeps the leases until ctx ends, then stops every held stream and
// releases its leases so that other replicas take over at once.
func (m *Manager) Run(ctx context.Context) error {
	defer m.leave(ctx)
	t := time.NewTicker(m.opts.Interval)
	defer t.Stop()
	lastOK := time.Now()
	for {
		if err := m.tick(ctx); err != nil && ctx.Err() == nil {
			m.log.Warn("lease round failed", "err", err)
			if time.Since(lastOK) > m.opts.TTL {
				m.drop("leases not renewed within the TTL")
			}
		} else {
			lastOK = time.Now()
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-m.kick:
		}
	}
}

// tick is one round: heartbeat, give up unwanted leases, renew, then move
// towards the fair share by taking free leases or giving up surplus ones.
func (m *Manager) tick(ctx context.Context) error {
	live, err := m.opts.Store.Heartbeat(ctx, m.opts.Owner, m.opts.TTL)
	if err != nil {
		return err
	}
	m.mu.Lock()
	m.live = max(live, 1)
	wanted := maps.Clone(m.wanted)
	m.mu.Unlock()
	var unwanted []string
	for s := range m.Held() {
		if !wanted[s] {
			unwanted = append(unwanted, s)
		}
	}
	if err := m.give(ctx, unwanted, "no longer wanted"); err != nil {
		return err
	}
	if err := m.renew(ctx); err != nil {
		return err
	}
	quota := (len(wanted) + m.live - 1) / m.live
	held := m.Held()
	switch {
	case len(held) > quota:
		ranked := m.rank(slices.Collect(maps.Keys(held)))
		return m.give(ctx, ranked[quota:], "more than a fair share")
	case len(held) < quota:
		return m.take(ctx, wanted, quota-len(held))
	}
	return nil
}

// renew extends the held leases and stops the streams whose lease was lost.
func (m *Manager) renew(ctx context.Context) error {
	held := m.Held()
	if len(held) == 0 {
		return nil
	}
	got, err := m.opts.Store.Renew(ctx, m.opts.Owner, slices.Sorted(maps.Keys(held)), m.opts.TTL)
	if err != nil {
		return err
	}
	kept := make(map[string]time.Time, len(got))
	for _, l := range got {
		kept[l.Stream] = l.ExpiresAt
	}
	for s := range held {
		if _, ok := kept[s]; !ok {
			m.log.Warn("lease lost to another replica; stopping the stream", "stream", s)
			m.opts.Set.Stop(s)
		}
	}
	m.mu.Lock()
	m.held = kept
	m.mu.Unlock()
	return nil
}

// take acquires up to n wanted leases that no other live replica holds,
// preferring the streams this replica ranks highest, and starts them.
func (m *Manager) take(ctx context.Context, wanted map[string]bool, n int) error {
	leases, now, err := m.opts.Store.Leases(ctx)
	if err != nil {
		return err
	}
	busy := map[string]bool{}
	for _, l := range leases {
		if l.Owner != m.opts.Owner && l.ExpiresAt.After(now) {
			busy[l.Stream] = true
		}
	}
	held := m.Held()
	var free []string
	for s := range wanted {
		if !busy[s] && held[s].IsZero() {
			free = append(free, s)
		}
	}
	if len(free) == 0 {
		return nil
	}
	free = m.rank(free)[:min(n, len(free))]
	slices.Sort(free) // one lock order for every replica
	got, err := m.opts.Store.Acquire(ctx, m.opts.Owner, free, m.opts.TTL)
	if err != nil {
		return err
	}
	for _, l := range got {
		m.mu.Lock()
		m.held[l.Stream] = l.ExpiresAt
		m.mu.Unlock()
		m.log.Info("lease taken; starting the stream", "stream", l.Stream, "expires_at", l.ExpiresAt)
		m.opts.Set.Start(l.Stream)
	}
	return nil
}

// give stops the streams, then releases their leases.
func (m *Manager) give(ctx context.Context, streams []string, why string) error {
	if len(streams) == 0 {
		return nil
	}
	for _, s := range streams {
		m.log.Info("releasing lease", "stream", s, "reason", why)
		m.opts.Set.Stop(s)
		m.mu.Lock()
		delete(m.held, s)
		m.mu.Unlock()
	}
	return m.opts.Store.Release(ctx, m.opts.Owner, streams)
}

// drop stops every stream without touching the database (it did not answer).
func (m *Manager) drop(why string) {
	for s := range m.Held() {
		m.log.Warn("stopping the stream: its lease may have expired", "stream", s, "reason", why)
		m.opts.Set.Stop(s)
	}
	m.mu.Lock()
	clear(m.held)
	m.mu.Unlock()
}

// leave stops every held stream and releases all leases (graceful stop).
func (m *Manager) leave(ctx context.Context) {
	for s := range m.Held() {
		m.opts.Set.Stop(s)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := m.opts.Store.Leave(ctx, m.opts.Owner); err != nil {
		m.log.Warn("cannot release leases; they expire within the TTL", "err", err)
	} else {
		m.log.Info("leases released")
	}
	m.mu.Lock()
	clear(m.held)
	m.mu.Unlock()
}

// rank orders streams by this replica's preference (rendezvous hashing), so
// replicas prefer different streams and contend less for the same leases.
func (m *Manager) rank(streams []string) []string {
	score := func(s string) uint64 {
		h := fnv.New64a()
		h.Write([]byte(m.opts.Owner))
		h.Write([]byte{0})
		h.Write([]byte(s))
		return h.Sum64()
	}
	out := slices.Clone(streams)
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(score(b), score(a)) })
	return out
}
