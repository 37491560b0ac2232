package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// maxSnippet bounds how much of an offending JSON value a reject reason quotes.
const maxSnippet = 64

// message holds the raw top-level fields of a message; nil means absent.
type message struct {
	typ, key, value, oldValue, headers []byte
}

// headers holds the raw fields of a message's headers; nil means absent.
type headers struct {
	control, operation, txid, timestamp []byte
}

// Decode classifies one stream message (one element of a response's JSON
// array, bytes exactly as received) as a change, a control or a reject, so
// that only events MaterializedState of @durable-streams/state would apply
// reach a batch and everything else is dead-lettered with a precise reason.
// A change's Value aliases raw; its strings do not. Unknown fields are ignored
// and, as with JSON.parse, the last of duplicate names wins.
//
// Two messages that JSON.parse accepts are rejects here because neither
// Postgres text/jsonb nor SQLite's JSON functions can store them faithfully:
// bytes that are not UTF-8 (RFC 8259 requires UTF-8 anyway) and a \u0000
// escape anywhere in the message.
func Decode(raw []byte) Event {
	m, nul, ok := validateNUL(raw)
	if !ok {
		return reject("invalid JSON: " + syntaxError(raw))
	}
	if !utf8.Valid(raw) {
		return reject("message is not valid UTF-8")
	}
	if nul {
		return reject(`message contains \u0000, which SQL text and JSON columns cannot store`)
	}
	if first := raw[skipSpace(raw, 0)]; first != '{' {
		return reject("message is a JSON " + jsonKind([]byte{first}) + ", not an object")
	}
	if m.headers == nil {
		return reject("headers is missing")
	}
	if m.headers[0] != '{' {
		return reject("headers is a JSON " + jsonKind(m.headers) + ", not an object")
	}
	h := scanHeaders(m.headers)
	if h.control != nil {
		return decodeControl(h.control)
	}
	return decodeChange(&m, &h)
}

// reject returns a reject event with the given reason.
func reject(reason string) Event {
	return Event{Kind: KindReject, Reason: reason}
}

// syntaxError describes why raw is not valid JSON, with the 0-based offset
// of the offending byte when there is one.
func syntaxError(raw []byte) string {
	var v struct{}
	err := json.Unmarshal(raw, &v)
	if err == nil { // only if valid and json.Valid disagree
		return "not valid JSON"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 && se.Offset <= int64(len(raw)) &&
		!strings.HasPrefix(se.Error(), "unexpected end") {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset-1)
	}
	return err.Error()
}

// set records a top-level member if Decode needs it.
func (m *message) set(name, value []byte) {
	switch {
	case nameIs(name, "type"):
		m.typ = value
	case nameIs(name, "key"):
		m.key = value
	case nameIs(name, "value"):
		m.value = value
	case nameIs(name, "old_value"):
		m.oldValue = value
	case nameIs(name, "headers"):
		m.headers = value
	}
}

// scanHeaders picks the header fields Decode needs out of a valid JSON object.
func scanHeaders(obj []byte) headers {
	var h headers
	it := newMembers(obj)
	for name, value, ok := it.next(); ok; name, value, ok = it.next() {
		switch {
		case nameIs(name, "control"):
			h.control = value
		case nameIs(name, "operation"):
			h.operation = value
		case nameIs(name, "txid"):
			h.txid = value
		case nameIs(name, "timestamp"):
			h.timestamp = value
		}
	}
	return h
}

// decodeControl validates headers.control; the rest of the message is ignored.
func decodeControl(raw []byte) Event {
	if raw[0] == '"' {
		switch string(text(raw)) {
		case "snapshot-start":
			return Event{Kind: KindControl, Control: SnapshotStart}
		case "snapshot-end":
			return Event{Kind: KindControl, Control: SnapshotEnd}
		case "reset":
			return Event{Kind: KindControl, Control: Reset}
		}
	}
	return reject("unknown control " + snippet(raw) +
		" in headers.control (want snapshot-start, snapshot-end or reset)")
}

// decodeChange validates a message without headers.control as a change event.
func decodeChange(m *message, h *headers) Event {
	var c Change
	typ, reason := requiredText("type", m.typ)
	if reason != "" {
		return reject(reason)
	}
	key, reason := requiredText("key", m.key)
	if reason != "" {
		return reject(reason)
	}
	if c.Op, reason = operation(h.operation); reason != "" {
		return reject(reason)
	}
	if c.Op != Delete {
		if m.value == nil {
			return reject("value is missing (required for " + c.Op.String() + ")")
		}
		c.Value = m.value[:len(m.value):len(m.value)]
	} else if m.value != nil {
		c.DeleteValue = m.value[:len(m.value):len(m.value)]
	}
	if m.oldValue != nil {
		c.OldValue = m.oldValue[:len(m.oldValue):len(m.oldValue)]
	}
	txid, reason := optionalText("headers.txid", h.txid, false)
	if reason != "" {
		return reject(reason)
	}
	ts, reason := optionalText("headers.timestamp", h.timestamp, true)
	if reason != "" {
		return reject(reason)
	}
	c.Type, c.Key, c.TxID, c.Timestamp = strings4(typ, key, txid, ts)
	if h.timestamp != nil && !isRFC3339(c.Timestamp) {
		return reject("headers.timestamp " + snippet(h.timestamp) + " is not an RFC 3339 date-time")
	}
	return Event{Kind: KindChange, Change: c}
}

// requiredText returns the content of a field that must be a non-empty
// string, or why it is not one.
func requiredText(field string, raw []byte) ([]byte, string) {
	if raw == nil {
		return nil, field + " is missing"
	}
	return optionalText(field, raw, false)
}

// optionalText returns the content of a field that must be a string if
// present, non-empty unless allowEmpty, or why it is not one.
func optionalText(field string, raw []byte, allowEmpty bool) ([]byte, string) {
	if raw == nil {
		return nil, ""
	}
	if raw[0] != '"' {
		return nil, field + " is a JSON " + jsonKind(raw) + ", not a string"
	}
	t := text(raw)
	if len(t) == 0 && !allowEmpty {
		return nil, field + " is empty"
	}
	return t, ""
}

// strings4 converts four byte slices to strings with a single allocation:
// a change's strings live and die together in a batch's Op.
func strings4(a, b, c, d []byte) (string, string, string, string) {
	var sb strings.Builder
	sb.Grow(len(a) + len(b) + len(c) + len(d))
	sb.Write(a)
	sb.Write(b)
	sb.Write(c)
	sb.Write(d)
	s := sb.String()
	i, j, k := len(a), len(a)+len(b), len(a)+len(b)+len(c)
	return s[:i], s[i:j], s[j:k], s[k:]
}

// isRFC3339 reports whether s is an RFC 3339 date-time as Go parses it.
func isRFC3339(s string) bool {
	_, err := time.Parse(time.RFC3339Nano, s)
	return err == nil
}

// operation decodes headers.operation, or returns why it is not valid.
func operation(raw []byte) (Operation, string) {
	if raw == nil {
		return 0, "headers.operation is missing"
	}
	if raw[0] == '"' {
		switch string(text(raw)) {
		case "insert":
			return Insert, ""
		case "update":
			return Update, ""
		case "upsert":
			return Upsert, ""
		case "delete":
			return Delete, ""
		}
	}
	return 0, "unknown operation " + snippet(raw) +
		" in headers.operation (want insert, update, upsert or delete)"
}

// snippet quotes a raw JSON value in a reject reason: at most maxSnippet
// bytes, always valid UTF-8 so that every database accepts the reason.
func snippet(raw []byte) string {
	if len(raw) <= maxSnippet {
		return strings.ToValidUTF8(string(raw), "\uFFFD")
	}
	return strings.ToValidUTF8(string(raw[:maxSnippet]), "\uFFFD") + "…"
}

// TxIDOf returns headers.txid of a message that may be invalid otherwise
// (a reject), or "" when there is none to find: an app waiting on that txid
// learns the event was rejected instead of waiting for a commit.
func TxIDOf(raw []byte) string {
	var m struct {
		Headers struct {
			TxID any `json:"txid"`
		} `json:"headers"`
	}
	if json.Unmarshal(raw, &m) != nil {
		return ""
	}
	id, _ := m.Headers.TxID.(string)
	return id
}
