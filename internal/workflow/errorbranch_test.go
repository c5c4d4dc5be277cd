package workflow_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// onErrorNextStepId: a step that fails for good (after its retries) sends
// the run to its error branch, which reads the failure as steps.<id>.error;
// the link is validated like the others.
func TestErrorBranch(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "error branch", def(manual,
			with(badTpl("p", "ok"), "onError", "retry", "retryCount", 1, "retryBackoffMs", 10, "onErrorNextStepId", "handle"),
			transform("ok", "'not taken'", ""),
			with(transform("t", "abs('x')", "ok"), "onErrorNextStepId", "done"),
			transform("handle", "{failed: steps.p.status, hasError: steps.p.error != null}", "t"),
			transform("done", "{p: steps.p.status, t: steps.t.status, tError: steps.t.error != null}", "")))
		r := waitRun(t, h, tok, start(t, h, tok, w.ID, nil).ID, nil)
		if r.Status != "completed" || stepIDs(r) != "p,p,handle,t,done" || r.Error != "" {
			t.Fatalf("run: %v", r)
		}
		if p := r.Steps[1]; p.Status != "failed" || p.Attempt != 2 || !strings.Contains(p.Error, "template") {
			t.Fatalf("failed step keeps its error: %+v", p)
		}
		// The first attempt says when the second was due; the last, nothing.
		full := getStudioRun(t, h, tok, r.ID)
		if w := full.Steps[0].WaitUntil; w == nil || w.Before(r.Steps[0].FinishedAt) || full.Steps[1].WaitUntil != nil {
			t.Fatalf("waitUntil: %+v", full.Steps)
		}
		if string(r.Steps[2].Output) != `{"failed":"failed","hasError":true}` || string(r.Output) != `{"p":"failed","t":"failed","tError":true}` {
			t.Fatalf("branch outputs: %s / %s", r.Steps[2].Output, r.Output)
		}

		bad := h.Call(http.StatusBadRequest, "POST", "/api/v1/workflows/validate", tok, def(manual,
			with(transform("a", "`1`", "b"), "onErrorNextStepId", "nowhere"),
			with(transform("b", "`1`", ""), "onError", "continue", "onErrorNextStepId", "a")))
		errs := fields(t, bad)
		if !hasField(errs, "definition.steps[0].onErrorNextStepId", `names no step ("nowhere")`) ||
			!hasField(errs, "definition.steps[1].onErrorNextStepId", `"continue"`) {
			t.Fatalf("validation: %+v", errs)
		}
		var got wf
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+w.ID, tok, nil).Data(t, &got)
		if !strings.Contains(string(got.Definition), `"onErrorNextStepId":"handle"`) {
			t.Fatalf("definition loses the link: %s", got.Definition)
		}
	})
}
