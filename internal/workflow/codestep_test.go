package workflow_test

import (
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// docExample returns the JSON blocks of the code step section of
// docs/workflows.md: the definition, the start request, the output.
func docExample(t *testing.T) [][]byte {
	t.Helper()
	raw, err := os.ReadFile("../../docs/workflows.md")
	if err != nil {
		t.Fatal(err)
	}
	_, sec, ok := strings.Cut(string(raw), "\n## Code steps (JavaScript)\n")
	if !ok {
		t.Fatal("docs/workflows.md has no code step section")
	}
	var blocks [][]byte
	for len(blocks) < 3 {
		_, rest, ok := strings.Cut(sec, "```json\n")
		if !ok {
			t.Fatalf("the code step section has %d JSON blocks, want 3", len(blocks))
		}
		block, after, _ := strings.Cut(rest, "```")
		blocks, sec = append(blocks, []byte(block)), after
	}
	return blocks
}

func code(id, source, next string) obj {
	s := obj{"id": id, "type": "code", "config": obj{"language": "javascript", "source": source}}
	if next != "" {
		s["nextStepId"] = next
	}
	return s
}

// codeRecords reads a run's step records with their console lines.
func codeRecords(t *testing.T, h *apptest.Harness, tok, id string) []struct {
	StepID, Status, Error string
	Output                json.RawMessage
	Logs                  []string
} {
	t.Helper()
	var r struct {
		Steps []struct {
			StepID, Status, Error string
			Output                json.RawMessage
			Logs                  []string
		}
	}
	h.Call(http.StatusOK, "GET", "/api/v1/runs/"+id, tok, nil).Data(t, &r)
	return r.Steps
}

// A code step end to end over HTTP: checked at save (syntax errors with
// the body's line), run by a worker with the run's data, its console
// lines and output in the step record, a thrown error with the body's
// line and stack, and the FREE plan's one-second limit stopping a loop.
func TestCodeStep(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)

		// Saved only if it compiles; nothing of it runs to check it.
		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/validate", Token: tok, Body: def(manual,
			code("a", "const x = 1;\nreturn x +;", ""),
			with(code("b", "return 1", ""), "config", obj{"language": "python", "source": "return 1"}),
			code("c", " ", ""),
			with(code("d", "", ""), "config", obj{"language": "javascript", "source": "return 1", "timeout": 5}),
		)})
		errs := fields(t, r)
		for _, want := range []fieldError{
			{"definition.steps[0].config.source", "SyntaxError"},
			{"definition.steps[0].config.source", "(line 2, column"},
			{"definition.steps[1].config.language", `must be "javascript"`},
			{"definition.steps[2].config.source", "is empty"},
			{"definition.steps[3].config", "unknown field"},
		} {
			if !hasField(errs, want.Field, want.Message) {
				t.Errorf("no error %q on %s: %+v", want.Message, want.Field, errs)
			}
		}

		w := create(t, h, tok, "code", obj{
			"trigger": manual, "startStepId": "calc",
			"variables": obj{"limit": 10},
			"steps": []obj{
				code("calc", `console.log("items:", trigger.items.length);
const total = trigger.items.reduce((sum, it) => sum + it.price * it.qty, 0);
return {total, over: total > vars.limit, names: trigger.items.map(it => it.name)};`, "check"),
				condition("check", "steps.calc.output.over", "boom", ""),
				with(code("boom", "const order = null;\nreturn order.id;", "after"), "onError", "continue"),
				code("after", `console.warn("boom failed");
return {previous, error: steps.boom.error.split("\n")[0], status: steps.boom.status};`, ""),
			},
		})
		loop := create(t, h, tok, "loop", def(manual, code("spin", "let n = 0;\nwhile (true) { n++; }", "")))
		// The loop runs its second beside the other run.
		spin := start(t, h, tok, loop.ID, nil)

		run1 := start(t, h, tok, w.ID, obj{"input": obj{"items": []obj{{"name": "tea", "price": 4, "qty": 2}, {"name": "cake", "price": 3.5, "qty": 1}}}})
		if run1.Status != "running" || run1.CurrentStepID != "calc" || len(run1.Steps) != 0 {
			t.Fatalf("a code step runs in a worker, not in the request: %+v", run1)
		}
		got := waitRun(t, h, tok, run1.ID, nil)
		want := `{"previous":{"result":true},"error":"TypeError: cannot read property 'id' of null","status":"failed"}`
		if got.Status != "completed" || stepIDs(got) != "calc,check,boom,after" || string(got.Output) != want {
			t.Fatalf("run: %+v\noutput %s", got, got.Output)
		}
		recs := codeRecords(t, h, tok, run1.ID)
		if string(recs[0].Output) != `{"total":11.5,"over":true,"names":["tea","cake"]}` {
			t.Fatalf("calc output %s", recs[0].Output)
		}
		if strings.Join(recs[0].Logs, "|") != "items: 2" || strings.Join(recs[3].Logs, "|") != "[warn] boom failed" {
			t.Fatalf("console lines: %q, %q", recs[0].Logs, recs[3].Logs)
		}
		if recs[2].Status != "failed" || !strings.Contains(recs[2].Error, "(code:2:") || len(recs[2].Output) != 0 {
			t.Fatalf("failed code step: %+v", recs[2])
		}

		// The example of docs/workflows.md runs as written.
		example := docExample(t)
		var exDef obj
		if err := json.Unmarshal(example[0], &exDef); err != nil {
			t.Fatal(err)
		}
		var exStart obj
		if err := json.Unmarshal(example[1], &exStart); err != nil {
			t.Fatal(err)
		}
		ex := start(t, h, tok, create(t, h, tok, "order total", exDef).ID, exStart)
		if ex.Status == "running" {
			// "wait" answered after its 10 s with the run still going, as
			// documented: a machine starved of CPU (CI under -race) is slow.
			ex = waitRun(t, h, tok, ex.ID, nil)
		}
		exRecs := codeRecords(t, h, tok, ex.ID)
		if ex.Status != "completed" || string(ex.Output) != strings.TrimSpace(string(example[2])) ||
			strings.Join(exRecs[0].Logs, "|") != "lines 2" || !strings.Contains(string(exRecs[0].Output), `"net":11.5,"gross":13.8}`) {
			t.Fatalf("the documented example: %+v, records %+v", ex, exRecs)
		}

		got = waitRun(t, h, tok, spin.ID, nil)
		if got.Status != "failed" || !strings.Contains(got.Error, `step "spin" failed: the code ran longer than 1s, its time limit`) {
			t.Fatalf("loop on FREE: %+v", got)
		}
	})
}
