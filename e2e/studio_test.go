package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// overlappingSteps names the first two nodes on the canvas whose boxes
// overlap, or is empty.
const overlappingSteps = `(() => {
	const ns = [...document.querySelectorAll('.svelte-flow__node')].map((e) => [e.dataset.id, e.getBoundingClientRect()]);
	for (const [i, [a, ra]] of ns.entries())
		for (const [b, rb] of ns.slice(i + 1))
			if (ra.left < rb.right && rb.left < ra.right && ra.top < rb.bottom && rb.top < ra.bottom) return a + ' and ' + b;
	return '';
})()`

// A workflow drawn in the studio by mouse and form: a webhook workflow is
// created from the list, its transform step gets an expression, a
// condition is added from the palette (linked below the selected step),
// the webhook answers synchronously; saving makes version 2, which the
// version list shows with its changes, and a run of it shows each step's
// output on its node; a broken expression then shows its
// validation error on its node, and undo takes it back. Disabled, it reads
// so in the list. The list and the studio pass axe-core
// (first engine only: the pages do not depend on it).
func TestBrowser_WorkflowStudio(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		first := strings.HasSuffix(t.Name(), "/sqlite")
		s.signUp("flo@example.com", "flow-password-1", "Flo")
		s.signInAs("flo@example.com", "flow-password-1")

		s.do("create a webhook workflow",
			chromedp.Click(chromedp.CSS(`.subnav a[href="/workflows"]`)), onPage("Workflows"),
			chromedp.SendKeys(chromedp.CSS(`.new-workflow input[name=name]`), "Orders"),
			pickOption(`.new-workflow select[name=trigger]`, "webhook"),
			chromedp.Click(chromedp.CSS(`.new-workflow button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="transform"]`)),
			until(`document.querySelector('.studio-status .badge')?.textContent === 'valid'`))

		// The transform: select its node, write its expression.
		s.do("edit the transform",
			clickUntil(`.step-node[data-step="transform"]`, transformSelected),
			clearInput(`.side-panel textarea[name=expression]`),
			chromedp.SendKeys(chromedp.CSS(`.side-panel textarea[name=expression]`), "{total: sum(trigger.body.items[*].price)}"))
		// A condition from the palette lands below it, linked.
		s.do("add a condition",
			chromedp.Click(chromedp.CSS(`.palette-item[data-type="condition"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="condition"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__edge[data-id="transform:next"]`)),
			until(`document.querySelector('#step-h')?.textContent.includes('Condition')`),
			clearInput(`.side-panel textarea[name=expression]`),
			chromedp.SendKeys(chromedp.CSS(`.side-panel textarea[name=expression]`), "steps.transform.output.total > 100"))
		// Another transform lands on the condition's free "true" branch; the
		// "false" branch is drawn by dragging from its handle onto the
		// transform's.
		s.do("add a transform and link the false branch by mouse",
			chromedp.Click(chromedp.CSS(`.palette-item[data-type="transform"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__edge[data-id="condition:true"]`)),
			chromedp.Click(chromedp.CSS(`.svelte-flow__controls-fitview`)),
			dragTo(`.step-node[data-step="condition"] [data-handleid="false"]`, `.step-node[data-step="transform-2"] [data-handlepos="top"]`),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__edge[data-id="condition:false"]`)))
		// The webhook answers with the run's output.
		s.do("make the webhook synchronous",
			chromedp.Click(chromedp.CSS(`.trigger-node`)),
			chromedp.WaitVisible(chromedp.CSS(`#trigger-h`)),
			chromedp.Click(chromedp.CSS(`input[name=mode][value=sync]`)),
			until(`document.querySelector('#hook-url')?.value.includes('/hooks/workflows/')`),
			until(`document.querySelector('.studio-status .badge')?.textContent === 'valid'`))
		if first {
			s.shot("workflow-studio")
			s.a11y("workflow studio, trigger panel")
		}

		s.do("save", chromedp.Click(chromedp.CSS(`button.save`)),
			until(`document.querySelector('.studio-status').textContent.includes('Saved as version 2')`),
			chromedp.Click(chromedp.CSS(`.side-panel .tabs button:nth-child(2)`)),
			chromedp.WaitVisible(chromedp.CSS(`.version-list li[data-version="2"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.diff .diff-add`)))
		diff := s.text(`.diff`)
		for _, want := range []string{`"condition"`, `"sync"`, `sum(trigger.body.items[*].price)`, `"false": "transform-2"`} {
			if !strings.Contains(diff, want) {
				t.Errorf("the diff of v1 and v2 does not show %s:\n%s", want, diff)
			}
		}
		if first {
			s.a11y("workflow studio, versions")
		}

		// Run the saved version with a sample input: each step's output
		// shows on its node.
		s.do("run it",
			chromedp.Click(chromedp.CSS(`.side-panel .tabs button:nth-child(1)`)),
			chromedp.WaitVisible(chromedp.CSS(`#sample`)),
			clearInput(`#sample`),
			chromedp.SendKeys(chromedp.CSS(`#sample`), `{"body": {"items": [{"name": "lamp", "price": 150}]}}`),
			chromedp.Click(chromedp.CSS(`button.run-now`)),
			// The node shows the output once the run has recorded it (it may
			// show the run's progress first).
			until(`(document.querySelector('.step-node[data-step="transform"] .step-output')?.textContent ?? '').includes('"total":150')`))
		if got := s.text(`.step-node[data-step="transform"] .step-output`); !strings.Contains(got, `"total":150`) {
			t.Errorf("the transform's node shows %q as its output", got)
		}
		if got := s.text(`.studio-status`); !strings.Contains(got, "completed") {
			t.Errorf("the status reads %q after the run", got)
		}

		// Called through its webhook, as a client would: the run appears
		// among the workflow's runs and opens in the inspector, completed.
		hookURL := eval[string](s, `document.querySelector('#hook-url').value`)
		res, err := http.Post(hookURL, "application/json", strings.NewReader(`{"id": "ord_7", "items": [{"price": 40}, {"price": 75}]}`))
		if err != nil {
			t.Fatal(err)
		}
		var answer struct {
			Data map[string]any `json:"data"`
		}
		_ = json.NewDecoder(res.Body).Decode(&answer)
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("the synchronous webhook answered %d %v", res.StatusCode, answer)
		}

		// A broken expression: the server's validation marks its node.
		s.do("break the condition",
			clickUntil(`.step-node[data-step="condition"]`, `document.querySelector('#step-h')?.textContent.includes('Condition')`),
			clearInput(`.side-panel textarea[name=expression]`),
			chromedp.SendKeys(chromedp.CSS(`.side-panel textarea[name=expression]`), "steps.transform.output.total >"),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="condition"] .step-error`)),
			chromedp.WaitVisible(chromedp.CSS(`.side-panel .expr-field.invalid .field-error`)))
		if got := s.text(`.step-node[data-step="condition"] .step-error`); !strings.Contains(got, "config.expression") {
			t.Errorf("the condition's node shows %q, not its expression's error", got)
		}
		if n := eval[int](s, `document.querySelectorAll('.step-node .step-error').length`); n != 1 {
			t.Errorf("%d nodes show an error, want only the condition's", n)
		}
		// The condition now shows its output and an error, and still clears
		// the step placed below it before either was there.
		if got := eval[string](s, overlappingSteps); got != "" {
			t.Errorf("steps overlap on the canvas: %s", got)
		}
		// Narrowed to a phone's width, the canvas keeps what was in the
		// middle of its view in the middle.
		s.do("phone width, dark", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)), setScheme("dark"),
			until(`document.querySelector('.canvas').getBoundingClientRect().width < 375`))
		time.Sleep(300 * time.Millisecond) // the resize observer's move
		if off := eval[float64](s, `(() => {
				const n = document.querySelector('.step-node[data-step="condition"]').getBoundingClientRect();
				const r = document.querySelector('.canvas').getBoundingClientRect();
				return Math.max(r.left - n.left, n.right - r.right, 0);
			})()`); off > 0 {
			t.Errorf("at 375 px the selected condition sticks out of the canvas by %.0f px", off)
		}
		if first {
			s.shot("workflow-studio-375-dark")
		}
		s.do("desktop width", chromedp.EmulateViewport(1280, 800), setScheme("light"))
		if first {
			s.do("dark theme", setScheme("dark"))
			s.shot("workflow-studio-error-dark")
			s.do("light theme", setScheme("light"))
			s.shot("workflow-studio-error")
			s.a11y("workflow studio, a step with an error")
		}

		// Undo takes the whole typed change back (typing in one field is one
		// change), and the error with it.
		s.do("undo", chromedp.Click(chromedp.CSS(`.studio-actions button[title="Ctrl+Z"]`)),
			until(`document.querySelector('.side-panel textarea[name=expression]').value === 'steps.transform.output.total > 100'`),
			chromedp.WaitNotPresent(chromedp.CSS(`.step-node .step-error`)))

		// Copy and paste by keyboard make condition-2 (its links to steps
		// outside the copy dropped); Ctrl+Z takes it away again.
		ctrl := chromedp.KeyModifiers(chromedp.ModifierCtrl)
		s.do("copy, paste and undo by keyboard",
			clickUntil(`.step-node[data-step="condition"]`, `document.querySelector('#step-h')?.textContent.includes('Condition')`),
			chromedp.Focus(chromedp.CSS(`.svelte-flow__node[data-id="condition"]`)),
			chromedp.KeyEvent("c", ctrl), chromedp.KeyEvent("v", ctrl),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="condition-2"]`)))
		if n := eval[int](s, `document.querySelectorAll('.svelte-flow__edge[data-id^="condition-2:"]').length`); n != 0 {
			t.Errorf("the pasted condition has %d links, want none (its targets were not copied)", n)
		}
		s.do("undo the paste", chromedp.KeyEvent("z", ctrl), chromedp.WaitNotPresent(chromedp.CSS(`.step-node[data-step="condition-2"]`)))

		// A palette item dropped on the canvas lands where it is dropped
		// (the drop as the browser delivers it after a drag).
		s.do("drop a delay on the canvas", chromedp.Evaluate[chromedp.Void](`(() => {
				const dt = new DataTransfer();
				document.querySelector('.palette-item[data-type="delay"]').dispatchEvent(new DragEvent('dragstart', { bubbles: true, dataTransfer: dt }));
				const r = document.querySelector('.canvas').getBoundingClientRect();
				document.querySelector('.svelte-flow__pane').dispatchEvent(new DragEvent('drop', { bubbles: true, cancelable: true, dataTransfer: dt,
					clientX: r.left + 60, clientY: r.top + 60 }));
			})()`),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="delay"]`)))
		// Its centre is under the drop point, and stays there: the canvas
		// does not pan away after a drop (checked after a pan would have
		// finished).
		time.Sleep(400 * time.Millisecond)
		if d := eval[float64](s, `(() => {
				const n = document.querySelector('.step-node[data-step="delay"]').getBoundingClientRect();
				const r = document.querySelector('.canvas').getBoundingClientRect();
				return Math.hypot(n.left + n.width / 2 - (r.left + 60), n.top + n.height / 2 - (r.top + 60));
			})()`); d > 12 {
			t.Errorf("the dropped step's centre is %.0f px from where it was dropped", d)
		}

		s.do("disable it", chromedp.Click(chromedp.CSS(`.enable-toggle input`)),
			until(`!document.querySelector('.enable-toggle input').checked && !document.querySelector('.enable-toggle input').disabled`))

		s.do("the list shows it", chromedp.Click(chromedp.CSS(`.subnav a[href="/workflows"]`)), onPage("Workflows"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-workflow="Orders"]`)))
		if got := s.text(`tr[data-workflow="Orders"]`); !strings.Contains(got, "Webhook") || !strings.Contains(got, "v2") || !strings.Contains(strings.ToLower(got), "disabled") {
			t.Errorf("the list's row reads %q", got)
		}
		if first {
			s.a11y("workflows")
		}
		s.do("the webhook's run in the inspector", chromedp.Click(chromedp.CSS(`tr[data-workflow="Orders"] a.runs-link`)), onPage("Runs"),
			until(`[...document.querySelectorAll('table.runs tbody tr[data-status="completed"]')].some((r) => r.textContent.includes('webhook'))`),
			chromedp.Click(chromedp.CSS(`table.runs tbody tr:first-child td[data-label="Run"] a`)),
			until(`document.querySelector('.run-status')?.dataset.status === 'completed'`),
			until(`document.querySelectorAll('.rec-item[data-step]').length === 3`))
		s.do("back to the list", chromedp.Click(chromedp.CSS(`.subnav a[href="/workflows"]`)), onPage("Workflows"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-workflow="Orders"]`)))

		// A conversation with a loop: waitForReply, forEach and code steps
		// come from the palette with configs that validate as they are;
		// the wait's reply and timeout branches and the loop's body are
		// wired by the panel's selects, and the save keeps them.
		s.do("create an event workflow with a wait, a loop and code",
			chromedp.SendKeys(chromedp.CSS(`.new-workflow input[name=name]`), "Dialog"),
			pickOption(`.new-workflow select[name=trigger]`, "event"),
			chromedp.Click(chromedp.CSS(`.new-workflow button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="transform"]`)),
			clickUntil(`.step-node[data-step="transform"]`, transformSelected),
			chromedp.Click(chromedp.CSS(`.palette-item[data-type="waitForReply"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__edge[data-id="transform:next"]`)),
			chromedp.Click(chromedp.CSS(`.palette-item[data-type="code"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__edge[data-id="waitForReply:reply"]`)),
			chromedp.Click(chromedp.CSS(`.palette-item[data-type="forEach"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__edge[data-id="code:next"]`)),
			// The loop's body by its select; the code step then ends.
			chromedp.WaitVisible(chromedp.CSS(`#link-body`)),
			pickOption(`#link-body`, "code"),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__edge[data-id="forEach:body"]`)),
			// Steps are clicked where they are: the canvas may still be
			// panning to the last step added.
			clickNode("code"),
			chromedp.WaitVisible(chromedp.CSS(`.side-panel textarea[name=source]`)),
			pickOption(`#link-next`, ""),
			chromedp.WaitNotPresent(chromedp.CSS(`.svelte-flow__edge[data-id="code:next"]`)))
		s.do("wire the wait's branches",
			clickNode("waitForReply"),
			chromedp.WaitVisible(chromedp.CSS(`#link-timeout`)),
			pickOption(`#link-reply`, "forEach"),
			pickOption(`#link-timeout`, "forEach"),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__edge[data-id="waitForReply:timeout"]`)),
			until(`document.querySelector('.studio-status .badge')?.textContent === 'valid'`))
		if first {
			s.do("tidy up", chromedp.Click(chromedp.CSS(`.studio-actions button:nth-child(5)`)),
				chromedp.Click(chromedp.CSS(`.svelte-flow__controls-fitview`)),
				until(`document.querySelector('.svelte-flow__node[data-id="code"]').getBoundingClientRect().bottom < document.querySelector('.canvas').getBoundingClientRect().bottom`),
				until(`document.querySelector('.studio-status .badge')?.textContent === 'valid'`))
			s.shot("workflow-studio-steps")
		}
		s.do("save the dialog", chromedp.Click(chromedp.CSS(`button.save`)),
			until(`document.querySelector('.studio-status').textContent.includes('Saved as version 2')`))
		var tok struct {
			AccessToken string `json:"accessToken"`
		}
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": "flo@example.com", "password": "flow-password-1"}, http.StatusOK, &tok)
		var wf struct {
			Definition struct {
				Steps []struct {
					ID              string            `json:"id"`
					NextStepID      string            `json:"nextStepId"`
					ConditionalNext map[string]string `json:"conditionalNext"`
					Config          map[string]any    `json:"config"`
				} `json:"steps"`
			} `json:"definition"`
		}
		id := strings.TrimPrefix(eval[string](s, `location.pathname`), "/workflows/")
		s.apiCall("GET", "/api/v1/workflows/"+id, tok.AccessToken, nil, http.StatusOK, &wf)
		got := map[string]string{}
		for _, st := range wf.Definition.Steps {
			switch st.ID {
			case "waitForReply":
				got["reply"], got["timeout"] = st.ConditionalNext["reply"], st.ConditionalNext["timeout"]
			case "forEach":
				got["body"], _ = st.Config["bodyStartStepId"].(string)
			case "code":
				got["code next"] = st.NextStepID
			}
		}
		if want := map[string]string{"reply": "forEach", "timeout": "forEach", "body": "code", "code next": ""}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("the saved links are %v, want %v", got, want)
		}
	})
}

// clickNode clicks a step's node wherever the canvas shows it (also out
// of view).
// transformSelected: the panel shows the transform step. A new
// workflow's canvas fits its view as it opens, and a click while it moves
// can land on the pane beside the step (selecting nothing): clickUntil
// clicks again, as a person would.
const transformSelected = `document.querySelector('#step-h')?.textContent.includes('Transform') && document.querySelector('#step-id')?.value === 'transform'`

func clickNode(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](`document.querySelector('.svelte-flow__node[data-id="` + id + `"]').click()`)
}

// dragTo drags with the left button from the centre of one element to the
// centre of another, in small moves, as a hand would.
func dragTo(from, to string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		// Both ends must be where a pointer reaches them (the canvas may
		// still be moving to fit the view).
		qa, _ := json.Marshal(from)
		qb, _ := json.Marshal(to)
		if _, err := chromedp.Poll[bool](`[`+string(qa)+`, `+string(qb)+`].every((sel) => {
			const e = document.querySelector(sel); const r = e.getBoundingClientRect();
			return e.contains(document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2)) })`)(ctx, t); err != nil {
			return err
		}
		centre := func(sel string) ([2]float64, error) {
			q, _ := json.Marshal(sel)
			return chromedp.Evaluate[[2]float64](`(() => { const r = document.querySelector(`+string(q)+`).getBoundingClientRect();
				return [r.left + r.width / 2, r.top + r.height / 2] })()`)(ctx, t)
		}
		a, err := centre(from)
		if err != nil {
			return err
		}
		b, err := centre(to)
		if err != nil {
			return err
		}
		held := func(p *input.DispatchMouseEventParams) { p.Button = input.MouseButtonLeft; p.Buttons = 1 }
		steps := []chromedp.Action[chromedp.Void]{chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, a[0], a[1]), chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, a[0], a[1], held)}
		for i := 1; i <= 10; i++ {
			f := float64(i) / 10
			steps = append(steps, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, a[0]+(b[0]-a[0])*f, a[1]+(b[1]-a[1])*f, held))
		}
		steps = append(steps, chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, b[0], b[1], held))
		for _, st := range steps {
			if _, err := st(ctx, t); err != nil {
				return err
			}
		}
		return nil
	})
}
