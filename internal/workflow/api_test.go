package workflow_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Create, list (paged), get, update (new versions), enable/disable and
// delete over HTTP, each audited.
func TestWorkflowCRUD(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		var made []wf
		for i := range 3 {
			made = append(made, create(t, h, tok, fmt.Sprintf("wf %d", i), def(manual, transform("a", "`1`", ""))))
		}
		w := made[0]
		if w.Version != 1 || !w.Enabled || w.TriggerType != "manual" || w.HookURL != "" || !strings.HasPrefix(w.ID, "wf_") {
			t.Fatalf("created: %+v", w)
		}

		// Pages, newest first.
		var p1, p2 struct {
			Items      []wf
			NextCursor string
		}
		h.Call(http.StatusOK, "GET", "/api/v1/workflows?limit=2", tok, nil).Data(t, &p1)
		if len(p1.Items) != 2 || p1.Items[0].ID != made[2].ID || p1.Items[1].ID != made[1].ID || p1.NextCursor == "" {
			t.Fatalf("page 1: %+v", p1)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/workflows?limit=2&cursor="+p1.NextCursor, tok, nil).Data(t, &p2)
		if len(p2.Items) != 1 || p2.Items[0].ID != made[0].ID || p2.NextCursor != "" {
			t.Fatalf("page 2: %+v", p2)
		}
		if r := h.Do(apptest.Request{Method: "GET", Path: "/api/v1/workflows?cursor=nope", Token: tok}); r.Status != http.StatusBadRequest {
			t.Fatalf("bad cursor: %d %s", r.Status, r.Raw)
		}
		if r := h.Do(apptest.Request{Method: "GET", Path: "/api/v1/workflows?limit=500", Token: tok}); r.Status != http.StatusBadRequest {
			t.Fatalf("limit 500: %d %s", r.Status, r.Raw)
		}

		var got wf
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+w.ID, tok, nil).Data(t, &got)
		if got.ID != w.ID || got.Name != "wf 0" || got.Version != 1 {
			t.Fatalf("get: %+v", got)
		}

		// Update: a new version; the old one stays readable.
		var up wf
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+w.ID, tok, obj{"name": "renamed", "description": "d",
			"definition": def(manual, transform("b", "`2`", ""))}).Data(t, &up)
		if up.Version != 2 || up.Name != "renamed" || up.Description != "d" || !strings.Contains(string(up.Definition), `"b"`) {
			t.Fatalf("updated: %+v", up)
		}
		// An update without a definition carries it over, still as a new version.
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+w.ID, tok, obj{"description": "d2"}).Data(t, &up)
		if up.Version != 3 || up.Name != "renamed" || !strings.Contains(string(up.Definition), `"b"`) {
			t.Fatalf("updated without definition: %+v", up)
		}
		var versions []struct {
			Version    int
			WorkflowID string
			Definition json.RawMessage
		}
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+w.ID+"/versions", tok, nil).Items(t, &versions)
		if len(versions) != 3 || versions[0].Version != 3 || versions[2].Version != 1 || !strings.Contains(string(versions[2].Definition), `"a"`) {
			t.Fatalf("versions: %+v", versions)
		}
		var v1 struct {
			Version    int
			Definition json.RawMessage
		}
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+w.ID+"/versions/1", tok, nil).Data(t, &v1)
		if v1.Version != 1 || !strings.Contains(string(v1.Definition), `"startStepId":"a"`) {
			t.Fatalf("version 1: %+v %s", v1, v1.Definition)
		}
		h.Call(http.StatusNotFound, "GET", "/api/v1/workflows/"+w.ID+"/versions/9", tok, nil)
		h.Call(http.StatusBadRequest, "GET", "/api/v1/workflows/"+w.ID+"/versions/zero", tok, nil)
		// A bad update changes nothing.
		h.Call(http.StatusBadRequest, "PUT", "/api/v1/workflows/"+w.ID, tok, obj{"definition": def(manual, transform("c", "[[", ""))})
		h.Call(http.StatusBadRequest, "PUT", "/api/v1/workflows/"+w.ID, tok, obj{"name": " "})
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+w.ID, tok, nil).Data(t, &got)
		if got.Version != 3 {
			t.Fatalf("a refused update made a version: %+v", got)
		}

		// Enable / disable.
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+w.ID+"/disable", tok, nil).Data(t, &got)
		if got.Enabled {
			t.Fatalf("disable: %+v", got)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+w.ID+"/enable", tok, nil).Data(t, &got)
		if !got.Enabled {
			t.Fatalf("enable: %+v", got)
		}
		// Created disabled.
		var off wf
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, obj{"name": "off", "enabled": false,
			"definition": def(manual, transform("a", "`1`", ""))}).Data(t, &off)
		if off.Enabled {
			t.Fatalf("created with enabled false: %+v", off)
		}

		// Delete.
		h.Call(http.StatusOK, "DELETE", "/api/v1/workflows/"+w.ID, tok, nil)
		h.Call(http.StatusNotFound, "GET", "/api/v1/workflows/"+w.ID, tok, nil)
		h.Call(http.StatusNotFound, "PUT", "/api/v1/workflows/"+w.ID, tok, obj{"name": "x"})
		h.Call(http.StatusNotFound, "DELETE", "/api/v1/workflows/"+w.ID, tok, nil)
		h.Call(http.StatusNotFound, "GET", "/api/v1/workflows/"+w.ID+"/versions", tok, nil)
		h.Call(http.StatusNotFound, "POST", "/api/v1/workflows/"+w.ID+"/runs", tok, nil)
		h.Call(http.StatusOK, "GET", "/api/v1/workflows", tok, nil).Data(t, &p1)
		for _, it := range p1.Items {
			if it.ID == w.ID {
				t.Fatalf("deleted workflow listed")
			}
		}
		h.Call(http.StatusNotFound, "GET", "/api/v1/workflows/wf_nonsense", tok, nil)

		acts := auditActions(t, h, tok, "resourceId="+w.ID)
		for _, want := range []string{"workflow.created", "workflow.updated", "workflow.disabled", "workflow.enabled", "workflow.deleted"} {
			if !slices.Contains(acts, want) {
				t.Errorf("audit of %s lacks %s: %v", w.ID, want, acts)
			}
		}
		if n := strings.Count(strings.Join(acts, " "), "workflow.updated"); n != 2 {
			t.Errorf("want 2 workflow.updated rows, have %d: %v", n, acts)
		}
	})
}

// A run stays on the version it started on: a delayed run started on v1
// finishes on v1 after the workflow moved to v2.
func TestRunsArePinnedToTheirVersion(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "pinned", def(manual, delay("wait", 1, "out"), transform("out", "{v: `1`, in: trigger.n}", "")))
		r := start(t, h, tok, w.ID, obj{"input": obj{"n": 7}})
		if r.Status != "running" || r.Version != 1 || r.WakeAt == nil || stepIDs(r) != "wait" {
			t.Fatalf("delayed run: %+v", r)
		}
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+w.ID, tok, obj{"definition": def(manual, transform("other", "{v: `2`}", ""))})
		r = waitRun(t, h, tok, r.ID, nil)
		if r.Status != "completed" || r.Version != 1 || string(r.Output) != `{"in":7,"v":1}` || stepIDs(r) != "wait,out" {
			t.Fatalf("pinned run: %+v %s", r, r.Output)
		}
		r2 := start(t, h, tok, w.ID, nil)
		if r2.Status != "completed" || r2.Version != 2 || string(r2.Output) != `{"v":2}` {
			t.Fatalf("run on v2: %+v %s", r2, r2.Output)
		}
	})
}

// Deleting a workflow cancels its runs under way; their history stays.
func TestDeleteCancelsRunningRuns(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "doomed", def(manual, delay("wait", 3600, "out"), transform("out", "`1`", "")))
		done := create(t, h, tok, "other", def(manual, transform("x", "`1`", "")))
		r := start(t, h, tok, w.ID, nil)
		other := start(t, h, tok, done.ID, nil)
		h.Call(http.StatusOK, "DELETE", "/api/v1/workflows/"+w.ID, tok, nil)
		r = getRun(t, h, tok, r.ID)
		if r.Status != "cancelled" || r.Error != "the workflow was deleted" || r.FinishedAt == nil || r.WakeAt != nil {
			t.Fatalf("run of a deleted workflow: %+v", r)
		}
		if got := listRuns(t, h, tok, "workflowId="+w.ID); len(got) != 1 || got[0].Status != "cancelled" {
			t.Fatalf("history of the deleted workflow: %+v", got)
		}
		if o := getRun(t, h, tok, other.ID); o.Status != "completed" {
			t.Fatalf("another workflow's run: %+v", o)
		}
		// A cancelled run is not retried or cancelled again.
		h.Call(http.StatusConflict, "POST", "/api/v1/runs/"+r.ID+"/cancel", tok, nil)
		h.Call(http.StatusConflict, "POST", "/api/v1/runs/"+r.ID+"/retry", tok, nil)
	})
}

func TestValidateEndpoint(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		var ok struct{ Valid bool }
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/validate", tok, def(manual, transform("a", "`1`", ""))).Data(t, &ok)
		if !ok.Valid {
			t.Fatal("valid definition reported invalid")
		}
		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/validate", Token: tok,
			Body: def(obj{"type": "sometimes"}, transform("a", "[[", "nowhere"))})
		errs := fields(t, r)
		for _, f := range []string{"definition.trigger.type", "definition.steps[0].config.expression", "definition.steps[0].nextStepId"} {
			if !hasField(errs, f, "") {
				t.Errorf("validate: no error on %s: %+v", f, errs)
			}
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/validate", Token: tok, Body: "{nope"}); r.Status != http.StatusBadRequest {
			t.Errorf("malformed JSON: %d %s", r.Status, r.Raw)
		}
		// Validating saves nothing.
		var p struct{ Items []wf }
		h.Call(http.StatusOK, "GET", "/api/v1/workflows", tok, nil).Data(t, &p)
		if len(p.Items) != 0 {
			t.Fatalf("validate saved a workflow: %+v", p.Items)
		}
	})
}

// Every kind of bad definition is refused at save time with the field at
// fault and a message that says what is wrong.
func TestValidationErrors(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok, recv := gatewayNode(t, url)
		other := h.SignUp("other@example.com", pw).AccessToken
		theirGW := connectedGateway(t, h, other, "theirs", recv)
		var theirInst struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", other, obj{"plugin": "template", "config": obj{"template": "x"}}).Data(t, &theirInst)
		const ghostGW = "gw_01jz0000000000000000000000"
		const ghostInst = "ins_01jz0000000000000000000000"

		ok := transform("ok", "`1`", "")
		bigSteps := make([]obj, 101)
		for i := range bigSteps {
			bigSteps[i] = transform(fmt.Sprintf("s%d", i), "`1`", "")
		}
		cases := []struct {
			name          string
			def           obj
			field, phrase string
		}{
			{"no start", obj{"trigger": manual, "steps": []obj{ok}}, "definition.startStepId", "is required"},
			{"dangling start", obj{"trigger": manual, "startStepId": "ghost", "steps": []obj{ok}}, "definition.startStepId", `names no step ("ghost")`},
			{"dangling next", def(manual, transform("a", "`1`", "ghost")), "definition.steps[0].nextStepId", `names no step ("ghost")`},
			{"dangling branch", def(manual, condition("c", "true", "ghost", "")), "definition.steps[0].conditionalNext.true", `names no step ("ghost")`},
			{"bad branch name", def(manual, with(condition("c", "true", "", ""), "conditionalNext", obj{"maybe": "c"})), "definition.steps[0].conditionalNext", `not "maybe"`},
			{"condition with nextStepId", def(manual, with(condition("c", "true", "", ""), "nextStepId", "c")), "definition.steps[0].nextStepId", "conditionalNext"},
			{"no steps", obj{"trigger": manual, "startStepId": "a", "steps": []obj{}}, "definition.steps", "at least one step"},
			{"duplicate id", def(manual, ok, transform("ok", "`2`", "")), "definition.steps[1].id", "used by another step"},
			{"bad id", def(manual, transform("1st", "`1`", "")), "definition.steps[0].id", "must start with a letter"},
			{"unknown step type", def(manual, obj{"id": "a", "type": "teleport", "config": obj{}}), "definition.steps[0].type", `"teleport" is not a step type`},
			{"missing step type", def(manual, obj{"id": "a", "config": obj{}}), "definition.steps[0].type", "is required"},
			{"unknown trigger", def(obj{"type": "telepathy"}, ok), "definition.trigger.type", `"telepathy" is not a trigger`},
			{"missing trigger", def(obj{}, ok), "definition.trigger.type", "is required"},
			{"cron on manual", def(obj{"type": "manual", "cron": "* * * * *"}, ok), "definition.trigger.cron", "only to schedule"},
			{"bad cron", def(obj{"type": "schedule", "cron": "every day"}, ok), "definition.trigger.cron", ""},
			{"bad time zone", def(obj{"type": "schedule", "cron": "0 9 * * *", "timezone": "Mars/Olympus"}, ok), "definition.trigger.timezone", "not a known IANA time zone"},
			{"bad webhook mode", def(obj{"type": "webhook", "mode": "later"}, ok), "definition.trigger.mode", `"async" or "sync"`},
			{"webhook timeout", def(obj{"type": "webhook", "mode": "sync", "timeoutMs": 3_600_000}, ok), "definition.trigger.timeoutMs", "must be from 1 to 60000"},
			{"dedupeHeader on manual", def(obj{"type": "manual", "dedupeHeader": "X-Delivery"}, ok), "definition.trigger.dedupeHeader", "only to webhook"},
			{"bad dedupeHeader", def(obj{"type": "webhook", "dedupeHeader": "X Delivery"}, ok), "definition.trigger.dedupeHeader", "is not a header name"},
			{"credential dedupeHeader", def(obj{"type": "webhook", "dedupeHeader": "Authorization"}, ok), "definition.trigger.dedupeHeader", "credential"},
			{"bad filter", def(obj{"type": "event", "filter": "event.payload.text ==="}, ok), "definition.trigger.filter", ""},
			{"unknown event gateway", def(obj{"type": "event", "gatewayIds": []string{ghostGW}}, ok), "definition.trigger.gatewayIds[0]", "names no gateway of this workspace"},
			{"another workspace's event gateway", def(obj{"type": "event", "gatewayIds": []string{theirGW.ID}}, ok), "definition.trigger.gatewayIds[0]", "names no gateway of this workspace"},
			{"malformed event gateway", def(obj{"type": "event", "gatewayIds": []string{"nope"}}, ok), "definition.trigger.gatewayIds[0]", "is not a gateway id"},
			{"bad expression", def(manual, condition("c", "trigger.a ===", "", "")), "definition.steps[0].config.expression", ""},
			{"unknown name in expression", def(manual, condition("c", "secrets.key == 1", "", "")), "definition.steps[0].config.expression", "unknown name secrets"},
			{"reduce refused", def(manual, condition("c", `reduce(1..3, #acc + #, 0) > 1`, "", "")), "definition.steps[0].config.expression", "reduce is not available"},
			{"long expression", def(manual, condition("c", strings.Repeat("true && ", 600)+"true", "", "")), "definition.steps[0].config.expression", "longer than 4096"},
			{"empty expression", def(manual, condition("c", " ", "", "")), "definition.steps[0].config.expression", "is empty"},
			{"bad JMESPath", def(manual, transform("t", "foo[?", "")), "definition.steps[0].config.expression", ""},
			{"bad template", def(manual, tpl("p", "{{ trigger.x +", nil, "")), "definition.steps[0].config.input", ""},
			{"unclosed placeholder", def(manual, tpl("p", "a {{ b", nil, "")), "definition.steps[0].config.input", "unclosed"},
			{"unknown installation", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"installationId": ghostInst}}), "definition.steps[0].config.installationId", "names no installation of this workspace"},
			{"another workspace's installation", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"installationId": theirInst.ID}}), "definition.steps[0].config.installationId", "names no installation of this workspace"},
			{"malformed installation id", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"installationId": "x"}}), "definition.steps[0].config.installationId", "is not an installation id"},
			{"unknown built-in", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"plugin": "teleporter"}}), "definition.steps[0].config.plugin", `names no built-in plugin ("teleporter")`},
			{"not a workflow step", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"plugin": "analytics"}}), "definition.steps[0].config.plugin", "cannot be a workflow step"},
			{"scheduler not a step", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"plugin": "scheduler"}}), "definition.steps[0].config.plugin", "cannot be a workflow step"},
			{"config off schema", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"plugin": "template", "config": obj{"tmpl": "x"}}}), "definition.steps[0].config.config", "tmpl"},
			{"bad static config", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"plugin": "template", "config": obj{"template": 5}}}), "definition.steps[0].config.config", "template"},
			{"required config missing", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"plugin": "ai-reply"}}), "definition.steps[0].config.config", "provider"},
			{"both plugin and installation", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"plugin": "template", "installationId": ghostInst}}), "definition.steps[0].config", "either"},
			{"plugin timeout", def(manual, obj{"id": "p", "type": "plugin", "config": obj{"plugin": "template", "timeoutMs": 3_600_000}}), "definition.steps[0].config.timeoutMs", ""},
			{"unknown gateway", def(manual, obj{"id": "g", "type": "gateway", "config": obj{"gatewayId": ghostGW, "text": "hi"}}), "definition.steps[0].config.gatewayId", "names no gateway of this workspace"},
			{"another workspace's gateway", def(manual, obj{"id": "g", "type": "gateway", "config": obj{"gatewayId": theirGW.ID, "text": "hi"}}), "definition.steps[0].config.gatewayId", "names no gateway of this workspace"},
			{"gateway without text", def(manual, obj{"id": "g", "type": "gateway", "config": obj{"gatewayId": ghostGW}}), "definition.steps[0].config.text", "is required"},
			{"delay without time", def(manual, obj{"id": "d", "type": "delay", "config": obj{}}), "definition.steps[0].config", "seconds or until"},
			{"delay too long", def(manual, delay("d", 100_000_000, "")), "definition.steps[0].config.seconds", ""},
			{"retry without count", def(manual, with(transform("a", "`1`", ""), "onError", "retry")), "definition.steps[0].retryCount", "must be from 1 to 10"},
			{"retry count too big", def(manual, with(transform("a", "`1`", ""), "onError", "retry", "retryCount", 50)), "definition.steps[0].retryCount", "must be from 1 to 10"},
			{"count without retry", def(manual, with(transform("a", "`1`", ""), "retryCount", 2)), "definition.steps[0].retryCount", `only with onError "retry"`},
			{"bad onError", def(manual, with(transform("a", "`1`", ""), "onError", "panic")), "definition.steps[0].onError", ""},
			{"branches on a transform", def(manual, with(transform("a", "`1`", ""), "conditionalNext", obj{"true": "a"})), "definition.steps[0].conditionalNext", "only to condition steps"},
			{"too many steps", def(manual, bigSteps...), "definition.steps", "at most 100 steps"},
			{"run timeout", with(def(manual, ok), "settings", obj{"timeoutSeconds": 10_000_000}), "definition.settings.timeoutSeconds", ""},
			{"step budget", with(def(manual, ok), "settings", obj{"maxSteps": 1_000_000}), "definition.settings.maxSteps", ""},
			{"unknown field", with(def(manual, ok), "stepz", 1), "definition", `unknown field "stepz"`},
			{"unknown step field", def(manual, with(transform("a", "`1`", ""), "next", "a")), "definition", `unknown field "next"`},
			{"unknown config field", def(manual, obj{"id": "a", "type": "transform", "config": obj{"expression": "`1`", "expr": "x"}}), "definition.steps[0].config", `unknown field "expr"`},
			{"oversized", with(def(manual, ok), "variables", obj{"blob": strings.Repeat("x", 300<<10)}), "definition", "at most 262144 bytes"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows", Token: tok, Body: obj{"name": c.name, "definition": c.def}})
				errs := fields(t, r)
				if !hasField(errs, c.field, c.phrase) {
					t.Errorf("want %s ~ %q, got %+v", c.field, c.phrase, errs)
				}
			})
		}
		// The request body itself is strict too.
		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows", Token: tok, Body: obj{"name": "x", "definitoin": def(manual, ok)}})
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), "definitoin") {
			t.Errorf("unknown body field: %d %s", r.Status, r.Raw)
		}
		r = h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows", Token: tok, Body: obj{"name": "x"}})
		if !hasField(fields(t, r), "definition", "is required") {
			t.Errorf("no definition: %s", r.Raw)
		}
		r = h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows", Token: tok, Body: obj{"name": "", "definition": def(manual, ok)}})
		if !hasField(fields(t, r), "name", "is required") {
			t.Errorf("no name: %s", r.Raw)
		}
		// Bodies over the node's limit are refused before they are read.
		r = h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows", Token: tok,
			Body: obj{"name": "x", "definition": with(def(manual, ok), "variables", obj{"blob": strings.Repeat("x", 2<<20)})}})
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("body over the limit: %d %.200s", r.Status, r.Raw)
		}
		// Nothing was saved.
		var p struct{ Items []wf }
		h.Call(http.StatusOK, "GET", "/api/v1/workflows", tok, nil).Data(t, &p)
		if len(p.Items) != 0 {
			t.Fatalf("refused definitions were saved: %d", len(p.Items))
		}
		// Cycles are allowed: a loop bounded by a condition saves.
		create(t, h, tok, "loop", def(manual, condition("c", "run.attempt < 0", "t", ""), transform("t", "`1`", "c")))
	})
}

// With the workflow_builder flag off for everyone, the workflow API does
// not exist.
func TestWorkflowFlagGate(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "before", def(manual, transform("a", "`1`", "")))
		r := start(t, h, tok, w.ID, nil)
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/flags/workflow_builder", h.Admin().AccessToken, obj{"enabled": false})
		for _, c := range []struct{ method, path string }{
			{"GET", "/api/v1/workflows"}, {"POST", "/api/v1/workflows"}, {"GET", "/api/v1/workflows/" + w.ID},
			{"POST", "/api/v1/workflows/validate"}, {"POST", "/api/v1/workflows/" + w.ID + "/runs"},
			{"GET", "/api/v1/runs"}, {"GET", "/api/v1/runs/" + r.ID}, {"POST", "/api/v1/runs/" + r.ID + "/cancel"},
		} {
			resp := h.Do(apptest.Request{Method: c.method, Path: c.path, Token: tok, Body: obj{}})
			if resp.Status != http.StatusNotFound || resp.Code() != "NOT_FOUND" || !strings.Contains(string(resp.Body.Error.Details), "workflow_builder") {
				t.Errorf("%s %s with the flag off: %d %s", c.method, c.path, resp.Status, resp.Raw)
			}
		}
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/flags/workflow_builder", h.Admin().AccessToken, obj{"enabled": true})
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+w.ID, tok, nil)
	})
}
