package syncer

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
)

// Source decides, while a Syncer runs, which streams run in this process:
// it calls Syncer.Start and Syncer.Stop until ctx ends, then returns. It is
// how discovered streams (a glob over the server's registry) and streams
// owned through leases (several replicas on one database) come and go.
type Source func(ctx context.Context, s *Syncer) error

// dynamic holds the loops of a Syncer fed by a Source.
type dynamic struct {
	mu    sync.Mutex
	ctx   context.Context // the Run context; nil before Run and after it ends
	loops map[string]*running
}

// running is one started loop: cancel stops it, done closes when it returned.
type running struct {
	loop   *streamLoop
	cancel context.CancelFunc
	done   chan struct{}
}

// errNotRunning is returned by Start outside Run.
var errNotRunning = errors.New("syncer: not running")

// runDynamic runs the Source and stops every loop it left running.
func (s *Syncer) runDynamic(ctx context.Context) error {
	s.dyn.mu.Lock()
	s.dyn.ctx = ctx
	s.dyn.mu.Unlock()
	err := s.opts.Source(ctx, s)
	s.dyn.mu.Lock()
	s.dyn.ctx = nil
	names := slices.Collect(maps.Keys(s.dyn.loops))
	s.dyn.mu.Unlock()
	for _, name := range names {
		s.Stop(name)
	}
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Start starts a loop for st unless one of that name runs already. It
// returns at once; the loop reads from the stream's checkpoint (or
// Options.StartOffset) until Stop or the end of Run. Only a Source calls it.
func (s *Syncer) Start(st Stream) error {
	s.dyn.mu.Lock()
	defer s.dyn.mu.Unlock()
	if s.dyn.ctx == nil {
		return errNotRunning
	}
	if _, ok := s.dyn.loops[st.Name]; ok {
		return nil
	}
	if s.dyn.loops == nil {
		s.dyn.loops = map[string]*running{}
	}
	ctx, cancel := context.WithCancel(s.dyn.ctx)
	r := &running{loop: newStreamLoop(st, &s.opts), cancel: cancel, done: make(chan struct{})}
	s.dyn.loops[st.Name] = r
	go func() {
		defer close(r.done)
		defer s.opts.guard()
		if err := r.loop.run(ctx); err != nil && ctx.Err() == nil {
			r.loop.log.Error("stream stopped", "err", err)
		}
	}()
	return nil
}

// Stop stops the named stream's loop and waits until it returned: its open
// transaction, if any, is rolled back. Stopping a stream that does not run
// does nothing.
func (s *Syncer) Stop(name string) {
	s.dyn.mu.Lock()
	r, ok := s.dyn.loops[name]
	delete(s.dyn.loops, name)
	s.dyn.mu.Unlock()
	if !ok {
		return
	}
	r.cancel()
	<-r.done
}

// dynamicStatus returns the status of the started loops, ordered by name.
func (s *Syncer) dynamicStatus() []StreamStatus {
	s.dyn.mu.Lock()
	loops := make([]*streamLoop, 0, len(s.dyn.loops))
	for _, r := range s.dyn.loops {
		loops = append(loops, r.loop)
	}
	s.dyn.mu.Unlock()
	out := make([]StreamStatus, len(loops))
	for i, l := range loops {
		out[i] = l.snapshot()
	}
	slices.SortFunc(out, func(a, b StreamStatus) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}
