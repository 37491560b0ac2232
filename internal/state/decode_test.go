package state

import (
	"strings"
	"testing"
)

func TestDecodeChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Change
	}{
		{
			name: "insert object",
			in:   `{"type":"user","key":"u1","value":{"name":"Alice"},"headers":{"operation":"insert"}}`,
			want: Change{Type: "user", Key: "u1", Op: Insert, Value: []byte(`{"name":"Alice"}`)},
		},
		{
			name: "update string",
			in:   `{"type":"user","key":"u1","value":"hi","headers":{"operation":"update"}}`,
			want: Change{Type: "user", Key: "u1", Op: Update, Value: []byte(`"hi"`)},
		},
		{
			name: "upsert number",
			in:   `{"type":"n","key":"k","value":-1.5e3,"headers":{"operation":"upsert"}}`,
			want: Change{Type: "n", Key: "k", Op: Upsert, Value: []byte(`-1.5e3`)},
		},
		{
			name: "null value",
			in:   `{"type":"n","key":"k","value":null,"headers":{"operation":"insert"}}`,
			want: Change{Type: "n", Key: "k", Op: Insert, Value: []byte(`null`)},
		},
		{
			name: "array value",
			in:   `{"type":"n","key":"k","value":[1,"two",[3],{"4":4}],"headers":{"operation":"insert"}}`,
			want: Change{Type: "n", Key: "k", Op: Insert, Value: []byte(`[1,"two",[3],{"4":4}]`)},
		},
		{
			name: "bool values",
			in:   `{"type":"n","key":"k","value":false,"headers":{"operation":"upsert"}}`,
			want: Change{Type: "n", Key: "k", Op: Upsert, Value: []byte(`false`)},
		},
		{
			name: "true value last member",
			in:   `{"type":"n","key":"k","headers":{"operation":"upsert"},"value":true}`,
			want: Change{Type: "n", Key: "k", Op: Upsert, Value: []byte(`true`)},
		},
		{
			name: "value kept byte for byte",
			in:   " \n{ \"value\" :\t{ \"a\" : 1.0 , \"b\":\"\\u00e9\" } ,\"type\":\"t\",\"key\":\"k\",\"headers\":{\"operation\":\"insert\"}}\r\n",
			want: Change{Type: "t", Key: "k", Op: Insert, Value: []byte("{ \"a\" : 1.0 , \"b\":\"\\u00e9\" }")},
		},
		{
			name: "strings with brackets and escaped quotes inside value",
			in:   `{"type":"t","key":"k","value":{"s":"}\"]{[","t":["]"]},"headers":{"operation":"insert"}}`,
			want: Change{Type: "t", Key: "k", Op: Insert, Value: []byte(`{"s":"}\"]{[","t":["]"]}`)},
		},
		{
			name: "unicode type and key",
			in:   `{"type":"usuário","key":"🔑:ключ","value":1,"headers":{"operation":"insert"}}`,
			want: Change{Type: "usuário", Key: "🔑:ключ", Op: Insert, Value: []byte(`1`)},
		},
		{
			name: "escaped strings and member names",
			in:   `{"\u0074ype":"t\u00e9","k\u0065y":"a\/b\n","value":0,"headers":{"op\u0065ration":"ins\u0065rt"}}`,
			want: Change{Type: "té", Key: "a/b\n", Op: Insert, Value: []byte(`0`)},
		},
		{
			name: "escaped backslash before u0000 is plain text",
			in:   `{"type":"t","key":"k","value":"\\u0000","headers":{"operation":"insert"}}`,
			want: Change{Type: "t", Key: "k", Op: Insert, Value: []byte(`"\\u0000"`)},
		},
		{
			name: "extra fields everywhere are ignored",
			in: `{"type":"t","key":"k","value":{"x":1},"old_value":{"x":0},"extra":[{"headers":1}],` +
				`"headers":{"operation":"update","offset":"0000_0042","from":"client","custom":{"control":"reset"}}}`,
			want: Change{Type: "t", Key: "k", Op: Update, Value: []byte(`{"x":1}`)},
		},
		{
			name: "member names are case-sensitive",
			in:   `{"type":"t","key":"k","Type":1,"KEY":null,"value":1,"headers":{"operation":"insert","Control":"x"}}`,
			want: Change{Type: "t", Key: "k", Op: Insert, Value: []byte(`1`)},
		},
		{
			name: "duplicate names: last wins",
			in:   `{"type":1,"type":"t","key":"a","key":"b","value":1,"value":2,"headers":{"operation":"delete"},"headers":{"operation":"insert"}}`,
			want: Change{Type: "t", Key: "b", Op: Insert, Value: []byte(`2`)},
		},
		{
			name: "txid",
			in:   `{"type":"t","key":"k","value":1,"headers":{"operation":"insert","txid":"tx-42"}}`,
			want: Change{Type: "t", Key: "k", Op: Insert, Value: []byte(`1`), TxID: "tx-42"},
		},
		{
			name: "timestamp Z",
			in:   `{"type":"t","key":"k","value":1,"headers":{"operation":"insert","timestamp":"2025-01-15T10:30:00Z"}}`,
			want: Change{Type: "t", Key: "k", Op: Insert, Value: []byte(`1`), Timestamp: "2025-01-15T10:30:00Z"},
		},
		{
			name: "timestamp with zone offset",
			in:   `{"type":"t","key":"k","value":1,"headers":{"operation":"insert","timestamp":"2025-01-15T10:30:00-05:30"}}`,
			want: Change{Type: "t", Key: "k", Op: Insert, Value: []byte(`1`), Timestamp: "2025-01-15T10:30:00-05:30"},
		},
		{
			name: "timestamp with fractional seconds",
			in:   `{"type":"t","key":"k","value":1,"headers":{"operation":"insert","timestamp":"2025-01-15T10:30:00.123456789+02:00"}}`,
			want: Change{Type: "t", Key: "k", Op: Insert, Value: []byte(`1`), Timestamp: "2025-01-15T10:30:00.123456789+02:00"},
		},
		{
			name: "timestamp in milliseconds as JavaScript writes it",
			in:   `{"type":"t","key":"k","value":1,"headers":{"operation":"upsert","txid":"a","timestamp":"2025-01-15T10:30:00.120Z"}}`,
			want: Change{Type: "t", Key: "k", Op: Upsert, Value: []byte(`1`), TxID: "a", Timestamp: "2025-01-15T10:30:00.120Z"},
		},
		{
			name: "delete without value",
			in:   `{"type":"t","key":"k","headers":{"operation":"delete"}}`,
			want: Change{Type: "t", Key: "k", Op: Delete},
		},
		{
			name: "delete ignores value and old_value",
			in:   `{"type":"t","key":"k","value":null,"old_value":{"a":1},"headers":{"operation":"delete","txid":"x"}}`,
			want: Change{Type: "t", Key: "k", Op: Delete, TxID: "x"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := Decode([]byte(tt.in))
			assertReference(t, tt.in, ev)
			if ev.Kind != KindChange {
				t.Fatalf("Kind = %d (reason %q), want change", ev.Kind, ev.Reason)
			}
			assertChange(t, ev.Change, tt.want)
		})
	}
}

// assertReference checks Decode against the map-based reference decoder.
func assertReference(t *testing.T, in string, ev Event) {
	t.Helper()
	if want := referenceDecode([]byte(in)); !sameEvent(ev, want) {
		t.Errorf("Decode = %+v, reference decoder says %+v", ev, want)
	}
}

// assertChange compares a decoded change with the expected one.
func assertChange(t *testing.T, got, want Change) {
	t.Helper()
	if got.Type != want.Type || got.Key != want.Key || got.Op != want.Op ||
		got.TxID != want.TxID || got.Timestamp != want.Timestamp {
		t.Errorf("got %+v, want %+v", got, want)
	}
	if string(got.Value) != string(want.Value) || (got.Value == nil) != (want.Value == nil) {
		t.Errorf("Value = %q, want %q", got.Value, want.Value)
	}
}

func TestDecodeControl(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Control
	}{
		{"snapshot-start", `{"headers":{"control":"snapshot-start"}}`, SnapshotStart},
		{"snapshot-end", `{"headers":{"control":"snapshot-end","offset":"123456_789"}}`, SnapshotEnd},
		{"reset", `{"headers":{"control":"reset","offset":"123456_000"}}`, Reset},
		{"escaped control name", `{"headers":{"control":"r\u0065set"}}`, Reset},
		{
			name: "control wins over change fields",
			in:   `{"type":"t","key":"k","value":1,"headers":{"operation":"insert","control":"reset"}}`,
			want: Reset,
		},
		{
			name: "control wins over invalid change fields",
			in:   `{"type":"","headers":{"operation":"bogus","txid":"","control":"snapshot-end","timestamp":7}}`,
			want: SnapshotEnd,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := Decode([]byte(tt.in))
			assertReference(t, tt.in, ev)
			if ev.Kind != KindControl || ev.Control != tt.want {
				t.Fatalf("got %+v, want control %d", ev, tt.want)
			}
		})
	}
}

func TestDecodeReject(t *testing.T) {
	t.Parallel()
	const ins = `"operation":"insert"`
	tests := []struct {
		name string
		in   string
		want string // the full reason, or a prefix when it ends in "…"
	}{
		{"empty input", ``, "invalid JSON: unexpected end of JSON input"},
		{"only spaces", "  \n", "invalid JSON: unexpected end of JSON input"},
		{"truncated", `{"type":"t"`, "invalid JSON: unexpected end of JSON input"},
		{"trailing comma", `{"type":"t",}`, "invalid JSON: invalid character '}' looking for beginning of object key string at offset 12"},
		{"bare word", `hello`, "invalid JSON: invalid character 'h' looking for beginning of value at offset 0"},
		{"two values", `{} {}`, "invalid JSON: invalid character '{' after top-level value at offset 3"},
		{"single quotes", `{'type':'t'}`, "invalid JSON: invalid character '\\'' looking for beginning of object key string at offset 1"},
		{"control character in string", "{\"type\":\"a\x01\"}", "invalid JSON: invalid character '\\x01' in string literal at offset 10"},
		{"invalid UTF-8 in key", "{\"type\":\"t\",\"key\":\"a\xffb\",\"value\":1,\"headers\":{" + ins + "}}", "message is not valid UTF-8"},
		{"invalid UTF-8 in value", "{\"type\":\"t\",\"key\":\"k\",\"value\":\"\xfe\",\"headers\":{" + ins + "}}", "message is not valid UTF-8"},
		{"NUL escape in value", `{"type":"t","key":"k","value":{"a":"x\u0000"},"headers":{` + ins + `}}`, `message contains \u0000, which SQL text and JSON columns cannot store`},
		{"NUL escape in key", `{"type":"t","key":"\u0000","value":1,"headers":{` + ins + `}}`, `message contains \u0000, which SQL text and JSON columns cannot store`},
		{"array", `[{"headers":{"control":"reset"}}]`, "message is a JSON array, not an object"},
		{"string", `"reset"`, "message is a JSON string, not an object"},
		{"number", ` 42 `, "message is a JSON number, not an object"},
		{"negative number", `-1`, "message is a JSON number, not an object"},
		{"null", `null`, "message is a JSON null, not an object"},
		{"true", `true`, "message is a JSON boolean, not an object"},
		{"false", `false`, "message is a JSON boolean, not an object"},
		{"empty object", `{}`, "headers is missing"},
		{"no headers", `{"type":"t","key":"k","value":1}`, "headers is missing"},
		{"headers string", `{"headers":"insert"}`, "headers is a JSON string, not an object"},
		{"headers null", `{"headers":null}`, "headers is a JSON null, not an object"},
		{"headers array", `{"headers":[]}`, "headers is a JSON array, not an object"},
		{"unknown control", `{"headers":{"control":"truncate"}}`, `unknown control "truncate" in headers.control (want snapshot-start, snapshot-end or reset)`},
		{"control wrong case", `{"headers":{"control":"RESET"}}`, `unknown control "RESET" in headers.control…`},
		{"control number", `{"headers":{"control":1}}`, `unknown control 1 in headers.control…`},
		{"control null", `{"headers":{"control":null}}`, `unknown control null in headers.control…`},
		{"control empty", `{"headers":{"control":""}}`, `unknown control "" in headers.control…`},
		{"long control is shortened", `{"headers":{"control":"` + strings.Repeat("x", 100) + `"}}`, `unknown control "` + strings.Repeat("x", 63) + `… in headers.control…`},
		{"empty headers", `{"type":"t","key":"k","value":1,"headers":{}}`, "headers.operation is missing"},
		{"type missing", `{"key":"k","value":1,"headers":{` + ins + `}}`, "type is missing"},
		{"type empty", `{"type":"","key":"k","value":1,"headers":{` + ins + `}}`, "type is empty"},
		{"type number", `{"type":7,"key":"k","value":1,"headers":{` + ins + `}}`, "type is a JSON number, not a string"},
		{"type null", `{"type":null,"key":"k","value":1,"headers":{` + ins + `}}`, "type is a JSON null, not a string"},
		{"type wrong case", `{"Type":"t","key":"k","value":1,"headers":{` + ins + `}}`, "type is missing"},
		{"key missing", `{"type":"t","value":1,"headers":{` + ins + `}}`, "key is missing"},
		{"key empty", `{"type":"t","key":"","value":1,"headers":{` + ins + `}}`, "key is empty"},
		{"key object", `{"type":"t","key":{"id":1},"value":1,"headers":{` + ins + `}}`, "key is a JSON object, not a string"},
		{"key number", `{"type":"t","key":123,"value":1,"headers":{` + ins + `}}`, "key is a JSON number, not a string"},
		{"key bool", `{"type":"t","key":true,"value":1,"headers":{` + ins + `}}`, "key is a JSON boolean, not a string"},
		{"operation missing", `{"type":"t","key":"k","value":1,"headers":{"txid":"x"}}`, "headers.operation is missing"},
		{"operation unknown", `{"type":"t","key":"k","value":1,"headers":{"operation":"create"}}`, `unknown operation "create" in headers.operation (want insert, update, upsert or delete)`},
		{"operation wrong case", `{"type":"t","key":"k","value":1,"headers":{"operation":"INSERT"}}`, `unknown operation "INSERT" in headers.operation…`},
		{"operation number", `{"type":"t","key":"k","value":1,"headers":{"operation":1}}`, `unknown operation 1 in headers.operation…`},
		{"operation null", `{"type":"t","key":"k","value":1,"headers":{"operation":null}}`, `unknown operation null in headers.operation…`},
		{"insert without value", `{"type":"t","key":"k","headers":{"operation":"insert"}}`, "value is missing (required for insert)"},
		{"update without value", `{"type":"t","key":"k","headers":{"operation":"update"}}`, "value is missing (required for update)"},
		{"upsert without value", `{"type":"t","key":"k","old_value":1,"headers":{"operation":"upsert"}}`, "value is missing (required for upsert)"},
		{"value wrong case", `{"type":"t","key":"k","Value":1,"headers":{"operation":"upsert"}}`, "value is missing (required for upsert)"},
		{"txid empty", `{"type":"t","key":"k","value":1,"headers":{` + ins + `,"txid":""}}`, "headers.txid is empty"},
		{"txid number", `{"type":"t","key":"k","value":1,"headers":{` + ins + `,"txid":42}}`, "headers.txid is a JSON number, not a string"},
		{"txid null", `{"type":"t","key":"k","value":1,"headers":{` + ins + `,"txid":null}}`, "headers.txid is a JSON null, not a string"},
		{"timestamp number", `{"type":"t","key":"k","value":1,"headers":{` + ins + `,"timestamp":1736937000}}`, "headers.timestamp is a JSON number, not a string"},
		{"timestamp word", `{"type":"t","key":"k","value":1,"headers":{` + ins + `,"timestamp":"yesterday"}}`, `headers.timestamp "yesterday" is not an RFC 3339 date-time`},
		{"timestamp empty", `{"type":"t","key":"k","value":1,"headers":{` + ins + `,"timestamp":""}}`, `headers.timestamp "" is not an RFC 3339 date-time`},
		{"timestamp without zone", `{"type":"t","key":"k","value":1,"headers":{` + ins + `,"timestamp":"2025-01-15T10:30:00"}}`, `headers.timestamp "2025-01-15T10:30:00" is not…`},
		{"timestamp with space", `{"type":"t","key":"k","value":1,"headers":{` + ins + `,"timestamp":"2025-01-15 10:30:00Z"}}`, `headers.timestamp "2025-01-15 10:30:00Z" is not…`},
		{"timestamp month 13", `{"type":"t","key":"k","value":1,"headers":{` + ins + `,"timestamp":"2025-13-01T00:00:00Z"}}`, `headers.timestamp "2025-13-01T00:00:00Z" is not…`},
		{"timestamp date only", `{"type":"t","key":"k","value":1,"headers":{` + ins + `,"timestamp":"2025-01-15"}}`, `headers.timestamp "2025-01-15" is not…`},
		{"first problem wins", `{"type":"","key":"","headers":{"operation":"nope"}}`, "type is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := Decode([]byte(tt.in))
			assertReference(t, tt.in, ev)
			if ev.Kind != KindReject {
				t.Fatalf("Kind = %d (%+v), want reject %q", ev.Kind, ev, tt.want)
			}
			assertReason(t, ev.Reason, tt.want)
		})
	}
}

// assertReason compares a reject reason with want, read as a sequence of
// fragments separated by "…" that must appear in order.
func assertReason(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(want, "…") {
		if got != want {
			t.Errorf("Reason = %q, want %q", got, want)
		}
		return
	}
	rest := got
	for i, part := range strings.Split(want, "…") {
		j := strings.Index(rest, part)
		if j < 0 || (i == 0 && j != 0) {
			t.Errorf("Reason = %q, want %q", got, want)
			return
		}
		rest = rest[j+len(part):]
	}
}

func TestDecodeValueDoesNotAliasBeyondItself(t *testing.T) {
	t.Parallel()
	in := []byte(`{"type":"t","key":"k","value":[1],"headers":{"operation":"insert"}}`)
	ev := Decode(in)
	_ = append(ev.Change.Value, '!')
	if string(in) != `{"type":"t","key":"k","value":[1],"headers":{"operation":"insert"}}` {
		t.Fatalf("appending to Value overwrote the input: %s", in)
	}
}

func TestTxIDOf(t *testing.T) {
	for raw, want := range map[string]string{
		`{"headers":{"txid":"tx-1"},"type":"x"}`: "tx-1",
		`{"headers":{"txid":7}}`:                 "",
		`{"headers":"nope"}`:                     "",
		`not json`:                               "",
		`[1,2]`:                                  "",
	} {
		if got := TxIDOf([]byte(raw)); got != want {
			t.Errorf("TxIDOf(%s) = %q, want %q", raw, got, want)
		}
	}
}
