package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/sink"
)

// leaseStore is the sink's lease.Store (see Sink.Leases). Every expiry is
// the database's UTC_TIMESTAMP(6) plus the TTL in microseconds, so replicas'
// clocks do not matter.
type leaseStore struct{ s *Sink }

var _ lease.Store = leaseStore{}

// expiry is the SQL of "now plus ? microseconds".
const expiry = `UTC_TIMESTAMP(6) + INTERVAL ? MICROSECOND`

// Heartbeat implements lease.Store.
func (ls leaseStore) Heartbeat(ctx context.Context, owner string, ttl time.Duration) (int, error) {
	if _, err := ls.s.db.ExecContext(ctx, `INSERT INTO syncd_replicas (owner, expires_at) VALUES (?, `+expiry+`)`+
		ls.s.onDuplicate("expires_at"), owner, ttl.Microseconds()); err != nil {
		return 0, fmt.Errorf("heartbeat of %s: %w", owner, err)
	}
	var n int
	if err := ls.s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM (
		SELECT owner FROM syncd_replicas WHERE expires_at > UTC_TIMESTAMP(6)
		UNION SELECT owner FROM syncd_leases WHERE expires_at > UTC_TIMESTAMP(6)) o`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count live replicas: %w", err)
	}
	return n, nil
}

// Renew implements lease.Store.
func (ls leaseStore) Renew(ctx context.Context, owner string, streams []string, ttl time.Duration) ([]lease.Lease, error) {
	if len(streams) == 0 {
		return nil, nil
	}
	var out []lease.Lease
	err := ls.s.withTx(ctx, func(tx *sql.Tx) error {
		in, args := inList(streams)
		if _, err := tx.ExecContext(ctx, `UPDATE syncd_leases SET expires_at = `+expiry+` WHERE owner = ? AND stream IN `+in,
			append([]any{ttl.Microseconds(), owner}, args...)...); err != nil {
			return err
		}
		var err error
		out, err = ls.held(ctx, tx, owner, streams)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("renew leases of %s: %w", owner, err)
	}
	return out, nil
}

// Acquire implements lease.Store: each stream's row is locked in stream
// order, then taken when it is missing, expired or owner's already.
func (ls leaseStore) Acquire(ctx context.Context, owner string, streams []string, ttl time.Duration) ([]lease.Lease, error) {
	if len(streams) == 0 {
		return nil, nil
	}
	var out []lease.Lease
	err := ls.s.withTx(ctx, func(tx *sql.Tx) error {
		for _, st := range slices.Sorted(slices.Values(streams)) {
			if _, err := tx.ExecContext(ctx, `INSERT INTO syncd_leases (stream, owner, expires_at) VALUES (?, ?, `+expiry+`)
				ON DUPLICATE KEY UPDATE
					expires_at = IF(expires_at < UTC_TIMESTAMP(6) OR owner = VALUES(owner), VALUES(expires_at), expires_at),
					owner = IF(expires_at = VALUES(expires_at), VALUES(owner), owner)`,
				st, owner, ttl.Microseconds()); err != nil {
				return err
			}
		}
		var err error
		out, err = ls.held(ctx, tx, owner, streams)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("acquire leases: %w", err)
	}
	return out, nil
}

// held returns owner's leases among streams.
func (ls leaseStore) held(ctx context.Context, tx *sql.Tx, owner string, streams []string) ([]lease.Lease, error) {
	in, args := inList(streams)
	rows, err := tx.QueryContext(ctx, `SELECT stream, owner, expires_at FROM syncd_leases WHERE owner = ? AND stream IN `+in+` ORDER BY stream`,
		append([]any{owner}, args...)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []lease.Lease
	for rows.Next() {
		var l lease.Lease
		if err := rows.Scan(&l.Stream, &l.Owner, &l.ExpiresAt); err != nil {
			return nil, err
		}
		out = append(out, l)
	}
	return out, rows.Err()
}

// Release implements lease.Store.
func (ls leaseStore) Release(ctx context.Context, owner string, streams []string) error {
	if len(streams) == 0 {
		return nil
	}
	in, args := inList(streams)
	if _, err := ls.s.db.ExecContext(ctx, `DELETE FROM syncd_leases WHERE owner = ? AND stream IN `+in, append([]any{owner}, args...)...); err != nil {
		return fmt.Errorf("release leases of %s: %w", owner, err)
	}
	return nil
}

// Leave implements lease.Store.
func (ls leaseStore) Leave(ctx context.Context, owner string) error {
	return ls.s.withTx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM syncd_leases WHERE owner = ?`, owner); err != nil {
			return fmt.Errorf("release leases of %s: %w", owner, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM syncd_replicas WHERE owner = ? OR expires_at < UTC_TIMESTAMP(6) - INTERVAL 1 DAY`, owner); err != nil {
			return fmt.Errorf("remove heartbeat of %s: %w", owner, err)
		}
		return nil
	})
}

// Leases implements lease.Store.
func (ls leaseStore) Leases(ctx context.Context) ([]lease.Lease, time.Time, error) {
	var now time.Time
	if err := ls.s.db.QueryRowContext(ctx, `SELECT UTC_TIMESTAMP(6)`).Scan(&now); err != nil {
		return nil, time.Time{}, fmt.Errorf("list leases: %w", err)
	}
	out, err := sink.CollectRows(ctx, ls.s.db, `SELECT stream, owner, expires_at FROM syncd_leases ORDER BY stream`, nil,
		func(r *sql.Rows) (l lease.Lease, err error) {
			err = r.Scan(&l.Stream, &l.Owner, &l.ExpiresAt)
			return l, err
		})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("list leases: %w", err)
	}
	return out, now, nil
}

// inList returns "(?, ?, …)" and the arguments of values.
func inList(values []string) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return placeholders(len(values)), args
}
