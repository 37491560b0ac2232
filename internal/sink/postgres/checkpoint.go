package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/sink"
)

// Checkpoint returns the stream's checkpoint, creating it at startOffset if
// missing and recording url. It takes no row lock unless the URL changed, so
// it does not wait for the stream's open transaction.
func (s *Sink) Checkpoint(ctx context.Context, stream, url, startOffset string) (sink.Checkpoint, error) {
	// Read first: an INSERT would wait on the row lock of the stream's open
	// transaction (its unique check waits for the row's updater).
	cp, err := scanCheckpoint(s.pool.QueryRow(ctx, s.q.getCP, stream))
	if errors.Is(err, pgx.ErrNoRows) {
		if _, err := s.pool.Exec(ctx, s.q.createCP, stream, url, startOffset); err != nil {
			return sink.Checkpoint{}, fmt.Errorf("create checkpoint of %s: %w", stream, err)
		}
		cp, err = scanCheckpoint(s.pool.QueryRow(ctx, s.q.getCP, stream))
	}
	if err != nil {
		return sink.Checkpoint{}, fmt.Errorf("read checkpoint of %s: %w", stream, err)
	}
	if cp.URL != url {
		if _, err := s.pool.Exec(ctx, s.q.setURL, stream, url); err != nil {
			return sink.Checkpoint{}, fmt.Errorf("update url of %s: %w", stream, err)
		}
		cp.URL = url
	}
	return cp, nil
}

// Initialized reports whether syncd_checkpoints exists in the schema.
func (s *Sink) Initialized(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, s.internal("syncd_checkpoints")).Scan(&ok); err != nil {
		return false, fmt.Errorf("look for syncd's tables in schema %s: %w", s.schema, err)
	}
	return ok, nil
}

// Checkpoints lists every stream's checkpoint, ordered by stream.
func (s *Sink) Checkpoints(ctx context.Context) ([]sink.Checkpoint, error) {
	rows, err := s.pool.Query(ctx, s.q.listCP)
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	cps, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sink.Checkpoint, error) { return scanCheckpoint(r) })
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	return cps, nil
}

// scanCheckpoint reads a row of checkpointColumns.
func scanCheckpoint(row pgx.Row) (sink.Checkpoint, error) {
	var c sink.Checkpoint
	err := row.Scan(&c.Stream, &c.URL, &c.NextOffset, &c.UpToDate, &c.Closed, &c.EventsApplied, &c.Rejects, &c.UpdatedAt, &c.Halted)
	return c, err
}

// SetHalted records why the stream stopped.
func (s *Sink) SetHalted(ctx context.Context, stream, reason string) error {
	if _, err := s.pool.Exec(ctx, s.q.haltCP, stream, reason); err != nil {
		return fmt.Errorf("record halt of %s: %w", stream, err)
	}
	return nil
}

// ResetStream removes the stream's rows from every entity table (tombstones
// included) and history table, its rejects,
// txids and checkpoint, in one transaction; it returns sink.ErrNotFound if
// the stream has no checkpoint. It waits for the stream's open transaction,
// whose next Begin then fails with sink.ErrConflict.
func (s *Sink) ResetStream(ctx context.Context, stream string) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var found bool
		if err := tx.QueryRow(ctx, s.q.lockCP, stream).Scan(&found); err != nil {
			if errors.Is(err, pgx.ErrNoRows) {
				return sink.ErrNotFound
			}
			return err
		}
		if err := s.flow.RemoveStream(ctx, execer{tx}, stream); err != nil {
			return err
		}
		for _, q := range []string{s.q.deleteRejects, s.q.deleteTxIDs, s.q.deleteCP} {
			if _, err := tx.Exec(ctx, q, stream); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("reset stream %s: %w", stream, err)
	}
	return nil
}

// Rejects returns up to limit of the stream's dead letters, oldest first.
func (s *Sink) Rejects(ctx context.Context, stream string, limit int) ([]sink.RejectRow, error) {
	rows, err := s.pool.Query(ctx, s.q.listRejects, stream, limit)
	if err != nil {
		return nil, fmt.Errorf("list rejects of %s: %w", stream, err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (sink.RejectRow, error) {
		var x sink.RejectRow
		err := r.Scan(&x.ID, &x.Stream, &x.ResponseOffset, &x.Position, &x.Raw, &x.Reason, &x.CreatedAt)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("list rejects of %s: %w", stream, err)
	}
	return out, nil
}
