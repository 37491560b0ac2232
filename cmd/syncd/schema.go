package main

import (
	"log/slog"
)

// schemaValidate returns the check that the stream loops run on every
// insert/update/upsert value (syncer.Options.Validate): the value of a type
// with a schema: file in SYNCD_CONFIG must match it. nil when no type has
// one, so unchecked pipelines pay nothing.
func schemaValidate(cfg Config, log *slog.Logger) (func(typ string, value []byte) string, error) {
	file, err := cfg.configFile()
	if err != nil || file == nil || len(file.Schemas) == 0 {
		return nil, err
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
	}, nil
}
