// Package state implements the Durable Streams State Protocol: it decodes each
// stream message into a change, a control or a reject, and coalesces changes
// into a Batch that a sink applies in one transaction. It knows nothing about
// HTTP or SQL.
package state

// Operation is a change event's headers.operation.
type Operation uint8

// The operations of the State Protocol. Insert, Update and Upsert all make the
// row at (type, key) equal to the value; Delete removes it.
const (
	Insert Operation = iota + 1
	Update
	Upsert
	Delete
)

// String returns the protocol name of the operation.
func (o Operation) String() string {
	switch o {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Upsert:
		return "upsert"
	case Delete:
		return "delete"
	}
	return "unknown"
}

// Control is a control event's headers.control.
type Control uint8

// The control events of the State Protocol.
const (
	SnapshotStart Control = iota + 1
	SnapshotEnd
	Reset
)

// Kind says which of Change, Control or Reject a decoded Event holds.
type Kind uint8

// The kinds of decoded messages.
const (
	KindChange Kind = iota + 1
	KindControl
	KindReject
)

// Change is a valid change event. Its Value may alias the decoder's input:
// copy it (Batch.AddChange does) before the input buffer is reused.
type Change struct {
	Type  string
	Key   string
	Op    Operation
	Value []byte // raw JSON of value, exactly as received (nil for delete)
	// OldValue is the raw JSON of old_value, nil when absent; DeleteValue is
	// the value a delete carries, nil when absent. Neither is materialized:
	// history tables record them.
	OldValue    []byte
	DeleteValue []byte
	TxID        string // headers.txid, "" if absent
	Timestamp   string // headers.timestamp, validated RFC 3339, "" if absent
}

// Event is one decoded stream message.
type Event struct {
	Kind    Kind
	Change  Change  // valid when Kind == KindChange
	Control Control // valid when Kind == KindControl
	Reason  string  // why the message was rejected, when Kind == KindReject
}
