package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/switchboard/switchboard/internal/app/proctest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/workflow"
)

// BenchmarkStudio measures the workflow studio in headless Chromium on a
// workflow of the maximum step count (workflow.MaxStepsPerWorkflow),
// laid out automatically as on its first open:
//
//   - open: a click on the workflow in the list until every step's node
//     is drawn and measured (the studio's code, the workflow, the layout
//     and the canvas are all in it);
//   - edit: one keystroke's worth of change in the selected step's panel
//     (its display name) until its node shows it.
//
// Numbers are in docs/benchmarks.md ("Workflow studio"). It skips
// without Chromium, like the browser tests.
func BenchmarkStudio(b *testing.B) {
	chrome := chromiumPath(b, "browser benchmarks")
	bin := proctest.Build(b)
	const email, password = "root@example.com", "root-password-12345"
	node := proctest.Start(b, "bench", bin, map[string]string{
		"SWITCHBOARD_DATA_DIR": b.TempDir(), "SWITCHBOARD_DATABASE_URL": dbtest.SQLite().URL(b),
		"SWITCHBOARD_LOG_LEVEL": "warn", "SWITCHBOARD_AUTH_RATE_LIMIT": "1000", "SWITCHBOARD_API_RATE_LIMIT_SCALE": "100",
		"SWITCHBOARD_ADMIN_EMAIL": email, "SWITCHBOARD_ADMIN_PASSWORD": password,
	})
	base := node.URL
	var tok struct {
		AccessToken string `json:"accessToken"`
	}
	apiJSON(b, base, "POST", "/api/v1/auth/login", "", map[string]string{"email": email, "password": password}, http.StatusOK, &tok)

	// A chain of transforms with a condition every fifth step, whose false
	// branch skips a step: the widest graph the layout meets in practice.
	n := workflow.MaxStepsPerWorkflow
	steps := make([]map[string]any, n)
	for i := range n {
		id, next := fmt.Sprintf("s%d", i+1), fmt.Sprintf("s%d", i+2)
		st := map[string]any{"id": id, "type": "transform", "config": map[string]any{"expression": "trigger"}}
		if i%5 == 4 && i+2 < n {
			st = map[string]any{"id": id, "type": "condition", "config": map[string]any{"expression": "true"},
				"conditionalNext": map[string]string{"true": next, "false": fmt.Sprintf("s%d", i+3)}}
		} else if i+1 < n {
			st["nextStepId"] = next
		}
		steps[i] = st
	}
	var wf struct {
		ID string `json:"id"`
	}
	apiJSON(b, base, "POST", "/api/v1/workflows", tok.AccessToken, map[string]any{"name": "Big", "definition": map[string]any{
		"trigger": map[string]string{"type": "manual"}, "startStepId": "s1", "steps": steps}}, http.StatusCreated, &wf)

	ctx := benchBrowser(b, chrome)
	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		b.Helper()
		c, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			b.Fatalf("%s: %v", what, err)
		}
	}
	run("sign in", chromedp.Navigate(base+"/sign-in"), onPage("Sign in"),
		chromedp.SendKeys(chromedp.CSS(`input[name=email]`), email),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`.topbar`)))
	drawn := fmt.Sprintf(`document.querySelectorAll('.step-node').length === %d && [...document.querySelectorAll('.svelte-flow__node')].every((n) => n.style.visibility === 'visible')`, n)
	measure := func(what, js string) float64 {
		b.Helper()
		c, cancel := context.WithTimeout(ctx, stepTimeout)
		defer cancel()
		d, err := chromedp.Run(c, chromedp.Evaluate[float64](`(async () => {
			`+waitForJS+`
			`+js+`
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			b.Fatalf("measure %s: %v", what, err)
		}
		return d
	}

	b.Run("open", func(b *testing.B) {
		var ms []float64
		for b.Loop() {
			run("the list", chromedp.Navigate(base+"/workflows"), chromedp.WaitVisible(chromedp.CSS(`tr[data-workflow="Big"] a`)))
			ms = append(ms, measure("open", `const t0 = performance.now();
				document.querySelector('tr[data-workflow="Big"] a').click();
				await waitFor(() => `+drawn+`);
				return performance.now() - t0;`))
		}
		b.ReportMetric(median(ms), "open-ms")
		b.ReportMetric(quantile(ms, 0.9), "p90-ms")
		b.ReportMetric(0, "ns/op")
	})

	b.Run("edit", func(b *testing.B) {
		run("open the studio", chromedp.Navigate(base+"/workflows/"+wf.ID), until(drawn),
			chromedp.Evaluate[chromedp.Void](`document.querySelector('.svelte-flow__node[data-id="s50"]').click()`),
			chromedp.WaitVisible(chromedp.CSS(`#step-name`)))
		var ms []float64
		i := 0
		for b.Loop() {
			i++
			ms = append(ms, measure("edit", fmt.Sprintf(`const t0 = performance.now();
				const f = document.querySelector('#step-name');
				f.value = 'Step fifty %d';
				f.dispatchEvent(new Event('input', { bubbles: true }));
				await waitFor(() => document.querySelector('.step-node[data-step="s50"] .step-id').textContent === 'Step fifty %d');
				return performance.now() - t0;`, i, i)))
		}
		b.ReportMetric(median(ms), "edit-ms")
		b.ReportMetric(quantile(ms, 0.9), "p90-ms")
		b.ReportMetric(0, "ns/op")
	})
}

// apiJSON sends a JSON request to the node at base and decodes the
// envelope's data into out.
func apiJSON(tb testing.TB, base, method, path, token string, body any, want int, out any) {
	tb.Helper()
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, base+path, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	var env struct {
		Data  json.RawMessage
		Error any
	}
	_ = json.NewDecoder(res.Body).Decode(&env)
	if res.StatusCode != want {
		tb.Fatalf("%s %s: %d %v", method, path, res.StatusCode, env.Error)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			tb.Fatalf("%s %s: %v", method, path, err)
		}
	}
}
