package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The run inspector: a workflow's webhook is called and its run appears
// in the studio's run list, is opened while it waits on a delay and
// completes live (the run stream); its timeline shows each step with the
// code step's console line, and the canvas its path. A run that fails
// shows its error on the failed node; retried from that step (which now
// succeeds), it completes. The screens pass axe-core (first engine).
func TestBrowser_RunInspector(t *testing.T) {
	dbtest.EachURL(t, func(t *testing.T, url string) {
		s := start(t, url)
		first := strings.HasSuffix(t.Name(), "/sqlite")
		s.apiCall("POST", "/api/v1/auth/signup", "", map[string]string{"email": "ina@example.com", "password": "runs-password-1", "name": "Ina"}, http.StatusCreated, nil)
		var tok struct {
			AccessToken string `json:"accessToken"`
		}
		s.apiCall("POST", "/api/v1/auth/login", "", map[string]string{"email": "ina@example.com", "password": "runs-password-1"}, http.StatusOK, &tok)

		// The delay waits until the time the call names, so the test sets
		// how long a run stays open; the code step refuses a run asking to
		// fail until the readyAt it names, and a retry after that succeeds.
		var wf struct {
			ID      string `json:"id"`
			HookURL string `json:"hookUrl"`
		}
		s.apiCall("POST", "/api/v1/workflows", tok.AccessToken, map[string]any{
			"name": "Orders", "enabled": true,
			"definition": map[string]any{
				"trigger": map[string]any{"type": "webhook"}, "startStepId": "total",
				"steps": []map[string]any{
					{"id": "total", "type": "transform", "config": map[string]any{"expression": "{total: trigger.body.n}"}, "nextStepId": "pause"},
					{"id": "pause", "type": "delay", "config": map[string]any{"until": "{{ trigger.body.until }}"}, "nextStepId": "stock"},
					{"id": "stock", "type": "code", "config": map[string]any{"language": "javascript", "source": "const total = steps.total.output.total * 2;\n" +
						"console.log(\"checking stock for\", total);\n" +
						"if (trigger.body.fail && Date.now() < trigger.body.readyAt) throw new Error(\"stock service not ready\");\n" +
						"return {reserved: total};"}},
				},
			},
		}, http.StatusCreated, &wf)
		if wf.HookURL == "" {
			t.Fatal("the workflow has no webhook URL")
		}
		hook := func(body string) string {
			res, err := http.Post(wf.HookURL, "application/json", bytes.NewReader([]byte(body)))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var env struct {
				Data struct {
					RunID string `json:"runId"`
				} `json:"data"`
			}
			_ = json.NewDecoder(res.Body).Decode(&env)
			if res.StatusCode != http.StatusAccepted || env.Data.RunID == "" {
				t.Fatalf("webhook: %d %+v", res.StatusCode, env)
			}
			return env.Data.RunID
		}

		s.signInAs("ina@example.com", "runs-password-1")
		s.do("open the runs from the studio", chromedp.Navigate(s.node.URL+"/workflows/"+wf.ID),
			chromedp.WaitVisible(chromedp.CSS(`.step-node[data-step="stock"]`)),
			chromedp.Click(chromedp.CSS(`a.runs-link`)), onPage("Runs"),
			until(`document.querySelector('table.runs tbody').textContent.includes('No runs yet')`))

		// The run appears in the list by itself and is opened while it
		// waits: long enough for a loaded machine to get there first.
		ok := hook(fmt.Sprintf(`{"n": 21, "until": %q}`, time.Now().Add(15*time.Second).UTC().Format(time.RFC3339)))
		s.do("the run appears", chromedp.WaitVisible(chromedp.CSS(`tr[data-run="`+ok+`"]`)))
		if first {
			s.shot("run-inspector-list")
			s.a11y("runs list")
		}
		s.do("open it", chromedp.Click(chromedp.CSS(`tr[data-run="`+ok+`"] a`)),
			chromedp.WaitVisible(chromedp.CSS(`.run-status`)))
		if got := strings.ToLower(s.text(`.run-status`)); got != "running" {
			t.Errorf("the run reads %q when opened during its delay, want running", got)
		}
		s.do("it completes live",
			until(`document.querySelector('.run-status')?.dataset.status === 'completed'`),
			until(`document.querySelectorAll('.rec-item[data-step]').length === 3`),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__node.run-completed[data-id="stock"]`)),
			// The canvas draws links once it has measured the re-rendered
			// nodes, a frame or more after them.
			until(`document.querySelectorAll('.svelte-flow__edge.run-taken').length >= 3`))
		if n := eval[int](s, `document.querySelectorAll('.svelte-flow__edge.run-taken').length`); n != 3 {
			t.Errorf("%d links are drawn as taken, want 3 (trigger → total → pause → stock)", n)
		}
		s.do("open the code step's record", chromedp.Click(chromedp.CSS(`.rec-item[data-step="stock"] summary`)),
			chromedp.WaitVisible(chromedp.CSS(`.rec-item[data-step="stock"] .logs`)))
		if got := s.text(`.rec-item[data-step="stock"] .logs`); !strings.Contains(got, "checking stock for 42") {
			t.Errorf("the code step's console reads %q", got)
		}
		if got := s.text(`.rec-item[data-step="stock"] .rec-output`); !strings.Contains(got, `"reserved": 42`) {
			t.Errorf("the code step's output reads %q", got)
		}
		if got := s.text(`.rec-item[data-step="pause"]`); !strings.Contains(got, "waits until") {
			t.Errorf("the delay's record does not say until when it waits: %q", got)
		}
		if first {
			s.shot("run-inspector")
			s.a11y("run inspector, a completed run")
		}

		// A failing run: its error on its node; retried after the code
		// step's service is ready, it completes from that step.
		readyAt := time.Now().Add(10 * time.Second)
		bad := hook(fmt.Sprintf(`{"n": 5, "fail": true, "until": %q, "readyAt": %d}`, time.Now().UTC().Format(time.RFC3339), readyAt.UnixMilli()))
		s.do("find the failed run", chromedp.Click(chromedp.CSS(`.crumbs a[href$="/runs"]`)), onPage("Runs"),
			pickOption(`#f-status`, "failed"),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-run="`+bad+`"][data-status="failed"]`)))
		if n := eval[int](s, `document.querySelectorAll('tr[data-run]').length`); n != 1 {
			t.Errorf("the failed filter shows %d runs, want 1", n)
		}
		// Every node the canvas re-measures is hidden meanwhile: count the
		// times a shown node is hidden again (a blink).
		s.do("count blinks", chromedp.Evaluate[chromedp.Void](`(() => {
				window.__blinks = {};
				const hidden = new WeakMap();
				new MutationObserver((ms) => {
					for (const m of ms) {
						const el = m.target;
						if (!el.classList?.contains('svelte-flow__node')) continue;
						const now = el.style.visibility === 'hidden';
						if (now && hidden.get(el) === false) window.__blinks[el.dataset.id] = (window.__blinks[el.dataset.id] ?? 0) + 1;
						hidden.set(el, now);
					}
				}).observe(document.body, { subtree: true, attributes: true, attributeFilter: ['style'] });
			})()`))
		s.do("open the failed run", chromedp.Click(chromedp.CSS(`tr[data-run="`+bad+`"] a`)),
			until(`document.querySelector('.run-status')?.dataset.status === 'failed'`),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__node.run-failed[data-id="stock"] .step-output.failed`)),
			// The canvas hides a re-rendered node (its text reads empty)
			// until it has measured it again.
			until(`(() => {
				const n = document.querySelector('.svelte-flow__node[data-id="stock"]');
				return n && getComputedStyle(n).visibility !== 'hidden';
			})()`))
		// The run ended before it was opened: the stream's first message and
		// the re-read after it change nothing shown, so no node blinks.
		time.Sleep(time.Second)
		if b := eval[map[string]int](s, `window.__blinks`); len(b) != 0 {
			t.Errorf("nodes hidden again after they were shown (a blink per update of an unchanged run): %v", b)
		}
		if got := s.text(`.svelte-flow__node[data-id="stock"] .step-output`); !strings.Contains(got, "stock service not ready") {
			t.Errorf("the failed node shows %q", got)
		}
		if got := s.text(`.rec-item[data-step="stock"] .rec-error`); !strings.Contains(got, "stock service not ready") {
			t.Errorf("the failed step's record shows %q", got)
		}
		if first {
			s.shot("run-inspector-failed")
			s.a11y("run inspector, a failed run")
			s.do("phone width, dark", chromedp.EmulateViewport(375, 740, chromedp.EmulateScale(2)), setScheme("dark"),
				chromedp.WaitVisible(chromedp.CSS(`.retry-run`)))
			s.shot("run-inspector-failed-phone-dark")
			s.do("desktop width", chromedp.EmulateViewport(1280, 800), setScheme("light"))
		}
		time.Sleep(time.Until(readyAt))
		s.do("retry from the failed step", chromedp.Click(chromedp.CSS(`.retry-run`)),
			until(`document.querySelector('.run-status')?.dataset.status === 'completed'`),
			chromedp.WaitVisible(chromedp.CSS(`.svelte-flow__node.run-completed[data-id="stock"]`)))
		// The retry ran the code step again, not the steps before it.
		if n := eval[int](s, `document.querySelectorAll('.rec-item[data-step="pause"]').length`); n != 1 {
			t.Errorf("the delay ran %d times, want once", n)
		}
		if got := s.text(`.run-output`); !strings.Contains(got, `"reserved": 10`) {
			t.Errorf("the retried run's output reads %q", got)
		}
	})
}
