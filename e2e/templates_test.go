package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A template from the gallery becomes a workflow and runs: the gallery
// (reached from the workflow list) shows each template's steps and needs;
// "Use template" creates the README's order-size workflow and opens it in
// the studio with its sample input, and Run completes with each step's
// output on its node. In the condition's field the names of the run's
// data are offered as it is typed, and the field shows what the
// expression gives over that run, computed by the server; broken, the
// error shows on the node and in the preview. Duplicating from the
// studio opens the copy.
func TestBrowser_TemplateGalleryAndExpressionPreview(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		first := strings.HasSuffix(t.Name(), "/sqlite")
		s.signUp("tess@example.com", "tmpl-password-1", "Tess")
		s.signInAs("tess@example.com", "tmpl-password-1")

		s.do("open the gallery",
			chromedp.Click(chromedp.CSS(`.subnav a[href="/workflows"]`)), onPage("Workflows"),
			chromedp.Click(chromedp.CSS(`a[href="/templates"]`)), onPage("Templates"),
			chromedp.WaitVisible(chromedp.CSS(`.template-card[data-template="order-size"]`)),
			chromedp.WaitVisible(chromedp.CSS(`.template-card[data-template="big-order-alert"]`)))
		if got := s.text(`.template-card[data-template="big-order-alert"] .template-needs`); !strings.Contains(got, "gateway") {
			t.Errorf("the big-order template's needs read %q", got)
		}
		if got := strings.ToLower(s.text(`.template-card[data-template="order-size"] .template-steps`)); !strings.Contains(got, "webhook") || !strings.Contains(got, "condition") {
			t.Errorf("the order-size template's steps read %q", got)
		}
		if first {
			s.shot("workflow-templates")
			s.a11y("workflow templates")
			s.do("phone width", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)), setScheme("dark"),
				chromedp.WaitVisible(chromedp.CSS(`.template-card`)))
			if eval[bool](s, `document.documentElement.scrollWidth > window.innerWidth`) {
				t.Error("the gallery scrolls sideways at 375 px")
			}
			s.shot("workflow-templates-375-dark")
			s.do("desktop width", chromedp.EmulateViewport(1280, 800), setScheme("light"))
		}

		s.do("use the order-size template",
			chromedp.Click(chromedp.CSS(`.template-card[data-template="order-size"] button`)),
			chromedp.WaitVisible(chromedp.CSS(`dialog.import-dialog[open] input[name=name]`)),
			chromedp.Click(chromedp.CSS(`dialog.import-dialog button[type=submit]`)),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="total"]`)),
			until(`document.querySelector('.studio-status .badge')?.textContent === 'valid'`))
		s.do("run it with its sample input",
			chromedp.Click(chromedp.CSS(`button.run-now`)),
			until(`document.querySelector('.studio-status').textContent.includes('completed')`),
			until(`(document.querySelector('.step-node[data-step="yes"] .step-output')?.textContent ?? '').includes('"tier":"big"')`))
		if got := s.text(`.step-node[data-step="total"] .step-output`); !strings.Contains(got, `"sum":115`) {
			t.Errorf("the total's node shows %q", got)
		}

		// The condition's field: names from the run, its live value.
		field := `.side-panel textarea[name=expression]`
		s.do("type in the condition",
			clickNode("big"),
			until(`document.querySelector('#step-h')?.textContent.includes('Condition')`),
			clearInput(field),
			chromedp.SendKeys(chromedp.CSS(field), "steps.total.output.s"),
			chromedp.WaitVisible(chromedp.CSS(`.expr-suggest li`)))
		if got := s.text(`.expr-suggest`); !strings.Contains(got, "steps.total.output.sum") {
			t.Errorf("the suggestions are %q", got)
		}
		s.do("accept the suggestion and finish the expression",
			chromedp.Click(chromedp.CSS(`.expr-suggest li[id$="-opt-0"]`)),
			until(`document.querySelector('.side-panel textarea[name=expression]').value === 'steps.total.output.sum'`),
			chromedp.SendKeys(chromedp.CSS(field), " * 2"),
			until(`(document.querySelector('[data-preview=expression]')?.textContent ?? '').includes('230')`))
		if got := s.text(`[data-preview=expression]`); !strings.Contains(got, "Latest run gives") {
			t.Errorf("the preview reads %q", got)
		}
		s.do("make it a comparison again",
			chromedp.SendKeys(chromedp.CSS(field), " > 200"),
			until(`(document.querySelector('[data-preview=expression]')?.textContent ?? '').includes('true')`),
			until(`document.querySelector('.studio-status .badge')?.textContent === 'valid'`))
		if first {
			s.shot("workflow-expression-preview")
		}
		// What fails only over the data shows in the preview …
		s.do("fail over the run's data",
			clearInput(field),
			chromedp.SendKeys(chromedp.CSS(field), "steps.total.output.sum > 1 && trigger.body.items[5].price > 0"),
			chromedp.WaitVisible(chromedp.CSS(`[data-preview=expression].bad`)))
		if got := s.text(`[data-preview=expression]`); !strings.Contains(got, "Would fail") {
			t.Errorf("the failing expression's preview reads %q", got)
		}
		// … and what cannot compile on the node and under the field.
		s.do("break it",
			clearInput(field),
			chromedp.SendKeys(chromedp.CSS(field), "steps.total.output.sum * 2 > 200 >"),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="big"] .step-error`)),
			chromedp.WaitVisible(chromedp.CSS(`.side-panel .expr-field.invalid .field-error`)))
		if got := s.text(`.step-node[data-step="big"] .step-error`); !strings.Contains(got, "config.expression") {
			t.Errorf("the condition's node shows %q", got)
		}
		if first {
			s.a11y("studio with an expression preview")
			s.do("dark", setScheme("dark"))
			s.shot("workflow-expression-error-dark")
			s.do("light", setScheme("light"))
		}

		// The saved version is copied from the studio.
		s.do("undo the break", chromedp.Click(chromedp.CSS(`.studio-actions button:nth-child(1)`)),
			chromedp.WaitNotPresent(chromedp.CSS(`.step-node[data-step="big"] .step-error`)))
		from := eval[string](s, `location.pathname`)
		s.do("duplicate",
			chromedp.Click(chromedp.CSS(`button.duplicate`)),
			until(`location.pathname !== `+jsString(from)),
			until(`document.querySelector('#wf-name')?.value === 'Order size (copy)'`),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="total"]`)))

		// A file exported elsewhere: its gateway is another workspace's; the
		// dialog offers this workspace's (none) or leaving it out.
		file := filepath.Join(t.TempDir(), "orders.workflow.json")
		doc := `{"format": "switchboard.workflow/v1", "name": "Imported orders", "description": "from another workspace",
			"definition": {"trigger": {"type": "event", "gatewayIds": ["gw_01jzexampleexampleexample0"]}, "startStepId": "echo",
				"steps": [{"id": "echo", "type": "transform", "config": {"expression": "trigger.payload.text"}}]},
			"layout": null, "references": [{"field": "definition.trigger.gatewayIds[0]", "kind": "gateway", "id": "gw_01jzexampleexampleexample0"}]}`
		if err := os.WriteFile(file, []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
		s.do("import the file",
			chromedp.Click(chromedp.CSS(`.subnav a[href="/workflows"]`)), onPage("Workflows"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-workflow="Order size (copy)"]`)),
			chromedp.SetUploadFiles(chromedp.CSS(`input[type=file]`), []string{file}),
			chromedp.WaitVisible(chromedp.CSS(`dialog.import-dialog[open] select[name="ref-gw_01jzexampleexampleexample0"]`)),
			until(`document.querySelector('dialog.import-dialog input[name=name]').value === 'Imported orders'`))
		if got := s.text(`dialog.import-dialog[open] .import-ref`); !strings.Contains(got, "gw_01jzexampleexampleexample0") || !strings.Contains(got, "trigger.gatewayIds[0]") {
			t.Errorf("the import dialog shows %q for the foreign gateway", got)
		}
		if first {
			s.a11y("import dialog")
			s.shot("workflow-import")
		}
		s.do("import it, leaving the gateway out",
			chromedp.Click(chromedp.CSS(`dialog.import-dialog[open] button[type=submit]`)),
			until(`document.querySelector('#wf-name')?.value === 'Imported orders'`),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="echo"]`)))
		s.do("see it in the list, disabled",
			chromedp.Click(chromedp.CSS(`.subnav a[href="/workflows"]`)), onPage("Workflows"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-workflow="Imported orders"]`)))
		if got := strings.ToLower(s.text(`tr[data-workflow="Imported orders"]`)); !strings.Contains(got, "disabled") {
			t.Errorf("the imported workflow's row reads %q", got)
		}
		if first {
			s.shot("workflows-share")
		}
	})
}
