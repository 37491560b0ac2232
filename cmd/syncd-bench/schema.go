package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// w1Schema describes every W1 value (see gen.value): the shape a schema-checked
// app would declare, with a format assertion and closed objects, so that the
// measurement pays for a realistic validation.
const w1Schema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {
    "id":      {"type": "string", "minLength": 1},
    "name":    {"type": "string"},
    "email":   {"type": "string", "format": "email"},
    "version": {"type": "integer", "minimum": 1},
    "score":   {"type": "number"},
    "active":  {"type": "boolean"},
    "tags":    {"type": "array", "items": {"type": "string"}, "maxItems": 10},
    "address": {
      "type": "object",
      "properties": {
        "city": {"type": "string"},
        "zip":  {"type": "string", "pattern": "^[0-9]{5}$"},
        "geo":  {
          "type": "object",
          "properties": {"lat": {"type": "number"}, "lng": {"type": "number"}, "verified": {"type": "boolean"}},
          "required": ["lat", "lng"],
          "additionalProperties": false
        }
      },
      "required": ["city", "zip"],
      "additionalProperties": false
    }
  },
  "required": ["id", "name", "email", "version", "score", "active", "tags", "address"],
  "additionalProperties": false
}`

// writeSchemaConfig writes a SYNCD_CONFIG file giving each of W1's four types
// the schema above, and returns its path.
func writeSchemaConfig(dir string) (string, error) {
	if err := os.WriteFile(filepath.Join(dir, "w1.schema.json"), []byte(w1Schema), 0o644); err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("types:\n")
	for _, typ := range entityTypes {
		fmt.Fprintf(&b, "  %s:\n    schema: w1.schema.json\n", typ)
	}
	path := filepath.Join(dir, "syncd.yaml")
	return path, os.WriteFile(path, []byte(b.String()), 0o644)
}
