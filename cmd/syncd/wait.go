package main

import (
	"context"
	"fmt"
	"time"

	"github.com/syncd-io/syncd/internal/consumer"
	"github.com/syncd-io/syncd/internal/sink"
)

// Waiting for the database at startup: in compose, in a pod whose database
// starts beside it, or during a failover, the database may not answer yet.
// run and migrate retry opening and migrating it; each attempt is a fresh
// open + Migrate, so a migration cut off by a dropped connection resumes
// where it stopped (each migration commits in its own transaction and the
// applied ones are skipped; the session lock is taken again).
const (
	dbWaitFirst   = 100 * time.Millisecond // the first backoff bound
	dbWaitCap     = 5 * time.Second        // the largest backoff bound
	dbWaitLogEach = 5 * time.Second        // at most one log line this often
)

// errStopped is returned when the process is told to stop while it waits
// for the database.
type errStopped struct{ err error }

func (e errStopped) Error() string {
	return "stopped while waiting for the database: " + e.err.Error()
}
func (e errStopped) Unwrap() error { return e.err }

// openWhenReady opens and migrates the database, retrying with capped
// exponential backoff and full jitter until it succeeds, ctx ends (an
// errStopped) or SYNCD_DB_WAIT has passed (an error naming the variable).
// waiting, when not nil, hears the reason after each failed attempt.
func openWhenReady(ctx context.Context, env *environment, p *plan, waiting func(reason string)) (sink.Sink, error) {
	var deadline time.Time
	if p.DBWait > 0 {
		deadline = time.Now().Add(p.DBWait)
	}
	database := redactURL(p.DatabaseURL)
	var logged time.Time
	backoff := consumer.Backoff{Initial: dbWaitFirst, Max: dbWaitCap} // syncd's one retry policy
	for attempt := 1; ; attempt++ {
		db, err := openSink(ctx, env, p)
		if err == nil {
			if attempt > 1 {
				p.log.Info("database ready", "attempt", attempt, "database", database)
			}
			return db, nil
		}
		if ctx.Err() != nil {
			return nil, errStopped{ctx.Err()}
		}
		if waiting != nil {
			waiting("waiting for the database: " + err.Error())
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			return nil, fmt.Errorf("the database did not become ready within SYNCD_DB_WAIT=%s (%d attempts): %w", p.DBWait, attempt, err)
		}
		if time.Since(logged) >= dbWaitLogEach {
			p.log.Warn("waiting for the database", "attempt", attempt, "database", database, "err", err)
			logged = time.Now()
		}
		delay := backoff.Next(0)
		if !deadline.IsZero() {
			delay = min(delay, time.Until(deadline))
		}
		t := time.NewTimer(max(delay, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, errStopped{ctx.Err()}
		case <-t.C:
		}
	}
}
