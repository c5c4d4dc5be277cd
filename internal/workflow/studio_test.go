package workflow_test

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// studioRun is a run with the studio's fields.
type studioRun struct {
	ID, Status, Trigger string
	Version, Checkpoint int
	Test                bool
	ChargedMillicredits int64
	Output              json.RawMessage
	Steps               []struct {
		StepID, Status string
		Pinned         bool
		Output         json.RawMessage
		WaitUntil      *time.Time
	}
}

func getStudioRun(t *testing.T, h *apptest.Harness, tok, id string) studioRun {
	t.Helper()
	var r studioRun
	h.Call(http.StatusOK, "GET", "/api/v1/runs/"+id, tok, nil).Data(t, &r)
	return r
}

type layoutWF struct {
	ID      string
	Version int
	Layout  *struct {
		Nodes    map[string]struct{ X, Y float64 }
		Viewport *struct{ X, Y, Zoom float64 }
	}
	Definition json.RawMessage
}

// The editor's layout and draft are saved without making a version; an
// old version is restored as the newest.
func TestStudioLayoutDraftRestore(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "studio", def(manual, transform("a", "`1`", "")))
		path := "/api/v1/workflows/" + w.ID

		var got layoutWF
		if h.Call(http.StatusOK, "GET", path, tok, nil).Data(t, &got); got.Layout != nil || !strings.Contains(string(h.Call(http.StatusOK, "GET", path, tok, nil).Raw), `"layout":null`) {
			t.Fatalf("a new workflow has a layout: %+v", got.Layout)
		}
		layout := obj{"nodes": obj{"a": obj{"x": 10, "y": -20.5}, "gone": obj{"x": 1, "y": 2}}, "viewport": obj{"x": 0, "y": 5, "zoom": 1.5}}
		h.Call(http.StatusOK, "PUT", path+"/layout", tok, obj{"layout": layout}).Data(t, &got)
		if got.Version != 1 || got.Layout == nil || got.Layout.Nodes["a"].Y != -20.5 || got.Layout.Nodes["gone"].X != 1 || got.Layout.Viewport.Zoom != 1.5 {
			t.Fatalf("layout saved: %+v", got)
		}
		h.Call(http.StatusOK, "GET", path, tok, nil).Data(t, &got)
		if got.Layout == nil || got.Layout.Nodes["a"].X != 10 {
			t.Fatalf("layout read back: %+v", got.Layout)
		}
		bad := fields(t, h.Call(http.StatusBadRequest, "PUT", path+"/layout", tok, obj{"layout": obj{"nodes": obj{"a": obj{"x": 1e9, "y": 0}},
			"viewport": obj{"x": 0, "y": 0, "zoom": 0}}}))
		if !hasField(bad, "layout.nodes.a", "x and y") || !hasField(bad, "layout.viewport.zoom", "above 0") {
			t.Fatalf("bad layout: %+v", bad)
		}
		if r := h.Do(apptest.Request{Method: "PUT", Path: path + "/layout", Token: tok, Body: obj{"layout": obj{"nodes": obj{}, "extra": 1}}}); r.Status != http.StatusBadRequest {
			t.Fatalf("unknown layout field: %d %s", r.Status, r.Raw)
		}

		// Versions: 2 is saved, 1 restored as 3; the layout stays.
		h.Call(http.StatusOK, "PUT", path, tok, obj{"definition": def(manual, transform("b", "`2`", ""))})
		h.Call(http.StatusCreated, "POST", path+"/versions/1/restore", tok, nil).Data(t, &got)
		if got.Version != 3 || !strings.Contains(string(got.Definition), `"id":"a"`) || got.Layout == nil {
			t.Fatalf("restored: %+v %s", got, got.Definition)
		}
		var versions []struct{ Version int }
		h.Call(http.StatusOK, "GET", path+"/versions", tok, nil).Items(t, &versions)
		if len(versions) != 3 {
			t.Fatalf("versions after layout and restore: %+v", versions)
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: path + "/versions/9/restore", Token: tok}); r.Status != http.StatusNotFound {
			t.Fatalf("restore a missing version: %d %s", r.Status, r.Raw)
		}
		if acts := auditActions(t, h, tok, "resourceId="+w.ID); !slices.Contains(acts, "workflow.restored") {
			t.Fatalf("restore not audited: %v", acts)
		}

		// Draft: empty, then saved (an invalid definition is fine), no version.
		var d struct {
			Definition, Input json.RawMessage
			Pinned            map[string]json.RawMessage
			UpdatedAt         *time.Time
		}
		h.Call(http.StatusOK, "GET", path+"/draft", tok, nil).Data(t, &d)
		if d.UpdatedAt != nil || len(d.Pinned) != 0 || string(d.Definition) != "null" {
			t.Fatalf("empty draft: %+v", d)
		}
		h.Call(http.StatusOK, "PUT", path+"/draft", tok, obj{"definition": obj{"steps": []any{}}, "pinned": obj{"a": obj{"v": 1}}, "input": obj{"q": "x"}})
		h.Call(http.StatusOK, "GET", path+"/draft", tok, nil).Data(t, &d)
		if d.UpdatedAt == nil || string(d.Pinned["a"]) != `{"v":1}` || string(d.Input) != `{"q":"x"}` || string(d.Definition) != `{"steps":[]}` {
			t.Fatalf("draft: %+v", d)
		}
		h.Call(http.StatusOK, "GET", path, tok, nil).Data(t, &got)
		if got.Version != 3 {
			t.Fatalf("a draft made a version: %d", got.Version)
		}

		// Another workspace sees none of it.
		other := h.SignUp("other@example.com", pw).AccessToken
		for _, r := range []apptest.Request{{Method: "GET", Path: path + "/draft"}, {Method: "PUT", Path: path + "/layout", Body: obj{"layout": nil}},
			{Method: "POST", Path: path + "/versions/1/restore"}} {
			r.Token = other
			if res := h.Do(r); res.Status != http.StatusNotFound {
				t.Fatalf("%s %s from another workspace: %d", r.Method, r.Path, res.Status)
			}
		}
	})
}

// A test run runs an unsaved definition: pinned steps are not run, the run
// is marked test, listed by the filters, resumable from the database on
// another node, and deleted 24 h after it ends.
func TestStudioTestRun(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "tested", def(manual, transform("a", "`1`", "")))
		path := "/api/v1/workflows/" + w.ID
		real := start(t, h, tok, w.ID, nil)

		// The same field errors as validate.
		broken := def(manual, transform("a", "[[", "nowhere"))
		want := fields(t, h.Call(http.StatusBadRequest, "POST", "/api/v1/workflows/validate", tok, broken))
		if got := fields(t, h.Call(http.StatusBadRequest, "POST", path+"/test", tok, obj{"definition": broken})); !slices.Equal(got, want) {
			t.Fatalf("test errors %+v, validate errors %+v", got, want)
		}
		if f := fields(t, h.Call(http.StatusBadRequest, "POST", path+"/test", tok, obj{"definition": def(manual, condition("c", "true", "", "")),
			"pinned": obj{"c": "yes"}})); !hasField(f, "pinned.c", "true, false") {
			t.Fatalf("bad pinned condition: %+v", f)
		}

		// The unsaved definition: a failing plugin step pinned (so never
		// run), a pinned condition, then a step reading both.
		unsaved := def(manual, badTpl("p", "c"), condition("c", "false", "z", "never"),
			transform("z", "{p: steps.p.output, c: steps.c.output.result, in: trigger.q}", ""), transform("never", "'no'", ""))
		var res struct{ Run studioRun }
		h.Call(http.StatusAccepted, "POST", path+"/test?wait=10000", tok, obj{"definition": unsaved, "input": obj{"q": "hi"},
			"pinned": obj{"p": obj{"text": "pinned!"}, "c": true, "deleted": 1}}).Data(t, &res)
		r := res.Run
		if r.Status != "completed" || !r.Test || r.Version != 1 || r.Trigger != "manual" || string(r.Output) != `{"c":true,"in":"hi","p":{"text":"pinned!"}}` {
			t.Fatalf("test run: %+v %s", r, r.Output)
		}
		if len(r.Steps) != 3 || !r.Steps[0].Pinned || !r.Steps[1].Pinned || r.Steps[2].Pinned || r.Steps[0].Status != "succeeded" {
			t.Fatalf("test run steps: %+v", r.Steps)
		}
		// The inspector reads the definition the test run took.
		var rd struct {
			Version    int
			Test       bool
			Definition struct{ Steps []struct{ ID string } }
			Pinned     map[string]json.RawMessage
		}
		h.Call(http.StatusOK, "GET", "/api/v1/runs/"+r.ID+"/definition", tok, nil).Data(t, &rd)
		if !rd.Test || rd.Version != 1 || len(rd.Definition.Steps) != 4 || string(rd.Pinned["c"]) != "true" || rd.Pinned["deleted"] != nil {
			t.Fatalf("test run's definition: %+v", rd)
		}
		rd.Pinned = nil
		h.Call(http.StatusOK, "GET", "/api/v1/runs/"+real.ID+"/definition", tok, nil).Data(t, &rd)
		if rd.Test || len(rd.Definition.Steps) != 1 || len(rd.Pinned) != 0 {
			t.Fatalf("a run's definition: %+v", rd)
		}
		if res := h.Do(apptest.Request{Method: "GET", Path: "/api/v1/runs/" + r.ID + "/definition", Token: h.SignUp("peer@example.com", pw).AccessToken}); res.Status != http.StatusNotFound {
			t.Fatalf("another workspace reads a run's definition: %d", res.Status)
		}
		// The workflow's versions do not know of it.
		var versions []struct{ Version int }
		h.Call(http.StatusOK, "GET", path+"/versions", tok, nil).Items(t, &versions)
		if len(versions) != 1 {
			t.Fatalf("a test run made a version: %+v", versions)
		}

		// A test run that fails (p not pinned) is retried on a second node,
		// which has never seen its definition: it loads it from the database.
		var failing struct{ Run studioRun }
		h.Call(http.StatusAccepted, "POST", path+"/test?wait=10000", tok, obj{"definition": def(manual, badTpl("p", ""))}).Data(t, &failing)
		if failing.Run.Status != "failed" || !failing.Run.Test {
			t.Fatalf("failing test run: %+v", failing.Run)
		}
		h2 := apptest.Start(t, url, func(c *config.Config) { c.DataDir = filepath.Dir(h.MailDir) })
		var retried studioRun
		h2.Call(http.StatusOK, "POST", "/api/v1/runs/"+failing.Run.ID+"/retry", tok, nil).Data(t, &retried)
		if retried.Status != "running" || !retried.Test {
			t.Fatalf("retried test run: %+v", retried)
		}
		waitRun(t, h2, tok, retried.ID, nil)

		// Filters.
		ids := func(q string) []string {
			var p struct{ Items []studioRun }
			h.Call(http.StatusOK, "GET", q, tok, nil).Data(t, &p)
			var out []string
			for _, it := range p.Items {
				out = append(out, it.ID)
			}
			return out
		}
		if got := ids("/api/v1/runs?test=true"); !slices.Equal(got, []string{failing.Run.ID, r.ID}) {
			t.Fatalf("test=true: %v", got)
		}
		if got := ids(path + "/runs?test=false&trigger=manual&version=1"); !slices.Equal(got, []string{real.ID}) {
			t.Fatalf("real runs: %v", got)
		}
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if got := ids(path + "/runs?since=" + future); len(got) != 0 {
			t.Fatalf("since the future: %v", got)
		}
		if got := ids(path + "/runs?until=" + future + "&status=completed"); !slices.Equal(got, []string{r.ID, real.ID}) {
			t.Fatalf("until: %v", got)
		}
		for _, q := range []string{"test=maybe", "trigger=cron", "version=0", "since=yesterday"} {
			if res := h.Do(apptest.Request{Method: "GET", Path: path + "/runs?" + q, Token: tok}); res.Status != http.StatusBadRequest {
				t.Fatalf("%s: %d %s", q, res.Status, res.Raw)
			}
		}

		// Retention: 24 h after they end, test runs and their definitions go.
		exec(t, h, `UPDATE workflow_runs SET finished_at = $1 WHERE test = $2 OR id = $3`, time.Now().Add(-25*time.Hour).UTC(), true, real.ID)
		exec(t, h, `UPDATE workflow_test_definitions SET created_at = $1`, time.Now().Add(-25*time.Hour).UTC())
		if _, err := h.App.Workflows.CleanupRuns(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := ids("/api/v1/runs"); !slices.Equal(got, []string{real.ID}) {
			t.Fatalf("after retention: %v", got)
		}
		var left int
		if err := h.App.DB.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM workflow_test_definitions`).Scan(&left); err != nil || left != 0 {
			t.Fatalf("test definitions left: %d %v", left, err)
		}

		// Test runs are counted like any run, and what one costs beyond
		// the plan is on the run.
		used := usedExecutions(t, h, tok)
		me := h.Login("wf@example.com", pw)
		fillExecutions(t, h, actor.Actor{UserID: me.UserID, Plan: actor.Free}, 100-used[0])
		h.Call(http.StatusOK, "PUT", "/api/v1/credits/settings", tok, obj{"overageEnabled": true})
		h.Call(http.StatusCreated, "POST", "/api/v1/admin/workspaces/"+me.UserID+"/credits", h.Admin().AccessToken, obj{"amount": 1000, "type": "grant", "reason": "test"})
		var paid struct{ Run studioRun }
		h.Call(http.StatusAccepted, "POST", path+"/test", tok, obj{"definition": def(manual, transform("a", "`1`", ""))}).Data(t, &paid)
		if paid.Run.ChargedMillicredits <= 0 || getStudioRun(t, h, tok, paid.Run.ID).ChargedMillicredits != paid.Run.ChargedMillicredits {
			t.Fatalf("overage of a test run: %+v", paid.Run)
		}
		if n := usedExecutions(t, h, tok); n != [2]int64{101, 1} {
			t.Fatalf("executions after an overage test run: %v", n)
		}
	})
}
