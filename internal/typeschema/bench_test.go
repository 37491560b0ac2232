package typeschema

import (
	"bytes"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// w1Value has the shape of the values of `make bench`'s W1 workload
// (cmd/syncd-bench): about 260 bytes with a nested object and an array.
const w1Value = `{"id":"k0004217","name":"quorblatvesk","email":"zindarop@example.com","version":7,"score":48211.25,"active":true,"tags":["plonk","trevan","arvo"],"address":{"city":"mellowick","zip":"48213","geo":{"lat":-41.5,"lng":122.25,"verified":false}}}`

// BenchmarkValidate is the cost that validation adds to every
// insert/update/upsert of a type with a schema. "message" is a ~200-byte
// chat message against a schema with a $ref, required properties,
// additionalProperties: false and a date-time format; "w1" is a W1 value
// against a schema of its shape (email format, pattern, nested objects);
// "invalid" includes building the reject reason. "decode" is the part of the
// cost that is turning the raw JSON into the validator's input (parseValue;
// "decode-encoding-json" is what it replaced).
func BenchmarkValidate(b *testing.B) {
	for _, c := range []struct{ name, schema, value string }{
		{"message", "message-2020.json", validMessage},
		{"w1", "w1.json", w1Value},
		{"invalid", "message-2020.json", `{"id":"m-1042","roomId":"general","author":{"id":"u-7","name":"Ada"},"text":"Shipping the schema validation today, reviews welcome","sentAt":"yesterday","edited":false,"likes":3,"tags":["release","go"]}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			v, err := Compile(filepath.Join("testdata", c.schema))
			if err != nil {
				b.Fatal(err)
			}
			raw := []byte(c.value)
			if r := v.Validate(raw); (r == "") == (c.name == "invalid") {
				b.Fatalf("unexpected result %q", r)
			}
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				v.Validate(raw)
			}
		})
	}
	raw := []byte(w1Value)
	b.Run("decode", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := parseValue(raw); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-encoding-json", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		b.ReportAllocs()
		for b.Loop() {
			if _, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw)); err != nil {
				b.Fatal(err)
			}
		}
	})
}
