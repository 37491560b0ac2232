package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/lease"
)

// leaseStore is the sink's lease.Store (see Sink.Leases).
type leaseStore struct{ s *Sink }

var _ lease.Store = leaseStore{}

// leaseQueries are the statements on syncd_leases and syncd_replicas. They
// are plain SQL (no advisory locks), and every expiry is the database's
// now() plus the TTL in milliseconds.
type leaseQueries struct {
	heartbeat, live, renew, acquire, release, leaveLeases, leaveReplica, list string
}

func newLeaseQueries(schema string) leaseQueries {
	t := func(name string) string { return quoteIdent(schema) + "." + quoteIdent(name) }
	leases, replicas := t("syncd_leases"), t("syncd_replicas")
	return leaseQueries{
		heartbeat: fmt.Sprintf(`INSERT INTO %s AS r (owner, expires_at) VALUES ($1, now() + $2 * interval '1 millisecond')
			ON CONFLICT (owner) DO UPDATE SET expires_at = excluded.expires_at`, replicas),
		live: fmt.Sprintf(`SELECT count(*) FROM (
			SELECT owner FROM %s WHERE expires_at > now() UNION SELECT owner FROM %s WHERE expires_at > now()) o`, replicas, leases),
		renew: fmt.Sprintf(`UPDATE %s SET expires_at = now() + $3 * interval '1 millisecond'
			WHERE owner = $1 AND stream = ANY($2::text[]) RETURNING stream, owner, expires_at`, leases),
		acquire: fmt.Sprintf(`INSERT INTO %[1]s AS l (stream, owner, expires_at)
			SELECT s, $1, now() + $3 * interval '1 millisecond' FROM unnest($2::text[]) AS s
			ON CONFLICT (stream) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
			WHERE l.expires_at < now() OR l.owner = excluded.owner
			RETURNING stream, owner, expires_at`, leases),
		release:      fmt.Sprintf(`DELETE FROM %s WHERE owner = $1 AND stream = ANY($2::text[])`, leases),
		leaveLeases:  fmt.Sprintf(`DELETE FROM %s WHERE owner = $1`, leases),
		leaveReplica: fmt.Sprintf(`DELETE FROM %s WHERE owner = $1 OR expires_at < now() - interval '1 day'`, replicas),
		list:         fmt.Sprintf(`SELECT stream, owner, expires_at, now() FROM %s ORDER BY stream`, leases),
	}
}

// Heartbeat implements lease.Store.
func (ls leaseStore) Heartbeat(ctx context.Context, owner string, ttl time.Duration) (int, error) {
	q := newLeaseQueries(ls.s.schema)
	if _, err := ls.s.pool.Exec(ctx, q.heartbeat, owner, ttl.Milliseconds()); err != nil {
		return 0, fmt.Errorf("heartbeat of %s: %w", owner, err)
	}
	var n int
	if err := ls.s.pool.QueryRow(ctx, q.live).Scan(&n); err != nil {
		return 0, fmt.Errorf("count live replicas: %w", err)
	}
	return n, nil
}

// Renew implements lease.Store.
func (ls leaseStore) Renew(ctx context.Context, owner string, streams []string, ttl time.Duration) ([]lease.Lease, error) {
	return ls.queryLeases(ctx, "renew leases", newLeaseQueries(ls.s.schema).renew, owner, streams, ttl.Milliseconds())
}

// Acquire implements lease.Store.
func (ls leaseStore) Acquire(ctx context.Context, owner string, streams []string, ttl time.Duration) ([]lease.Lease, error) {
	return ls.queryLeases(ctx, "acquire leases", newLeaseQueries(ls.s.schema).acquire, owner, streams, ttl.Milliseconds())
}

// Release implements lease.Store.
func (ls leaseStore) Release(ctx context.Context, owner string, streams []string) error {
	if _, err := ls.s.pool.Exec(ctx, newLeaseQueries(ls.s.schema).release, owner, streams); err != nil {
		return fmt.Errorf("release leases of %s: %w", owner, err)
	}
	return nil
}

// Leave implements lease.Store.
func (ls leaseStore) Leave(ctx context.Context, owner string) error {
	q := newLeaseQueries(ls.s.schema)
	return pgx.BeginFunc(ctx, ls.s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, q.leaveLeases, owner); err != nil {
			return fmt.Errorf("release leases of %s: %w", owner, err)
		}
		if _, err := tx.Exec(ctx, q.leaveReplica, owner); err != nil {
			return fmt.Errorf("remove heartbeat of %s: %w", owner, err)
		}
		return nil
	})
}

// Leases implements lease.Store.
func (ls leaseStore) Leases(ctx context.Context) ([]lease.Lease, time.Time, error) {
	rows, err := ls.s.pool.Query(ctx, newLeaseQueries(ls.s.schema).list)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("list leases: %w", err)
	}
	defer rows.Close()
	var out []lease.Lease
	now := time.Now()
	for rows.Next() {
		var l lease.Lease
		if err := rows.Scan(&l.Stream, &l.Owner, &l.ExpiresAt, &now); err != nil {
			return nil, time.Time{}, fmt.Errorf("list leases: %w", err)
		}
		out = append(out, l)
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("list leases: %w", err)
	}
	return out, now, nil
}

func (ls leaseStore) queryLeases(ctx context.Context, what, q string, args ...any) ([]lease.Lease, error) {
	rows, err := ls.s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (lease.Lease, error) {
		var l lease.Lease
		err := r.Scan(&l.Stream, &l.Owner, &l.ExpiresAt)
		return l, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return out, nil
}
