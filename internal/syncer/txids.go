package syncer

import (
	"context"
	"log/slog"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
)

// PruneTxIDs deletes the rows of syncd_txids older than retention at once
// and then periodically (a tenth of the retention, between 100ms and 10
// minutes) until ctx ends. Replicas sharing a database may all prune: the
// deletes are idempotent. A failed prune is logged and tried again later.
func PruneTxIDs(ctx context.Context, db sink.TxIDStore, retention time.Duration, log *slog.Logger) {
	if retention <= 0 {
		return
	}
	interval := min(max(retention/10, 100*time.Millisecond), 10*time.Minute)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		n, err := db.PruneTxIDs(ctx, time.Now().Add(-retention))
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("cannot prune syncd_txids; trying again later", "err", err)
		case n > 0:
			log.Debug("pruned syncd_txids", "rows", n, "retention", retention)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
