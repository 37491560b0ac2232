// Package typeschema checks entity values against the JSON Schema that the
// SYNCD_CONFIG file names for their type (State Protocol §7: validate before
// materializing, reject what does not match), and derives typed columns from
// a schema's top-level properties.
//
// Schemas are draft 2020-12 or draft-07 ($schema decides; 2020-12 when
// absent), compiled once at startup with format assertion on, so a string
// that is not a date-time where the schema says "format": "date-time" is
// invalid. A Validator is safe for concurrent use.
package typeschema
