package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// maxSnippet bounds how much of an offending JSON value a reject reason quotes.
const maxSnippet = 64

// message holds the raw top-level fields of a message; nil means absent.
type message struct {
	typ, key, value, headers []byte
}

// headers holds the raw fields of a message's headers; nil means absent.
type headers struct {
	control, operation, txid, timestamp []byte
}

// Decode classifies one stream message (one element of a response's JSON
// array, bytes exactly as received) as a change, a control or a reject, with
// the same acceptance rules as MaterializedState of @durable-streams/state.
// A change's Value aliases raw; its strings do not. Unknown fields are ignored
// and, as with JSON.parse, the last of duplicate names wins.
func Decode(raw []byte) Event {
	if !json.Valid(raw) {
		return reject("invalid JSON: " + syntaxError(raw))
	}
	start := skipSpace(raw, 0)
	raw = raw[start:valueEnd(raw, start)]
	if raw[0] != '{' {
		return reject("message is a JSON " + jsonKind(raw) + ", not an object")
	}
	m := scanMessage(raw)
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
	if err == nil { // unreachable: the caller saw json.Valid fail
		return "not valid JSON"
	}
	var se *json.SyntaxError
	if errors.As(err, &se) && se.Offset > 0 && se.Offset <= int64(len(raw)) &&
		!strings.HasPrefix(se.Error(), "unexpected end") {
		return fmt.Sprintf("%s at offset %d", se.Error(), se.Offset-1)
	}
	return err.Error()
}

// scanMessage picks the fields Decode needs out of a valid JSON object.
func scanMessage(obj []byte) message {
	var m message
	it := newMembers(obj)
	for name, value, ok := it.next(); ok; name, value, ok = it.next() {
		switch {
		case nameIs(name, "type"):
			m.typ = value
		case nameIs(name, "key"):
			m.key = value
		case nameIs(name, "value"):
			m.value = value
		case nameIs(name, "headers"):
			m.headers = value
		}
	}
	return m
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
		switch unquote(raw) {
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
	var reason string
	if c.Type, reason = requiredString("type", m.typ); reason != "" {
		return reject(reason)
	}
	if c.Key, reason = requiredString("key", m.key); reason != "" {
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
	}
	if c.TxID, reason = txid(h.txid); reason != "" {
		return reject(reason)
	}
	if c.Timestamp, reason = timestamp(h.timestamp); reason != "" {
		return reject(reason)
	}
	return Event{Kind: KindChange, Change: c}
}

// requiredString decodes a field that must be a non-empty string, or returns
// why it is not one.
func requiredString(field string, raw []byte) (string, string) {
	if raw == nil {
		return "", field + " is missing"
	}
	if raw[0] != '"' {
		return "", notString(field, raw)
	}
	s := unquote(raw)
	if s == "" {
		return "", field + " is empty"
	}
	return s, ""
}

// notString is the reason for a field that holds a non-string JSON value.
func notString(field string, raw []byte) string {
	return field + " is a JSON " + jsonKind(raw) + ", not a string"
}

// operation decodes headers.operation, or returns why it is not valid.
func operation(raw []byte) (Operation, string) {
	if raw == nil {
		return 0, "headers.operation is missing"
	}
	if raw[0] == '"' {
		switch unquote(raw) {
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

// txid decodes the optional headers.txid, or returns why it is not valid.
func txid(raw []byte) (string, string) {
	if raw == nil {
		return "", ""
	}
	return requiredString("headers.txid", raw)
}

// timestamp decodes and validates the optional headers.timestamp, or returns
// why it is not valid.
func timestamp(raw []byte) (string, string) {
	if raw == nil {
		return "", ""
	}
	if raw[0] != '"' {
		return "", notString("headers.timestamp", raw)
	}
	s := unquote(raw)
	if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
		return "", "headers.timestamp " + snippet(raw) + " is not an RFC 3339 date-time"
	}
	return s, ""
}

// snippet quotes a raw JSON value in a reject reason: at most maxSnippet
// bytes, always valid UTF-8 so that every database accepts the reason.
func snippet(raw []byte) string {
	if len(raw) <= maxSnippet {
		return strings.ToValidUTF8(string(raw), "\uFFFD")
	}
	return strings.ToValidUTF8(string(raw[:maxSnippet]), "\uFFFD") + "…"
}
