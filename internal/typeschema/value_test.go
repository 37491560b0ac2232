package typeschema

import (
	"bytes"
	"reflect"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FuzzParseValue: parseValue accepts exactly what encoding/json (with
// UseNumber) accepts, and builds the same value.
func FuzzParseValue(f *testing.F) {
	for _, s := range []string{
		validMessage, w1Value, `null`, `true`, ` false `, `0`, `-0.5e+10`, `1E2`, `"a\"b\\c\u00e9\ud83d\ude00"`, `"\x01"`,
		`{"a":{"a":1},"a":2}`, `[]`, `{}`, `[1,[2,[3]]]`, `01`, `1.`, `-`, `"abc`, `{"a" 1}`, `[1,]`, `tru`, "\"\xff\"", `{"é":"ü"}`,
		`[1] x`, `"\q"`, strings.Repeat("[", 20) + strings.Repeat("]", 20),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := parseValue(b)
		want, wantErr := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("%q: parseValue error %v, encoding/json error %v", b, gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: parseValue %#v, encoding/json %#v", b, got, want)
		}
	})
}

func TestParseValueDepth(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2)
	if _, err := parseValue([]byte(deep)); err == nil || !strings.Contains(err.Error(), "max depth") {
		t.Fatalf("nesting beyond %d: %v", maxDepth, err)
	}
}
