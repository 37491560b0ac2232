package schema

import (
	"path/filepath"
	"testing"
)

// BenchmarkValidate is the cost that validation adds to every
// insert/update/upsert of a type with a schema: a realistic chat message of
// about 200 bytes checked against a schema with a $ref, required
// properties, additionalProperties: false and a date-time format.
func BenchmarkValidate(b *testing.B) {
	for _, c := range []struct{ name, value string }{
		{"valid", validMessage},
		{"invalid", `{"id":"m-1042","roomId":"general","author":{"id":"u-7","name":"Ada"},"text":"Shipping the schema validation today, reviews welcome","sentAt":"yesterday","edited":false,"likes":3,"tags":["release","go"]}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			v, err := Compile(filepath.Join("testdata", "message-2020.json"))
			if err != nil {
				b.Fatal(err)
			}
			raw := []byte(c.value)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				v.Validate(raw)
			}
		})
	}
}
