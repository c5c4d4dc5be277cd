package workflow_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// children is a run's children summary as GET /runs/{id} shows it.
type children struct {
	Total, Running, Completed, Failed, Cancelled int
	Items                                        []struct{ ID, Kind, StepID, Status, Error string }
}

func runChildren(t *testing.T, h *apptest.Harness, tok, id string) (run, *children) {
	t.Helper()
	var r struct {
		run
		Children *children
	}
	h.Call(http.StatusOK, "GET", "/api/v1/runs/"+id, tok, nil).Data(t, &r)
	return r.run, r.Children
}

// forEach, parallel + merge and subWorkflow end to end: outputs in item
// order, the merge's map, a sub-workflow's output, the children linked
// and kept out of the run listing, and failures under the step's onError.
func TestFanOutSteps(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)

		t.Run("forEach", func(t *testing.T) {
			t.Parallel()
			// forEach: a plugin step (a job of its own per iteration) and a
			// transform in the body, three at a time.
			loop := create(t, h, tok, "loop", obj{
				"trigger": manual, "startStepId": "prep",
				"steps": []obj{
					transform("prep", "{names: trigger.names}", "loop"),
					{"id": "loop", "type": "forEach", "nextStepId": "after", "config": obj{
						"items": "steps.prep.output.names", "concurrency": 2, "bodyStartStepId": "greet"}},
					tpl("greet", "hello {{ item }}", obj{}, "shape"),
					transform("shape", "{text: steps.greet.output.text, index: index, total: length(steps.prep.output.names)}", ""),
					transform("after", "{count: length(steps.loop.output), first: steps.loop.output[0].text, last: previous[-1]}", ""),
				},
			})
			names := []any{"ada", "bob", "cy", "dee", "eve"}
			r := waitRun(t, h, tok, start(t, h, tok, loop.ID, obj{"input": obj{"names": names}}).ID, nil)
			if r.Status != "completed" || stepIDs(r) != "prep,loop,after" {
				t.Fatalf("forEach run: %v", r)
			}
			var out []struct {
				Text         string
				Index, Total int
			}
			if err := json.Unmarshal(r.Steps[1].Output, &out); err != nil || len(out) != len(names) {
				t.Fatalf("forEach output %s: %v", r.Steps[1].Output, err)
			}
			for i, o := range out {
				if o.Text != "hello "+names[i].(string) || o.Index != i || o.Total != len(names) {
					t.Fatalf("iteration %d output %+v (all: %s)", i, o, r.Steps[1].Output)
				}
			}
			if string(r.Output) != `{"count":5,"first":"hello ada","last":{"index":4,"text":"hello eve","total":5}}` {
				t.Fatalf("after the loop: %s", r.Output)
			}
			if in := string(r.Steps[1].Input); in != `{"concurrency":2,"items":5}` || r.Steps[1].Type != "forEach" {
				t.Fatalf("forEach record: %+v %s", r.Steps[1], in)
			}
			_, kids := runChildren(t, h, tok, r.ID)
			if kids == nil || kids.Total != 5 || kids.Completed != 5 || kids.Items[0].Kind != "iteration" || kids.Items[0].StepID != "loop" {
				t.Fatalf("children of the forEach run: %+v", kids)
			}
			// Iterations belong to their run: not in the listing, but listed
			// by parent.
			if got := listRuns(t, h, tok, "workflowId="+loop.ID); len(got) != 1 || got[0].ID != r.ID {
				t.Fatalf("listing shows %d runs of the loop workflow, want its one run", len(got))
			}
			if got := listRuns(t, h, tok, "parentRunId="+r.ID); len(got) != 5 {
				t.Fatalf("listing by parent: %d runs", len(got))
			}
			it := getRun(t, h, tok, kids.Items[2].ID)
			if it.Status != "completed" || stepIDs(it) != "greet,shape" || string(it.Input) != `{"index":2,"item":"cy"}` {
				t.Fatalf("iteration run: %v input %s", it, it.Input)
			}
			h.Call(http.StatusBadRequest, "GET", "/api/v1/runs?parentRunId=nope", tok, nil)

			// An empty list: the loop outputs [] and goes on.
			r = waitRun(t, h, tok, start(t, h, tok, loop.ID, obj{"input": obj{"names": []any{}}}).ID, nil)
			if r.Status != "completed" || string(r.Steps[1].Output) != `[]` || !strings.Contains(string(r.Output), `"count":0`) {
				t.Fatalf("empty forEach: %v", r)
			}
			// Not a list: the step fails with the reason.
			r = waitRun(t, h, tok, start(t, h, tok, loop.ID, obj{"input": obj{"names": "ada"}}).ID, nil)
			if r.Status != "failed" || !strings.Contains(r.Error, `step "loop" failed: items gave a string, not a list`) {
				t.Fatalf("forEach over a string: %v", r)
			}

		})
		t.Run("failing iteration", func(t *testing.T) {
			t.Parallel()
			// A failing iteration fails the step; with onError continue the run
			// goes on and the others were not all needed.
			failing := create(t, h, tok, "failing loop", obj{
				"trigger": manual, "startStepId": "loop",
				"steps": []obj{
					with(obj{"id": "loop", "type": "forEach", "nextStepId": "after", "config": obj{
						"items": "trigger.xs", "bodyStartStepId": "check"}}, "onError", "continue"),
					transform("check", "to_number(item)", "div"),
					condition("div", "previous > 0", "ok", ""),
					transform("ok", "`1`", ""),
					transform("after", "steps.loop", ""),
				},
			})
			r := waitRun(t, h, tok, start(t, h, tok, failing.ID, obj{"input": obj{"xs": []any{"1", "x", "3"}}}).ID, nil)
			if r.Status != "completed" || stepIDs(r) != "loop,after" || r.Steps[0].Status != "failed" ||
				!strings.Contains(r.Steps[0].Error, "iteration 1") {
				t.Fatalf("failing iteration with continue: %v %+v", r, r.Steps)
			}
			// An iteration is retried through its run, not by itself.
			failed := listRuns(t, h, tok, "status=failed&parentRunId="+r.ID)
			if len(failed) != 1 || len(listRuns(t, h, tok, "parentRunId="+r.ID)) != 2 {
				t.Fatalf("iterations of the failing loop: %d failed (want 1 of 2 started: concurrency 1 stops at the failure)", len(failed))
			}
			for _, it := range failed {
				if res := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/runs/" + it.ID + "/retry", Token: tok}); res.Status != http.StatusConflict ||
					!strings.Contains(res.Body.Error.Message, "retry that run") {
					t.Fatalf("retry of an iteration: %d %s", res.Status, res.Raw)
				}
			}

		})
		t.Run("parallel", func(t *testing.T) {
			t.Parallel()
			// parallel + merge: both branches run, the merge maps each branch's
			// start to its last output; wait 1 goes on with the first and
			// cancels the other.
			par := create(t, h, tok, "parallel", obj{
				"trigger": manual, "startStepId": "split",
				"steps": []obj{
					{"id": "split", "type": "parallel", "config": obj{"branches": []string{"a", "b"}}},
					tpl("a", "A {{ trigger.x }}", obj{}, "join"),
					transform("b", "{b: trigger.x}", "b2"),
					tpl("b2", "B {{ previous.b }}", obj{}, "join"),
					{"id": "join", "type": "merge", "config": obj{"wait": "all"}, "nextStepId": "end"},
					transform("end", "{a: steps.join.output.a.text, b: steps.join.output.b.text}", ""),
				},
			})
			r := waitRun(t, h, tok, start(t, h, tok, par.ID, obj{"input": obj{"x": "go"}}).ID, nil)
			if r.Status != "completed" || stepIDs(r) != "split,join,end" || string(r.Output) != `{"a":"A go","b":"B go"}` {
				t.Fatalf("parallel run: %v", r)
			}
			first := create(t, h, tok, "first wins", obj{
				"trigger": manual, "startStepId": "split",
				"steps": []obj{
					{"id": "split", "type": "parallel", "config": obj{"branches": []string{"fast", "slow"}}},
					transform("fast", "`\"fast\"`", "join"),
					delay("slow", 3600, "join"),
					{"id": "join", "type": "merge", "config": obj{"wait": 1}},
				},
			})
			r = waitRun(t, h, tok, start(t, h, tok, first.ID, nil).ID, nil)
			if r.Status != "completed" || string(r.Output) != `{"fast":"fast"}` {
				t.Fatalf("merge wait 1: %v", r)
			}
			_, kids := runChildren(t, h, tok, r.ID)
			if kids == nil || kids.Completed != 1 || kids.Cancelled != 1 {
				t.Fatalf("merge wait 1 children: %+v", kids)
			}

		})
		t.Run("nested loops", func(t *testing.T) {
			t.Parallel()
			// A loop in a loop: the inner body sees the steps of the outer
			// iteration and its own item.
			nested := create(t, h, tok, "nested", obj{
				"trigger": manual, "startStepId": "outer",
				"steps": []obj{
					{"id": "outer", "type": "forEach", "config": obj{"items": "trigger.groups", "bodyStartStepId": "o"}},
					transform("o", "item", "inner"),
					{"id": "inner", "type": "forEach", "config": obj{"items": "steps.o.output", "concurrency": 2, "bodyStartStepId": "t"}},
					transform("t", "{o: steps.o.output, v: item, i: index}", ""),
				},
			})
			r := waitRun(t, h, tok, start(t, h, tok, nested.ID, obj{"input": obj{"groups": []any{[]any{"a", "b"}, []any{"c"}}}}).ID, nil)
			if r.Status != "completed" || string(r.Output) != `[[{"i":0,"o":["a","b"],"v":"a"},{"i":1,"o":["a","b"],"v":"b"}],[{"i":0,"o":["c"],"v":"c"}]]` {
				t.Fatalf("nested loops: %v", r)
			}

		})
		t.Run("subWorkflow", func(t *testing.T) {
			t.Parallel()
			// subWorkflow: wait returns the child's output; without, its id.
			callee := create(t, h, tok, "callee", def(manual, tpl("hi", "hi {{ trigger.who }}", obj{}, "")))
			caller := create(t, h, tok, "caller", obj{
				"trigger": manual, "startStepId": "call",
				"steps": []obj{
					{"id": "call", "type": "subWorkflow", "nextStepId": "fire", "config": obj{"workflowId": callee.ID, "wait": true,
						"input": obj{"who": "{{ trigger.name }}"}}},
					{"id": "fire", "type": "subWorkflow", "nextStepId": "end", "config": obj{"workflowId": callee.ID, "version": 1, "wait": false,
						"input": obj{"who": "later"}}},
					transform("end", "{got: steps.call.output.text, started: steps.fire.output.runId}", ""),
				},
			})
			r := waitRun(t, h, tok, start(t, h, tok, caller.ID, obj{"input": obj{"name": "Ada"}}).ID, nil)
			var got struct{ Got, Started string }
			_ = json.Unmarshal(r.Output, &got)
			if r.Status != "completed" || got.Got != "hi Ada" || !strings.HasPrefix(got.Started, "run_") {
				t.Fatalf("subWorkflow run: %v", r)
			}
			var sub struct {
				run
				Kind, ParentRunID string
			}
			h.Call(http.StatusOK, "GET", "/api/v1/runs/"+got.Started, tok, nil).Data(t, &sub)
			if sub.Kind != "detached" || sub.ParentRunID != r.ID || sub.WorkflowID != callee.ID || sub.Trigger != "workflow" {
				t.Fatalf("detached sub-workflow run: %+v", sub)
			}
			// The callee's runs are runs of their own: listed, linked.
			if got := listRuns(t, h, tok, "workflowId="+callee.ID); len(got) != 2 {
				t.Fatalf("callee runs listed: %d", len(got))
			}
			// A failing callee fails the step.
			h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+callee.ID, tok, obj{"definition": def(manual, condition("boom", "trigger.who", "", ""))})
			r = waitRun(t, h, tok, start(t, h, tok, caller.ID, obj{"input": obj{"name": "Ada"}}).ID, nil)
			if r.Status != "failed" || !strings.Contains(r.Error, `step "call" failed: the sub-workflow run`) {
				t.Fatalf("failing callee: %v", r)
			}
		})
	})
}

// Cancelling a run cancels the children it waits for; a step budget
// counts iterations.
func TestFanOutCancelAndBudget(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "slow loop", obj{
			"trigger": manual, "startStepId": "loop",
			"steps": []obj{
				{"id": "loop", "type": "forEach", "config": obj{"items": "[1, 2, 3]", "concurrency": 2, "bodyStartStepId": "nap"}},
				delay("nap", 3600, ""),
			},
		})
		r := start(t, h, tok, w.ID, nil)
		_ = waitRun(t, h, tok, r.ID, func(r run) bool { return r.Checkpoint >= 1 })
		h.Call(http.StatusOK, "POST", "/api/v1/runs/"+r.ID+"/cancel", tok, nil)
		_, kids := runChildren(t, h, tok, r.ID)
		if kids == nil || kids.Total != 2 || kids.Cancelled != 2 {
			t.Fatalf("children after cancel: %+v", kids)
		}

		// Deleting a workflow whose run a caller waits for fails the
		// caller's step.
		callee := create(t, h, tok, "napper", def(manual, delay("nap", 3600, "")))
		caller := create(t, h, tok, "caller", def(manual, obj{"id": "call", "type": "subWorkflow", "config": obj{"workflowId": callee.ID, "wait": true}}))
		r = start(t, h, tok, caller.ID, nil)
		_ = waitRun(t, h, tok, r.ID, func(r run) bool { return r.Checkpoint >= 1 })
		h.Call(http.StatusOK, "DELETE", "/api/v1/workflows/"+callee.ID, tok, nil)
		if r = getRun(t, h, tok, r.ID); r.Status != "failed" || !strings.Contains(r.Error, "cancelled: the workflow was deleted") {
			t.Fatalf("caller of a deleted workflow: %v", r)
		}

		// A run's timeout ends its loop: no iteration is left running.
		slow := create(t, h, tok, "slow", obj{
			"trigger": manual, "startStepId": "loop",
			"steps": []obj{
				{"id": "loop", "type": "forEach", "config": obj{"items": "[1, 2]", "concurrency": 2, "bodyStartStepId": "nap"}},
				delay("nap", 3600, ""),
			},
		})
		r = start(t, h, tok, slow.ID, nil)
		_ = waitRun(t, h, tok, r.ID, func(r run) bool { return r.Checkpoint >= 1 })
		// Its time is up (iterations share their run's timeout).
		exec(t, h, `UPDATE workflow_runs SET timeout_at = $1 WHERE id = $2 OR parent_run_id = $2`, time.Now().UTC().Add(-time.Second), r.ID)
		if _, err := h.App.Workflows.SweepTimeouts(context.Background()); err != nil {
			t.Fatal(err)
		}
		r, kids = runChildren(t, h, tok, r.ID)
		if r.Status != "failed" || !strings.Contains(r.Error, "the run exceeded its timeout") || kids == nil || kids.Running != 0 {
			t.Fatalf("timed out loop: %v children %+v", r, kids)
		}

		budget := create(t, h, tok, "budget", obj{
			"trigger": manual, "startStepId": "loop", "settings": obj{"maxSteps": 10},
			"steps": []obj{
				{"id": "loop", "type": "forEach", "config": obj{"items": "1..20", "bodyStartStepId": "a"}},
				transform("a", "`1`", "b"),
				transform("b", "`2`", ""),
			},
		})
		r = waitRun(t, h, tok, start(t, h, tok, budget.ID, nil).ID, nil)
		if r.Status != "failed" || !strings.Contains(r.Error, "budget of 10 steps") {
			t.Fatalf("budget: %v", r)
		}

		// Executions: four runs started by hand and the one sub-workflow
		// run; iterations cost none.
		if n := usedExecutions(t, h, tok); n != [2]int64{5, 0} {
			t.Fatalf("executions counted: %v, want 5", n)
		}
		// A call over the plan's daily executions fails its step; the
		// caller's own run was the last one allowed.
		me := h.Login("wf@example.com", pw)
		fillExecutions(t, h, actor.Actor{UserID: me.UserID, Plan: actor.Free}, 94)
		quick := create(t, h, tok, "quick", def(manual, transform("a", "`1`", "")))
		over := create(t, h, tok, "over", def(manual, obj{"id": "call", "type": "subWorkflow", "config": obj{"workflowId": quick.ID, "wait": true}}))
		r = waitRun(t, h, tok, start(t, h, tok, over.ID, nil).ID, nil)
		if r.Status != "failed" || !strings.Contains(r.Error, `step "call" failed`) || !strings.Contains(r.Error, "executions") {
			t.Fatalf("call over the limit: %v", r)
		}
		if got := listRuns(t, h, tok, "workflowId="+quick.ID); len(got) != 0 {
			t.Fatalf("a refused call left %d runs", len(got))
		}
	})
}

// Save-time validation of loops, branches and calls.
func TestFanOutValidation(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		badAt := func(method, path string, d obj, field, msg string) {
			t.Helper()
			errs := fields(t, h.Do(apptest.Request{Method: method, Path: path, Token: tok, Body: obj{"name": "bad", "definition": d}}))
			if !hasField(errs, field, msg) {
				t.Fatalf("want %s: %q, got %+v", field, msg, errs)
			}
		}
		bad := func(d obj, field, msg string) { t.Helper(); badAt("POST", "/api/v1/workflows", d, field, msg) }
		loop := func(cfg obj, next string, body ...obj) obj {
			s := obj{"id": "loop", "type": "forEach", "config": cfg}
			if next != "" {
				s["nextStepId"] = next
			}
			return def(manual, append([]obj{s}, body...)...)
		}
		bad(loop(obj{"bodyStartStepId": "a"}, "", transform("a", "`1`", "")), "definition.steps[0].config.items", "is required")
		bad(loop(obj{"items": "[1]", "concurrency": 11, "bodyStartStepId": "a"}, "", transform("a", "`1`", "")), "definition.steps[0].config.concurrency", "from 1 to 10")
		bad(loop(obj{"items": "[1]", "bodyStartStepId": "zz"}, "", transform("a", "`1`", "")), "definition.steps[0].config.bodyStartStepId", "names no step")
		bad(loop(obj{"items": "[1]", "bodyStartStepId": "a"}, "", transform("a", "`1`", "loop")), "definition.steps[0].config.bodyStartStepId", "leads back")
		bad(loop(obj{"items": "[1]", "bodyStartStepId": "a"}, "after", transform("a", "`1`", "after"), transform("after", "`1`", "")),
			"definition.steps[0].config.bodyStartStepId", "leads to the step after the loop")
		bad(def(manual, transform("in", "`1`", "a"), obj{"id": "loop", "type": "forEach", "config": obj{"items": "[1]", "bodyStartStepId": "a"}},
			transform("a", "`1`", "")), "definition.steps[0]", `leads into the body of forEach "loop"`)

		par := func(branches []string, wait any, steps ...obj) obj {
			return def(manual, append([]obj{{"id": "split", "type": "parallel", "config": obj{"branches": branches}}}, append(steps,
				obj{"id": "join", "type": "merge", "config": obj{"wait": wait}})...)...)
		}
		bad(par([]string{"a"}, "all", transform("a", "`1`", "join")), "definition.steps[0].config.branches", "from 2 to 10")
		bad(par([]string{"a", "b"}, "all", transform("a", "`1`", "join"), transform("b", "`1`", "")), "definition.steps[0].config.branches[1]", "before it reaches a merge step")
		bad(par([]string{"a", "b"}, 3, transform("a", "`1`", "join"), transform("b", "`1`", "join")), "definition.steps[3].config.wait", "waits for 3 branches, but 2")
		bad(par([]string{"a", "b"}, "some", transform("a", "`1`", "join"), transform("b", "`1`", "join")), "definition.steps[3].config.wait", `"all" or a number`)
		bad(def(manual, transform("a", "`1`", "m"), obj{"id": "m", "type": "merge", "config": obj{}}), "definition.steps[1]", "no parallel step's branches reach")

		// Calls: an unknown workflow, itself, and a cycle through another.
		sub := func(id, target string) obj {
			return obj{"id": id, "type": "subWorkflow", "config": obj{"workflowId": target, "wait": true}}
		}
		bad(def(manual, sub("c", "wf_01jzzzzzzzzzzzzzzzzzzzzzzz")), "definition.steps[0].config.workflowId", "names no workflow")
		bad(def(manual, sub("c", "nope")), "definition.steps[0].config.workflowId", "is not a workflow id")
		a := create(t, h, tok, "A", def(manual, transform("a", "`1`", "")))
		b := create(t, h, tok, "B", def(manual, sub("callA", a.ID)))
		badAt("PUT", "/api/v1/workflows/"+a.ID, def(manual, sub("c", a.ID)), "definition.steps[0].config.workflowId", "calls this workflow itself")
		badAt("PUT", "/api/v1/workflows/"+a.ID, def(manual, sub("c", b.ID)), "definition.steps[0].config.workflowId", "calls "+b.ID+" → "+a.ID+", which calls this workflow back")
		bad(def(manual, with(sub("c", b.ID), "config", obj{"workflowId": b.ID, "version": 7})), "definition.steps[0].config.version", "names no version 7")
		// Six deep is one too many.
		chain := b.ID
		for range 4 {
			chain = create(t, h, tok, "link", def(manual, sub("next", chain))).ID
		}
		bad(def(manual, sub("c", chain)), "definition.steps[0].config.workflowId", "calls sub-workflows 6 deep; at most 5")
		// A refused save stored nothing: A still has one version.
		var got wf
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+a.ID, tok, nil).Data(t, &got)
		if got.Version != 1 {
			t.Fatalf("a refused update made a version: %+v", got)
		}
	})
}

// The example of docs/workflows.md runs as written.
func TestFanOutDocExample(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("../../docs/workflows.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	doc = doc[strings.Index(doc, "## Loops, parallel branches and sub-workflows"):]
	doc = doc[strings.Index(doc, "### Example"):]
	if end := strings.Index(doc, "\n## "); end >= 0 {
		doc = doc[:end]
	}
	var blocks []string
	for _, part := range strings.Split(doc, "```json\n")[1:] {
		blocks = append(blocks, part[:strings.Index(part, "```")])
	}
	if len(blocks) != 2 {
		t.Fatalf("want the callee and the caller in the example, found %d blocks", len(blocks))
	}
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		var callee, caller wf
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, blocks[0]).Data(t, &callee)
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, strings.ReplaceAll(blocks[1], "wf_…", callee.ID)).Data(t, &caller)
		r := start(t, h, tok, caller.ID, obj{"input": obj{"customer": "Ada", "lines": []obj{{"sku": "a", "price": 2}, {"sku": "b", "price": 8}}}})
		r = waitRun(t, h, tok, r.ID, nil)
		if r.Status != "completed" || string(r.Output) != `{"total":10}` || stepIDs(r) != "lines,split,join,total" ||
			string(r.Steps[0].Output) != `[{"price":2,"sku":"a"},{"price":8,"sku":"b"}]` || string(r.Steps[2].Output) != `{"count":2,"label":{"text":"Ada"}}` {
			t.Fatalf("doc example: %v %+v", r, r.Steps)
		}
	})
}
