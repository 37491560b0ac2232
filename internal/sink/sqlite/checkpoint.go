package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/syncd-io/syncd/internal/sink"
)

const (
	checkpointColumns = `stream, url, next_offset, up_to_date, closed, events_applied, rejects, updated_at, halted`
	getCheckpoint     = `SELECT ` + checkpointColumns + ` FROM syncd_checkpoints WHERE stream = ?`
)

// Checkpoint returns the stream's checkpoint, creating it at startOffset if
// missing and recording url. It writes only when the row is missing or the
// URL changed.
func (s *Sink) Checkpoint(ctx context.Context, stream, url, startOffset string) (sink.Checkpoint, error) {
	cp, err := scanCheckpoint(s.db.QueryRowContext(ctx, getCheckpoint, stream))
	if err == nil && cp.URL == url {
		return cp, nil
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return sink.Checkpoint{}, fmt.Errorf("read checkpoint of %s: %w", stream, err)
	}
	err = s.withWriteTx(ctx, func(conn *sql.Conn) error {
		if _, err := conn.ExecContext(ctx, `INSERT INTO syncd_checkpoints (stream, url, next_offset, updated_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (stream) DO UPDATE SET url = excluded.url`,
			stream, url, startOffset, now()); err != nil {
			return err
		}
		cp, err = scanCheckpoint(conn.QueryRowContext(ctx, getCheckpoint, stream))
		return err
	})
	if err != nil {
		return sink.Checkpoint{}, fmt.Errorf("create checkpoint of %s: %w", stream, err)
	}
	return cp, nil
}

// SetHalted records why the stream stopped.
func (s *Sink) SetHalted(ctx context.Context, stream, reason string) error {
	err := s.withWriteTx(ctx, func(conn *sql.Conn) error {
		_, err := conn.ExecContext(ctx, `UPDATE syncd_checkpoints SET halted = ? WHERE stream = ?`, reason, stream)
		return err
	})
	if err != nil {
		return fmt.Errorf("record halt of %s: %w", stream, err)
	}
	return nil
}

// Initialized reports whether syncd_checkpoints exists in the file.
func (s *Sink) Initialized(ctx context.Context) (bool, error) {
	var ok bool
	err := s.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'syncd_checkpoints')`).Scan(&ok)
	if err != nil {
		return false, fmt.Errorf("look for syncd's tables in %s: %w", s.path, err)
	}
	return ok, nil
}

// Checkpoints lists every stream's checkpoint, ordered by stream.
func (s *Sink) Checkpoints(ctx context.Context) ([]sink.Checkpoint, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+checkpointColumns+` FROM syncd_checkpoints ORDER BY stream`)
	if err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	defer rows.Close()
	var cps []sink.Checkpoint
	for rows.Next() {
		cp, err := scanCheckpoint(rows)
		if err != nil {
			return nil, fmt.Errorf("list checkpoints: %w", err)
		}
		cps = append(cps, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list checkpoints: %w", err)
	}
	return cps, nil
}

// scanCheckpoint reads a row of checkpointColumns.
func scanCheckpoint(row interface{ Scan(...any) error }) (sink.Checkpoint, error) {
	var c sink.Checkpoint
	var updated string
	err := row.Scan(&c.Stream, &c.URL, &c.NextOffset, &c.UpToDate, &c.Closed, &c.EventsApplied, &c.Rejects, &updated, &c.Halted)
	if err != nil {
		return c, err
	}
	c.UpdatedAt, err = parseTime(updated)
	return c, err
}

// parseTime reads a stored time; SQLite's own defaults have milliseconds.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse stored time %q: %w", s, err)
	}
	return t, nil
}

// ResetStream removes the stream's rows from every entity table (tombstones
// included) and history table, its rejects,
// txids and checkpoint, in one transaction; it returns sink.ErrNotFound if
// the stream has no checkpoint. A transaction of the stream open meanwhile
// then fails to commit with sink.ErrConflict.
func (s *Sink) ResetStream(ctx context.Context, stream string) error {
	err := s.withWriteTx(ctx, func(conn *sql.Conn) error {
		res, err := conn.ExecContext(ctx, `DELETE FROM syncd_checkpoints WHERE stream = ?`, stream)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, sink.ErrNotFound)
		}
		if err := s.flow.RemoveStream(ctx, sink.SQLExecer(conn), stream); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM syncd_rejects WHERE stream = ?`, `DELETE FROM syncd_txids WHERE stream = ?`} {
			if _, err := conn.ExecContext(ctx, q, stream); err != nil {
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
