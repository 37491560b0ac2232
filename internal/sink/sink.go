package sink

import (
	"context"
	"time"

	"github.com/syncd-io/syncd/internal/lease"
	"github.com/syncd-io/syncd/internal/state"
	"github.com/syncd-io/syncd/internal/table"
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

// Result is what a committed transaction wrote.
type Result struct {
	Tables []string      // entity tables written (rows upserted, deleted or reset), sorted
	TxIDs  []string      // distinct txids committed, in first-seen order
	Nulls  []ColumnNulls // mapped-column values that did not convert, per column (N > 0 only), sorted
}

// ColumnNulls counts the values of one mapped column that were present in
// the rows written but did not convert to its type, so the database stored
// NULL (e.g. "abc" for a bigint).
type ColumnNulls struct {
	Table, Column string
	N             int
}

// Writer is what a stream loop needs.
type Writer interface {
	// Checkpoint returns the stream's checkpoint, creating it with
	// NextOffset = startOffset when the stream has none yet. The URL is
	// recorded (updated if it changed). It does not wait for the stream's
	// open transaction.
	Checkpoint(ctx context.Context, stream, url, startOffset string) (Checkpoint, error)

	// Begin opens the stream's transaction and checks that the stored
	// next_offset is still expectedOffset; if not it returns ErrConflict and
	// nothing is held. Whatever the dialect, the compare-and-set is repeated
	// at Commit, so of two writers that began at the same offset at most one
	// commits. Where Capabilities().BeginLocks (Postgres) the check is the
	// transaction's first statement and keeps the checkpoint row locked
	// until Commit or Rollback, so a second writer waits in Begin; elsewhere
	// (SQLite) Begin takes no lock and the second writer fails at Commit.
	Begin(ctx context.Context, stream, expectedOffset string) (Tx, error)

	// SetHalted records why the stream stopped, for `syncd status`.
	SetHalted(ctx context.Context, stream, reason string) error
}

// Tx is one stream's open transaction. It is used by one goroutine at a time.
// Every method except Rollback leaves the transaction unusable after an error:
// the caller must Rollback and start again from the stored checkpoint.
type Tx interface {
	// Write applies the batch inside the transaction without committing:
	// the reset first (removing every row whose stream column is this stream,
	// or marking it deleted in a table with soft deletes), then upserts and
	// deletes in (type, key) order, then the batch's history rows (of the
	// types configured with history), rejects and txids.
	// In a table of key scope stream, rows are identified by (stream, key): a
	// delete removes only this stream's row of the key. In a table with soft
	// deletes a delete of a live row keeps it with deleted_at set, and an
	// upsert clears deleted_at.
	// Entity tables for new types are created and registered in syncd_types as
	// needed. The batch is left untouched; the caller clears it.
	Write(ctx context.Context, b *Batch) error

	// Commit writes the txids and the checkpoint and commits, and returns
	// what the transaction wrote. ErrConflict means another writer moved the
	// checkpoint; nothing was committed. After any error the outcome is
	// known (nothing committed) except when the database failed during the
	// final COMMIT: reload the checkpoint before retrying.
	Commit(ctx context.Context, c Commit) (Result, error)

	// WriteCommit writes b, the transaction's last batch, and commits: it
	// is Write(b) followed by Commit(c), in one step where the dialect can
	// do better (see FinalWriteDriver). Errors are Commit's.
	WriteCommit(ctx context.Context, b *Batch, c Commit) (Result, error)

	// Rollback discards the transaction. It is safe to call after Commit or
	// after an error, and more than once; it runs even when ctx is cancelled.
	Rollback(ctx context.Context) error
}

// TxIDStore finds and prunes committed txids (syncd_txids).
type TxIDStore interface {
	// LookupTxID returns the rows of syncd_txids holding txid (one per
	// stream that committed it), most recent first; none when it is not
	// (or no longer) recorded.
	LookupTxID(ctx context.Context, txid string) ([]TxIDRow, error)

	// RejectedTxID returns the dead letters whose message carried txid,
	// most recent first; none when no rejected event had it.
	RejectedTxID(ctx context.Context, txid string) ([]RejectRow, error)

	// PruneTxIDs deletes the rows of syncd_txids committed before cutoff and
	// returns how many it deleted.
	PruneTxIDs(ctx context.Context, cutoff time.Time) (int64, error)
}

// Admin is what the status, reset and rejects commands read and change.
type Admin interface {
	// Initialized reports whether syncd's tables exist (Migrate ran), so
	// that the read-only commands can tell a mistyped database from an
	// empty one without creating anything.
	Initialized(ctx context.Context) (bool, error)

	// Checkpoints lists every stream's checkpoint, ordered by stream.
	Checkpoints(ctx context.Context) ([]Checkpoint, error)

	// ResetStream removes the stream's rows from every entity table
	// (tombstones included) and every history table, its rejects, txids and
	// checkpoint, in one transaction, so the next run re-reads it from the
	// start. ErrNotFound when it has no checkpoint.
	ResetStream(ctx context.Context, stream string) error

	// Rejects returns up to limit of the stream's rejects, oldest first.
	Rejects(ctx context.Context, stream string, limit int) ([]RejectRow, error)
}

// Sink is a database that holds syncd's tables. Implementations are safe for
// concurrent use by several stream loops.
type Sink interface {
	Writer
	TxIDStore
	Admin

	// Migrate applies the embedded migrations (idempotent; safe to run from
	// several processes at once).
	Migrate(ctx context.Context) error

	// Configure applies the per-type mappings (the SYNCD_CONFIG file): each
	// mapped type's table is registered and created if missing, and its name,
	// key scope, generated columns and indexes are brought in line with the
	// mapping (ALTER TABLE in place, each change logged; rows already there
	// get their columns computed by the database, nothing is re-read), and
	// so are its history table and deleted_at column (see HistoryDialect). It is
	// idempotent; call it after Migrate and before the first Begin. A mapping
	// the database cannot apply is an error naming the type and column, and
	// nothing is changed.
	Configure(ctx context.Context, m table.Mapping) error

	// Leases returns the database's lease store, or nil when the dialect
	// holds no leases (SQLite runs a single replica).
	Leases() lease.Store

	// Ping checks that the database answers.
	Ping(ctx context.Context) error

	// Close releases the database's connections.
	Close() error
}

// Capabilities says which optional behaviours a dialect has, so that callers
// and the shared test suite ask for a behaviour rather than a dialect's name.
type Capabilities struct {
	// BeginLocks: Begin holds the checkpoint row lock until the transaction
	// ends, so a second writer of the stream waits in Begin.
	BeginLocks bool
	// Notify: every commit sends a notification that listeners can receive.
	Notify bool
	// Leases: Leases() returns a store, so several replicas can share streams.
	Leases bool
}
