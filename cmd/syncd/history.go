package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/syncd-io/syncd/internal/mapping"
	"github.com/syncd-io/syncd/internal/sink"
)

// historyTypes returns the types whose change events the stream loops keep
// for history tables (history: true in the SYNCD_CONFIG file), nil when none.
func historyTypes(file *mapping.File) func(typ string) bool {
	if file == nil {
		return nil
	}
	keep := map[string]bool{}
	for _, tm := range file.Types {
		if tm.History {
			keep[tm.Type] = true
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return func(typ string) bool { return keep[typ] }
}

// historyPruneInterval returns how often history rows are pruned: a tenth
// of the shortest history_retention, between a second and ten minutes; 0
// when no type has a retention.
func historyPruneInterval(file *mapping.File) time.Duration {
	if file == nil {
		return 0
	}
	var shortest time.Duration
	for _, tm := range file.Types {
		if tm.HistoryRetention > 0 && (shortest == 0 || tm.HistoryRetention < shortest) {
			shortest = tm.HistoryRetention
		}
	}
	if shortest == 0 {
		return 0
	}
	return min(max(shortest/10, time.Second), 10*time.Minute)
}

// pruneHistory deletes history rows past their type's history_retention in
// the background, in small transactions apart from the stream transactions,
// and returns the function that stops it.
func pruneHistory(ctx context.Context, db sink.Sink, file *mapping.File, log *slog.Logger) func() {
	p, ok := db.(sink.HistoryPruner)
	interval := historyPruneInterval(file)
	if !ok || interval == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			n, err := p.PruneHistory(ctx, time.Now())
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("cannot prune history tables; trying again later", "err", err)
			case n > 0:
				log.Debug("pruned history tables", "rows", n)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		cancel()
		<-done
	}
}
