package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// switchboard workflows export|import moves a workflow through a node's
// API with a credential.
func TestCLI_WorkflowsExportImport(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		tok := h.SignUp("cli@example.com", "correct horse battery").AccessToken
		var w struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, map[string]any{"name": "shipped", "description": "d",
			"definition": map[string]any{"trigger": map[string]any{"type": "manual"}, "startStepId": "a",
				"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}}}}).Data(t, &w)
		env := map[string]string{"SWITCHBOARD_API": h.URL, "SWITCHBOARD_TOKEN": tok}

		r := runCLI(t, env, "workflows", "export", w.ID)
		var doc struct{ Format, Name, Description string }
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &doc) != nil || doc.Format != "switchboard.workflow/v1" || doc.Name != "shipped" {
			t.Fatalf("export: %+v", r)
		}
		file := filepath.Join(t.TempDir(), "wf.json")
		if r := runCLI(t, env, "workflows", "export", "--out", file, w.ID); r.code != 0 {
			t.Fatalf("export to a file: %+v", r)
		}
		r = runCLI(t, env, "workflows", "import", file)
		id := strings.TrimSpace(r.stdout)
		if r.code != 0 || !strings.HasPrefix(id, "wf_") || id == w.ID || !strings.Contains(r.stderr, "disabled") {
			t.Fatalf("import: %+v", r)
		}
		var got struct {
			Name, Description string
			Enabled           bool
		}
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+id, tok, nil).Data(t, &got)
		if got.Name != "shipped" || got.Description != "d" || got.Enabled {
			t.Fatalf("imported workflow: %+v", got)
		}

		if r := runCLI(t, map[string]string{"SWITCHBOARD_API": h.URL}, "workflows", "export", w.ID); r.code != 2 || !strings.Contains(r.stderr, "SWITCHBOARD_TOKEN") {
			t.Fatalf("without a credential: %+v", r)
		}
		if r := runCLI(t, env, "workflows", "export", "wf_nope"); r.code != 1 || !strings.Contains(r.stderr, "404 NOT_FOUND") {
			t.Fatalf("unknown workflow: %+v", r)
		}
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, []byte(`{"name": "x", "definition": {"trigger": {"type": "manual"}, "startStepId": "a", "steps": []}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := runCLI(t, env, "workflows", "import", bad); r.code != 1 || !strings.Contains(r.stderr, "definition.steps: needs at least one step") {
			t.Fatalf("invalid import: %+v", r)
		}
		if r := runCLI(t, env, "workflows", "import", filepath.Join(t.TempDir(), "missing.json")); r.code != 1 {
			t.Fatalf("missing file: %+v", r)
		}
	})
}
