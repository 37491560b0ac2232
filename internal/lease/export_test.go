package lease

import "context"

// Tick runs one lease round, so that tests drive the Manager step by step
// instead of waiting for Run's ticker.
func (m *Manager) Tick(ctx context.Context) error { return m.tick(ctx) }

// Rank exposes the rendezvous order of streams for this replica.
func (m *Manager) Rank(streams []string) []string { return m.rank(streams) }
