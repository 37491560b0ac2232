package main

import (
	"log/slog"

	"github.com/syncd-io/syncd/internal/mapping"
)

// schemaValidate returns the check that the stream loops run on every
// insert/update/upsert value (syncer.Options.Validate): the value of a type
// with a schema: file in SYNCD_CONFIG must match it. nil when no type has
// one, so unchecked pipelines pay nothing. The schemas were compiled when
// the file was read.
func schemaValidate(file *mapping.File, log *slog.Logger) func(typ string, value []byte) string {
	if file == nil || len(file.Schemas) == 0 {
		return nil
	}
	schemas := file.Schemas
	for typ, s := range schemas {
		log.Info("validating values against a JSON Schema", "type", typ, "schema", s.Validator.Path(), "columns_from_schema", s.FromSchema)
		for _, sk := range s.Skipped {
			log.Warn("schema property gets no column (columns: from_schema)", "type", typ, "property", sk.Property, "why", sk.Why)
		}
	}
	return func(typ string, value []byte) string {
		s, ok := schemas[typ]
		if !ok {
			return ""
		}
		return s.Validator.Validate(value)
	}
}
