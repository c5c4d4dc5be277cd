package workflow_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type errorInput struct {
	RunID, WorkflowID, StepID, Error string
	Version                          int
	FailedAt                         time.Time
}

func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ea, _ := json.Marshal(x)
	eb, _ := json.Marshal(y)
	return string(ea) == string(eb)
}

// errorRuns returns the runs of workflow id, oldest first, each ended.
func errorRuns(t *testing.T, h *apptest.Harness, tok, id string) []run {
	t.Helper()
	list := listRuns(t, h, tok, "workflowId="+id)
	out := make([]run, len(list))
	for i, r := range list {
		out[len(list)-1-i] = waitRun(t, h, tok, r.ID, nil)
	}
	return out
}

// A failed run starts its error workflow — its own settings.errorWorkflowId,
// else the workspace default — in the transaction that fails it: step
// failures, step budgets and run timeouts alike. An error workflow's runs
// never start another.
func TestErrorWorkflows(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		handler := create(t, h, tok, "on error", def(manual, transform("echo", "trigger", "")))
		withHandler := func(d obj) obj {
			d["settings"] = obj{"errorWorkflowId": handler.ID}
			return d
		}
		// A step failure (a condition that gives a number), at the run's
		// creation.
		broken := create(t, h, tok, "broken", withHandler(def(manual, condition("c", "trigger.x", "", ""))))
		failed := start(t, h, tok, broken.ID, obj{"input": obj{"x": 1}})
		if failed.Status != "failed" {
			t.Fatalf("run: %v", failed)
		}
		if n := usedExecutions(t, h, tok); n[0] != 2 {
			t.Fatalf("a failed run and its error run counted %v executions", n)
		}
		// The step budget, in a worker.
		budget := withHandler(def(manual, delay("d", 1, "b"), transform("b", "@", "")))
		budget["settings"].(obj)["maxSteps"] = 1
		overBudget := waitRun(t, h, tok, start(t, h, tok, create(t, h, tok, "budget", budget).ID, nil).ID, nil)
		// The run's timeout, failed by the sweep.
		slow := create(t, h, tok, "slow", withHandler(def(manual, delay("d", 600, "t"), transform("t", "@", ""))))
		late := waitRun(t, h, tok, start(t, h, tok, slow.ID, nil).ID, func(r run) bool { return r.WakeAt != nil })
		exec(t, h, `UPDATE workflow_runs SET timeout_at = $1 WHERE id = $2`, time.Now().Add(-time.Minute).UTC(), late.ID)
		// The node's own sweep (every TimeoutEvery) may get there first on
		// a busy machine; either way the run fails by its timeout once.
		if n, err := h.App.Workflows.SweepTimeouts(context.Background()); err != nil || n > 1 {
			t.Fatalf("sweep: %d %v", n, err)
		}
		waitRun(t, h, tok, late.ID, func(r run) bool { return r.Status == "failed" })

		got := errorRuns(t, h, tok, handler.ID)
		want := []struct {
			r          run
			wf, step   string
			errPrefix  string
			errContain string
		}{
			{failed, broken.ID, "c", `step "c" failed: `, "not true or false"},
			{overBudget, "", "b", "the run used its budget of 1 steps", ""},
			{waitRun(t, h, tok, late.ID, nil), slow.ID, "t", "the run exceeded its timeout", ""},
		}
		if len(got) != len(want) {
			t.Fatalf("error runs: %v", got)
		}
		for i, w := range want {
			var in errorInput
			if err := json.Unmarshal(got[i].Input, &in); err != nil {
				t.Fatal(err)
			}
			if got[i].Trigger != "error" || got[i].Status != "completed" || !sameJSON(got[i].Output, got[i].Input) ||
				in.RunID != w.r.ID || in.Version != 1 || in.StepID != w.step || in.Error != w.r.Error ||
				!strings.HasPrefix(in.Error, w.errPrefix) || !strings.Contains(in.Error, w.errContain) || in.FailedAt.IsZero() ||
				(w.wf != "" && in.WorkflowID != w.wf) {
				t.Errorf("error run %d for %v: %v input %s", i, w.r, got[i], got[i].Input)
			}
		}

		// The workspace default: a workflow without its own error
		// workflow. The default here fails too, and starts nothing more.
		failing := create(t, h, tok, "failing handler", def(manual, condition("c", "trigger.runId", "", "")))
		var st struct{ ErrorWorkflowID *string }
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/settings", tok, obj{"errorWorkflowId": failing.ID}).Data(t, &st)
		if st.ErrorWorkflowID == nil || *st.ErrorWorkflowID != failing.ID {
			t.Fatalf("settings: %+v", st)
		}
		st.ErrorWorkflowID = nil
		if h.Call(http.StatusOK, "GET", "/api/v1/workflows/settings", tok, nil).Data(t, &st); st.ErrorWorkflowID == nil || *st.ErrorWorkflowID != failing.ID {
			t.Fatalf("settings read back: %+v", st)
		}
		plain := create(t, h, tok, "plain", def(manual, condition("c", "trigger.x", "", "")))
		p := start(t, h, tok, plain.ID, obj{"input": obj{"x": 2}})
		d := errorRuns(t, h, tok, failing.ID)
		if len(d) != 1 || d[0].Status != "failed" || d[0].Trigger != "error" || !strings.Contains(string(d[0].Input), p.ID) {
			t.Fatalf("default error workflow runs: %v", d)
		}
		// A workflow with its own handler does not use the default.
		start(t, h, tok, broken.ID, obj{"input": obj{"x": 3}})
		if n := len(errorRuns(t, h, tok, handler.ID)); n != 4 {
			t.Fatalf("own handler runs: %d", n)
		}
		if n := len(listRuns(t, h, tok, "workflowId="+failing.ID)); n != 1 {
			t.Fatalf("an error workflow's failure started more: %d runs", n)
		}
		// A disabled error workflow starts nothing.
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+failing.ID+"/disable", tok, nil)
		start(t, h, tok, plain.ID, obj{"input": obj{"x": 4}})
		if n := len(listRuns(t, h, tok, "workflowId="+failing.ID)); n != 1 {
			t.Fatalf("a disabled error workflow ran: %d runs", n)
		}

		// Saves check the reference: a workflow of this workspace, not
		// the workflow itself.
		other := h.SignUp("other@example.com", pw).AccessToken
		foreign := create(t, h, other, "foreign", def(manual, transform("t", "@", "")))
		for _, c := range []struct{ id, msg string }{
			{foreign.ID, "names no workflow of this workspace"},
			{"nope", "is not a workflow id"},
			{broken.ID, "cannot name the workflow itself"},
		} {
			d := def(manual, transform("t", "@", ""))
			d["settings"] = obj{"errorWorkflowId": c.id}
			r := h.Do(apptest.Request{Method: "PUT", Path: "/api/v1/workflows/" + broken.ID, Token: tok, Body: obj{"definition": d}})
			if errs := fields(t, r); !hasField(errs, "definition.settings.errorWorkflowId", c.msg) {
				t.Errorf("%s: %+v", c.id, errs)
			}
		}
		r := h.Do(apptest.Request{Method: "PUT", Path: "/api/v1/workflows/settings", Token: tok, Body: obj{"errorWorkflowId": foreign.ID}})
		if errs := fields(t, r); !hasField(errs, "errorWorkflowId", "names no workflow of this workspace") {
			t.Errorf("settings: %+v", errs)
		}
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/settings", tok, obj{"errorWorkflowId": nil}).Data(t, &st)
		if st.ErrorWorkflowID != nil {
			t.Fatalf("cleared settings: %+v", st)
		}
		if acts := strings.Join(auditActions(t, h, tok, ""), ","); strings.Count(acts, "workflow.settings_changed") != 2 {
			t.Errorf("audit: %s", acts)
		}
	})
}
