package subscription

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/syncer"
)

// Defaults of Options.
const (
	// DefaultConcurrency bounds the streams caught up at once: each holds one
	// HTTP connection and one database transaction while it runs.
	DefaultConcurrency = 8
	// DefaultSafetyInterval is how often the scheduler claims without a wake
	// and reloads the checkpoints, in case a wake was missed.
	DefaultSafetyInterval = 30 * time.Second
)

// CatchUpFunc catches one stream up from its stored checkpoint to its next
// up-to-date commit and returns the committed checkpoint (Syncer.CatchUp).
type CatchUpFunc func(ctx context.Context, st syncer.Stream) (sink.Checkpoint, error)

// Options configure a Scheduler.
type Options struct {
	Client *Client
	Config Config
	// Worker is the replica id sent with every claim.
	Worker string
	// StartOffset is SYNCD_START_OFFSET: a checkpoint still at it was never
	// committed.
	StartOffset string
	// Checkpoints lists the database's checkpoints (the source of truth).
	Checkpoints func(ctx context.Context) ([]sink.Checkpoint, error)
	// Reader configures the wake stream's reader (transport, auth, live mode).
	Reader consumer.Options
	// Concurrency bounds the streams caught up at once (DefaultConcurrency).
	Concurrency int
	// SafetyInterval is the period of the safety-net round (DefaultSafetyInterval).
	SafetyInterval time.Duration
	// Heartbeat is how often acks are sent during long work (lease TTL / 3).
	Heartbeat time.Duration
	Logger    *slog.Logger
}

// Scheduler serves one subscription: it tails the wake stream and, on each
// wake (and at start, and every SafetyInterval), claims the subscription and
// catches up every linked stream with pending work or without a checkpoint,
// acking the committed offsets. The database checkpoint is the source of
// truth; the server's acked offsets only say where to look.
type Scheduler struct {
	opts Options
	log  *slog.Logger

	mu      sync.Mutex
	status  Status
	cache   map[string]string // stream name → committed next offset (a lower bound of the database's)
	failed  map[string]string // streams whose catch-up stopped with an error, skipped until restart
	lastGen atomic.Int64      // the generation this process claimed last
}

// New returns a scheduler; Setup and Run start it.
func New(opts Options) *Scheduler {
	if opts.Concurrency <= 0 {
		opts.Concurrency = DefaultConcurrency
	}
	if opts.SafetyInterval <= 0 {
		opts.SafetyInterval = DefaultSafetyInterval
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = max(opts.Config.LeaseTTL/3, 100*time.Millisecond)
	}
	if opts.StartOffset == "" {
		opts.StartOffset = "-1"
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	log := opts.Logger.With("subscription", opts.Client.ID())
	return &Scheduler{
		opts:   opts,
		log:    log,
		cache:  map[string]string{},
		failed: map[string]string{},
		status: Status{ID: opts.Client.ID(), Pattern: opts.Config.Pattern, WakeStream: opts.Config.WakeStream},
	}
}

// Setup creates the wake stream when missing and creates or re-confirms the
// subscription. A *ConflictError (another configuration under that id) is
// returned at once; transient failures are retried until ctx ends.
func (s *Scheduler) Setup(ctx context.Context) error {
	bo := consumer.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}
	for {
		err := s.ensure(ctx)
		if err == nil {
			return nil
		}
		var ce *ConflictError
		var ae *APIError
		if errors.As(err, &ce) || (errors.As(err, &ae) && ae.Status/100 == 4 && ae.Status != 429) || ctx.Err() != nil {
			return err
		}
		delay := bo.Next(0)
		s.log.Warn("cannot set the subscription up; retrying", "attempt", bo.Attempt(), "delay", delay, "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(delay):
		}
	}
}

func (s *Scheduler) ensure(ctx context.Context) error {
	if err := s.opts.Client.EnsureWakeStream(ctx, s.opts.Config.WakeStream); err != nil {
		return err
	}
	info, err := s.opts.Client.Ensure(ctx, s.opts.Config)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.status.Linked = len(info.Streams)
	s.mu.Unlock()
	s.log.Info("subscription ready", "pattern", s.opts.Config.Pattern, "wake_stream", s.opts.Config.WakeStream, "linked", len(info.Streams))
	return nil
}

// Run serves the subscription until ctx ends: it tails the wake stream and
// runs a round at start, on each wake and every SafetyInterval. It returns
// nil when ctx ends, after releasing a claim it still holds.
func (s *Scheduler) Run(ctx context.Context, catchUp CatchUpFunc) error {
	wake := make(chan struct{}, 1)
	var wg sync.WaitGroup
	wg.Go(func() { s.tailWake(ctx, wake) })
	defer wg.Wait()
	tick := time.NewTicker(s.opts.SafetyInterval)
	defer tick.Stop()
	retry := consumer.Backoff{Initial: 500 * time.Millisecond, Max: s.opts.SafetyInterval}
	reload := true
	for {
		var retryAfter <-chan time.Time
		again, err := s.round(ctx, catchUp, reload)
		if err != nil && ctx.Err() == nil {
			delay := retry.Next(0)
			s.log.Warn("subscription round failed; retrying", "delay", delay, "err", err)
			s.setError(err)
			retryAfter = time.After(delay)
		} else {
			retry.Reset()
		}
		reload = false
		if again && err == nil && ctx.Err() == nil {
			continue // woken during the round: claim at once, without waiting for the wake event
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-retryAfter:
		case <-tick.C:
			reload = true
		}
	}
}

// Status returns a snapshot of the subscription's state in this process.
func (s *Scheduler) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.Failed = len(s.failed)
	return st
}

func (s *Scheduler) setError(err error) {
	s.mu.Lock()
	s.status.LastError = err.Error()
	s.mu.Unlock()
}
