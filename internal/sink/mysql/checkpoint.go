package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/syncd-io/syncd/internal/sink"
)

const (
	checkpointColumns = `stream, url, next_offset, up_to_date, closed, events_applied, rejects, updated_at, halted`
	getCheckpoint     = `SELECT ` + checkpointColumns + ` FROM syncd_checkpoints WHERE stream = ?`
)

// Checkpoint returns the stream's checkpoint, creating it at startOffset if
// missing and recording url. Reading takes no lock (a consistent read), so
// it does not wait for the stream's open transaction.
func (s *Sink) Checkpoint(ctx context.Context, stream, url, startOffset string) (sink.Checkpoint, error) {
	cp, err := scanCheckpoint(s.db.QueryRowContext(ctx, getCheckpoint, stream))
	if errors.Is(err, sql.ErrNoRows) {
		if _, err := s.db.ExecContext(ctx, `INSERT INTO syncd_checkpoints (stream, url, next_offset) VALUES (?, ?, ?)
			ON DUPLICATE KEY UPDATE stream = stream`, stream, url, startOffset); err != nil {
			return sink.Checkpoint{}, fmt.Errorf("create checkpoint of %s: %w", stream, err)
		}
		cp, err = scanCheckpoint(s.db.QueryRowContext(ctx, getCheckpoint, stream))
	}
	if err != nil {
		return sink.Checkpoint{}, fmt.Errorf("read checkpoint of %s: %w", stream, err)
	}
	if cp.URL != url {
		if _, err := s.db.ExecContext(ctx, `UPDATE syncd_checkpoints SET url = ? WHERE stream = ?`, url, stream); err != nil {
			return sink.Checkpoint{}, fmt.Errorf("update url of %s: %w", stream, err)
		}
		cp.URL = url
	}
	return cp, nil
}

// SetHalted records why the stream stopped.
func (s *Sink) SetHalted(ctx context.Context, stream, reason string) error {
	if _, err := s.db.ExecContext(ctx, `UPDATE syncd_checkpoints SET halted = ? WHERE stream = ?`, cleanText(reason), stream); err != nil {
		return fmt.Errorf("record halt of %s: %w", stream, err)
	}
	return nil
}

// Initialized reports whether syncd_checkpoints exists in the database.
func (s *Sink) Initialized(ctx context.Context) (bool, error) {
	var ok bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_name = 'syncd_checkpoints')`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look for syncd's tables in database %s: %w", s.name, err)
	}
	return ok, nil
}

// Checkpoints lists every stream's checkpoint, ordered by stream.
func (s *Sink) Checkpoints(ctx context.Context) ([]sink.Checkpoint, error) {
	out, err := sink.CollectRows(ctx, s.db, `SELECT `+checkpointColumns+` FROM syncd_checkpoints ORDER BY stream`, nil,
		func(r *sql.Rows) (sink.Checkpoint, error) { return scanCheckpoint(r) })
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	return out, nil
}

// scanCheckpoint reads a row of checkpointColumns.
func scanCheckpoint(row interface{ Scan(...any) error }) (sink.Checkpoint, error) {
	var c sink.Checkpoint
	err := row.Scan(&c.Stream, &c.URL, &c.NextOffset, &c.UpToDate, &c.Closed, &c.EventsApplied, &c.Rejects, &c.UpdatedAt, &c.Halted)
	return c, err
}

// ResetStream removes the stream's rows from every entity table (tombstones
// included) and history table (DELETE, never TRUNCATE, which would commit
// at once), its rejects, txids and
// checkpoint, in one transaction; it returns sink.ErrNotFound if the stream
// has no checkpoint. It waits for the stream's open transaction, whose next
// Begin then fails with sink.ErrConflict.
func (s *Sink) ResetStream(ctx context.Context, stream string) error {
	err := s.withTx(ctx, func(tx *sql.Tx) error {
		var found int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM syncd_checkpoints WHERE stream = ? FOR UPDATE`, stream).Scan(&found); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return sink.ErrNotFound
			}
			return err
		}
		if err := s.flow.RemoveStream(ctx, sink.SQLExecer(tx), stream); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM syncd_rejects WHERE stream = ?`, `DELETE FROM syncd_txids WHERE stream = ?`,
			`DELETE FROM syncd_checkpoints WHERE stream = ?`} {
			if _, err := tx.ExecContext(ctx, q, stream); err != nil {
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
	q := `SELECT id, stream, response_offset, position, raw, reason, created_at
		FROM syncd_rejects WHERE stream = ? ORDER BY id LIMIT ?`
	out, err := sink.CollectRows(ctx, s.db, q, []any{stream, limit}, scanReject)
	if err != nil {
		return nil, fmt.Errorf("list rejects of %s: %w", stream, err)
	}
	return out, nil
}

// scanReject reads a row of id, stream, response_offset, position, raw,
// reason, created_at of syncd_rejects.
func scanReject(r *sql.Rows) (x sink.RejectRow, err error) {
	err = r.Scan(&x.ID, &x.Stream, &x.ResponseOffset, &x.Position, &x.Raw, &x.Reason, &x.CreatedAt)
	return x, err
}
