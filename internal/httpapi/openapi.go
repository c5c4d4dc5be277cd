package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/invopop/jsonschema"

	"github.com/switchboard/switchboard/internal/actor"
)

// The OpenAPI document is generated from the same route declarations that
// serve requests, so it cannot miss a route or drift from the types.

var pathParam = regexp.MustCompile(`\{([a-zA-Z]+)\}`)

func (s *Server) openAPIRoute() {
	var once sync.Once
	var doc []byte
	s.handle(route{method: "GET", path: "/api/v1/openapi.json", tag: "operations",
		summary: "This OpenAPI 3.1 document.",
		handler: func(w http.ResponseWriter, r *http.Request) error {
			once.Do(func() { doc, _ = json.Marshal(s.OpenAPI()) })
			w.Header().Set("Content-Type", "application/json")
			_, err := w.Write(doc)
			return err
		}})
}

// enumSchema describes the closed string sets of the API as enums, so a
// generated client knows every value (and a renamed one breaks its build).
func enumSchema(t reflect.Type) *jsonschema.Schema {
	var values []string
	switch t {
	case reflect.TypeFor[actor.Role]():
		for _, r := range actor.Roles {
			values = append(values, string(r))
		}
	case reflect.TypeFor[actor.OrgRole]():
		for _, r := range actor.OrgRoles {
			values = append(values, string(r))
		}
	default:
		return nil
	}
	s := &jsonschema.Schema{Type: "string"}
	for _, v := range values {
		s.Enum = append(s.Enum, v)
	}
	return s
}

// OpenAPI returns the API description as an OpenAPI 3.1 document.
func (s *Server) OpenAPI() map[string]any {
	ref := &jsonschema.Reflector{DoNotReference: true, Anonymous: true, AllowAdditionalProperties: false,
		Mapper: enumSchema}
	schemaOf := func(v any) map[string]any {
		if v == nil {
			return map[string]any{}
		}
		raw, _ := json.Marshal(ref.Reflect(v))
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		delete(m, "$schema")
		delete(m, "$id")
		return m
	}
	errorEnvelope := map[string]any{"$ref": "#/components/schemas/ErrorEnvelope"}
	errResp := func(desc string) map[string]any {
		return map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": errorEnvelope}}}
	}
	paths := map[string]any{}
	for _, rt := range s.routes {
		op := map[string]any{
			"operationId": operationID(rt.method, rt.path),
			"summary":     rt.summary,
			"tags":        []string{rt.tag},
		}
		if rt.perm != "" {
			op["x-required-permission"] = rt.perm
		}
		if len(rt.roles) > 0 {
			op["x-required-roles"] = rt.roles
		}
		var params []any
		for _, m := range pathParam.FindAllStringSubmatch(rt.path, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		for _, q := range rt.query {
			params = append(params, map[string]any{"name": q.name, "in": "query", "description": q.description, "schema": map[string]any{"type": "string"}})
		}
		if rt.idempotent {
			params = append(params, map[string]any{"name": IdempotencyHeader, "in": "header", "schema": map[string]any{"type": "string", "maxLength": 200},
				"description": "Makes retries safe: the first request with a key runs, the others (for 24 h, per workspace and path) get its answer " +
					"with Idempotent-Replayed: true. The body field idempotencyKey is an alias."})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if rt.request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": schemaOf(rt.request)}}}
		}
		okBody := map[string]any{"description": "OK"}
		if rt.response != nil {
			okBody["content"] = map[string]any{"application/json": map[string]any{"schema": map[string]any{
				"type": "object", "required": []string{"success", "data"},
				"properties": map[string]any{"success": map[string]any{"const": true}, "data": schemaOf(rt.response)},
			}}}
		}
		responses := map[string]any{strconv.Itoa(rt.status): okBody}
		if rt.request != nil || len(rt.query) > 0 {
			responses["400"] = errResp("Invalid input (VALIDATION_ERROR) or body too large (PAYLOAD_TOO_LARGE, 413).")
		}
		if rt.request != nil && strings.HasPrefix(rt.path, "/api/") {
			responses["415"] = errResp("The body's Content-Type is not application/json or application/*+json (UNSUPPORTED_MEDIA_TYPE).")
		}
		if rt.access == signedIn {
			op["security"] = []any{map[string]any{"bearer": []any{}}}
			responses["401"] = errResp("Missing, invalid or revoked credential (UNAUTHORIZED).")
			responses["403"] = errResp("The actor lacks a permission (FORBIDDEN).")
		}
		if strings.Contains(rt.path, "{") {
			responses["404"] = errResp("No such resource in the actor's reach (NOT_FOUND).")
		}
		if rt.rateLimited {
			responses["429"] = errResp("Too many requests from this address (RATE_LIMITED); see Retry-After.")
		}
		if rt.idempotent {
			responses["409"] = errResp("The Idempotency-Key was used for a different request, or its first request is still running (IDEMPOTENCY_CONFLICT).")
		}
		op["responses"] = responses
		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Switchboard API", "version": s.opt.Version,
			"description": "Every response is an envelope: {\"success\": true, \"data\": …} or {\"success\": false, \"error\": {\"code\", \"message\", \"details\"}}."},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer",
				"description": "An access token from /api/v1/auth/login or an API key (sbk_…)."}},
			"schemas": map[string]any{"ErrorEnvelope": schemaOf(envelopeDoc{})},
		},
	}
}

type envelopeDoc struct {
	Success bool      `json:"success"`
	Error   errorBody `json:"error"`
}

func operationID(method, path string) string {
	p := strings.TrimPrefix(path, "/api/v1")
	p = pathParam.ReplaceAllString(p, "by-$1")
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, part := range strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '-' || r == '.' || r == '_' }) {
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}
