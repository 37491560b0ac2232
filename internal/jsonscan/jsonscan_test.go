package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestSpecialFindsTheFirstByte checks the word-at-a-time test against a
// byte-at-a-time one for every byte value at every position of a word of
// plain bytes, and behind every other special byte.
func TestSpecialFindsTheFirstByte(t *testing.T) {
	t.Parallel()
	isSpecial := func(c byte) bool { return c == '"' || c == '\\' || c < 0x20 || c >= 0x80 }
	for pos := range 8 {
		for c := range 256 {
			for _, fill := range []byte{'a', ' ', '~', '"', 0x00, 0xff} {
				w := bytes.Repeat([]byte{'a'}, 8)
				for k := pos + 1; k < 8; k++ {
					w[k] = fill
				}
				w[pos] = byte(c)
				want := -1
				for k, b := range w {
					if isSpecial(b) {
						want = k
						break
					}
				}
				m := special(binary.LittleEndian.Uint64(w))
				got := -1
				if m != 0 {
					got = bitsIndex(m)
				}
				if got != want {
					t.Fatalf("special(%q) finds byte %d, want %d", w, got, want)
				}
			}
		}
	}
}

func bitsIndex(m uint64) int {
	for k := range 8 {
		if m&(0x80<<(8*k)) != 0 {
			return k
		}
	}
	return -1
}

func TestMembersAreRecordedTwoLevelsDeep(t *testing.T) {
	t.Parallel()
	in := ` {"a":1,"h":{"x":"1","y":{"deep":2}},"arr":[{"no":1}],"a":"last"} `
	var s Scanner
	r, ok := s.Valid([]byte(in))
	if !ok {
		t.Fatal("not valid")
	}
	var got []string
	for k, m := range r.Members {
		got = append(got, string(r.Name(k))+"="+string(r.Value(k))+"@"+string(rune('0'+m.Parent+2)))
	}
	want := []string{`"a"=1@1`, `"h"={"x":"1","y":{"deep":2}}@1`, `"x"="1"@3`, `"y"={"deep":2}@3`, `"arr"=[{"no":1}]@1`, `"a"="last"@1`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("members\n got %v\nwant %v", got, want)
	}
}

func TestValueStopsAtTheEndOfTheValue(t *testing.T) {
	t.Parallel()
	var s Scanner
	for _, tc := range []struct {
		in   string
		end  int
		want bool
	}{
		{`{"a":"}"},{"b":2}`, 9, true},
		{`"x\"y",1`, 6, true},
		{`[1,2]]`, 5, true},
		{`{"a":"`, 6, false}, // b ends inside the value
		{`{"a":1`, 6, false},
		{`[1,2`, 4, false},
	} {
		end, ok := s.Value([]byte(tc.in), 0)
		if ok != tc.want || (ok && end != tc.end) {
			t.Errorf("Value(%q) = %d, %v; want %d, %v", tc.in, end, ok, tc.end, tc.want)
		}
	}
}

func TestNULAndUTF8AreReported(t *testing.T) {
	t.Parallel()
	var s Scanner
	for _, tc := range []struct {
		in           string
		nul, badUTF8 bool
	}{
		{`{"a":"x"}`, false, false},
		{`{"a":"\u0000"}`, true, false},
		{`{"a":"\\u0000"}`, false, false},
		{`{"\u0000":1}`, true, false},
		{"{\"a\":\"h\xc3\xa9llo w\xc3\xb6rld, long enough for words\"}", false, false},
		{"{\"a\":\"\xff\"}", false, true},
		{"{\"a\":\"abcdefgh\xed\xa0\x80\"}", false, true}, // a UTF-8 encoded surrogate
		{"[\"\xc3\"]", false, true},
	} {
		r, ok := s.Valid([]byte(tc.in))
		if !ok || r.NUL != tc.nul || r.BadUTF8 != tc.badUTF8 {
			t.Errorf("Valid(%q): ok %v, NUL %v, BadUTF8 %v; want NUL %v, BadUTF8 %v", tc.in, ok, r.NUL, r.BadUTF8, tc.nul, tc.badUTF8)
		}
	}
}

// FuzzScan checks Scanner against encoding/json: the same verdict, the
// same members (names and raw values, two levels deep) and UTF-8 verdict.
func FuzzScan(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `[1,{"a":2}]`, `{"type":"t","key":"k","value":{"x":[1,2,{"y":null}]},"headers":{"operation":"insert","txid":"1"}}`,
		` {"a" : "b\"c" , "d" : { "e" : true } } `, `{"\u0061":1,"a":2}`, "{\"a\":\"\xff\"}", `"\u0000"`, `1e5`, `[`, `{"a":}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var s Scanner
		r, ok := s.Valid(in)
		if want := json.Valid(in); ok != want {
			t.Fatalf("Valid(%q) = %v, json.Valid = %v", in, ok, want)
		}
		if !ok {
			return
		}
		if r.BadUTF8 == utf8.Valid(in) {
			t.Fatalf("Valid(%q): BadUTF8 %v, utf8.Valid %v", in, r.BadUTF8, utf8.Valid(in))
		}
		var want []string
		referenceMembers(t, in, &want)
		var got []string
		for k, m := range r.Members {
			got = append(got, string(Text(r.Name(k)))+"="+string(r.Value(k))+"@"+string(rune('0'+m.Parent+2)))
		}
		if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
			t.Fatalf("Valid(%q) members\n got %q\nwant %q", in, got, want)
		}
	})
}

// referenceMembers lists the members Scanner should record, by
// encoding/json.
func referenceMembers(t *testing.T, in []byte, out *[]string) {
	var walk func(raw []byte, parent, depth int)
	walk = func(raw []byte, parent, depth int) {
		dec := json.NewDecoder(bytes.NewReader(raw))
		if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
			return
		}
		for {
			tok, err := dec.Token()
			if err != nil {
				if !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				return
			}
			name, ok := tok.(string)
			if !ok {
				return // '}'
			}
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				t.Fatal(err)
			}
			self := len(*out)
			*out = append(*out, name+"="+string(v)+"@"+string(rune('0'+parent+2)))
			if depth < memberDepth {
				walk(v, self, depth+1)
			}
		}
	}
	walk(in, -1, 1)
}

// scanSample scans the object inside a small array; it returns the
// scanner, the input and the object's end.
func scanSample(t *testing.T) (*Scanner, []byte, int) {
	t.Helper()
	in := []byte(`[1,{"a":{"b":"c"},"d":2}]`)
	s := new(Scanner)
	end, ok := s.Value(in, 3)
	if !ok {
		t.Fatal("not valid")
	}
	return s, in, end
}

func TestCloneOutlivesTheInput(t *testing.T) {
	t.Parallel()
	s, in, end := scanSample(t)
	raw := bytes.Clone(in[3:end])
	want := summary(s.Result())
	arena := []Member{{Parent: 7}} // clones append after what is there
	c, arena := s.Result().Clone(raw, arena)
	clear(in)
	if _, ok := s.Value([]byte(`{"x":1}`), 0); !ok {
		t.Fatal("not valid")
	}
	if got := summary(&c); got != want || len(arena) != 4 || arena[0].Parent != 7 {
		t.Fatalf("clone = %s (arena %d), want %s", got, len(arena), want)
	}
}

// A view describes the copy with the scan's own members, and so does a
// view of a view, or a clone of one, each of a copy of that copy.
func TestViewDescribesTheCopy(t *testing.T) {
	t.Parallel()
	s, in, end := scanSample(t)
	want := summary(s.Result())
	raw := bytes.Clone(in[3:end])
	v := s.Result().View(raw)
	clear(in)
	if got := summary(&v); got != want || &v.Members[0] != &s.Result().Members[0] {
		t.Fatalf("view = %s (own members: %v), want %s on the scan's members", got, &v.Members[0] != &s.Result().Members[0], want)
	}
	again := bytes.Clone(raw)
	vv := v.View(again)
	clear(raw)
	if got := summary(&vv); got != want {
		t.Fatalf("view of a view = %s, want %s", got, want)
	}
	c, _ := vv.Clone(bytes.Clone(again), nil)
	clear(again)
	if got := summary(&c); got != want {
		t.Fatalf("clone of a view = %s, want %s", got, want)
	}
}

func summary(r *Result) string {
	var out []string
	for k, m := range r.Members {
		out = append(out, string(r.Name(k))+"="+string(r.Value(k))+"@"+string(rune('0'+m.Parent+2)))
	}
	return strings.Join(out, " ")
}

// With a Nested filter, the members of top-level members' objects are
// recorded only for the names it accepts; members of those objects still
// point at their parent, and top-level members are all recorded.
func TestNestedFilter(t *testing.T) {
	t.Parallel()
	in := []byte(`{"value":{"a":1,"b":{"c":2}},"headers":{"op":"x","t":"y"},"n":{"z":0},"s":"{"}`)
	s := Scanner{Nested: func(name []byte) bool { return string(name) == `"headers"` }}
	r, ok := s.Valid(in)
	if !ok {
		t.Fatal("invalid")
	}
	var got []string
	for k, m := range r.Members {
		parent := "-"
		if m.Parent >= 0 {
			parent = string(r.Name(m.Parent))
		}
		got = append(got, parent+" "+string(r.Name(k))+"="+string(r.Value(k)))
	}
	want := []string{
		`- "value"={"a":1,"b":{"c":2}}`,
		`- "headers"={"op":"x","t":"y"}`,
		`"headers" "op"="x"`,
		`"headers" "t"="y"`,
		`- "n"={"z":0}`,
		`- "s"="{"`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("members:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
