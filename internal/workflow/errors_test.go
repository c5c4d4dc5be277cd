package workflow_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// badTpl is a template step whose Go template does not parse: the plugin
// fails every time.
func badTpl(id, next string) obj { return tpl(id, `{{ "{{.x" }}`, nil, next) }

// onError: stop fails the run at the step, continue goes on to the next
// step, retry tries again with exponential backoff, then fails.
func TestOnError(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		// The retried run first: its waits overlap the checks below.
		retry := create(t, h, tok, "retry", def(manual, transform("a", "'first'", "p"),
			with(badTpl("p", "z"), "onError", "retry", "retryCount", 2, "retryBackoffMs", 200), transform("z", "'never'", "")))
		retrying := start(t, h, tok, retry.ID, nil)
		r := waitRun(t, h, tok, retrying.ID, func(r run) bool { return r.Status != "running" || r.WakeAt != nil })
		if r.Status != "running" || r.WakeAt == nil || r.Attempt != 2 || r.CurrentStepID != "p" || stepIDs(r) != "a,p" {
			t.Fatalf("waiting to retry: %+v", r)
		}

		stop := create(t, h, tok, "stop", def(manual, transform("a", "'first'", "p"), badTpl("p", "z"), transform("z", "'never'", "")))
		r = waitRun(t, h, tok, start(t, h, tok, stop.ID, nil).ID, nil)
		if r.Status != "failed" || r.CurrentStepID != "p" || !strings.HasPrefix(r.Error, `step "p" failed: template:`) || stepIDs(r) != "a,p" ||
			r.Steps[1].Status != "failed" || r.Steps[1].Error == "" || r.Steps[1].Output != nil {
			t.Fatalf("stop: %+v", r)
		}

		cont := create(t, h, tok, "continue", def(manual, with(badTpl("p", "z"), "onError", "continue"),
			transform("z", "{after: steps.p.status, err: steps.p.error != null}", "")))
		r = waitRun(t, h, tok, start(t, h, tok, cont.ID, nil).ID, nil)
		if r.Status != "completed" || stepIDs(r) != "p,z" || string(r.Output) != `{"after":"failed","err":true}` {
			t.Fatalf("continue: %+v %s", r, r.Output)
		}
		// A pure step that fails continues too.
		contPure := create(t, h, tok, "continue pure", def(manual, with(transform("t", "abs('x')", "z"), "onError", "continue"), transform("z", "'went on'", "")))
		if r := start(t, h, tok, contPure.ID, nil); r.Status != "completed" || string(r.Output) != `"went on"` {
			t.Fatalf("continue after a transform: %+v", r)
		}

		r = waitRun(t, h, tok, retrying.ID, nil)
		if r.Status != "failed" || !strings.HasSuffix(r.Error, "(after 3 attempts)") || stepIDs(r) != "a,p,p,p" {
			t.Fatalf("retry: %+v", r)
		}
		for i, rec := range r.Steps[1:] {
			if rec.Attempt != i+1 || rec.Status != "failed" {
				t.Fatalf("attempt %d: %+v", i+1, rec)
			}
		}
		// The waits double: at least 200 ms, then 400 ms.
		if d := r.Steps[2].StartedAt.Sub(r.Steps[1].FinishedAt); d < 200*time.Millisecond {
			t.Errorf("first backoff %s", d)
		}
		if d := r.Steps[3].StartedAt.Sub(r.Steps[2].FinishedAt); d < 400*time.Millisecond {
			t.Errorf("second backoff %s", d)
		}
	})
}

// A step that succeeds on a later attempt sees the same `previous` as the
// first attempt did.
func TestRetryKeepsPrevious(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		// The condition fails (not a boolean) on attempt 1 and passes on 2.
		w := create(t, h, tok, "previous", def(manual,
			transform("a", "{v: 'from a'}", "c"),
			with(obj{"id": "c", "type": "condition", "config": obj{"expression": "run.attempt == 1 ? 'no' : previous.v == 'from a'"},
				"conditionalNext": obj{"true": "ok"}}, "onError", "retry", "retryCount", 1, "retryBackoffMs", 10),
			tpl("ok", "{{ `{{.}}` }}", "{{ previous }}", "")))
		r := waitRun(t, h, tok, start(t, h, tok, w.ID, nil).ID, nil)
		if r.Status != "completed" || stepIDs(r) != "a,c,c,ok" || r.Steps[2].Branch != "true" {
			t.Fatalf("retried condition saw another previous: %+v", r)
		}
	})
}

// A failed run is retried by hand from the step that failed; the steps
// that finished are not run again. Cancel and retry are audited.
func TestRetryAndCancelByHand(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		var inst struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", tok, obj{"plugin": "template", "config": obj{"template": "inst {{.}}"}}).Data(t, &inst)
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/disable", tok, nil)
		w := create(t, h, tok, "flaky", def(manual,
			tpl("first", "{{ `first {{.}}` }}", "{{ trigger.n }}", "p"),
			obj{"id": "p", "type": "plugin", "config": obj{"installationId": inst.ID, "input": obj{"data": "{{ previous.text }}"}}, "nextStepId": "z"},
			transform("z", "{a: steps.first.output.text, p: steps.p.output.text}", "")))
		r := waitRun(t, h, tok, start(t, h, tok, w.ID, obj{"input": obj{"n": 1}}).ID, nil)
		if r.Status != "failed" || r.CurrentStepID != "p" || stepIDs(r) != "first,p" {
			t.Fatalf("first try: %+v", r)
		}
		// Only a failed run can be retried.
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/enable", tok, nil)
		var rr run
		h.Call(http.StatusOK, "POST", "/api/v1/runs/"+r.ID+"/retry", tok, nil).Data(t, &rr)
		if rr.Status != "running" || rr.Error != "" || rr.ID != r.ID {
			t.Fatalf("retried: %+v", rr)
		}
		r = waitRun(t, h, tok, r.ID, nil)
		if r.Status != "completed" || stepIDs(r) != "first,p,p,z" || string(r.Output) != `{"a":"first 1","p":"inst first 1"}` {
			t.Fatalf("after the retry: %+v %s", r, r.Output)
		}
		h.Call(http.StatusConflict, "POST", "/api/v1/runs/"+r.ID+"/retry", tok, nil)
		h.Call(http.StatusConflict, "POST", "/api/v1/runs/"+r.ID+"/cancel", tok, nil)
		h.Call(http.StatusNotFound, "POST", "/api/v1/runs/run_01jz0000000000000000000000/retry", tok, nil)

		// Cancel a run waiting in a delay: it never goes on. The delay is an
		// hour, so a slow machine cannot see it end before the cancel; its
		// job is then made due by hand.
		slow := create(t, h, tok, "slow", def(manual, delay("wait", 3600, "z"), transform("z", "'woke'", "")))
		c := start(t, h, tok, slow.ID, nil)
		var cr run
		h.Call(http.StatusOK, "POST", "/api/v1/runs/"+c.ID+"/cancel", tok, nil).Data(t, &cr)
		if cr.Status != "cancelled" || cr.Error != "cancelled by hand" || cr.FinishedAt == nil || cr.WakeAt != nil {
			t.Fatalf("cancelled: %+v", cr)
		}
		due := `now()`
		if h.App.DB.Dialect == db.SQLite {
			due = `datetime('now', 'subsec')`
		}
		if err := h.App.DB.Tx(context.Background(), func(tx *db.Tx) error {
			_, err := tx.ExecContext(context.Background(), `UPDATE river_job SET state = 'available', scheduled_at = `+due+`
				WHERE kind = 'workflow.run' AND state = 'scheduled' AND CAST(args AS TEXT) LIKE $1`, "%"+c.ID+"%")
			return err
		}); err != nil {
			t.Fatal(err)
		}
		// Wait for the delay's job to have run (and found nothing to do).
		waitJobs(t, h, c.ID)
		if got := getRun(t, h, tok, c.ID); got.Status != "cancelled" || stepIDs(got) != "wait" {
			t.Fatalf("a cancelled run went on: %+v", got)
		}
		h.Call(http.StatusConflict, "POST", "/api/v1/runs/"+c.ID+"/retry", tok, nil)

		// A failed run of a deleted workflow is not retried.
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/disable", tok, nil)
		f := waitRun(t, h, tok, start(t, h, tok, w.ID, obj{"input": obj{"n": 2}}).ID, nil)
		if f.Status != "failed" {
			t.Fatalf("second run: %+v", f)
		}
		h.Call(http.StatusOK, "DELETE", "/api/v1/workflows/"+w.ID, tok, nil)
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/runs/" + f.ID + "/retry", Token: tok}); r.Status != http.StatusConflict {
			t.Fatalf("retry of a deleted workflow's run: %d %s", r.Status, r.Raw)
		}

		acts := auditActions(t, h, tok, "resource=workflow_run")
		if !slices.Contains(acts, "workflow.run_retried") || !slices.Contains(acts, "workflow.run_cancelled") {
			t.Fatalf("run audit: %v", acts)
		}
	})
}

// waitJobs waits until every workflow.run job of the run has finished.
func waitJobs(t *testing.T, h *apptest.Harness, runID string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var total, pending int
		err := h.App.DB.Read().QueryRowContext(context.Background(), `SELECT COUNT(*), COALESCE(SUM(CASE WHEN state IN ('completed', 'discarded', 'cancelled') THEN 0 ELSE 1 END), 0)
			FROM river_job WHERE kind = 'workflow.run' AND CAST(args AS TEXT) LIKE $1`, "%"+runID+"%").Scan(&total, &pending)
		if err != nil {
			t.Fatalf("jobs of %s: %v", runID, err)
		}
		if total > 0 && pending == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("jobs of %s still pending: %d of %d", runID, pending, total)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Expressions that try to allocate or loop without end fail their step
// fast, with a reason; the node goes on serving.
func TestHostileExpressions(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		big := strings.Repeat("x", 120<<10)
		zeros := make([]int, 40_000)
		input := obj{"big": big, "list": zeros}
		for i, expr := range []string{
			`len(map(1..100000000, #)) > 0`,
			`len(map(1..10000, map(1..10000, #))) > 0`,
			`len(join(map(1..100000, trigger.big))) > 0`,
			`len(trigger.big + trigger.big + trigger.big + trigger.big + trigger.big + trigger.big + trigger.big + trigger.big + trigger.big + trigger.big) > 0`,
			`len(toJSON(map(1..1000, trigger.big))) > 0`,
			`all(1..100000000, # > 0)`,
			`count(1..300, count(1..300, count(1..300, # == 7) == 1) == 1) > 0`,
			`len(replace(trigger.big, "x", trigger.big)) > 0`,
			`len(string(map(1..1000, trigger.big))) > 0`,
			// Loops over data the run holds allocate nothing.
			`count(trigger.list, count(trigger.list, # == 1) == 5) > 0`,
			`count(trigger.list, count(trigger.list, count(trigger.list, # == 1) == 5) == 5) > 0`,
			`any(trigger.list, any(trigger.list, # in trigger.list && # == 1))`,
		} {
			w := create(t, h, tok, fmt.Sprintf("hostile %d", i), def(manual, condition("c", expr, "", "")))
			r := start(t, h, tok, w.ID, obj{"input": input})
			if r.Status != "failed" || !strings.HasPrefix(r.Error, `step "c" failed: `) || len(r.Error) > 500 {
				t.Errorf("%s: %+v", expr, r)
			}
			h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+w.ID, tok, nil)
		}
		// Big values in templates and transforms are refused the same way.
		w := create(t, h, tok, "hostile template", def(manual, tpl("p", "{{ toJSON(map(1..100, trigger.big)) }}", nil, "")))
		if r := waitRun(t, h, tok, start(t, h, tok, w.ID, obj{"input": obj{"big": big}}).ID, nil); r.Status != "failed" || !strings.Contains(r.Error, "exceed") {
			t.Errorf("template: %+v", r)
		}
		w = create(t, h, tok, "hostile jmespath", def(manual, transform("t", "[trigger.big, trigger.big, trigger.big, trigger.big, trigger.big, trigger.big, trigger.big, trigger.big, trigger.big, trigger.big]", "")))
		if r := start(t, h, tok, w.ID, obj{"input": obj{"big": big}}); r.Status != "failed" || !strings.Contains(r.Error, "exceed") {
			t.Errorf("jmespath: %+v", r)
		}
		// A transform that could grow without bound (a JMESPath search cannot
		// be stopped) is refused when saved.
		resp := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows", Token: tok, Body: obj{"name": "doubling",
			"definition": def(manual, transform("t", "trigger.list | "+strings.Repeat("[@, @][] | ", 40)+"length(@)", ""))}})
		if !hasField(fields(t, resp), "definition.steps[0].config.expression", "times the size") {
			t.Errorf("doubling transform: %s", resp.Raw)
		}
		// An input over the limit is refused before a run exists.
		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/" + w.ID + "/runs", Token: tok,
			Body: obj{"input": obj{"big": strings.Repeat("x", 300<<10)}}})
		if r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("input over the limit: %d %.300s", r.Status, r.Raw)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/workflows", tok, nil)
	})
}

// A run past settings.timeoutSeconds is failed by the server.
func TestRunTimeout(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "slow", with(def(manual, delay("wait", 3600, "z"), transform("z", "'never'", "")), "settings", obj{"timeoutSeconds": 1}))
		r := start(t, h, tok, w.ID, nil)
		if r.Status != "running" || time.Until(r.TimeoutAt) > 2*time.Second {
			t.Fatalf("run: %+v", r)
		}
		for time.Now().Before(r.TimeoutAt.Add(10 * time.Millisecond)) {
			time.Sleep(20 * time.Millisecond)
		}
		if _, err := h.App.Workflows.SweepTimeouts(context.Background()); err != nil {
			t.Fatal(err)
		}
		r = getRun(t, h, tok, r.ID)
		if r.Status != "failed" || r.Error != "the run exceeded its timeout" || r.FinishedAt == nil {
			t.Fatalf("overdue run: %+v", r)
		}
		// A timed-out run can be retried with a fresh timeout.
		var rr run
		h.Call(http.StatusOK, "POST", "/api/v1/runs/"+r.ID+"/retry", tok, nil).Data(t, &rr)
		// The retry resumes after the delay (which had finished: the run
		// timed out waiting to go on), so a worker may finish it before the
		// answer is read back; either way it has a fresh timeout.
		if (rr.Status != "running" && rr.Status != "completed") || !rr.TimeoutAt.After(r.TimeoutAt) {
			t.Fatalf("retried: %+v", rr)
		}
		// The retry resumes after the delay (the delay step had finished;
		// the run timed out waiting to go on), so on a slow machine it may
		// complete — or time out again, its fresh timeout being 1 s — before
		// the cancel arrives: then the cancel is refused and the run has
		// ended, never still running.
		if res := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/runs/" + r.ID + "/cancel", Token: tok}); res.Status != http.StatusOK {
			if r = getRun(t, h, tok, r.ID); res.Status != http.StatusConflict || (r.Status != "completed" && r.Status != "failed") {
				t.Fatalf("cancel of the retried run: %d %s; run %+v", res.Status, res.Raw, r)
			}
		}
	})
}

// Ended runs older than the plan's runRetentionDays are deleted; newer
// ones and running ones stay.
func TestRunRetention(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "history", def(manual, transform("a", "`1`", "")))
		old := start(t, h, tok, w.ID, nil)
		recent := start(t, h, tok, w.ID, nil)
		// Runs go on in the background: back-dating one that has not ended
		// yet would be overwritten by its own finish.
		waitRun(t, h, tok, old.ID, nil)
		waitRun(t, h, tok, recent.ID, nil)
		slow := create(t, h, tok, "slow", def(manual, delay("wait", 3600, "")))
		running := start(t, h, tok, slow.ID, nil)
		now := time.Now().UTC()
		exec(t, h, `UPDATE workflow_runs SET finished_at = $1, created_at = $1 WHERE id = $2`, now.Add(-8*24*time.Hour), old.ID)
		exec(t, h, `UPDATE workflow_runs SET finished_at = $1, created_at = $1 WHERE id = $2`, now.Add(-6*24*time.Hour), recent.ID)
		exec(t, h, `UPDATE workflow_runs SET created_at = $1 WHERE id = $2`, now.Add(-30*24*time.Hour), running.ID)
		// The node's own hourly job runs on start too: on a busy machine it
		// may be the one that deletes the old run. Either way exactly that
		// run goes (the reads below).
		n, err := h.App.Workflows.CleanupRuns(context.Background())
		if err != nil || n > 1 {
			t.Fatalf("cleanup: %d %v", n, err)
		}
		h.Call(http.StatusNotFound, "GET", "/api/v1/runs/"+old.ID, tok, nil)
		h.Call(http.StatusOK, "GET", "/api/v1/runs/"+recent.ID, tok, nil)
		h.Call(http.StatusOK, "GET", "/api/v1/runs/"+running.ID, tok, nil)
		// A PRO workspace keeps 90 days.
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+h.Login("wf@example.com", pw).UserID, h.Admin().AccessToken, obj{"plan": "PRO"})
		tok = h.Login("wf@example.com", pw).AccessToken
		pro := start(t, h, tok, w.ID, nil)
		waitRun(t, h, tok, pro.ID, nil)
		exec(t, h, `UPDATE workflow_runs SET finished_at = $1 WHERE id = $2`, now.Add(-30*24*time.Hour), pro.ID)
		if n, err := h.App.Workflows.CleanupRuns(context.Background()); err != nil || n != 0 {
			t.Fatalf("cleanup of a PRO run within 90 days: %d %v", n, err)
		}
		h.Call(http.StatusOK, "GET", "/api/v1/runs/"+pro.ID, tok, nil)
	})
}
