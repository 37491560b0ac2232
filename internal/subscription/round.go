package subscription

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/syncer"
)

// releaseTimeout bounds the final ack and release at shutdown.
const releaseTimeout = 5 * time.Second

// Rounds of at least bigRound streams or slowRound are logged at info (the
// others at debug: at scale there are several a second).
const (
	bigRound  = 100
	slowRound = 5 * time.Second
)

// round claims the subscription and processes what needs work. With
// recheck (at start, on the safety timer) it also looks for streams syncd
// has no checkpoint for, or is behind the server's acked offset on, when no
// stream has pending work. again says the server woke the subscription
// during the round, so another round is due at once. An error means the
// round should be retried soon (server unreachable).
func (s *Scheduler) round(ctx context.Context, catchUp CatchUpFunc, recheck bool) (again bool, err error) {
	if recheck {
		if err := s.reload(ctx); err != nil {
			return false, err
		}
	}
	cl, err := s.opts.Client.Claim(ctx, s.opts.Worker)
	if errors.Is(err, ErrNotFound) {
		s.log.Warn("subscription missing on the server (restarted?); creating it again")
		if err := s.ensure(ctx); err != nil {
			return false, err
		}
		s.lastGen.Store(0) // a new subscription counts generations from 0
		recheck = true     // re-created: every stream is linked at its tail
		cl, err = s.opts.Client.Claim(ctx, s.opts.Worker)
	}
	var links []Link
	held := false
	switch {
	case err == nil:
		held, links = true, cl.Streams
		s.lastGen.Store(cl.Generation)
		s.setClaim(true, cl.Generation, "")
		s.log.Debug("claimed", "generation", cl.Generation, "linked", len(links))
	case errors.Is(err, ErrAlreadyClaimed):
		var ae *APIError
		errors.As(err, &ae)
		s.setClaim(false, 0, ae.Holder)
		s.log.Debug("subscription claimed by another replica; waiting for the next wake", "holder", ae.Holder)
		s.markReady()
		return false, nil
	case errors.Is(err, ErrNoPendingWork) && !recheck:
		s.setClaim(false, 0, "")
		s.markReady()
		return false, nil
	case errors.Is(err, ErrNoPendingWork):
		// Nothing past the acked offsets; streams syncd has not synced yet
		// (linked at their tail when the subscription was created) still
		// need their backfill, fenced by the checkpoint compare-and-set.
		info, err := s.opts.Client.Get(ctx)
		if err != nil {
			return false, err
		}
		links = info.Streams
		s.setClaim(false, 0, "")
	default:
		return false, err
	}
	work, acks := s.plan(links, held)
	s.mu.Lock()
	s.status.Linked, s.status.Pending, s.status.LastError = len(links), len(work), ""
	s.mu.Unlock()
	var claim *Claim
	if held {
		claim = &cl
	}
	began := time.Now()
	again, err = s.work(ctx, catchUp, work, claim, acks)
	s.markReady()
	level := slog.LevelDebug
	if elapsed := time.Since(began); len(work) >= bigRound || elapsed >= slowRound {
		level = slog.LevelInfo // a backfill, or a long catch-up
	}
	s.log.Log(ctx, level, "subscription round done", "streams", len(work), "claimed", held, "generation", cl.Generation,
		"elapsed", time.Since(began).Round(time.Millisecond))
	return again, err
}

// reload replaces the checkpoint cache with the database's checkpoints.
func (s *Scheduler) reload(ctx context.Context) error {
	cps, err := s.opts.Checkpoints(ctx)
	if err != nil {
		return err
	}
	cache := make(map[string]string, len(cps))
	for _, cp := range cps {
		cache[cp.Stream] = cp.NextOffset
	}
	s.mu.Lock()
	s.cache = cache
	s.mu.Unlock()
	return nil
}

// committed reports whether offset is a real committed offset rather than
// the start sentinel of a checkpoint never committed.
func committed(offset string) bool { return offset != "" && offset != "-1" && offset != "now" }

// plan picks the links to catch up: never synced by syncd, behind the
// server's tail with work pending, or behind the server's acked offset (the
// server links a stream at its tail; the database says where syncd is).
// Streams already committed past their acked offset are only acked.
func (s *Scheduler) plan(links []Link, held bool) (work []Link, acks map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	acks = map[string]string{}
	for _, l := range links {
		if _, bad := s.failed[l.Path]; bad {
			// Ack its tail so that the server stops waking for it (acked
			// offsets are hints; the checkpoint still says where syncd is).
			if held && l.HasPending && committed(l.TailOffset) {
				acks[l.Path] = l.TailOffset
			}
			continue
		}
		cp := s.cache[l.Path]
		switch {
		case !committed(cp):
			work = append(work, l)
		case l.HasPending && cp < l.TailOffset:
			work = append(work, l)
		case cp < l.AckedOffset:
			work = append(work, l)
		case held && cp > l.AckedOffset:
			acks[l.Path] = cp
		}
	}
	return work, acks
}

// work catches the links up, at most Concurrency at once, acking the
// committed offsets under the claim (when held): heartbeats carry the acks
// so far, the last ack says done. Losing the claim (fenced, token refused)
// stops the remaining work; what was committed stays committed.
func (s *Scheduler) work(ctx context.Context, catchUp CatchUpFunc, links []Link, cl *Claim, initial map[string]string) (again bool, err error) {
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a := &acker{s: s, cl: cl, pending: initial, acked: map[string]string{}}
	for _, l := range links {
		a.acked[l.Path] = l.AckedOffset
	}
	jobs := make(chan Link)
	var wg sync.WaitGroup
	for range min(s.opts.Concurrency, max(len(links), 1)) {
		wg.Go(func() {
			for l := range jobs {
				s.catchUp(wctx, catchUp, l, a)
			}
		})
	}
	hbDone := make(chan struct{})
	var hb sync.WaitGroup
	if cl != nil {
		hb.Go(func() { a.heartbeat(wctx, cancel, hbDone) })
	}
feed:
	for _, l := range links {
		select {
		case jobs <- l:
		case <-wctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	close(hbDone)
	hb.Wait()
	if cl == nil || a.isLost() {
		return false, nil
	}
	if ctx.Err() != nil { // shutting down: ack what was committed, then release
		bg, stop := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
		defer stop()
		a.flush(bg, false)
		if err := s.opts.Client.Release(bg, *cl); err != nil {
			s.log.Warn("release of the claim failed; the lease expires on its own", "err", err)
		} else {
			s.log.Info("claim released", "generation", cl.Generation)
		}
		s.setClaim(false, 0, "")
		return false, nil
	}
	a.flush(ctx, true)
	s.setClaim(false, 0, "")
	return a.nextWake, nil
}

// catchUp runs one stream's catch-up and records its committed offset.
func (s *Scheduler) catchUp(ctx context.Context, catchUp CatchUpFunc, l Link, a *acker) {
	st := syncer.Stream{Name: l.Path, URL: s.opts.Client.StreamURL(l.Path)}
	cp, err := catchUp(ctx, st)
	s.mu.Lock()
	s.status.Pending--
	if committed(cp.NextOffset) && cp.NextOffset > s.cache[l.Path] {
		s.cache[l.Path] = cp.NextOffset
	}
	if err != nil && ctx.Err() == nil {
		s.failed[l.Path] = err.Error()
	}
	s.mu.Unlock()
	if err != nil {
		if ctx.Err() == nil {
			s.log.Error("stream catch-up failed; skipping it until restart", "stream", l.Path, "err", err)
		}
		return
	}
	a.add(l.Path, cp.NextOffset)
}

// acker collects the committed offsets of one claim and sends them.
type acker struct {
	s  *Scheduler
	cl *Claim

	mu      sync.Mutex
	pending map[string]string // stream → offset committed, not yet acked
	acked   map[string]string // stream → offset the server holds as acked
	lost    bool
	// nextWake: the done ack said the server woke the subscription again.
	nextWake bool
}

func (a *acker) add(stream, offset string) {
	if a.cl == nil || !committed(offset) {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if offset > a.acked[stream] && offset > a.pending[stream] {
		a.pending[stream] = offset
	}
}

func (a *acker) isLost() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.lost
}

// heartbeat acks what was committed every Heartbeat until done closes,
// extending the lease; a lost claim cancels the work.
func (a *acker) heartbeat(ctx context.Context, cancel context.CancelFunc, done <-chan struct{}) {
	t := time.NewTicker(a.s.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			if !a.flush(ctx, false) {
				cancel()
				return
			}
		}
	}
}

// flush sends the pending acks (done: ending the claim). It reports false
// when the claim is lost; after done, a.nextWake says the server woke the
// subscription again.
func (a *acker) flush(ctx context.Context, done bool) bool {
	a.mu.Lock()
	batch := maps.Clone(a.pending)
	a.mu.Unlock()
	acks := make([]Ack, 0, len(batch))
	for _, k := range slices.Sorted(maps.Keys(batch)) {
		acks = append(acks, Ack{Stream: k, Offset: batch[k]})
	}
	next, err := a.s.opts.Client.Ack(ctx, *a.cl, acks, done)
	if errors.Is(err, ErrInvalidOffset) {
		// A stream was deleted or re-created under us: drop these acks (they
		// are hints only) and keep the claim's bookkeeping going.
		a.s.log.Warn("server refused acked offsets; dropping them", "streams", len(acks), "err", err)
		acks = nil
		next, err = a.s.opts.Client.Ack(ctx, *a.cl, nil, done)
	}
	switch {
	case err == nil:
		a.mu.Lock()
		a.nextWake = next
		for _, ack := range acks {
			a.acked[ack.Stream] = ack.Offset
			if a.pending[ack.Stream] == ack.Offset {
				delete(a.pending, ack.Stream)
			}
		}
		a.mu.Unlock()
		a.s.acked(len(acks))
		return true
	case errors.Is(err, ErrFenced), errors.Is(err, ErrTokenInvalid), errors.Is(err, ErrNotFound):
		a.s.log.Warn("claim lost (lease expired or fenced); another replica takes over, waiting for the next wake",
			"generation", a.cl.Generation, "err", err)
		a.mu.Lock()
		a.lost = true
		a.mu.Unlock()
		a.s.setClaim(false, 0, "")
		return false
	default:
		if ctx.Err() == nil {
			a.s.log.Warn("ack failed; retrying with the next one", "err", err)
		}
		return true
	}
}

// tailWake reads the wake stream from its tail and signals wake on every
// wake event of this subscription. A read failure (the wake stream deleted,
// the server gone) re-creates the wake stream and signals a wake, since one
// may have been missed.
func (s *Scheduler) tailWake(ctx context.Context, wake chan<- struct{}) {
	u := s.opts.Client.StreamURL(s.opts.Config.WakeStream)
	bo := consumer.Backoff{Initial: 200 * time.Millisecond, Max: 5 * time.Second}
	signal := func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}
	for ctx.Err() == nil {
		err := s.readWakes(ctx, u, signal)
		if ctx.Err() != nil {
			return
		}
		delay := bo.Next(0)
		s.log.Warn("wake stream read failed; re-creating it and retrying", "url", u, "delay", delay, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if err := s.opts.Client.EnsureWakeStream(ctx, s.opts.Config.WakeStream); err != nil && ctx.Err() == nil {
			s.log.Warn("cannot re-create the wake stream", "err", err)
		}
		signal()
	}
}

// readWakes tails the wake stream at u from its current tail until an error.
func (s *Scheduler) readWakes(ctx context.Context, u string, signal func()) error {
	// A retried read means the server may have restarted and lost the
	// subscription (it keeps them in memory): run a round after the next
	// answer, which re-creates it.
	var retried atomic.Bool
	ropts := s.opts.Reader
	base := ropts.OnRetry
	ropts.OnRetry = func(attempt int, delay time.Duration, err error) {
		retried.Store(true)
		if base != nil {
			base(attempt, delay, err)
		}
	}
	r, err := consumer.NewReader(u, ropts)
	if err != nil {
		return err
	}
	defer r.Close()
	pos := consumer.Position{Offset: "now"}
	id := s.opts.Client.ID()
	for {
		resp, err := r.Next(ctx, pos)
		if err != nil {
			return err
		}
		hit, broken := false, false
		for m, err := range resp.Messages(ctx) {
			if err != nil {
				broken = true
				break
			}
			var ev struct {
				Type           string `json:"type"`
				SubscriptionID string `json:"subscription_id"`
				Generation     int64  `json:"generation"`
			}
			// The wake of the generation this process claimed last was
			// already served (claimed at once after a done with next_wake).
			if json.Unmarshal(m.Raw, &ev) == nil && ev.Type == "wake" && ev.SubscriptionID == id && ev.Generation != s.lastGen.Load() {
				hit = true
			}
		}
		if retried.Swap(false) {
			hit = true
		}
		if hit || broken {
			s.woken()
			signal()
		}
		if broken {
			continue // read the response again from pos
		}
		pos = consumer.Position{Offset: resp.NextOffset, Cursor: resp.Cursor, UpToDate: resp.UpToDate}
	}
}
