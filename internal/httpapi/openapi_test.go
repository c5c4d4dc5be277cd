package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/httpapi"
)

func TestOpenAPI_DescribesEveryRoute(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, dbtest.SQLite().URL(t))
	res, err := http.Get(h.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var doc struct {
		OpenAPI    string                               `json:"openapi"`
		Paths      map[string]map[string]map[string]any `json:"paths"`
		Components struct {
			Schemas map[string]any `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	routes := h.App.HTTP.Routes()
	if len(routes) < 30 {
		t.Fatalf("only %d routes registered", len(routes))
	}
	ids := map[string]bool{}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		op, ok := doc.Paths[path][strings.ToLower(method)]
		if !ok {
			t.Errorf("%s is served but not documented", rt)
			continue
		}
		id, _ := op["operationId"].(string)
		if id == "" || ids[id] {
			t.Errorf("%s: operationId %q missing or duplicated", rt, id)
		}
		ids[id] = true
		if s, _ := op["summary"].(string); s == "" {
			t.Errorf("%s has no summary", rt)
		}
		if resp, _ := op["responses"].(map[string]any); len(resp) == 0 {
			t.Errorf("%s documents no responses", rt)
		}
	}
	n := 0
	for _, ops := range doc.Paths {
		n += len(ops)
	}
	if n != len(routes) {
		t.Errorf("document has %d operations, server %d routes", n, len(routes))
	}
	// Request bodies are described field by field, in the component they
	// reference.
	login := doc.Paths["/api/v1/auth/login"]["post"]["requestBody"]
	if !strings.Contains(toJSON(login), `"$ref":"#/components/schemas/LoginRequest"`) ||
		!strings.Contains(toJSON(doc.Components.Schemas["LoginRequest"]), `"password"`) {
		t.Errorf("login request body not described: %s", toJSON(login))
	}
	me := toJSON(doc.Paths["/api/v1/me"]["get"])
	user := toJSON(doc.Components.Schemas["AuthMeView"])
	if !strings.Contains(me, `"$ref":"#/components/schemas/AuthMeView"`) || strings.Contains(user, "passwordHash") {
		t.Errorf("the user schema is not referenced, or exposes a password hash: %s", user)
	}
	if !strings.Contains(user, `"impersonator"`) || !strings.Contains(user, `"pendingEmail"`) {
		t.Errorf("the /me schema misses impersonator or pendingEmail: %s", user)
	}
	// Roles are the seed's, as an enum a generated client can check.
	if !strings.Contains(user, `"enum":["SUPER_ADMIN","ADMIN","DEVELOPER","SUPPORT","MEMBER"]`) || strings.Contains(user, "MODERATOR") {
		t.Errorf("the user schema does not list the seed's roles as an enum: %s", user)
	}
}

// TestOpenAPI_DeclaresWhatTheServerAnswers checks the document against the
// server's behaviour: who may call, every status, schemas tools accept.
func TestOpenAPI_DeclaresWhatTheServerAnswers(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, dbtest.SQLite().URL(t))
	res, err := http.Get(h.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	// A boolean schema (what reflection gives any and json.RawMessage)
	// stops client generators; every $ref resolves.
	components := doc["components"].(map[string]any)
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, c := range x {
				switch k {
				case "items", "additionalProperties", "schema":
					if b, ok := c.(bool); ok && b {
						t.Errorf("%s.%s is the boolean schema true", where, k)
					}
				case "properties":
					for name, p := range c.(map[string]any) {
						if _, ok := p.(bool); ok {
							t.Errorf("%s.properties.%s is a boolean schema", where, name)
						}
					}
				case "$ref":
					parts := strings.Split(strings.TrimPrefix(c.(string), "#/components/"), "/")
					if len(parts) != 2 || components[parts[0]].(map[string]any)[parts[1]] == nil {
						t.Errorf("%s: $ref %v does not resolve", where, c)
					}
				}
				walk(where+"."+k, c)
			}
		case []any:
			for _, c := range x {
				walk(where, c)
			}
		}
	}
	walk("", doc)
	for name := range components["schemas"].(map[string]any) {
		if !regexp.MustCompile(`^[a-zA-Z0-9._-]+$`).MatchString(name) {
			t.Errorf("component name %q is invalid", name)
		}
	}

	paths := doc["paths"].(map[string]any)
	op := func(method, path string) map[string]any {
		o, _ := paths[path].(map[string]any)[method].(map[string]any)
		if o == nil {
			t.Fatalf("%s %s not documented", method, path)
		}
		return o
	}
	statuses := func(o map[string]any) map[string]bool {
		out := map[string]bool{}
		for k := range o["responses"].(map[string]any) {
			out[k] = true
		}
		return out
	}
	for path, item := range paths {
		for method, o := range item.(map[string]any) {
			o := o.(map[string]any)
			st := statuses(o)
			sec, hasSec := o["security"].([]any)
			if !hasSec {
				t.Errorf("%s %s declares no security", method, path)
			}
			if strings.HasPrefix(path, "/api/v1/") && !st["429"] {
				t.Errorf("%s %s: no 429", method, path)
			}
			if rb, ok := o["requestBody"].(map[string]any); ok {
				if !st["413"] {
					t.Errorf("%s %s takes a body but declares no 413", method, path)
				}
				if _, isJSON := rb["content"].(map[string]any)["application/json"]; isJSON && !st["415"] {
					t.Errorf("%s %s takes JSON but declares no 415", method, path)
				}
			}
			if len(sec) > 0 && (!st["401"] || !st["403"]) {
				t.Errorf("%s %s needs a credential but declares no 401/403", method, path)
			}
			if path != "/healthz" && path != "/metrics" && path != "/api/v1/openapi.json" && !st["503"] {
				t.Errorf("%s %s: no 503", method, path)
			}
			for _, p := range asSlice(o["parameters"]) {
				if p.(map[string]any)["name"] == "Idempotency-Key" && !st["409"] {
					t.Errorf("%s %s is idempotent but declares no 409", method, path)
				}
			}
		}
	}
	// Public routes say so, rather than inherit a requirement.
	if sec, ok := op("post", "/api/v1/auth/login")["security"].([]any); !ok || len(sec) != 0 {
		t.Errorf("login security %v, want []", op("post", "/api/v1/auth/login")["security"])
	}
	for _, c := range []struct{ method, path, status string }{
		{"post", "/api/v1/me/api-keys", "409"},                // too many keys
		{"post", "/api/v1/admin/flags", "409"},                // duplicate key
		{"get", "/api/v1/billing/packs", "404"},               // billing not configured
		{"post", "/hooks/stripe", "404"},                      // webhooks not configured
		{"post", "/hooks/workflows/{id}/{token}", "200"},      // a synchronous workflow
		{"post", "/hooks/workflows/{id}/{token}", "422"},      // its run failed
		{"post", "/hooks/gateways/{id}/{token}", "401"},       // a forged signature
		{"post", "/api/v1/auth/login", "401"},                 // a wrong password
		{"post", "/api/v1/auth/refresh", "401"},               // a spent refresh token
		{"post", "/api/v1/auth/switch", "404"},                // not a member of that organization
		{"post", "/api/v1/installations", "404"},              // no such plugin
		{"post", "/api/v1/installations/{id}/execute", "202"}, // async: true
		{"get", "/hooks/gateways/{id}/{token}", "401"},        // a wrong verify token
		{"post", "/api/v1/installations/{id}/execute", "402"}, // plan limit
		{"get", "/api/v1/workflows", "404"},                   // feature flag off
	} {
		if !statuses(op(c.method, c.path))[c.status] {
			t.Errorf("%s %s does not declare %s", c.method, c.path, c.status)
		}
	}
	// An async execution's 202 carries the same execution as a finished one's 200.
	exec := op("post", "/api/v1/installations/{id}/execute")["responses"].(map[string]any)
	if a, b := toJSON(exec["202"].(map[string]any)["content"]), toJSON(exec["200"].(map[string]any)["content"]); a != b {
		t.Errorf("execute: 202 %s, 200 %s", a, b)
	}
	// The execute route's 429 carries Retry-After.
	if !strings.Contains(toJSON(components["responses"]), `"Retry-After"`) {
		t.Error("429 does not declare Retry-After")
	}
	// The ledger streams CSV on request.
	ledger := toJSON(op("get", "/api/v1/credits/transactions")["responses"].(map[string]any)["200"])
	if !strings.Contains(ledger, `"text/csv"`) {
		t.Errorf("the ledger's CSV answer is not declared: %s", ledger)
	}
	// A nil pointer field that is not omitted is null.
	if got := toJSON(components["schemas"].(map[string]any)["DepartmentRequest"]); !strings.Contains(got, `"departmentId":{"type":["string","null"]}`) {
		t.Errorf("departmentId is not nullable: %s", got)
	}
}

// TestOpenAPI_DocumentWithoutAServer checks that what `switchboard openapi`
// prints is what a running server serves.
func TestOpenAPI_DocumentWithoutAServer(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, dbtest.SQLite().URL(t))
	res, err := http.Get(h.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var served, printed map[string]any
	if err := json.NewDecoder(res.Body).Decode(&served); err != nil {
		t.Fatal(err)
	}
	raw, err := httpapi.Document("test")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &printed); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"paths", "components"} {
		if a, b := toJSON(served[k]), toJSON(printed[k]); a != b {
			t.Errorf("%s differ: served %d bytes, printed %d", k, len(a), len(b))
		}
	}
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
