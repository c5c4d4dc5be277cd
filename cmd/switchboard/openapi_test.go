package main

import (
	"encoding/json"
	"testing"
)

func TestCLI_OpenAPIPrintsTheDocumentWithoutADatabase(t *testing.T) {
	t.Parallel()
	// No configuration at all: the document needs no database.
	r := runCLI(t, nil, "openapi")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	// Optional route groups (billing, workflows) are described too.
	for _, p := range []string{"/api/v1/auth/login", "/api/v1/billing/checkout", "/api/v1/workflows", "/api/v1/credits/transactions"} {
		if doc.Paths[p] == nil {
			t.Errorf("%s is missing", p)
		}
	}
	if doc.OpenAPI != "3.1.0" {
		t.Errorf("openapi %q", doc.OpenAPI)
	}
	if r := runCLI(t, nil, "openapi", "extra"); r.code != 2 {
		t.Errorf("extra argument: exit %d", r.code)
	}
}
