package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/syncd-io/syncd/internal/sink"
	"github.com/syncd-io/syncd/internal/sink/postgres"
	"github.com/syncd-io/syncd/internal/state"
)

// copyTableDDL is an entity table as syncd creates it, with its stream index.
const copyTableDDL = `CREATE TABLE %[1]s (
	key           text        PRIMARY KEY,
	value         jsonb       NOT NULL,
	stream        text        NOT NULL,
	txid          text,
	event_time    timestamptz,
	synced_offset text        NOT NULL,
	synced_at     timestamptz NOT NULL
);
CREATE INDEX ON %[1]s (stream)`

// rawCopy writes W2's final rows into an identical table of schema with one
// pgx CopyFrom in one transaction, from memory: the floor of what any
// writer of these rows can do.
func rawCopy(ctx context.Context, conn *pgx.Conn, schema string, rows []copyRow) (time.Duration, error) {
	ident := pgx.Identifier{schema, "copy_baseline"}
	if _, err := conn.Exec(ctx, fmt.Sprintf(copyTableDDL, ident.Sanitize())); err != nil {
		return 0, fmt.Errorf("create copy table: %w", err)
	}
	now := time.Now()
	start := time.Now()
	err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
		src := pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			r := &rows[i]
			return []any{r.key, r.value, "w2", r.txid, r.ts, "offset", now}, nil
		})
		n, err := tx.CopyFrom(ctx, ident, []string{"key", "value", "stream", "txid", "event_time", "synced_offset", "synced_at"}, src)
		if err == nil && n != int64(len(rows)) {
			err = fmt.Errorf("copied %d rows, want %d", n, len(rows))
		}
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("copy: %w", err)
	}
	return time.Since(start), nil
}

// sinkWrite times the database side of W2 alone: the Postgres sink syncd
// uses writes W2's decoded, coalesced batch in one transaction (Begin, Write,
// Commit), in this process. Against rawCopy it says what the sink's
// set-based write costs over COPY, without the stream read.
func sinkWrite(ctx context.Context, pgURL, schema string, w *workload) (time.Duration, error) {
	batch := state.NewBatch()
	for _, body := range w.posts {
		var msgs []json.RawMessage
		if err := json.Unmarshal(body, &msgs); err != nil {
			return 0, err
		}
		for _, m := range msgs {
			ev := state.Decode(m)
			if ev.Kind != state.KindChange {
				return 0, fmt.Errorf("W2 event is not a change: %s", ev.Reason)
			}
			batch.AddChange(ev.Change, "offset")
		}
	}
	s, err := postgres.New(ctx, pgURL, schema, nil)
	if err != nil {
		return 0, err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return 0, err
	}
	if _, err := s.Checkpoint(ctx, w.name, "http://bench/"+w.name, "-1"); err != nil {
		return 0, err
	}
	start := time.Now()
	tx, err := s.Begin(ctx, w.name, "-1")
	if err != nil {
		return 0, err
	}
	if err := tx.Write(ctx, batch); err != nil {
		_ = tx.Rollback(ctx)
		return 0, err
	}
	if _, err := tx.Commit(ctx, sink.Commit{NextOffset: "end", UpToDate: true, Events: int64(batch.Events())}); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}
