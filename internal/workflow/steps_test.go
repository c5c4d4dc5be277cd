package workflow_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Plugin steps: a built-in with its config inline and an installation of
// the workspace, each with {{ }} templated input, chained through
// `previous` and `steps`.
func TestPluginSteps(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		var inst struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", tok, obj{"plugin": "template",
			"config": obj{"template": "Dear {{.name}}, {{.note}}"}}).Data(t, &inst)
		w := create(t, h, tok, "plugins", obj{
			"trigger": manual, "startStepId": "inline",
			"variables": obj{"greeting": "Hello"},
			"steps": []obj{
				// A Go template reaches the plugin through a quoted placeholder.
				tpl("inline", `{{ variables.greeting }} {{ "{{.who}}" }}!`, obj{"who": "{{ trigger.name }}"}, "installed"),
				{"id": "installed", "type": "plugin", "nextStepId": "shape", "config": obj{"installationId": inst.ID,
					"input": obj{"data": obj{"name": "{{ trigger.name }}", "note": "{{ previous.text }}"}}}},
				transform("shape", "{first: steps.inline.output.text, second: steps.installed.output.text, n: trigger.n}", ""),
			},
		})
		r := start(t, h, tok, w.ID, obj{"input": obj{"name": "Ada", "n": 3}})
		if r.Status != "running" || r.CurrentStepID != "inline" {
			t.Fatalf("a run with a plugin step answers before the plugin runs: %+v", r)
		}
		r = waitRun(t, h, tok, r.ID, nil)
		want := `{"first":"Hello Ada!","n":3,"second":"Dear Ada, Hello Ada!"}`
		if r.Status != "completed" || string(r.Output) != want || stepIDs(r) != "inline,installed,shape" {
			t.Fatalf("run: %+v output %s", r, r.Output)
		}
		// Each step's record has its rendered input, output and timings.
		in := r.Steps[1]
		if in.Type != "plugin" || in.Status != "succeeded" || in.Attempt != 1 || in.StartedAt.IsZero() || in.FinishedAt.Before(in.StartedAt) ||
			!strings.Contains(string(in.Input), `"note":"Hello Ada!"`) || !strings.Contains(string(in.Output), `"text":"Dear Ada, Hello Ada!"`) {
			t.Fatalf("installation step record: %+v in %s out %s", in, in.Input, in.Output)
		}

		// A disabled installation fails its step with the reason.
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/disable", tok, nil)
		r = waitRun(t, h, tok, start(t, h, tok, w.ID, obj{"input": obj{"name": "Bob"}}).ID, nil)
		if r.Status != "failed" || r.CurrentStepID != "installed" || !strings.Contains(r.Error, `step "installed" failed`) ||
			!strings.Contains(r.Error, "disabled") {
			t.Fatalf("disabled installation: %+v", r)
		}
		// A deleted one too: the step fails, the run does not hang.
		h.Call(http.StatusOK, "DELETE", "/api/v1/installations/"+inst.ID, tok, nil)
		r = waitRun(t, h, tok, start(t, h, tok, w.ID, obj{"input": obj{"name": "Cy"}}).ID, nil)
		if r.Status != "failed" || !strings.Contains(r.Error, "no longer exists") {
			t.Fatalf("deleted installation: %+v", r)
		}
	})
}

// Condition steps take their branch; transforms shape data with JMESPath.
func TestConditionAndTransformSteps(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "branches", obj{
			"trigger": manual, "startStepId": "sum",
			"variables": obj{"limit": 10},
			"steps": []obj{
				transform("sum", "{total: sum(trigger.items[*].price), names: trigger.items[*].name}", "big"),
				condition("big", "steps.sum.output.total > variables.limit && run.version == 1", "high", "low"),
				transform("high", "{verdict: 'high', total: steps.sum.output.total}", ""),
				transform("low", "{verdict: 'low', first: steps.sum.output.names[0]}", ""),
			},
		})
		hi := start(t, h, tok, w.ID, obj{"input": obj{"items": []obj{{"name": "a", "price": 8}, {"name": "b", "price": 5}}}})
		if hi.Status != "completed" || string(hi.Output) != `{"total":13,"verdict":"high"}` || stepIDs(hi) != "sum,big,high" {
			t.Fatalf("true branch: %+v %s", hi, hi.Output)
		}
		if b := hi.Steps[1]; b.Branch != "true" || string(b.Output) != `{"result":true}` {
			t.Fatalf("condition record: %+v %s", b, b.Output)
		}
		lo := start(t, h, tok, w.ID, obj{"input": obj{"items": []obj{{"name": "c", "price": 1}}}})
		if lo.Status != "completed" || string(lo.Output) != `{"first":"c","verdict":"low"}` || stepIDs(lo) != "sum,big,low" || lo.Steps[1].Branch != "false" {
			t.Fatalf("false branch: %+v %s", lo, lo.Output)
		}
		// A missing branch ends the run there.
		end := create(t, h, tok, "ends", def(manual, condition("c", "trigger.go == true", "yes", ""), transform("yes", "'went'", "")))
		if r := start(t, h, tok, end.ID, obj{"input": obj{"go": false}}); r.Status != "completed" || stepIDs(r) != "c" {
			t.Fatalf("no false branch: %+v", r)
		}
		// A condition must give a boolean; a runtime error fails the step.
		notBool := create(t, h, tok, "not bool", def(manual, condition("c", "trigger.n", "", "")))
		if r := start(t, h, tok, notBool.ID, obj{"input": obj{"n": 3}}); r.Status != "failed" || !strings.Contains(r.Error, "gave a number, not true or false") {
			t.Fatalf("non-boolean condition: %+v", r)
		}
		badCall := create(t, h, tok, "bad call", def(manual, condition("c", "len(trigger.n) > 1", "", "")))
		if r := start(t, h, tok, badCall.ID, obj{"input": obj{"n": 3}}); r.Status != "failed" || !strings.Contains(r.Error, `step "c" failed`) {
			t.Fatalf("failing condition: %+v", r)
		}
		// A JMESPath runtime error fails the step too.
		badJP := create(t, h, tok, "bad jp", def(manual, transform("t", "abs(trigger.s)", "")))
		if r := start(t, h, tok, badJP.ID, obj{"input": obj{"s": "text"}}); r.Status != "failed" || !strings.Contains(r.Error, `step "t" failed`) {
			t.Fatalf("failing transform: %+v", r)
		}
		// Cycles run within the step budget.
		loop := create(t, h, tok, "loop", with(def(manual, condition("c", "true", "t", ""), transform("t", "`1`", "c")), "settings", obj{"maxSteps": 7}))
		r := start(t, h, tok, loop.ID, nil)
		if r.Status != "failed" || !strings.Contains(r.Error, "budget of 7 steps") || len(r.Steps) != 7 {
			t.Fatalf("endless loop: %+v", r)
		}
	})
}

// A delay is durable: the run waits as "running" with wakeAt, then goes on
// in a job.
func TestDelayStep(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "delays", def(manual,
			delay("wait", 1, "past"),
			obj{"id": "past", "type": "delay", "config": obj{"until": "{{ trigger.at }}"}, "nextStepId": "done"},
			transform("done", "{waited: steps.wait.output.wakeAt != null, at: trigger.at}", "")))
		before := time.Now()
		r := start(t, h, tok, w.ID, obj{"input": obj{"at": "2001-02-03T04:05:06Z"}})
		if r.Status != "running" || r.WakeAt == nil || r.WakeAt.Before(before.Add(900*time.Millisecond)) || r.CurrentStepID != "past" {
			t.Fatalf("delayed run: %+v", r)
		}
		got := getRun(t, h, tok, r.ID)
		if got.Status != "running" || got.WakeAt == nil || !got.WakeAt.Equal(*r.WakeAt) {
			t.Fatalf("delayed run as read: %+v", got)
		}
		if l := listRuns(t, h, tok, "status=running&workflowId="+w.ID); len(l) != 1 || l[0].ID != r.ID {
			t.Fatalf("running runs: %+v", l)
		}
		r = waitRun(t, h, tok, r.ID, nil)
		if r.Status != "completed" || stepIDs(r) != "wait,past,done" || string(r.Output) != `{"at":"2001-02-03T04:05:06Z","waited":true}` ||
			r.WakeAt != nil || r.FinishedAt == nil {
			t.Fatalf("after the delay: %+v %s", r, r.Output)
		}
		if time.Since(before) < time.Second {
			t.Fatalf("the run did not wait")
		}
		// A bad until fails the step.
		bad := create(t, h, tok, "bad until", def(manual, obj{"id": "d", "type": "delay", "config": obj{"until": "{{ trigger.at }}"}}))
		if r := start(t, h, tok, bad.ID, obj{"input": obj{"at": "tomorrow"}}); r.Status != "failed" || !strings.Contains(r.Error, "RFC 3339") {
			t.Fatalf("bad until: %+v", r)
		}
		if l := listRuns(t, h, tok, "status=completed&workflowId="+w.ID); len(l) != 1 {
			t.Fatalf("completed runs: %+v", l)
		}
		h.Call(http.StatusBadRequest, "GET", "/api/v1/runs?status=sleeping", tok, nil)
		h.Call(http.StatusBadRequest, "GET", "/api/v1/runs?workflowId=nope", tok, nil)
	})
}

// A gateway step queues a message through a gateway of the workspace in
// the step's own commit; a gateway that cannot send fails the step.
func TestGatewayStep(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok, recv := gatewayNode(t, url)
		g := connectedGateway(t, h, tok, "out", recv)
		w := create(t, h, tok, "notify", def(manual,
			obj{"id": "send", "type": "gateway", "nextStepId": "after", "config": obj{"gatewayId": g.ID, "chatId": "{{ trigger.chat }}",
				"text": "Hello {{ trigger.name }}, you have {{ len(trigger.items) }} items"}},
			transform("after", "steps.send.output", "")))
		r := waitRun(t, h, tok, start(t, h, tok, w.ID, obj{"input": obj{"name": "Ada", "chat": "c-1", "items": []int{1, 2}}}).ID, nil)
		if r.Status != "completed" || stepIDs(r) != "send,after" {
			t.Fatalf("gateway run: %+v", r)
		}
		var out struct{ SendID, Status, ChatID string }
		_ = json.Unmarshal(r.Output, &out)
		if out.SendID == "" || out.Status != "QUEUED" || out.ChatID != "c-1" {
			t.Fatalf("gateway step output: %s", r.Output)
		}
		if !strings.Contains(string(r.Steps[0].Input), `"text":"Hello Ada, you have 2 items"`) {
			t.Fatalf("gateway step input: %s", r.Steps[0].Input)
		}
		sent := waitSent(t, recv, 1)
		if sent[0].Text != "Hello Ada, you have 2 items" || sent[0].ChatID != "c-1" {
			t.Fatalf("delivered: %+v", sent[0])
		}
		// A text longer than the channel takes fails the step with the
		// limit and the count; nothing is cut and sent.
		long := create(t, h, tok, "long", def(manual,
			obj{"id": "send", "type": "gateway", "config": obj{"gatewayId": g.ID, "chatId": "c-3", "text": "{{ trigger.text }}"}}))
		r = waitRun(t, h, tok, start(t, h, tok, long.ID, obj{"input": obj{"text": strings.Repeat("ü", 4001)}}).ID, nil)
		if r.Status != "failed" || r.CurrentStepID != "send" || !strings.Contains(r.Error, "text: is 4001 characters long; WEBHOOK allows at most 4000") {
			t.Fatalf("too-long text: %v", r)
		}
		if n := len(recv.Sent()); n != 1 {
			t.Fatalf("a refused step sent a message: %d", n)
		}
		// A disconnected gateway refuses: the step fails with the reason.
		h.Call(http.StatusOK, "POST", "/api/v1/gateways/"+g.ID+"/disconnect", tok, nil)
		r = waitRun(t, h, tok, start(t, h, tok, w.ID, obj{"input": obj{"name": "Bob", "chat": "c-2", "items": []int{}}}).ID, nil)
		if r.Status != "failed" || r.CurrentStepID != "send" || !strings.Contains(r.Error, "connect it before sending") {
			t.Fatalf("disconnected gateway: %+v", r)
		}
		if n := len(recv.Sent()); n != 1 {
			t.Fatalf("a refused step sent a message: %d", n)
		}
	})
}
