// Package sink defines the contract between syncd's stream loops and the SQL
// databases they write to. Each dialect lives in its own sub-package
// (postgres, sqlite) with its own SQL and migrations; this package holds only
// the interfaces, the batch type and the sentinel errors.
package sink

import (
	"context"
	"time"

	"github.com/syncd-io/syncd/internal/state"
)

// Batch is the coalesced work of one stream that a Tx writes.
type Batch = state.Batch

// Checkpoint is a stream's row in syncd_checkpoints.
type Checkpoint struct {
	Stream        string
	URL           string
	NextOffset    string // opaque; "-1" or "now" until the first commit
	UpToDate      bool
	Closed        bool
	EventsApplied int64
	Rejects       int64
	UpdatedAt     time.Time
	// Halted says why the stream stopped ("" while it runs); the next
	// commit clears it.
	Halted string
}

// Commit describes the checkpoint written by Tx.Commit.
type Commit struct {
	NextOffset string
	UpToDate   bool
	Closed     bool
	// Events and Rejects are added to the checkpoint's counters; they count
	// every change event and reject since the transaction began (before coalescing).
	Events  int64
	Rejects int64
}

// Sink is a database that holds syncd's tables. Implementations are safe for
// concurrent use by several stream loops.
type Sink interface {
	// Migrate applies the embedded migrations (idempotent; safe to run from
	// several processes at once).
	Migrate(ctx context.Context) error

	// Checkpoint returns the stream's checkpoint, creating it with
	// NextOffset = startOffset when the stream has none yet. The URL is
	// recorded (updated if it changed).
	Checkpoint(ctx context.Context, stream, url, startOffset string) (Checkpoint, error)

	// Begin opens the stream's transaction. Its first statement is the
	// checkpoint compare-and-set guard: if the stored next_offset is no longer
	// expectedOffset it returns ErrConflict and nothing is held. On Postgres the
	// checkpoint row stays locked until Commit or Rollback, so a second writer
	// of the same stream waits and then gets ErrConflict.
	Begin(ctx context.Context, stream, expectedOffset string) (Tx, error)

	// Checkpoints lists every stream's checkpoint, ordered by stream.
	Checkpoints(ctx context.Context) ([]Checkpoint, error)

	// ResetStream removes the stream's rows from every entity table and its
	// checkpoint, in one transaction, so the next run re-reads it from the start.
	ResetStream(ctx context.Context, stream string) error

	// SetHalted records why the stream stopped, for `syncd status`.
	SetHalted(ctx context.Context, stream, reason string) error

	// Configure applies the per-type mappings (the SYNCD_CONFIG file): each
	// mapped type's table is registered and created if missing, and its key
	// scope, generated columns and indexes are brought in line with the
	// mapping (ALTER TABLE in place, each change logged; rows already there
	// get their columns computed by the database, nothing is re-read). It is
	// idempotent; call it after Migrate and before the first Begin. A mapping
	// the database cannot apply is an error naming the type and column, and
	// nothing is changed.
	Configure(ctx context.Context, m Mapping) error

	// LookupTxID returns the rows of syncd_txids holding txid (one per
	// stream that committed it), most recent first; none when it is not
	// (or no longer) recorded.
	LookupTxID(ctx context.Context, txid string) ([]TxIDRow, error)

	// PruneTxIDs deletes the rows of syncd_txids committed before cutoff and
	// returns how many it deleted.
	PruneTxIDs(ctx context.Context, cutoff time.Time) (int64, error)

	// Ping checks that the database answers.
	Ping(ctx context.Context) error

	// Close releases the database's connections.
	Close() error
}

// Tx is one stream's open transaction. It is used by one goroutine at a time.
// Every method except Rollback leaves the transaction unusable after an error:
// the caller must Rollback and start again from the stored checkpoint.
type Tx interface {
	// Write applies the batch inside the transaction without committing:
	// the reset first (removing every row whose stream column is this stream),
	// then upserts and deletes in (type, key) order, then rejects and txids.
	// In a table of key scope stream, rows are identified by (stream, key): a
	// delete removes only this stream's row of the key.
	// Entity tables for new types are created and registered in syncd_types as
	// needed. The batch is left untouched; the caller clears it.
	Write(ctx context.Context, b *Batch) error

	// Commit writes the checkpoint and commits. ErrConflict means another
	// writer moved the checkpoint; nothing was committed.
	Commit(ctx context.Context, c Commit) error

	// Rollback discards the transaction. It is safe to call after Commit or
	// after an error, and more than once.
	Rollback(ctx context.Context) error
}
