package consumer

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/syncd-io/syncd/internal/jsonscan"
)

// splitAll splits body with reads of at most chunk bytes (0: one read) and
// returns the elements as strings.
func splitAll(t testing.TB, body string, limit, chunk int) ([]Message, []string, error) {
	t.Helper()
	s := splitter{max: limit}
	var r *bufio.Reader
	if chunk == 1 {
		r = bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(body)), 16)
	} else {
		r = bufio.NewReaderSize(strings.NewReader(body), max(16, chunk, len(body)))
		if chunk > 0 {
			r = bufio.NewReaderSize(strings.NewReader(body), max(16, chunk))
		}
	}
	var msgs []Message
	var raws []string
	n, err := s.split(r, func(m Message) error {
		checkScan(t, m)
		raws = append(raws, string(m.Raw))
		m.Raw = nil
		msgs = append(msgs, m)
		return nil
	}, nil)
	if err == nil && n != int64(len(body)) {
		t.Errorf("split read %d bytes of %d", n, len(body))
	}
	return msgs, raws, err
}

// checkScan checks that a message delivered with a scan result is valid JSON
// and that the result is what scanning it alone finds.
func checkScan(t testing.TB, m Message) {
	t.Helper()
	if m.Scan == nil {
		return
	}
	var s jsonscan.Scanner
	want, ok := s.Valid(m.Raw)
	if !ok || m.Truncated {
		t.Fatalf("message %q (truncated %v) delivered as scanned", m.Raw, m.Truncated)
	}
	if got, want := scanSummary(m.Scan), scanSummary(want); got != want {
		t.Fatalf("scan of %q = %s, want %s", m.Raw, got, want)
	}
}

// scanSummary prints what a scan found, independent of where its input began.
func scanSummary(r *jsonscan.Result) string {
	out := fmt.Sprintf("NUL %v, bad UTF-8 %v:", r.NUL, r.BadUTF8)
	for k, m := range r.Members {
		out += fmt.Sprintf(" %s=%s@%d", r.Name(k), r.Value(k), m.Parent)
	}
	return out
}

// TestSplitScansWholeElements checks that elements held whole in one read
// come with their scan, so that the decoder skips its own pass, and others
// do not.
func TestSplitScansWholeElements(t *testing.T) {
	t.Parallel()
	body := `[{"a":{"b":1}},[1],"s",7,{"bad":},{"x":"\u0000"}]`
	scanned := []bool{true, true, false, false, false, true}
	s := splitter{max: 1 << 20}
	var got []bool
	if err := s.splitBytes([]byte(body), func(m Message) error {
		checkScan(t, m)
		got = append(got, m.Scan != nil)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(scanned) {
		t.Fatalf("scanned = %v, want %v", got, scanned)
	}
	// Past the size limit an element is truncated, never scanned.
	s = splitter{max: 5}
	if err := s.splitBytes([]byte(`[{"a":1234}]`), func(m Message) error {
		if !m.Truncated || m.Scan != nil {
			t.Errorf("message over the limit: truncated %v, scanned %v", m.Truncated, m.Scan != nil)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestSplit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want []string
	}{
		{"empty body", "", nil},
		{"whitespace body", " \r\n\t", nil},
		{"empty array", "[]", nil},
		{"empty array with spaces", " [ \n ] \n", nil},
		{"objects", `[{"a":1},{"b":[2,3]}]`, []string{`{"a":1}`, `{"b":[2,3]}`}},
		{"scalars", `[1,-2.5e3,true,false,null]`, []string{"1", "-2.5e3", "true", "false", "null"}},
		{"strings", `["a","",","]`, []string{`"a"`, `""`, `","`}},
		{"nested arrays", `[[1,[2]],[]]`, []string{`[1,[2]]`, `[]`}},
		{"whitespace inside elements kept", "[ {\"a\" : 1 } ,\n[1, 2] , \"s\" ,null ]", []string{`{"a" : 1 }`, `[1, 2]`, `"s"`, `null`}},
		{"brackets in strings", `[{"a":"]}[{,"},"\"]"]`, []string{`{"a":"]}[{,"}`, `"\"]"`}},
		{"escaped backslash before quote", `["a\\",{"b":"\\\""}]`, []string{`"a\\"`, `{"b":"\\\""}`}},
		{"unicode", `["héllo ☃",{"k":"\u00e9"}]`, []string{`"héllo ☃"`, `{"k":"\u00e9"}`}},
		{"invalid element delivered", `[1, {"a":}]`, []string{"1", `{"a":}`}},
		{"bad scalar delivered", `[nul, 01]`, []string{"nul", "01"}},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1, 3, 16} {
			t.Run(fmt.Sprintf("%s/chunk=%d", tt.name, chunk), func(t *testing.T) {
				msgs, raws, err := splitAll(t, tt.body, 1<<20, chunk)
				if err != nil {
					t.Fatalf("split(%q): %v", tt.body, err)
				}
				if !equal(raws, tt.want) {
					t.Fatalf("split(%q) = %q, want %q", tt.body, raws, tt.want)
				}
				for i, m := range msgs {
					if m.Position != i || m.Size != int64(len(tt.want[i])) || m.Truncated {
						t.Errorf("message %d = %+v", i, m)
					}
				}
			})
		}
	}
}

func TestSplitCorrupt(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body string }{
		{"not an array", `{"a":1}`},
		{"scalar top level", `1`},
		{"corrupted first byte", `XY{"a":1}]`},
		{"unterminated array", `[1,2`},
		{"unterminated after comma", `[1,`},
		{"cut inside element", `[{"a":1},{"b":`},
		{"cut inside string", `["abc`},
		{"cut inside escape", `["abc\`},
		{"garbage between elements", `[1 2]`},
		{"garbage after element", `[{"a":1}x]`},
		{"garbage after array", `[1,2] x`},
		{"second array", `[1][2]`},
		{"trailing comma", `[1,]`},
		{"leading comma", `[,1]`},
		{"double comma", `[1,,2]`},
		{"mismatched bracket", `[{"a":[1}]`},
		{"stray closer", `[}]`},
		{"colon at top level", `[1:2]`},
	}
	for _, tt := range tests {
		for _, chunk := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/chunk=%d", tt.name, chunk), func(t *testing.T) {
				_, _, err := splitAll(t, tt.body, 1<<20, chunk)
				if !errors.Is(err, ErrCorruptBody) {
					t.Fatalf("split(%q) error = %v, want ErrCorruptBody", tt.body, err)
				}
			})
		}
	}
}

func TestSplitTruncatesLargeMessages(t *testing.T) {
	t.Parallel()
	big := `{"k":"` + strings.Repeat("x", 100) + `"}`
	body := `[1,` + big + `,"after",` + strings.Repeat("7", 40) + `]`
	for _, chunk := range []int{0, 1, 7, 16} {
		t.Run(fmt.Sprintf("chunk=%d", chunk), func(t *testing.T) {
			msgs, raws, err := splitAll(t, body, 16, chunk)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"1", big[:16], `"after"`, strings.Repeat("7", 16)}
			if !equal(raws, want) {
				t.Fatalf("raws = %q, want %q", raws, want)
			}
			if !msgs[1].Truncated || msgs[1].Size != int64(len(big)) {
				t.Errorf("big message = %+v, want truncated with size %d", msgs[1], len(big))
			}
			if msgs[0].Truncated || msgs[2].Truncated || !msgs[3].Truncated || msgs[3].Size != 40 {
				t.Errorf("messages = %+v", msgs)
			}
		})
	}
}

func TestSplitHandlerError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	s := splitter{max: 100}
	calls := 0
	_, err := s.split(bufio.NewReader(strings.NewReader(`[1,2,3]`)), func(Message) error {
		calls++
		if calls == 2 {
			return boom
		}
		return nil
	}, nil)
	if err != boom || calls != 2 {
		t.Fatalf("err = %v after %d calls, want the handler's error after 2", err, calls)
	}
}

// FuzzSplit checks that reading in one-byte pieces splits exactly like one
// read, and that a valid JSON array splits into its elements.
func FuzzSplit(f *testing.F) {
	for _, s := range []string{`[]`, `[1,"a",{"b":[null]}]`, `["\\\"",[[]]]`, `[1 2]`, `[{"a":}]`, `{"x":1}`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		_, whole, errWhole := splitAll(t, body, 8, 0)
		_, bytewise, errBytes := splitAll(t, body, 8, 1)
		if (errWhole == nil) != (errBytes == nil) || !equal(whole, bytewise) {
			t.Fatalf("split(%q): whole %q (%v), bytewise %q (%v)", body, whole, errWhole, bytewise, errBytes)
		}
		var elems []json.RawMessage
		if json.Unmarshal([]byte(body), &elems) == nil && strings.TrimSpace(body) != "null" {
			_, raws, err := splitAll(t, body, 1<<20, 0)
			if err != nil {
				t.Fatalf("split(%q) of a valid array: %v", body, err)
			}
			if len(raws) != len(elems) {
				t.Fatalf("split(%q) = %d messages, want %d", body, len(raws), len(elems))
			}
			for i := range raws {
				if !bytes.Equal([]byte(raws[i]), bytes.TrimSpace(elems[i])) {
					t.Fatalf("message %d = %q, want %q", i, raws[i], elems[i])
				}
			}
		}
	})
}

// BenchmarkSplit measures splitting a catch-up body of State Protocol-like
// messages (MB/s of body).
func BenchmarkSplit(b *testing.B) {
	var body bytes.Buffer
	body.WriteByte('[')
	for i := range 20000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"type":"user","key":"u%d","value":{"name":"User \"%d\"","email":"u%d@example.com","tags":["a","b"],"n":%d},"headers":{"operation":"upsert","txid":"tx-%d","offset":"0000000000000000_%016d"}}`, i, i, i, i, i, i)
	}
	body.WriteByte(']')
	data := body.Bytes()
	s := splitter{max: 16 << 20}
	br := bufio.NewReaderSize(nil, 64<<10)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		br.Reset(bytes.NewReader(data))
		n := 0
		if _, err := s.split(br, func(Message) error { n++; return nil }, nil); err != nil || n != 20000 {
			b.Fatalf("split: %d messages, %v", n, err)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
