package workflow_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The expression preview evaluates what the studio's fields hold over a
// run's real data with the engine's own evaluator: expr-lang, {{ }}
// templates and JMESPath; errors come back as the result, bad requests as
// 4xx, and another workspace's run is not found.
func TestExpressionPreview(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		d := def(manual, transform("total", "{sum: sum(trigger.items[*].price)}", "big"), condition("big", "steps.total.output.sum > variables.limit", "", ""))
		d["variables"] = obj{"limit": 10}
		w := create(t, h, tok, "previewed", d)
		r := waitRun(t, h, tok, start(t, h, tok, w.ID, obj{"input": obj{"items": []obj{{"price": 7}, {"price": 5}}}}).ID, nil)
		if r.Status != "completed" {
			t.Fatalf("run: %v", r)
		}
		const path = "/api/v1/workflows/expressions/preview"
		type result struct {
			OK    bool
			Value any
			Error string
		}
		cases := []struct {
			body obj
			want result
		}{
			{obj{"expression": "steps.total.output.sum * 2", "runId": r.ID}, result{OK: true, Value: 24.0}},
			{obj{"expression": "steps.big.output.result && variables.limit == 10", "runId": r.ID}, result{OK: true, Value: true}},
			{obj{"expression": "Sum {{ steps.total.output.sum }} of {{ len(trigger.items) }}", "mode": "template", "runId": r.ID}, result{OK: true, Value: "Sum 12 of 2"}},
			{obj{"expression": "trigger.items[*].price", "mode": "jmespath", "runId": r.ID}, result{OK: true, Value: []any{7.0, 5.0}}},
			// Inline data replaces the run's (the editor's unsaved variables).
			{obj{"expression": "variables.limit", "runId": r.ID, "data": obj{"variables": obj{"limit": 99}}}, result{OK: true, Value: 99.0}},
			{obj{"expression": "trigger.name + '!'", "data": obj{"trigger": obj{"name": "Ada"}}}, result{OK: true, Value: "Ada!"}},
			{obj{"expression": "steps.total.output.sum >", "runId": r.ID}, result{Error: "unexpected token EOF"}},
			{obj{"expression": "trigge.x", "runId": r.ID}, result{Error: "unknown name trigge"}},
			{obj{"expression": "trigger.items[0].price / 'x'", "runId": r.ID}, result{Error: "invalid operation"}},
			{obj{"expression": "Hi {{ trigger.", "mode": "template"}, result{Error: "{{"}},
		}
		for _, c := range cases {
			var got result
			h.Call(http.StatusOK, "POST", path, tok, c.body).Data(t, &got)
			if got.OK != c.want.OK || (c.want.OK && jsonText(got.Value) != jsonText(c.want.Value)) ||
				(!c.want.OK && !strings.Contains(got.Error, c.want.Error)) {
				t.Errorf("%v: %+v, want %+v", c.body, got, c.want)
			}
		}
		for _, c := range []struct {
			body   obj
			status int
		}{
			{obj{"expression": "1", "mode": "python"}, http.StatusBadRequest},
			{obj{"expression": "1", "data": obj{"secrets": 1}}, http.StatusBadRequest},
			{obj{"expression": "1", "data": []int{1}}, http.StatusBadRequest},
			{obj{"expression": "1", "runId": "run_nope"}, http.StatusNotFound},
			{obj{"expression": strings.Repeat("1+", 40<<10)}, http.StatusBadRequest},
			{obj{"expression": "1", "data": obj{"trigger": strings.Repeat("x", 300<<10)}}, http.StatusRequestEntityTooLarge},
		} {
			if res := h.Do(apptest.Request{Method: "POST", Path: path, Token: tok, Body: c.body}); res.Status != c.status {
				t.Errorf("%.80v: %d %.200s, want %d", c.body, res.Status, res.Raw, c.status)
			}
		}
		// Another workspace sees nothing of the run.
		other := h.SignUp("other@example.com", pw).AccessToken
		if res := h.Do(apptest.Request{Method: "POST", Path: path, Token: other, Body: obj{"expression": "trigger", "runId": r.ID}}); res.Status != http.StatusNotFound {
			t.Fatalf("another workspace's run: %d %s", res.Status, res.Raw)
		}
	})
}

func jsonText(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
