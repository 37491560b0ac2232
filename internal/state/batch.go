package state

import (
	"slices"
	"strings"
	"unsafe"
)

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
	// LastValue, for a Delete that replaced an insert, update or upsert of
	// the same key in the batch, is that change's value (nil otherwise): a
	// table with soft deletes keeps it in the tombstone, so the tombstone
	// is the same whatever the batch boundaries.
	LastValue []byte
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
	TxID           string // headers.txid when the message has one (see TxIDOf)
}

// HistoryRow is one change event kept for its type's history table: never
// coalesced, numbered by Seq among all change events of the stream. Its byte
// slices are owned by the batch.
type HistoryRow struct {
	// Seq is the event's ordinal among every change event of the stream,
	// starting at 1: the seq base of the batch (see SetSeqBase) plus the
	// event's position in the batch.
	Seq       int64
	Type      string
	Key       string
	Op        Operation
	Value     []byte // raw JSON of value, nil when absent
	OldValue  []byte // raw JSON of old_value, nil when absent
	TxID      string
	Timestamp string // RFC 3339 or ""
	Offset    string // Stream-Next-Offset of the response that carried it
}

// Approximate bytes a batch holds per entry beyond its strings and values,
// on a 64-bit machine: the Op or Reject itself plus its share of indexes.
const (
	opOverhead      = 192 // Op (136 bytes), its index slots and its sort key
	rejectOverhead  = 64  // Reject
	txidOverhead    = 48  // slice element and set entry
	historyOverhead = 176 // HistoryRow
)

// opKey identifies the row an Op writes. The batch indexes ops by a hash of
// it (see opIndex); tests key materialized tables by it.
type opKey struct {
	typ, key string
}

// Batch is the in-memory state of one stream's pending work: change events
// coalesced per (type, key), a pending reset, rejects and txids. A sink writes
// it in one transaction; the stream loop clears it afterwards and reuses it.
// It is not safe for concurrent use.
type Batch struct {
	ops      []Op
	index    opIndex    // position of each (type, key) in ops
	pre      prefetcher // lookups to come (see Prefetch)
	sorted   bool       // ops is in (Type, Key) order
	reset    bool
	rejects  []Reject
	txids    []string
	txidSeen map[string]int // position of each txid in txids
	lastTxID string         // the txid of the last change that had one
	types    typeIDs        // the types seen, each stored once
	events   int
	counts   [Delete + 1]int
	size     int

	keepHistory func(typ string) bool // nil: no type keeps history
	history     []HistoryRow
	seqBase     int64 // seq of the last change event before this batch
}

// NewBatch returns an empty batch.
func NewBatch() *Batch {
	return &Batch{
		sorted:   true,
		txidSeen: make(map[string]int),
	}
}

// AddChange records a change read at the response whose Stream-Next-Offset is
// offset. Only the last change of each (type, key) survives as an Op, but
// every change counts in Events and Counts and contributes its txid. The
// change's Value is copied, so its input buffer may be reused afterwards.
func (b *Batch) AddChange(c Change, offset string) {
	b.events++
	// The change's strings may alias a read buffer (DecodeBorrowed): the
	// batch stores its own copies, each type and txid once.
	txid := b.addTxID(c.TxID)
	if b.keepHistory != nil && b.keepHistory(c.Type) {
		b.addHistory(c, txid, offset)
	}
	if c.Op >= Insert && c.Op <= Delete {
		b.counts[c.Op]++
	}
	// One index lookup per event: a rewritten key has its op updated in
	// place, its value buffer reused; a new key is appended.
	i, found, slot, tag := b.index.lookup(b.ops, c.Type, c.Key)
	if found {
		b.replaceOp(&b.ops[i], &c, txid, offset)
		return
	}
	b.index.insert(slot, tag, len(b.ops))
	key, ts := ownKeyStamp(c.Key, c.Timestamp)
	b.appendOp(Op{
		Type:      b.types.intern(c.Type),
		Key:       key,
		Delete:    c.Op == Delete,
		Value:     cloneValue(&c, nil),
		TxID:      txid,
		Timestamp: ts,
		Offset:    offset,
	})
}

// ownKeyStamp copies a new op's key and timestamp into one allocation. The
// timestamp's bytes are the op's alone, with room for any RFC 3339
// timestamp after them (see stampRoom): restamp overwrites them.
func ownKeyStamp(key, ts string) (string, string) {
	n := len(key)
	if ts != "" {
		n += stampRoom(len(ts))
	}
	if n == 0 { // the decoder never gives an empty key; a caller might
		return "", ""
	}
	buf := make([]byte, n)
	copy(buf, key)
	k := unsafe.String(unsafe.SliceData(buf), len(key))
	if ts == "" {
		return k, ""
	}
	copy(buf[len(key):], ts)
	return k, unsafe.String(&buf[len(key)], len(ts))
}

// stampRoom is the room kept for an op's timestamp of n bytes: enough for
// the longest usual RFC 3339 form (nanoseconds and a numeric offset), so a
// producer's timestamps of varying length are rewritten in place.
func stampRoom(n int) int { return max(n, len("2006-01-02T15:04:05.999999999+07:00")) }

// restamp returns an op's new timestamp ts, written over the bytes of its
// old one, old, when their room holds it, else in room of its own. Every
// non-empty op timestamp has stampRoom(len) bytes of its own.
func restamp(old, ts string) string {
	switch {
	case ts == "":
		return ""
	case old != "" && len(ts) <= stampRoom(len(old)):
		room := unsafe.Slice(unsafe.StringData(old), stampRoom(len(old)))
		copy(room, ts)
		return unsafe.String(&room[0], len(ts))
	}
	room := make([]byte, stampRoom(len(ts)))
	copy(room, ts)
	return unsafe.String(&room[0], len(ts))
}

// addHistory keeps the change as a history row numbered after the events
// before it.
func (b *Batch) addHistory(c Change, txid, offset string) {
	value := c.Value
	if c.Op == Delete {
		value = c.DeleteValue
	}
	h := HistoryRow{
		Seq:       b.seqBase + int64(b.events),
		Type:      b.types.intern(c.Type),
		Key:       strings.Clone(c.Key),
		Op:        c.Op,
		Value:     cloneBytes(value),
		OldValue:  cloneBytes(c.OldValue),
		TxID:      txid,
		Timestamp: strings.Clone(c.Timestamp),
		Offset:    offset,
	}
	b.history = append(b.history, h)
	b.size += len(h.Type) + len(h.Key) + len(h.Value) + len(h.OldValue) + len(h.TxID) +
		len(h.Timestamp) + historyOverhead
}

// cloneBytes returns an owned copy of p, nil when p is nil.
func cloneBytes(p []byte) []byte {
	if p == nil {
		return nil
	}
	return append(make([]byte, 0, len(p)), p...)
}

// SetHistory says which types keep history: every change event of a type
// for which keep returns true is also kept as a HistoryRow (see History).
// nil keeps none. The setting survives Clear.
func (b *Batch) SetHistory(keep func(typ string) bool) { b.keepHistory = keep }

// SetSeqBase sets the seq of the change event before the batch's first one:
// the stream's events_applied before the transaction plus the events
// already written into it. Clear advances it past the events cleared.
func (b *Batch) SetSeqBase(n int64) { b.seqBase = n }

// History returns the history rows in the order their events were added.
// The slice is owned by the batch and valid until its next Add or Clear.
// A reset does not drop them: history keeps what happened.
func (b *Batch) History() []HistoryRow { return b.history }

// cloneValue returns an owned copy of a change's value, nil for a delete. It
// copies into buf, the value of the op being replaced, when buf is about the
// right size: a catch-up that rewrites the same keys then allocates nothing
// per event for values.
func cloneValue(c *Change, buf []byte) []byte {
	if c.Op == Delete || c.Value == nil {
		return nil
	}
	if n := len(c.Value); cap(buf) < n || cap(buf) > 2*n+64 {
		buf = slices.Grow([]byte(nil), n) // the allocator's size class: room for later values a little longer
	}
	return append(buf[:0], c.Value...)
}

// replaceOp makes p, the pending op of c's (type, key), the op of c: the
// op it was is dropped, but its value buffer is reused for c's value, or
// kept as LastValue when c is a delete (and reused by a later write). It updates p in place, without
// copying the 136-byte Op.
func (b *Batch) replaceOp(p *Op, c *Change, txid, offset string) {
	del := c.Op == Delete
	b.size -= len(p.Value) + len(p.LastValue) + len(p.TxID) + len(p.Timestamp)
	switch {
	case del && !p.Delete:
		p.LastValue, p.Value = p.Value, nil
	case del: // a delete after a delete keeps the first one's LastValue
	default:
		buf := p.Value
		if buf == nil { // a write after a delete: reuse its LastValue
			buf = p.LastValue
		}
		p.Value, p.LastValue = cloneValue(c, buf), nil
	}
	p.Delete = del
	p.TxID, p.Timestamp, p.Offset = txid, restamp(p.Timestamp, c.Timestamp), offset
	b.size += len(p.Value) + len(p.LastValue) + len(p.TxID) + len(p.Timestamp)
}

// appendOp adds op, whose (type, key) has no pending op and is already
// indexed at the end of ops.
func (b *Batch) appendOp(op Op) {
	if n := len(b.ops); b.sorted && n > 0 && compareOps(b.ops[n-1], op) > 0 {
		b.sorted = false
	}
	if len(b.ops) == cap(b.ops) {
		// Double: append grows a slice this large by a quarter at a time,
		// and on a catch-up of 100,000 keys copied every op four times
		// over into fresh memory.
		b.ops = slices.Grow(b.ops, max(len(b.ops), 64))
	}
	b.ops = append(b.ops, op)
	b.size += opSize(op)
}

// opSize approximates the bytes an op holds (its Offset is shared by every
// op of a response and not counted).
func opSize(op Op) int {
	return len(op.Type) + len(op.Key) + len(op.Value) + len(op.LastValue) + len(op.TxID) +
		len(op.Timestamp) + opOverhead
}

// addTxID records a txid the first time it is seen. Consecutive changes
// usually share a txid (a producer's transaction), so the last one seen is
// checked before the set.
func (b *Batch) addTxID(id string) string {
	switch {
	case id == "":
		return ""
	case id == b.lastTxID:
		return b.lastTxID
	case b.txidSeen == nil: // a zero Batch
		b.txidSeen = make(map[string]int)
	}
	if i, ok := b.txidSeen[id]; ok {
		b.lastTxID = b.txids[i]
		return b.lastTxID
	}
	own := strings.Clone(id)
	b.lastTxID = own
	b.txidSeen[own] = len(b.txids)
	b.txids = append(b.txids, own)
	b.size += len(id) + txidOverhead
	return own
}

// AddReset records a reset control event: the pending ops are dropped, and
// the sink deletes every row of the stream before applying the ops added
// after it. Events, counts, txids and rejects are kept: they were still read.
func (b *Batch) AddReset() {
	for _, op := range b.ops {
		b.size -= opSize(op)
	}
	clear(b.ops)
	b.ops = b.ops[:0]
	b.index.reset()
	b.sorted = true
	b.reset = true
}

// AddReject records a message that is not a valid event. Its Raw bytes are
// copied, so the input buffer may be reused afterwards.
func (b *Batch) AddReject(r Reject) {
	r.Raw = append([]byte(nil), r.Raw...)
	b.rejects = append(b.rejects, r)
	b.size += len(r.Raw) + len(r.Reason) + len(r.ResponseOffset) + rejectOverhead
}

// Ops returns the coalesced ops in (Type, Key) byte order, the order in which
// sinks write rows so that concurrent writers cannot deadlock. The slice is
// owned by the batch and valid until its next Add or Clear, and so are the
// ops' strings and byte slices: a later change of a key rewrites its op's
// value and timestamp bytes in place. Copy what must outlive that.
func (b *Batch) Ops() []Op {
	if !b.sorted {
		b.sortOps()
	}
	return b.ops
}

// compareOps orders ops by Type, then Key, bytewise.
func compareOps(x, y Op) int {
	if c := strings.Compare(x.Type, y.Type); c != 0 {
		return c
	}
	return strings.Compare(x.Key, y.Key)
}

// Len returns the number of coalesced ops.
func (b *Batch) Len() int { return len(b.ops) }

// HasReset reports whether a reset was added since the batch was last
// cleared: the sink must then delete the stream's rows before writing Ops.
func (b *Batch) HasReset() bool { return b.reset }

// Rejects returns the rejects in the order they were added. The slice is
// owned by the batch and valid until its next Add or Clear.
func (b *Batch) Rejects() []Reject { return b.rejects }

// TxIDs returns the distinct txids of the changes added, in first-seen order,
// for the read-your-writes table. The slice is owned by the batch.
func (b *Batch) TxIDs() []string { return b.txids }

// Types returns the entity types of the changes added, each once in the
// order first seen. It may also name types of changes cleared since (Clear
// keeps them while they are few). The slice is owned by the batch: read it
// before the next Add.
func (b *Batch) Types() []string { return b.types.types }

// Events returns the number of change events added, counted before
// coalescing (the checkpoint's events_applied counts these).
func (b *Batch) Events() int { return b.events }

// Counts returns the number of change events added per operation, counted
// before coalescing; operations never seen are absent.
func (b *Batch) Counts() map[Operation]int {
	m := make(map[Operation]int, len(b.counts))
	for op := Insert; op <= Delete; op++ {
		if b.counts[op] > 0 {
			m[op] = b.counts[op]
		}
	}
	return m
}

// Size approximates the bytes the batch holds (keys, values, txids, raw
// rejects and per-entry overhead), so that the stream loop can flush it
// before it exceeds the memory bound.
func (b *Batch) Size() int { return b.size }

// Empty reports whether there is nothing to write: no op, reset, reject or
// change event.
func (b *Batch) Empty() bool {
	return len(b.ops) == 0 && !b.reset && len(b.rejects) == 0 && b.events == 0 && len(b.history) == 0
}

// Clear empties the batch for reuse, keeping the memory of its slices and
// indexes. Slices returned earlier by Ops, Rejects, TxIDs and History become
// invalid. The seq base moves past the events cleared, so the next change
// continues the numbering.
func (b *Batch) Clear() {
	b.seqBase += int64(b.events)
	clear(b.history)
	b.history = b.history[:0]
	clear(b.ops)
	b.ops = b.ops[:0]
	b.index.reset()
	b.sorted = true
	b.reset = false
	clear(b.rejects)
	b.rejects = b.rejects[:0]
	clear(b.txids)
	b.txids = b.txids[:0]
	clear(b.txidSeen)
	if len(b.types.types) > maxKeptTypes {
		b.types = typeIDs{}
	}
	b.lastTxID = ""
	b.events = 0
	b.counts = [Delete + 1]int{}
	b.size = 0
}
