package syncer

import (
	"log/slog"
	"time"
)

// progressEvery is how often a long catch-up logs how far it got.
const progressEvery = 5 * time.Second

// progress reports a catch-up's advance every few seconds, so an operator
// watching a first sync of millions of events sees it move.
type progress struct {
	began  time.Time
	last   time.Time
	events int64
	bytes  int64
}

func (p *progress) start(now time.Time) {
	*p = progress{began: now, last: now}
}

// message counts one message and logs a progress line when due. The clock is
// read once every 1024 messages to keep it off the hot path.
func (p *progress) message(log *slog.Logger, size int64) {
	p.events++
	p.bytes += size
	if p.events%1024 != 0 {
		return
	}
	if now := time.Now(); now.Sub(p.last) >= progressEvery {
		p.last = now
		elapsed := now.Sub(p.began)
		log.Info("catching up", "messages", p.events, "bytes", p.bytes,
			"messages_per_second", int64(float64(p.events)/elapsed.Seconds()), "elapsed", elapsed.Round(time.Second))
	}
}

// done logs the end of a catch-up: how much it read and how long it took.
// It logs once per catch-up, however short; a live stream logs nothing more.
func (p *progress) done(log *slog.Logger) {
	if p.began.IsZero() {
		return
	}
	log.Info("caught up", "messages", p.events, "bytes", p.bytes, "elapsed", time.Since(p.began).Round(time.Millisecond))
	*p = progress{}
}
