package subscription

import "time"

// Status is a subscription's state in this process.
type Status struct {
	ID         string
	Pattern    string
	WakeStream string
	// Ready: the first round finished (the subscription exists and syncd
	// caught up what it found, or saw another replica holding the claim).
	Ready bool
	// Claimed: this process holds the claim now; Generation is its generation.
	Claimed    bool
	Generation int64
	// Holder is the other worker seen holding the claim, if any.
	Holder string
	// Linked counts the streams linked to the subscription at the last round;
	// Pending those of the current (or last) round not yet caught up.
	Linked, Pending int
	// Failed counts the streams whose catch-up stopped with an error.
	Failed int
	// LastAck is when the server last accepted an ack; Acks counts the
	// stream offsets acked; Wakes the wake events seen.
	LastAck     time.Time
	Acks, Wakes int64
	// LastError is why the last round failed ("" after a good one).
	LastError string
}

func (s *Scheduler) setClaim(claimed bool, generation int64, holder string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Claimed, s.status.Holder = claimed, holder
	if claimed {
		s.status.Generation = generation
	}
}

func (s *Scheduler) markReady() {
	s.mu.Lock()
	s.status.Ready = true
	s.mu.Unlock()
}

func (s *Scheduler) acked(n int) {
	s.mu.Lock()
	s.status.LastAck = time.Now()
	s.status.Acks += int64(n)
	s.mu.Unlock()
}

func (s *Scheduler) woken() {
	s.mu.Lock()
	s.status.Wakes++
	s.mu.Unlock()
}
