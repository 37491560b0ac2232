package syncer

import (
	"context"
	"log/slog"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/state"
)

// tablesAhead creates the tables of the entity types a stream's batch meets,
// in the background while the loop reads on, when the sink creates tables in
// transactions of their own (sink.TablePreparer). A first catch-up then
// commits rows into tables that exist, instead of creating each one in turn
// between the last byte read and the commit. Whatever fails here is left to
// the write of the type, which resolves its table anyway and reports the
// error where it belongs.
type tablesAhead struct {
	p    sink.TablePreparer // nil: the sink has none, and tablesAhead does nothing
	log  *slog.Logger
	seen map[string]struct{} // types handed over already
	done chan struct{}       // closed when the running preparation ends; nil when none runs
}

// start hands the types of b not seen before to a background preparation,
// unless one is still running (the next call hands them over).
func (a *tablesAhead) start(ctx context.Context, b *state.Batch) {
	if a.p == nil || a.running() {
		return
	}
	var todo []string
	for _, typ := range b.Types() {
		if _, ok := a.seen[typ]; !ok {
			if a.seen == nil {
				a.seen = map[string]struct{}{}
			}
			a.seen[typ] = struct{}{}
			todo = append(todo, typ) // Types' strings are the batch's own, never rewritten
		}
	}
	if len(todo) == 0 {
		return
	}
	done := make(chan struct{})
	a.done = done
	p, log := a.p, a.log
	go func() {
		defer close(done)
		for _, typ := range todo {
			if err := p.PrepareTable(ctx, typ); err != nil {
				log.Debug("creating the table ahead of the commit failed; the commit will try again", "type", typ, "err", err)
				return
			}
		}
	}()
}

// running reports whether a preparation is running.
func (a *tablesAhead) running() bool {
	if a.done == nil {
		return false
	}
	select {
	case <-a.done:
		a.done = nil
		return false
	default:
		return true
	}
}

// wait waits for the running preparation, if any, so that a write or
// commit does not start while one runs. (A preparation may still overlap
// a background write that started before it: resolving a table is safe
// from several goroutines, as for streams sharing a sink.)
func (a *tablesAhead) wait() {
	if a.done != nil {
		<-a.done
		a.done = nil
	}
}
