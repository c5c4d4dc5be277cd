package httpapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func TestOpenAPI_DescribesEveryRoute(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, dbtest.Engines()[0].URL(t))
	res, err := http.Get(h.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
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
	// Request bodies are described field by field.
	login := doc.Paths["/api/v1/auth/login"]["post"]["requestBody"]
	if !strings.Contains(toJSON(login), `"password"`) {
		t.Errorf("login request body not described: %s", toJSON(login))
	}
	if strings.Contains(toJSON(doc.Paths["/api/v1/me"]["get"]), "passwordHash") {
		t.Error("the user schema exposes a password hash")
	}
	// Roles are the seed's, as an enum a generated client can check.
	me := toJSON(doc.Paths["/api/v1/me"]["get"])
	if !strings.Contains(me, `"enum":["SUPER_ADMIN","ADMIN","DEVELOPER","SUPPORT","MEMBER"]`) || strings.Contains(me, "MODERATOR") {
		t.Errorf("the user schema does not list the seed's roles as an enum: %s", me)
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
