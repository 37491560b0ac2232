package consumer

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type parsedEvent struct{ Type, Data string }

// parseSSE returns the events of body, read whole and in one-byte pieces
// (both must agree), and the error that ended parsing.
func parseSSE(t *testing.T, body string, limit int) ([]parsedEvent, error) {
	t.Helper()
	run := func(r io.Reader) ([]parsedEvent, error) {
		p := newSSEParser(bufio.NewReaderSize(r, 16), limit)
		var evs []parsedEvent
		for {
			ev, err := p.next()
			if err != nil {
				return evs, err
			}
			evs = append(evs, parsedEvent{ev.Type, string(ev.Data)})
		}
	}
	whole, err := run(strings.NewReader(body))
	bytewise, err2 := run(iotest.OneByteReader(strings.NewReader(body)))
	if !errors.Is(err, err2) && err.Error() != err2.Error() || len(whole) != len(bytewise) {
		t.Fatalf("parse(%q): whole %q (%v), bytewise %q (%v)", body, whole, err, bytewise, err2)
	}
	for i := range whole {
		if whole[i] != bytewise[i] {
			t.Fatalf("parse(%q): whole %q, bytewise %q", body, whole, bytewise)
		}
	}
	return whole, err
}

func TestSSEParser(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []parsedEvent
	}{
		{"LF", "event: data\ndata: [1]\n\n", []parsedEvent{{"data", "[1]"}}},
		{"CRLF", "event: data\r\ndata: [1]\r\n\r\n", []parsedEvent{{"data", "[1]"}}},
		{"CR", "event: data\rdata: [1]\r\revent: control\rdata: {}\r\r", []parsedEvent{{"data", "[1]"}, {"control", "{}"}}},
		{"mixed endings", "event: a\r\ndata: 1\rdata: 2\n\r\n", []parsedEvent{{"a", "1\n2"}}},
		{"CR then LF is one ending", "data: x\r\n\r\ndata: y\n\n", []parsedEvent{{"message", "x"}, {"message", "y"}}},
		{"one space stripped", "data:  two\n\n", []parsedEvent{{"message", " two"}}},
		{"no space", "data:x\n\n", []parsedEvent{{"message", "x"}}},
		{"tab kept", "data:\tx\n\n", []parsedEvent{{"message", "\tx"}}},
		{"multiple data lines joined", "event: data\ndata: [1,\ndata: 2]\n\n", []parsedEvent{{"data", "[1,\n2]"}}},
		{"empty data line", "data\ndata:\n\n", []parsedEvent{{"message", "\n"}}},
		{"comments ignored", ": keep-alive\n:\nevent: data\n: mid\ndata: [1]\n\n", []parsedEvent{{"data", "[1]"}}},
		{"id and retry ignored", "id: 7\nretry: 100\nevent: data\ndata: [1]\n\n", []parsedEvent{{"data", "[1]"}}},
		{"unknown fields ignored", "foo: bar\nevent: data\ndata: [1]\n\n", []parsedEvent{{"data", "[1]"}}},
		{"unknown event passed up", "event: weird\ndata: {}\n\n", []parsedEvent{{"weird", "{}"}}},
		{"no event field", "data: 1\n\n", []parsedEvent{{"message", "1"}}},
		{"event without data not dispatched", "event: control\n\nevent: data\ndata: [2]\n\n", []parsedEvent{{"data", "[2]"}}},
		{"type does not leak to next event", "event: data\ndata: 1\n\ndata: 2\n\n", []parsedEvent{{"data", "1"}, {"message", "2"}}},
		{"last event field wins", "event: a\nevent: b\ndata: 1\n\n", []parsedEvent{{"b", "1"}}},
		{"colon in value", "data: {\"a\":\"b:c\"}\n\n", []parsedEvent{{"message", `{"a":"b:c"}`}}},
		{"field name case-sensitive", "Data: 1\nEVENT: x\ndata: 2\n\n", []parsedEvent{{"message", "2"}}},
		{"BOM skipped", "\uFEFFdata: 1\n\n", []parsedEvent{{"message", "1"}}},
		{"blank lines between events", "\n\n\ndata: 1\n\n\n\ndata: 2\n\n", []parsedEvent{{"message", "1"}, {"message", "2"}}},
		{"incomplete event at EOF discarded", "data: 1\n\ndata: 2\n", []parsedEvent{{"message", "1"}}},
		{"incomplete line at EOF discarded", "data: 1\n\ndata: 2", []parsedEvent{{"message", "1"}}},
		{"long line", "data: " + strings.Repeat("x", 100) + "\n\n", []parsedEvent{{"message", strings.Repeat("x", 100)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSSE(t, tt.body, 0)
			if err != io.EOF {
				t.Fatalf("parse(%q) ended with %v, want EOF", tt.body, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parse(%q) = %q, want %q", tt.body, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("parse(%q) = %q, want %q", tt.body, got, tt.want)
				}
			}
		})
	}
}

func TestSSEParserLimit(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		"data: " + strings.Repeat("x", 100) + "\n\n",
		"data: " + strings.Repeat("x", 40) + "\ndata: " + strings.Repeat("x", 40) + "\n\n",
	} {
		if _, err := parseSSE(t, body, 64); !errors.Is(err, errSSETooLarge) {
			t.Errorf("parse of a %d-byte event with limit 64: %v, want errSSETooLarge", len(body), err)
		}
	}
	if evs, err := parseSSE(t, "data: "+strings.Repeat("x", 64)+"\n\n", 64); err != io.EOF || len(evs) != 1 {
		t.Errorf("event at the limit: %q, %v", evs, err)
	}
}

// FuzzSSE checks that the parser never panics, that reading in one-byte
// pieces gives the same events as reading whole, and that events survive a
// re-encoding with any line ending.
func FuzzSSE(f *testing.F) {
	seeds := []string{
		"event: data\ndata: [1]\n\nevent: control\ndata: {\"streamNextOffset\":\"1_1\"}\n\n",
		"event: data\r\ndata: [1,\r\ndata: 2]\r\n\r\n",
		"event: data\rdata: [\"a\"]\r\r",
		": comment\nid: 1\nretry: 5\ndata:x\n\n",
		"\uFEFFdata: 1\n\n",
		"data\n\nevent\n\n:\n\n",
		"data: a\r\r\n\ndata: b",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		evs, err := parseSSE(t, body, 0)
		if err != io.EOF {
			t.Fatalf("parse(%q) ended with %v", body, err)
		}
		for _, eol := range []string{"\n", "\r", "\r\n"} {
			var b strings.Builder
			for _, ev := range evs {
				if strings.ContainsAny(ev.Type, "\r\n") {
					t.Fatalf("event type %q contains a line ending", ev.Type)
				}
				b.WriteString("event: " + ev.Type + eol)
				for _, line := range strings.Split(ev.Data, "\n") {
					if strings.Contains(line, "\r") {
						t.Fatalf("event data %q contains CR", ev.Data)
					}
					b.WriteString("data: " + line + eol)
				}
				b.WriteString(eol)
			}
			again, err := parseSSE(t, b.String(), 0)
			if err != io.EOF || len(again) != len(evs) {
				t.Fatalf("re-encoded %q with %q: %q (%v), want %q", body, eol, again, err, evs)
			}
			for i := range evs {
				if again[i] != evs[i] {
					t.Fatalf("re-encoded %q with %q: %q, want %q", body, eol, again, evs)
				}
			}
		}
	})
}
