package typeschema

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// MaxReason bounds the reason of an invalid value, which is stored in every
// dead letter and shown in halt errors.
const MaxReason = 300

// maxErrors is how many of the validator's errors a reason lists.
const maxErrors = 3

// Validator is one compiled schema file.
type Validator struct {
	path   string
	name   string // how reasons name the file
	schema *jsonschema.Schema
}

// Compile reads and compiles the JSON Schema file at path. Errors name the
// file: a missing or unreadable file, a file that is not JSON, or a schema
// that does not compile under its draft. Relative $refs resolve from the
// file's folder.
func Compile(path string) (*Validator, error) {
	return CompileNamed(path, path)
}

// CompileNamed is Compile with the name that reject reasons give the file,
// e.g. the path as written in the config file rather than the resolved one
// (reasons are bounded; a long temporary folder would crowd out the errors).
func CompileNamed(path, name string) (*Validator, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", path, err)
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", path, err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("schema %s: not JSON: %w", path, err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(abs, doc); err != nil {
		return nil, fmt.Errorf("schema %s: %w", path, err)
	}
	sch, err := c.Compile(abs)
	if err != nil {
		return nil, fmt.Errorf("schema %s does not compile: %s", path, oneLine(err.Error()))
	}
	return &Validator{path: path, name: name, schema: sch}, nil
}

// Path is the file the validator was compiled from, as given to Compile.
func (v *Validator) Path() string { return v.path }

// Validate checks one JSON value. It returns "" when the value matches the
// schema, else a reason of at most MaxReason bytes that names the schema
// file and the first few failing locations with their messages, e.g.
//
//	schema schemas/message.json: at /sentAt: 'yesterday' is not valid date-time; at '': missing property 'author'
func (v *Validator) Validate(value []byte) string {
	doc, err := parseValue(value)
	if err != nil {
		return bound("schema " + v.name + ": value is not JSON: " + err.Error())
	}
	err = v.schema.Validate(doc)
	if err == nil {
		return ""
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return bound("schema " + v.name + ": " + oneLine(err.Error()))
	}
	return v.reason(ve)
}

var printer = message.NewPrinter(language.English)

// reason lists the leaf errors of a validation error: those say what is
// wrong where, while their parents only say "does not validate with".
func (v *Validator) reason(ve *jsonschema.ValidationError) string {
	var leaves []*jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	var b strings.Builder
	b.WriteString("schema " + v.name + ": ")
	for i, e := range leaves {
		if i == maxErrors {
			fmt.Fprintf(&b, "; and %d more", len(leaves)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "at %s: %s", location(e.InstanceLocation), oneLine(e.ErrorKind.LocalizedString(printer)))
	}
	return bound(b.String())
}

// location writes an instance location as a JSON pointer; ” is the value itself.
func location(tokens []string) string {
	if len(tokens) == 0 {
		return "''"
	}
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// bound cuts s to MaxReason bytes without splitting a UTF-8 sequence.
func bound(s string) string {
	if len(s) <= MaxReason {
		return s
	}
	const ellipsis = "…"
	cut := MaxReason - len(ellipsis)
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + ellipsis
}
