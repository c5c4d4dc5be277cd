package workflow_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type wfRun struct {
	ID, Status, Error, CurrentStepID string
	Output                           json.RawMessage
	Steps                            []struct {
		StepID, Status, Error, Branch string
		Attempt                       int
		Output                        json.RawMessage
	}
}

func TestWorkflowSmoke(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		tok := h.SignUp("wf@example.com", "correct horse battery").AccessToken
		def := map[string]any{
			"trigger":     map[string]any{"type": "webhook", "mode": "sync"},
			"startStepId": "count",
			"steps": []any{
				map[string]any{"id": "count", "type": "transform", "config": map[string]any{"expression": "{total: length(trigger.body.items)}"}, "nextStepId": "big"},
				map[string]any{"id": "big", "type": "condition", "config": map[string]any{"expression": "steps.count.output.total > 2"},
					"conditionalNext": map[string]any{"true": "yes", "false": "no"}},
				map[string]any{"id": "yes", "type": "transform", "config": map[string]any{"expression": "{verdict: 'big', n: steps.count.output.total}"}},
				map[string]any{"id": "no", "type": "plugin", "config": map[string]any{"plugin": "template",
					"input": map[string]any{"template": `small: {{ "{{.n}}" }}`, "data": map[string]any{"n": "{{ steps.count.output.total }}"}}}},
			},
		}
		var wf struct{ ID, HookURL string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, map[string]any{"name": "count", "definition": def}).Data(t, &wf)
		if wf.HookURL == "" {
			t.Fatalf("no hook url")
		}
		path := wf.HookURL[strings.Index(wf.HookURL, "/hooks/"):]
		r := h.Do(apptest.Request{Method: "POST", Path: path, Body: `{"items":[1,2,3]}`, Headers: map[string]string{"Content-Type": "application/json"}})
		if r.Status != 200 || !strings.Contains(string(r.Raw), `"verdict":"big"`) {
			t.Fatalf("sync hook: %d %s", r.Status, r.Raw)
		}
		r = h.Do(apptest.Request{Method: "POST", Path: path, Body: `{"items":[1]}`, Headers: map[string]string{"Content-Type": "application/json"}})
		if r.Status != 200 || !strings.Contains(string(r.Raw), `small: 1`) {
			t.Fatalf("sync hook via plugin: %d %s", r.Status, r.Raw)
		}
		var page struct{ Items []wfRun }
		h.Call(http.StatusOK, "GET", "/api/v1/runs?workflowId="+wf.ID, tok, nil).Data(t, &page)
		if len(page.Items) != 2 {
			t.Fatalf("runs: %+v", page.Items)
		}
		// Newest first: the small order went count → big (false) → the plugin.
		var run wfRun
		h.Call(http.StatusOK, "GET", "/api/v1/runs/"+page.Items[0].ID, tok, nil).Data(t, &run)
		if run.Status != "completed" || len(run.Steps) != 3 || run.Steps[0].StepID != "count" ||
			run.Steps[1].Branch != "false" || run.Steps[2].StepID != "no" || string(run.Steps[0].Output) != `{"total":1}` {
			t.Fatalf("run record: %+v", run)
		}
	})
}
