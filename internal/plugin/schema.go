package plugin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// MaxSchemaBytes bounds one schema document.
const MaxSchemaBytes = 64 << 10

// Schema is a compiled JSON Schema (draft 2020-12 unless the document names
// another). A nil *Schema accepts every value.
type Schema struct {
	raw      json.RawMessage
	compiled *jsonschema.Schema
}

// noLoader refuses every $ref outside the document: a schema from a
// plugin author must not make the host read files or fetch URLs.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external reference %s is not allowed; keep $ref inside the schema", url)
}

// CompileSchema compiles a schema document. Empty input or JSON null yields
// nil (no constraint).
func CompileSchema(raw json.RawMessage) (*Schema, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if len(raw) > MaxSchemaBytes {
		return nil, fmt.Errorf("schema exceeds %d bytes", MaxSchemaBytes)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("schema is not valid JSON: %w", err)
	}
	if _, ok := doc.(map[string]any); !ok {
		if _, isBool := doc.(bool); !isBool {
			return nil, errors.New("schema must be a JSON object or boolean")
		}
	}
	c := jsonschema.NewCompiler()
	c.UseLoader(noLoader{})
	c.DefaultDraft(jsonschema.Draft2020)
	const loc = "mem://plugin/schema.json"
	if err := c.AddResource(loc, doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	sch, err := c.Compile(loc)
	if err != nil {
		return nil, fmt.Errorf("invalid schema: %s", oneLine(err.Error()))
	}
	return &Schema{raw: append(json.RawMessage(nil), raw...), compiled: sch}, nil
}

// MustSchema compiles a schema known at build time (built-in plugins).
func MustSchema(raw string) *Schema {
	s, err := CompileSchema(json.RawMessage(raw))
	if err != nil {
		panic(err)
	}
	return s
}

// Validate checks a JSON value against the schema.
func (s *Schema) Validate(v json.RawMessage) error {
	if s == nil {
		if !json.Valid(v) {
			return errors.New("not valid JSON")
		}
		return nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(v))
	if err != nil {
		return fmt.Errorf("not valid JSON: %w", err)
	}
	if err := s.compiled.Validate(inst); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return errors.New(describe(ve))
		}
		return err
	}
	return nil
}

// describe flattens a validation error into "at /path: message; …".
func describe(ve *jsonschema.ValidationError) string {
	out := ve.BasicOutput()
	var parts []string
	for _, e := range out.Errors {
		if e.Error == nil {
			continue
		}
		loc := e.InstanceLocation
		if loc == "" {
			loc = "/"
		}
		msg := e.Error.String()
		if strings.HasPrefix(msg, "validation failed") {
			continue
		}
		parts = append(parts, "at "+loc+": "+msg)
		if len(parts) == 5 {
			break
		}
	}
	if len(parts) == 0 {
		return oneLine(ve.Error())
	}
	return strings.Join(parts, "; ")
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Raw returns the schema document (nil for no schema).
func (s *Schema) Raw() json.RawMessage {
	if s == nil {
		return nil
	}
	return s.raw
}

// MarshalJSON writes the schema document, or null.
func (s *Schema) MarshalJSON() ([]byte, error) {
	if s == nil {
		return []byte("null"), nil
	}
	return s.raw, nil
}
