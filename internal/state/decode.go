package state

import (
	"bytes"
	"encoding/json"
	"unsafe"

	"errors"
	"fmt"
	"github.com/syncd-io/syncd/internal/jsonscan"
	"strings"
)

// maxSnippet bounds how much of an offending JSON value a reject reason quotes.
const maxSnippet = 64

// message holds the raw fields of a message Decode needs, the top-level
// ones and those of its headers; nil means absent.
type message struct {
	typ, key, value, oldValue, headers  []byte
	control, operation, txid, timestamp []byte
}

// Decode classifies one stream message (one element of a response's JSON
// array, bytes exactly as received) as a change, a control or a reject, so
// that only events MaterializedState of @durable-streams/state would apply
// reach a batch and everything else is dead-lettered with a precise reason.
// A change's Value aliases raw; its strings do not (see DecodeBorrowed).
// Unknown fields are ignored and, as with JSON.parse, the last of duplicate
// names wins.
//
// Two messages that JSON.parse accepts are rejects here because neither
// Postgres text/jsonb nor SQLite's JSON functions can store them faithfully:
// bytes that are not UTF-8 (RFC 8259 requires UTF-8 anyway) and a \u0000
// escape anywhere in the message.
func Decode(raw []byte) Event { return decode(raw, nil, false) }

// DecodeScanned is Decode for a message already validated by a
// jsonscan.Scanner (as the consumer does while it splits a response): r is
// what that scan learned about raw, which must be exactly one valid JSON
// value, optionally surrounded by whitespace.
func DecodeScanned(raw []byte, r *jsonscan.Result) Event { return decode(raw, r, false) }

// DecodeBorrowed is DecodeScanned (Decode when r is nil) without copying
// the change's strings: Type, Key, TxID and Timestamp alias raw, like Value,
// and are valid only while raw's bytes are. It is for a caller that hands
// the change straight to Batch.AddChange, which copies what it keeps: one
// allocation per message fewer on a catch-up's hottest path.
func DecodeBorrowed(raw []byte, r *jsonscan.Result) Event { return decode(raw, r, true) }

// decode validates raw first when r is nil, then decodes it.
func decode(raw []byte, r *jsonscan.Result, borrow bool) Event {
	if r == nil {
		s := jsonscan.Scanner{Nested: ScanNested}
		var ok bool
		if r, ok = s.Valid(raw); !ok {
			return reject("invalid JSON: " + syntaxError(raw))
		}
	}
	return decodeScanned(raw, r, borrow)
}

func decodeScanned(raw []byte, r *jsonscan.Result, borrow bool) Event {
	if r.BadUTF8 {
		return reject("message is not valid UTF-8")
	}
	if r.NUL {
		return reject(`message contains \u0000, which SQL text and JSON columns cannot store`)
	}
	if first := raw[jsonscan.SkipSpace(raw, 0)]; first != '{' {
		return reject("message is a JSON " + jsonKind([]byte{first}) + ", not an object")
	}
	m := fields(r)
	if m.headers == nil {
		return reject("headers is missing")
	}
	if m.headers[0] != '{' {
		return reject("headers is a JSON " + jsonKind(m.headers) + ", not an object")
	}
	if m.control != nil {
		return decodeControl(m.control)
	}
	return decodeChange(&m, borrow)
}

// ScanNested is the jsonscan.Scanner.Nested filter of the decoder: of the
// objects nested in a message, it reads only the members of headers, so a
// scan that feeds DecodeScanned need not record those of value or
// old_value.
func ScanNested(quotedName []byte) bool { return fieldOf(quotedName) == headersField }

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

// fields picks the members Decode needs out of a scan in one pass over its
// members, which come in input order, each object's members right after the
// member holding it. As with JSON.parse, the last of duplicate names wins,
// for headers too: the fields of an earlier headers object are dropped when
// another follows.
func fields(r *jsonscan.Result) message {
	var m message
	hi := -1 // the headers member whose fields m holds
	for k := range r.Members {
		switch parent := r.Members[k].Parent; {
		case parent == -1:
			switch fieldOf(r.Name(k)) {
			case typeField:
				m.typ = r.Value(k)
			case keyField:
				m.key = r.Value(k)
			case valueField:
				m.value = r.Value(k)
			case oldValueField:
				m.oldValue = r.Value(k)
			case headersField:
				m.headers, hi = r.Value(k), k
				m.control, m.operation, m.txid, m.timestamp = nil, nil, nil, nil
			}
		case parent == hi:
			switch fieldOf(r.Name(k)) {
			case controlField:
				m.control = r.Value(k)
			case operationField:
				m.operation = r.Value(k)
			case txidField:
				m.txid = r.Value(k)
			case timestampField:
				m.timestamp = r.Value(k)
			}
		}
	}
	return m
}

// field is a member name Decode looks for.
type field uint8

const (
	otherField field = iota
	typeField
	keyField
	valueField
	oldValueField
	headersField
	controlField
	operationField
	txidField
	timestampField
)

// fieldOf returns which field a quoted member name is, once unescaped as
// JSON.parse would.
func fieldOf(quoted []byte) field {
	inner := quoted[1 : len(quoted)-1]
	switch string(inner) { // compared in place, without a copy
	case "type":
		return typeField
	case "key":
		return keyField
	case "value":
		return valueField
	case "old_value":
		return oldValueField
	case "headers":
		return headersField
	case "control":
		return controlField
	case "operation":
		return operationField
	case "txid":
		return txidField
	case "timestamp":
		return timestampField
	}
	if bytes.IndexByte(inner, '\\') < 0 {
		return otherField
	}
	unescaped := jsonscan.Text(quoted)
	return fieldOf(append(append([]byte{'"'}, unescaped...), '"'))
}

// decodeControl validates headers.control; the rest of the message is ignored.
func decodeControl(raw []byte) Event {
	if raw[0] == '"' {
		switch string(content(raw)) {
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

// decodeChange validates a message without headers.control as a change
// event.
func decodeChange(m *message, borrow bool) Event {
	var c Change
	typ, reason := requiredText("type", m.typ)
	if reason != "" {
		return reject(reason)
	}
	key, reason := requiredText("key", m.key)
	if reason != "" {
		return reject(reason)
	}
	if c.Op, reason = operation(m.operation); reason != "" {
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
	txid, reason := optionalText("headers.txid", m.txid, false)
	if reason != "" {
		return reject(reason)
	}
	ts, reason := optionalText("headers.timestamp", m.timestamp, true)
	if reason != "" {
		return reject(reason)
	}
	if m.timestamp != nil && !isRFC3339(ts) {
		return reject("headers.timestamp " + snippet(m.timestamp) + " is not an RFC 3339 date-time")
	}
	if borrow {
		c.Type, c.Key, c.TxID, c.Timestamp = borrowed(typ), borrowed(key), borrowed(txid), borrowed(ts)
	} else {
		c.Type, c.Key, c.TxID, c.Timestamp = strings4(typ, key, txid, ts)
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
	t := content(raw)
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

// borrowed is b as a string without a copy: b must not change while the
// string is in use.
func borrowed(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

// operation decodes headers.operation, or returns why it is not valid.
func operation(raw []byte) (Operation, string) {
	if raw == nil {
		return 0, "headers.operation is missing"
	}
	if raw[0] == '"' {
		switch string(content(raw)) {
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

// content returns the content of a string token of a message already known
// to be valid UTF-8 (DecodeScanned checks that first): the token's inside
// when it holds no escapes, else the decoded text.
func content(quoted []byte) []byte {
	inner := quoted[1 : len(quoted)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return inner
	}
	return jsonscan.Text(quoted)
}
