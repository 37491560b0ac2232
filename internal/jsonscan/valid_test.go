package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	deep := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	deepObj := func(n int) string { return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) }
	tests := []string{
		``, ` `, `0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e`, `1e+`, `1E-7`, `1e07`, `-01`, `+1`,
		`123abc`, `1 2`, `true`, `tru`, `truex`, `nul`, `null `, ` false`, `"`, `""`, `"\"`, `"\\"`,
		`"\u12"`, `"\u12G4"`, `"\u00e9"`, `"\U00e9"`, `"\x"`, `"\/"`, "\"a\tb\"", "\"a\x7fb\"",
		"\"\xff\xfe\"", "\"\xed\xa0\x80\"", `{}`, `{ }`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,}`,
		`{"a":1 "b":2}`, `{"a":1}}`, `{1:2}`, `[]`, `[,]`, `[1,]`, `[1 2]`, `[[]`, `[]]`,
		`{"a":[1,{"b":null}],"c":"}"}`, "\t\r\n{}\n", "{}\x00", "\xef\xbb\xbf{}",
		deep(10000), deep(10001), deepObj(10000), deepObj(10001),
	}
	for _, in := range tests {
		name := in
		if len(name) > 20 {
			name = name[:20]
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if got, want := valid(in), json.Valid([]byte(in)); got != want {
				t.Errorf("valid(%q) = %v, json.Valid = %v", in, got, want)
			}
		})
	}
}

// valid is json.Valid as Scanner says it.
func valid(in string) bool {
	var s Scanner
	_, ok := s.Valid([]byte(in))
	return ok
}
