package state

// Op is one coalesced row operation: the last change of a (type, key) in a batch.
// Its byte slices are owned by the batch.
type Op struct {
	Type      string
	Key       string
	Delete    bool
	Value     []byte // raw JSON (nil when Delete)
	TxID      string
	Timestamp string // RFC 3339 or ""
	// Offset is the Stream-Next-Offset of the response that carried the change
	// (the row's synced_offset).
	Offset string
}

// Reject is a message that is not a valid State Protocol event, kept for the
// dead-letter table.
type Reject struct {
	Raw []byte // the message bytes exactly as received (owned copy)
	// ResponseOffset is the offset the response carrying the message was read
	// from: re-reading the stream there returns it again.
	ResponseOffset string
	Position       int // 0-based index of the message within its response
	Reason         string
}

// Batch is the in-memory state of one stream's pending work: change events
// coalesced per (type, key), a pending reset, rejects and txids. It is not safe
// for concurrent use.
//
// IMPLEMENTATION PENDING (see the state package task).
type Batch struct{}
