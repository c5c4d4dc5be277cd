package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	"github.com/switchboard/switchboard/internal/apperr"
)

// decode reads exactly one JSON object from the body into v, rejecting
// unknown fields, wrong types, trailing data, oversized bodies, text that is
// not UTF-8 or holds NUL, and null where an object is required, with a
// message that says what is wrong and where. A body that is not JSON by its
// Content-Type is refused with 415.
func decode(r *http.Request, v any) error {
	ct := r.Header.Get("Content-Type")
	if ct != "" && !isJSONMediaType(ct) {
		return errMediaType(ct)
	}
	// The body is read whole (the route's size cap bounds it) so its text
	// can be checked before decoding: see checkBodyText.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return decodeError(err)
	}
	if ct == "" && len(body) > 0 {
		// Without a Content-Type a body is not known to be JSON (a form
		// post, say); an empty body falls through to the "empty" error.
		return errMediaType(ct)
	}
	if err := checkBodyText(body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := dec.Decode(&struct{}{}); !errors.Is(err, io.EOF) {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err)
		}
		return apperr.New(apperr.Validation, "request body must hold a single JSON object")
	}
	return checkNulls(body, reflect.TypeOf(v))
}

// isJSONMediaType accepts application/json and the application/*+json
// family, with any parameters (charset).
func isJSONMediaType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || (strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

func errMediaType(ct string) error {
	if ct == "" {
		return apperr.New(apperr.UnsupportedMediaType, "a request body needs Content-Type: application/json")
	}
	return apperr.New(apperr.UnsupportedMediaType, "Content-Type must be application/json, not %q", truncate(ct, 100))
}

var jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()

// checkNulls refuses a JSON null where t needs an object: the whole body, or
// a field whose Go type is a struct (encoding/json would silently leave it
// zero). A null for a pointer field stays allowed: it means "not given".
func checkNulls(body []byte, t reflect.Type) error {
	var doc any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil // decode already accepted the body; nothing more to say
	}
	if doc == nil {
		return apperr.New(apperr.Validation, "request body must be a JSON object, not null")
	}
	return walkNulls(doc, t, "")
}

func walkNulls(v any, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		if v == nil {
			return nil
		}
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(jsonUnmarshaler) {
		return nil
	}
	switch t.Kind() {
	case reflect.Struct:
		if v == nil {
			return apperr.Invalid(apperr.FieldError{Field: path, Message: "must be an object, not null"})
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		return walkStructNulls(m, t, path)
	case reflect.Slice, reflect.Array:
		if arr, ok := v.([]any); ok {
			for i, e := range arr {
				if err := walkNulls(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		if m, ok := v.(map[string]any); ok {
			for k, e := range m {
				if err := walkNulls(e, t.Elem(), joinField(path, k)); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func walkStructNulls(m map[string]any, t reflect.Type, path string) error {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || (!f.IsExported() && !f.Anonymous) {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			et := f.Type
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				if err := walkStructNulls(m, et, path); err != nil {
					return err
				}
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		val, ok := m[name]
		if !ok {
			for k, kv := range m {
				if strings.EqualFold(k, name) {
					val, ok = kv, true
					break
				}
			}
		}
		if !ok {
			continue
		}
		if err := walkNulls(val, f.Type, joinField(path, name)); err != nil {
			return err
		}
	}
	return nil
}

func joinField(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func decodeError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return apperr.New(apperr.PayloadTooLarge, "request body exceeds %d bytes", mbe.Limit)
	case errors.Is(err, io.EOF):
		return apperr.New(apperr.Validation, "request body is empty; a JSON object is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apperr.New(apperr.Validation, "request body is truncated JSON")
	case errors.As(err, &syn):
		return apperr.New(apperr.Validation, "malformed JSON at byte %d: %s", syn.Offset, syn.Error())
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return apperr.New(apperr.Validation, "request body must be a JSON object, not %s", typ.Value)
		}
		return apperr.Invalid(apperr.FieldError{Field: field, Message: fmt.Sprintf("must be %s, not %s", jsonType(typ.Type.Kind().String()), typ.Value)})
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		name := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return apperr.Invalid(apperr.FieldError{Field: name, Message: "unknown field"})
	}
	return apperr.New(apperr.Validation, "invalid JSON body: %s", err.Error())
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return kind
}
