// Package lease shares streams between syncd replicas that write to one
// database. Each stream has a lease row (stream, owner, expires_at); a replica
// runs a stream only while it holds the lease, renews what it holds every
// TTL/3, takes free or expired leases up to its fair share, gives back what
// exceeds that share, and releases everything on a graceful stop so another
// replica takes over at once. After a crash its leases expire within the TTL.
//
// A lease decides who tries to write a stream, never whether a write is
// applied: the checkpoint compare-and-set in each transaction stays the
// fence, so two replicas that both believe they own a stream (a paused
// process whose lease expired, a clock or network split) still commit each
// batch at most once.
package lease

import (
	"context"
	"fmt"
	"os"
	"time"

	"crypto/rand"
)

// Lease is one row of syncd_leases.
type Lease struct {
	Stream    string
	Owner     string
	ExpiresAt time.Time
}

// Store is the database side of leases. Every expiry is computed with the
// database's clock (now() + ttl), so replicas' clocks need not agree. The
// statements are plain SQL (INSERT … ON CONFLICT … WHERE, UPDATE, DELETE)
// that Postgres-compatible distributed databases run too.
type Store interface {
	// Heartbeat records that owner is alive for ttl and returns how many
	// replicas are live: owners of an unexpired heartbeat or lease.
	Heartbeat(ctx context.Context, owner string, ttl time.Duration) (live int, err error)
	// Renew extends owner's leases of streams by ttl and returns those it
	// still held (a lease another replica took is not renewed).
	Renew(ctx context.Context, owner string, streams []string, ttl time.Duration) ([]Lease, error)
	// Acquire takes the leases of streams that are free, expired or already
	// owner's, and returns those it got.
	Acquire(ctx context.Context, owner string, streams []string, ttl time.Duration) ([]Lease, error)
	// Release gives up owner's leases of streams.
	Release(ctx context.Context, owner string, streams []string) error
	// Leave releases every lease of owner and removes its heartbeat.
	Leave(ctx context.Context, owner string) error
	// Leases lists every lease row, ordered by stream, and the database's
	// current time to judge expiries by.
	Leases(ctx context.Context) ([]Lease, time.Time, error)
}

// NewOwner returns a replica id: id when set (SYNCD_REPLICA_ID), otherwise
// hostname-pid-random, unique per process.
func NewOwner(id string) string {
	if id != "" {
		return id
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "syncd"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%x", host, os.Getpid(), b)
}
