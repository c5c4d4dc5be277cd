package httpapi

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"path"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/invopop/jsonschema"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/events"
	"github.com/switchboard/switchboard/internal/plugin/analytics"
	"github.com/switchboard/switchboard/internal/workflow"
)

// The OpenAPI document is generated from the same route declarations that
// serve requests, so it cannot miss a route or drift from the types.

var pathParam = regexp.MustCompile(`\{([a-zA-Z]+)\}`)

// routeDoc is what a route's declaration adds for its documentation when
// the rest of the declaration does not show it.
type routeDoc struct {
	// errors are error statuses the route's service may answer beyond
	// those every route of its kind declares: 409 (CONFLICT), 402
	// (PLAN_LIMIT_EXCEEDED, INSUFFICIENT_CREDITS), 404 on a route without
	// a path parameter (feature off, billing not configured), 422.
	errors []int
	// rawBody: the route reads its body as raw bytes of any content type
	// (webhooks), so it takes no JSON schema and never answers 415.
	rawBody bool
	// produces are further content types of the success answer, such as
	// text/csv for an export; with no response type the answer is only
	// these.
	produces []string
	// also are further success answers: status → description, with a
	// body of any JSON.
	also map[int]string
	// sameBody are further success answers with the same body as the
	// route's status: status → description.
	sameBody map[int]string
	// noDatabase: the route answers without the database (no 503).
	noDatabase bool
	// oneOf, when set, are the success answer's alternative data types
	// (the response field is then ignored).
	oneOf []any
}

func (s *Server) openAPIRoute() {
	var once sync.Once
	var doc []byte
	s.handle(route{method: "GET", path: "/api/v1/openapi.json", tag: "operations",
		summary: "This OpenAPI 3.1 document.", doc: routeDoc{produces: []string{"application/json"}, noDatabase: true},
		handler: func(w http.ResponseWriter, r *http.Request) error {
			once.Do(func() { doc, _ = json.Marshal(s.OpenAPI()) })
			w.Header().Set("Content-Type", "application/json")
			_, err := w.Write(doc)
			return err
		}})
}

// Document returns the OpenAPI document of a server with every optional
// part enabled, without a database: the routes are only declared, never
// served. `switchboard openapi` prints it.
func Document(version string) ([]byte, error) {
	return json.MarshalIndent(declaredOnly(version).OpenAPI(), "", "  ")
}

// declaredOnly is a server with every optional route group declared and
// no service behind them, good only for describing itself.
func declaredOnly(version string) *Server {
	return New(Deps{Workflows: &workflow.Service{}, Credits: &credit.Service{}, Limits: &credit.Limits{},
		Billing: &billing.Service{}, Analytics: &analytics.Service{}, Events: &events.Service{}}, Options{Version: version})
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
	case reflect.TypeFor[actor.Scope]():
		for _, r := range actor.Scopes() {
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

// schemas turns Go types into OpenAPI schemas: every named type becomes one
// component (#/components/schemas/Name) that operations reference.
type schemas struct {
	ref        *jsonschema.Reflector
	components map[string]any
	types      map[string]reflect.Type
	// collisions lists names that two different Go types would share; the
	// tests require none.
	collisions []string
}

func newSchemas() *schemas {
	sc := &schemas{components: map[string]any{}, types: map[string]reflect.Type{}}
	sc.ref = &jsonschema.Reflector{Anonymous: true, AllowAdditionalProperties: false, Mapper: enumSchema,
		Namer: func(t reflect.Type) string {
			name := componentName(t)
			if name == "" {
				return name // unnamed types are inlined
			}
			if prev, ok := sc.types[name]; ok && prev != t {
				sc.collisions = append(sc.collisions, fmt.Sprintf("%s: %v and %v", name, prev, t))
			}
			sc.types[name] = t
			return name
		}}
	return sc
}

// of returns the schema of v's type, adding the components it needs.
func (sc *schemas) of(v any) map[string]any {
	if v == nil {
		return map[string]any{}
	}
	raw, _ := json.Marshal(sc.ref.Reflect(v))
	raw = []byte(strings.ReplaceAll(string(raw), `"#/$defs/`, `"#/components/schemas/`))
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	defs, _ := m["$defs"].(map[string]any)
	for name, d := range defs {
		if _, done := sc.components[name]; !done {
			d = anySchemas(d)
			sc.nullable(d, sc.types[name])
			sc.components[name] = d
		}
	}
	delete(m, "$defs")
	delete(m, "$schema")
	delete(m, "$id")
	return anySchemas(m).(map[string]any)
}

// anySchemas replaces the boolean schema true (what reflection gives
// json.RawMessage, any and interface fields) with {}, which means the same
// and which every OpenAPI tool reads.
func anySchemas(s any) any {
	if b, ok := s.(bool); ok && b {
		return map[string]any{}
	}
	m, ok := s.(map[string]any)
	if !ok {
		return s
	}
	for k, v := range m {
		switch k {
		case "properties", "patternProperties", "$defs", "dependentSchemas":
			if props, ok := v.(map[string]any); ok {
				for name, p := range props {
					props[name] = anySchemas(p)
				}
			}
		case "items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else":
			m[k] = anySchemas(v)
		case "anyOf", "oneOf", "allOf", "prefixItems":
			if list, ok := v.([]any); ok {
				for i, p := range list {
					list[i] = anySchemas(p)
				}
			}
		}
	}
	return m
}

// nullable marks the pointer fields of struct type t that JSON encodes as
// null when nil (those without omitempty) as nullable in schema s.
func (sc *schemas) nullable(s any, t reflect.Type) {
	m, ok := s.(map[string]any)
	if !ok || t == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		if t.Elem().Name() == "" {
			sc.nullable(m["items"], t.Elem())
		}
		return
	case reflect.Struct:
	default:
		return
	}
	props, _ := m["properties"].(map[string]any)
	for name, f := range jsonFields(t) {
		p, ok := props[name].(map[string]any)
		if !ok {
			continue
		}
		if f.Type.Kind() == reflect.Pointer && !f.omitEmpty {
			props[name] = orNull(p)
		}
		// Unnamed types are inlined: their fields are described here.
		if ft := deref(f.Type); ft.Name() == "" {
			sc.nullable(p, ft)
		}
	}
}

func deref(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// orNull returns schema p that also admits null, as OpenAPI 3.1 spells it.
func orNull(p map[string]any) map[string]any {
	switch t := p["type"].(type) {
	case string:
		p["type"] = []any{t, "null"}
		if enum, ok := p["enum"].([]any); ok {
			p["enum"] = append(enum, nil)
		}
		return p
	case []any:
		if !slices.Contains(t, any("null")) {
			p["type"] = append(t, "null")
		}
		return p
	}
	if len(p) == 0 {
		return p // any value, null included
	}
	return map[string]any{"anyOf": []any{p, map[string]any{"type": "null"}}}
}

type jsonField struct {
	reflect.StructField
	omitEmpty bool
}

// jsonFields lists a struct's fields by their JSON names, the fields of
// untagged embedded structs included, as encoding/json sees them.
func jsonFields(t reflect.Type) map[string]jsonField {
	out := map[string]jsonField{}
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && deref(f.Type).Kind() == reflect.Struct {
			for n, ef := range jsonFields(deref(f.Type)) {
				if _, shadowed := out[n]; !shadowed {
					out[n] = ef
				}
			}
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = jsonField{StructField: f, omitEmpty: strings.Contains(","+opts+",", ",omitempty,") || strings.Contains(","+opts+",", ",omitzero,")}
	}
	return out
}

// componentName names a Go type's schema component: stable (it changes only
// when the type is renamed or moved), valid (^[a-zA-Z0-9._-]+$), and
// readable: the package qualifies the type unless the type's name already
// starts with it (auth.User → AuthUser, workflow.Workflow → Workflow), the
// API's own types in httpapi go unqualified, and a generic instantiation
// names its arguments (page[auth.User] → PageOfAuthUser).
func componentName(t reflect.Type) string {
	return validName.ReplaceAllString(typeName(t.PkgPath(), t.Name()), "_")
}

var validName = regexp.MustCompile(`[^a-zA-Z0-9._-]`)

func typeName(pkgPath, name string) string {
	base, args, generic := strings.Cut(name, "[")
	out := qualified(pkgPath, base)
	if generic {
		var names []string
		for _, a := range splitTypeArgs(strings.TrimSuffix(args, "]")) {
			names = append(names, typeArgName(a))
		}
		out += "Of" + strings.Join(names, "And")
	}
	return out
}

// typeArgName names one type argument as reflect spells it, e.g.
// "github.com/x/auth.User", "*int", "[]string" or "map[string]pkg.T".
func typeArgName(s string) string {
	switch {
	case strings.HasPrefix(s, "*"):
		return typeArgName(s[1:])
	case strings.HasPrefix(s, "[]"):
		return "ListOf" + typeArgName(s[2:])
	case strings.HasPrefix(s, "map["):
		depth := 0
		for i := 3; i < len(s); i++ {
			switch s[i] {
			case '[':
				depth++
			case ']':
				depth--
				if depth == 0 {
					return "MapOf" + typeArgName(s[i+1:])
				}
			}
		}
	}
	head := s
	if i := strings.IndexByte(s, '['); i >= 0 {
		head = s[:i]
	}
	pkgPath, base := "", head
	if i := strings.LastIndexByte(head, '.'); i >= 0 {
		pkgPath, base = head[:i], head[i+1:]
	}
	return typeName(pkgPath, base+s[len(head):])
}

// splitTypeArgs splits "A,B[C,D],E" at its top-level commas.
func splitTypeArgs(s string) []string {
	var out []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

func qualified(pkgPath, name string) string {
	name = upperFirst(name)
	pkg := path.Base(pkgPath)
	if pkgPath == "" || pkg == "httpapi" || pkg == "httpapi_test" || strings.HasPrefix(strings.ToLower(name), strings.ToLower(pkg)) {
		return name
	}
	return upperFirst(pkg) + name
}

func upperFirst(s string) string {
	for i, r := range s {
		return string(unicode.ToUpper(r)) + s[i+len(string(r)):]
	}
	return s
}

// errorText describes each error status the API answers.
var errorText = map[int]string{
	400: "Invalid input (VALIDATION_ERROR): a field, a query parameter, or bytes that are not UTF-8 or hold NUL in the path or query.",
	401: "Missing, invalid or revoked credential (UNAUTHORIZED).",
	402: "The plan's limit is reached (PLAN_LIMIT_EXCEEDED) or the workspace lacks credits (INSUFFICIENT_CREDITS).",
	403: "The actor lacks a permission or role (FORBIDDEN); or the action is sensitive and the session must re-authenticate first (REAUTH_REQUIRED, see POST /api/v1/auth/reauth); or the organization requires a second factor the account lacks (MFA_REQUIRED).",
	404: "No such resource in the actor's reach, the feature is off for the actor, or it is not configured on this server (NOT_FOUND).",
	409: "The resource's state does not allow this (CONFLICT).",
	413: "The request body exceeds the server's limit (PAYLOAD_TOO_LARGE).",
	415: "The body is not application/json (UNSUPPORTED_MEDIA_TYPE).",
	422: "The workflow run failed (WORKFLOW_FAILED); details carry its run id and status.",
	429: "Too many requests (RATE_LIMITED); Retry-After says when to try again.",
	503: "The database is unreachable or did not answer in time (UNAVAILABLE); Retry-After says when to try again.",
}

// errorName names the shared response of an error status, e.g. Status404.
func errorName(status int) string { return "Status" + strconv.Itoa(status) }

// OpenAPI returns the API description as an OpenAPI 3.1 document.
func (s *Server) OpenAPI() map[string]any {
	doc, _ := s.openAPI()
	return doc
}

// openAPI also returns the component names two Go types would share.
func (s *Server) openAPI() (map[string]any, []string) {
	sc := newSchemas()
	envelopeRef := map[string]any{"$ref": "#/components/schemas/ErrorEnvelope"}
	retryAfter := map[string]any{"Retry-After": map[string]any{"description": "Seconds to wait before retrying.",
		"schema": map[string]any{"type": "integer"}}}
	errResp := func(status int, desc string) map[string]any {
		r := map[string]any{"description": desc, "content": map[string]any{"application/json": map[string]any{"schema": envelopeRef}}}
		if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
			r["headers"] = retryAfter
		}
		return r
	}
	shared := map[string]any{"Internal": errResp(0, "An unexpected error (INTERNAL); quote the request id.")}
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
		if rt.access == signedIn {
			op["x-api-key-scope"] = routeScope(rt)
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
		takesBody := rt.method == "POST" || rt.method == "PUT" || rt.method == "PATCH"
		switch {
		case rt.request != nil:
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{
				"application/json": map[string]any{"schema": sc.of(rt.request)}}}
		case rt.doc.rawBody && takesBody:
			op["requestBody"] = map[string]any{"description": "Any body, as the sender sends it.", "content": map[string]any{
				"*/*": map[string]any{"schema": map[string]any{}}}}
		}

		okBody := map[string]any{"description": http.StatusText(rt.status)}
		content := map[string]any{}
		if rt.response != nil || len(rt.doc.oneOf) > 0 {
			data := sc.of(rt.response)
			if len(rt.doc.oneOf) > 0 {
				var alts []any
				for _, v := range rt.doc.oneOf {
					alts = append(alts, sc.of(v))
				}
				data = map[string]any{"oneOf": alts}
			}
			content["application/json"] = map[string]any{"schema": map[string]any{
				"type": "object", "required": []string{"success", "data"},
				"properties": map[string]any{"success": map[string]any{"type": "boolean", "const": true}, "data": data},
			}}
		}
		for _, ct := range rt.doc.produces {
			if _, ok := content[ct]; !ok {
				schema := map[string]any{}
				if strings.HasPrefix(ct, "text/") {
					schema = map[string]any{"type": "string"}
				}
				content[ct] = map[string]any{"schema": schema}
			}
		}
		if len(content) > 0 {
			okBody["content"] = content
		}
		responses := map[string]any{strconv.Itoa(rt.status): okBody}
		for status, desc := range rt.doc.sameBody {
			same := maps.Clone(okBody)
			same["description"] = desc
			responses[strconv.Itoa(status)] = same
		}
		for status, desc := range rt.doc.also {
			responses[strconv.Itoa(status)] = map[string]any{"description": desc,
				"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{}}}}
		}

		errs := map[int]string{}
		add := func(status int, desc string) {
			if prev, ok := errs[status]; ok && prev != desc {
				desc = prev + " Or: " + desc
			}
			errs[status] = desc
		}
		// Every request passes the hostile-bytes check of path and query.
		add(400, errorText[400])
		if rt.access == signedIn {
			op["security"] = []any{map[string]any{"bearer": []any{}}}
			add(401, errorText[401])
			add(403, errorText[403])
		} else {
			op["security"] = []any{}
		}
		if strings.Contains(rt.path, "{") {
			add(404, errorText[404])
		}
		if takesBody || rt.request != nil {
			add(413, errorText[413])
		}
		if rt.request != nil {
			add(415, errorText[415])
		}
		switch {
		case rt.rateLimited && rt.access == signedIn:
			add(429, "Too many requests from this address, or over the plan's API request limits (RATE_LIMITED); see Retry-After.")
		case rt.rateLimited:
			add(429, "Too many requests from this address (RATE_LIMITED); see Retry-After.")
		case rt.access == signedIn:
			add(429, "Over the plan's API request limit of the credential or the workspace (RATE_LIMITED); see Retry-After and RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset.")
		case strings.HasPrefix(rt.path, "/api/v1/"):
			add(429, errorText[429])
		}
		if rt.idempotent {
			add(409, "The Idempotency-Key was used for a different request, or its first request is still running (IDEMPOTENCY_CONFLICT).")
		}
		for _, status := range rt.doc.errors {
			add(status, errorText[status])
		}
		if !rt.doc.noDatabase {
			add(503, errorText[503])
		}
		for status, desc := range errs {
			code := strconv.Itoa(status)
			switch _, taken := responses[code]; {
			case taken:
			case desc == errorText[status]:
				// The common answers are components, described once.
				responses[code] = map[string]any{"$ref": "#/components/responses/" + errorName(status)}
				shared[errorName(status)] = errResp(status, desc)
			default:
				responses[code] = errResp(status, desc)
			}
		}
		responses["default"] = map[string]any{"$ref": "#/components/responses/Internal"}
		op["responses"] = responses

		item, _ := paths[rt.path].(map[string]any)
		if item == nil {
			item = map[string]any{}
			paths[rt.path] = item
		}
		item[strings.ToLower(rt.method)] = op
	}
	sc.of(errorEnvelope{})

	var tags []any
	seen := map[string]bool{}
	for _, rt := range s.routes {
		if !seen[rt.tag] {
			seen[rt.tag] = true
			tags = append(tags, map[string]any{"name": rt.tag, "description": "Operations on " + rt.tag + "."})
		}
	}
	sort.Slice(tags, func(i, j int) bool {
		return tags[i].(map[string]any)["name"].(string) < tags[j].(map[string]any)["name"].(string)
	})
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{"title": "Switchboard API", "version": s.opt.Version,
			"description": "Every response is an envelope: {\"success\": true, \"data\": …} or {\"success\": false, \"error\": {\"code\", \"message\", \"details\"}}."},
		"servers": []any{map[string]any{"url": "/", "description": "The server that serves this document."}},
		"tags":    tags,
		"paths":   paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer",
				"description": "An access token from /api/v1/auth/login or an API key (sbk_…). An API key reaches an operation only when one of its scopes covers it: each operation's x-api-key-scope names the scope it needs (\"*\": only a personal key with full access). Beyond its scopes a key gets 403 FORBIDDEN naming the missing scope."}},
			"schemas":   sc.components,
			"responses": shared,
		},
	}, sc.collisions
}

// errorEnvelope documents the body of every error answer.
type errorEnvelope struct {
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
