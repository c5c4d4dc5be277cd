package workflow_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Manual runs: idempotency keys replay the first run; wait answers when
// the run ends.
func TestManualTrigger(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "manual", def(manual, delay("wait", 1, "z"), transform("z", "{n: trigger.n}", "")))
		first := start(t, h, tok, w.ID, obj{"input": obj{"n": 1}, "idempotencyKey": "order-1"})
		var again run
		r := h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+w.ID+"/runs", tok, obj{"input": obj{"n": 1}, "idempotencyKey": "order-1"})
		r.Data(t, &again)
		if again.ID != first.ID || string(again.Input) != `{"n":1}` || r.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replayed key: %+v, first %+v", again, first)
		}
		// The key with other input is another request: refused.
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/" + w.ID + "/runs", Token: tok,
			Body: obj{"input": obj{"n": 2}, "idempotencyKey": "order-1"}}); r.Status != http.StatusConflict || r.Code() != "IDEMPOTENCY_CONFLICT" {
			t.Fatalf("reused key, other input: %d %s", r.Status, r.Raw)
		}
		other := start(t, h, tok, w.ID, obj{"input": obj{"n": 3}, "idempotencyKey": "order-2"})
		if other.ID == first.ID {
			t.Fatal("another key replayed the first run")
		}
		// wait: the answer is the ended run.
		var waited run
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+w.ID+"/runs", tok, obj{"input": obj{"n": 4}, "wait": true, "waitMs": 60000}).Data(t, &waited)
		if waited.Status != "completed" || string(waited.Output) != `{"n":4}` {
			t.Fatalf("waited run: %+v", waited)
		}
		// A short wait answers with the run still going.
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+w.ID+"/runs", tok, obj{"wait": true, "waitMs": 1}).Data(t, &waited)
		if waited.Status != "running" {
			t.Fatalf("short wait: %+v", waited)
		}
		// A disabled workflow still runs by hand.
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+w.ID+"/disable", tok, nil)
		start(t, h, tok, w.ID, nil)
		for _, bad := range []obj{
			{"idempotencyKey": strings.Repeat("k", 201)},
			{"waitMs": 120000},
			{"inputs": obj{}},
		} {
			if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/" + w.ID + "/runs", Token: tok, Body: bad}); r.Status != http.StatusBadRequest {
				t.Errorf("%v: %d %s", bad, r.Status, r.Raw)
			}
		}
		if got := listRuns(t, h, tok, "workflowId="+w.ID); len(got) != 5 {
			t.Fatalf("runs: %d", len(got))
		}
		// Run listings page like workflow listings.
		var p struct {
			Items      []run
			NextCursor string
		}
		h.Call(http.StatusOK, "GET", "/api/v1/runs?limit=3&workflowId="+w.ID, tok, nil).Data(t, &p)
		if len(p.Items) != 3 || p.NextCursor == "" || len(p.Items[0].Steps) != 0 {
			t.Fatalf("page 1: %+v", p)
		}
		var p2 struct {
			Items      []run
			NextCursor string
		}
		h.Call(http.StatusOK, "GET", "/api/v1/runs?limit=3&workflowId="+w.ID+"&cursor="+p.NextCursor, tok, nil).Data(t, &p2)
		if len(p2.Items) != 2 || p2.NextCursor != "" || p2.Items[0].ID >= p.Items[2].ID {
			t.Fatalf("page 2: %+v", p2)
		}
	})
}

func hookPath(w wf) string { return w.HookURL[strings.Index(w.HookURL, "/hooks/"):] }

// hookCall calls a webhook and returns its raw answer (a sync webhook's
// body is the run's output, not an envelope).
func hookCall(t *testing.T, h *apptest.Harness, method, path, body string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, h.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header, strings.TrimSpace(string(raw))
}

// Webhooks: async answers 202 with the run id; sync answers with the last
// step's output, or 422 when the run failed.
func TestWebhookTrigger(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		async := create(t, h, tok, "async", def(obj{"type": "webhook"}, transform("echo", "{body: trigger.body, method: trigger.method, q: trigger.query.q, auth: trigger.headers.authorization, ua: trigger.headers.\"x-test\"}", "")))
		if !strings.HasPrefix(async.HookURL, "https://switchboard.test/hooks/workflows/"+async.ID+"/") {
			t.Fatalf("hook url: %q", async.HookURL)
		}
		r := h.Do(apptest.Request{Method: "POST", Path: hookPath(async) + "?q=1", Body: `{"a":1}`,
			Headers: map[string]string{"Authorization": "Bearer secret", "X-Test": "yes"}})
		var acc struct{ RunID, Status string }
		if r.Status != http.StatusAccepted {
			t.Fatalf("async hook: %d %s", r.Status, r.Raw)
		}
		r.Data(t, &acc)
		got := waitRun(t, h, tok, acc.RunID, nil)
		if token := async.HookURL[strings.LastIndex(async.HookURL, "/")+1:]; strings.Contains(string(got.Input), token) ||
			!strings.Contains(string(got.Input), `"path":"/hooks/workflows/`+async.ID+`"`) {
			t.Errorf("the run's input holds the webhook token: %s", got.Input)
		}
		if got.Status != "completed" || got.Trigger != "webhook" || string(got.Output) != `{"auth":null,"body":{"a":1},"method":"POST","q":"1","ua":"yes"}` {
			t.Fatalf("async run: %+v", got)
		}

		sync := create(t, h, tok, "sync", def(obj{"type": "webhook", "mode": "sync"},
			condition("ok", "trigger.body.n > 0", "double", "boom"),
			transform("double", "{n: trigger.body.n, twice: `2`}", ""),
			badTpl("boom", "")))
		code, hdr, body := hookCall(t, h, "POST", hookPath(sync), `{"n":5}`, nil)
		if code != http.StatusOK || body != `{"n":5,"twice":2}` || hdr.Get("X-Switchboard-Run-Id") == "" || !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
			t.Fatalf("sync hook: %d %s", code, body)
		}
		r = h.Do(apptest.Request{Method: "POST", Path: hookPath(sync), Body: `{"n":-1}`})
		if r.Status != http.StatusUnprocessableEntity || r.Code() != "WORKFLOW_FAILED" || !strings.Contains(r.Body.Error.Message, `step "boom" failed`) ||
			!strings.Contains(string(r.Body.Error.Details), `"runId":"run_`) {
			t.Fatalf("failed sync hook: %d %s", r.Status, r.Raw)
		}
		// Form and text bodies reach the run too.
		formHook := create(t, h, tok, "form", def(obj{"type": "webhook", "mode": "sync"}, transform("b", "trigger.body", "")))
		code, _, body = hookCall(t, h, "POST", hookPath(formHook), "a=1&b=2&b=3", map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
		if code != http.StatusOK || body != `{"a":"1","b":["2","3"]}` {
			t.Fatalf("form body: %d %s", code, body)
		}
		code, _, body = hookCall(t, h, "PUT", hookPath(formHook), "plain text", map[string]string{"Content-Type": "text/plain"})
		if code != http.StatusOK || body != `"plain text"` {
			t.Fatalf("text body: %d %s", code, body)
		}
		r = h.Do(apptest.Request{Method: "POST", Path: hookPath(formHook), Body: "{nope"})
		if r.Status != http.StatusBadRequest {
			t.Fatalf("bad JSON: %d %s", r.Status, r.Raw)
		}
		// A sync run that outlasts the timeout answers 202 with its id.
		slow := create(t, h, tok, "slow", def(obj{"type": "webhook", "mode": "sync", "timeoutMs": 200}, delay("wait", 1, "")))
		r = h.Do(apptest.Request{Method: "POST", Path: hookPath(slow)})
		if r.Status != http.StatusAccepted || !strings.Contains(string(r.Raw), `"status":"running"`) {
			t.Fatalf("slow sync hook: %d %s", r.Status, r.Raw)
		}

		// Wrong token, unknown workflow, a non-webhook workflow: 404.
		man := create(t, h, tok, "manual", def(manual, transform("a", "`1`", "")))
		token := hookPath(sync)[strings.LastIndex(hookPath(sync), "/")+1:]
		for _, p := range []string{
			"/hooks/workflows/" + sync.ID + "/wrong-token",
			"/hooks/workflows/" + sync.ID + "/" + token + "x",
			"/hooks/workflows/" + man.ID + "/" + token,
			"/hooks/workflows/wf_01jz0000000000000000000000/" + token,
			"/hooks/workflows/nope/" + token,
		} {
			if r := h.Do(apptest.Request{Method: "POST", Path: p, Body: `{}`}); r.Status != http.StatusNotFound || r.Code() != "NOT_FOUND" {
				t.Errorf("%s: %d %s", p, r.Status, r.Raw)
			}
		}
		// Disabled: 409; enabled again: served; deleted: 404.
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+sync.ID+"/disable", tok, nil)
		if r := h.Do(apptest.Request{Method: "POST", Path: hookPath(sync), Body: `{"n":1}`}); r.Status != http.StatusConflict || r.Code() != "CONFLICT" {
			t.Fatalf("disabled workflow's hook: %d %s", r.Status, r.Raw)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+sync.ID+"/enable", tok, nil)
		if code, _, body := hookCall(t, h, "POST", hookPath(sync), `{"n":1}`, nil); code != http.StatusOK {
			t.Fatalf("re-enabled workflow's hook: %d %s", code, body)
		}
		// The hook URL survives an update.
		var up wf
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+sync.ID, tok, obj{"name": "sync v2"}).Data(t, &up)
		if up.HookURL != sync.HookURL {
			t.Fatalf("hook url changed: %s → %s", sync.HookURL, up.HookURL)
		}
		h.Call(http.StatusOK, "DELETE", "/api/v1/workflows/"+sync.ID, tok, nil)
		if r := h.Do(apptest.Request{Method: "POST", Path: hookPath(sync), Body: `{"n":1}`}); r.Status != http.StatusNotFound {
			t.Fatalf("deleted workflow's hook: %d %s", r.Status, r.Raw)
		}
		// A body over the input limit is refused.
		big := `{"s":"` + strings.Repeat("x", 300<<10) + `"}`
		if r := h.Do(apptest.Request{Method: "POST", Path: hookPath(async), Body: big}); r.Status != http.StatusRequestEntityTooLarge {
			t.Fatalf("oversized hook body: %d %.200s", r.Status, r.Raw)
		}
	})
}

// Event triggers: a gateway's inbound event starts the workflows listening
// to it whose filter holds.
func TestEventTrigger(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, _, recv := gatewayNode(t, url)
		admin := h.Admin().AccessToken
		me := h.Login("wf@example.com", pw)
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+me.UserID, admin, obj{"plan": "PRO"})
		tok := h.Login("wf@example.com", pw).AccessToken
		g1 := connectedGateway(t, h, tok, "one", recv)
		g2 := connectedGateway(t, h, tok, "two", recv)

		reply := create(t, h, tok, "reply", def(obj{"type": "event", "gatewayIds": []string{g1.ID}, "filter": `event.payload.text startsWith "go"`},
			obj{"id": "send", "type": "gateway", "config": obj{"gatewayId": g1.ID, "text": "echo: {{ trigger.payload.text }} from {{ trigger.payload.chatId }}"}}))
		all := create(t, h, tok, "everything", def(obj{"type": "event"}, transform("t", "{gw: trigger.payload.gatewayId, text: trigger.payload.text}", "")))
		off := create(t, h, tok, "off", def(obj{"type": "event"}, transform("t", "`1`", "")))
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+off.ID+"/disable", tok, nil)
		broken := create(t, h, tok, "broken filter", def(obj{"type": "event", "filter": "event.payload.text.nope > 1"}, transform("t", "`1`", "")))

		deliver(t, h, g1, "evt-1", obj{"text": "go now", "chatId": "c1"})
		deliver(t, h, g1, "evt-1", obj{"text": "go now", "chatId": "c1"}) // a provider's retry
		deliver(t, h, g1, "evt-2", obj{"text": "stop", "chatId": "c1"})
		deliver(t, h, g2, "evt-3", obj{"text": "go elsewhere", "chatId": "c2"})

		rs := listRuns(t, h, tok, "workflowId="+reply.ID)
		if len(rs) != 1 || rs[0].Trigger != "event" {
			t.Fatalf("reply runs: %+v", rs)
		}
		r := waitRun(t, h, tok, rs[0].ID, nil)
		if r.Status != "completed" {
			t.Fatalf("reply run: %+v", r)
		}
		var ev struct {
			ID      string
			Payload struct{ GatewayID, Text string }
		}
		if err := json.Unmarshal(r.Input, &ev); err != nil || ev.Payload.GatewayID != g1.ID || ev.Payload.Text != "go now" || ev.ID == "" {
			t.Fatalf("event input %s: %v", r.Input, err)
		}
		if sent := waitSent(t, recv, 1); sent[0].Text != "echo: go now from c1" {
			t.Fatalf("reply sent: %+v", sent)
		}
		if rs := listRuns(t, h, tok, "workflowId="+all.ID); len(rs) != 3 {
			t.Fatalf("unfiltered workflow: %d runs, want 3 (one per event)", len(rs))
		}
		if rs := listRuns(t, h, tok, "workflowId="+off.ID); len(rs) != 0 {
			t.Fatalf("disabled workflow ran: %+v", rs)
		}
		if rs := listRuns(t, h, tok, "workflowId="+broken.ID); len(rs) != 0 {
			t.Fatalf("a filter that fails started runs: %+v", rs)
		}
		if n := len(recv.Sent()); n != 1 {
			t.Fatalf("sent %d messages", n)
		}
	})
}

// Schedules: a due tick starts exactly one run however many sweeps race
// for it; missed ticks fire once, late.
func TestScheduleTrigger(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		w := create(t, h, tok, "yearly", def(obj{"type": "schedule", "cron": "0 0 1 1 *", "timezone": "Europe/Berlin"},
			transform("t", "{at: trigger.scheduledAt}", "")))
		if w.NextRunAt == nil {
			t.Fatalf("no next run: %+v", w)
		}
		berlin, _ := time.LoadLocation("Europe/Berlin")
		if nb := w.NextRunAt.In(berlin); nb.Month() != time.January || nb.Day() != 1 || nb.Hour() != 0 || nb.Minute() != 0 {
			t.Fatalf("next run %s is not midnight of January 1st in Berlin", nb)
		}
		ctx := context.Background()
		for tick := range 3 {
			due := time.Now().UTC().Add(-time.Duration(tick+1) * time.Hour).Truncate(time.Second)
			exec(t, h, `UPDATE workflow_schedules SET next_fire_at = $1 WHERE workflow_id = $2`, due, w.ID)
			var wg sync.WaitGroup
			for range 6 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := h.App.Workflows.SweepSchedules(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			rs := listRuns(t, h, tok, "workflowId="+w.ID)
			if len(rs) != tick+1 {
				t.Fatalf("tick %d: %d runs", tick, len(rs))
			}
			r := waitRun(t, h, tok, rs[0].ID, nil)
			if r.Trigger != "schedule" || r.Status != "completed" || string(r.Output) != `{"at":"`+due.Format(time.RFC3339)+`"}` {
				t.Fatalf("tick %d run: %+v", tick, r)
			}
			var got wf
			h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+w.ID, tok, nil).Data(t, &got)
			if got.NextRunAt == nil || !got.NextRunAt.After(time.Now()) {
				t.Fatalf("tick %d: next run %v", tick, got.NextRunAt)
			}
		}

		// Missed ticks (a daily schedule three days late) fire once.
		daily := create(t, h, tok, "daily", def(obj{"type": "schedule", "cron": "30 6 * * *"}, transform("t", "`1`", "")))
		exec(t, h, `UPDATE workflow_schedules SET next_fire_at = $1 WHERE workflow_id = $2`, time.Now().UTC().Add(-72*time.Hour).Truncate(time.Second), daily.ID)
		for range 3 {
			if _, err := h.App.Workflows.SweepSchedules(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if rs := listRuns(t, h, tok, "workflowId="+daily.ID); len(rs) != 1 {
			t.Fatalf("missed ticks: %d runs, want 1", len(rs))
		}

		// Disabled: no next run and nothing fires; enabled again: scheduled.
		var got wf
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+daily.ID+"/disable", tok, nil).Data(t, &got)
		if got.NextRunAt != nil {
			t.Fatalf("disabled schedule has a next run: %v", got.NextRunAt)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+daily.ID+"/enable", tok, nil).Data(t, &got)
		if got.NextRunAt == nil || got.NextRunAt.UTC().Hour() != 6 || got.NextRunAt.UTC().Minute() != 30 {
			t.Fatalf("re-enabled schedule: %v", got.NextRunAt)
		}
		// A schedule turned into a manual workflow stops firing.
		got = wf{}
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+daily.ID, tok, obj{"definition": def(manual, transform("t", "`1`", ""))}).Data(t, &got)
		if got.NextRunAt != nil {
			t.Fatalf("manual workflow has a next run: %v", got.NextRunAt)
		}
	})
}

// fillExecutions counts n executions for the workspace (through the
// limits service, rather than running n workflows).
func fillExecutions(t *testing.T, h *apptest.Harness, a actor.Actor, n int64) {
	t.Helper()
	err := h.App.DB.Tx(context.Background(), func(tx *db.Tx) error {
		_, err := h.App.Limits.ConsumeTx(context.Background(), tx, a, actor.ActionExecute, n, "")
		return err
	})
	if err != nil {
		t.Fatalf("fill executions: %v", err)
	}
}

func usedExecutions(t *testing.T, h *apptest.Harness, tok string) [2]int64 {
	t.Helper()
	var u struct {
		Items []struct {
			Metric  string
			Used    *int64
			Overage int64
		}
	}
	raw := h.Call(http.StatusOK, "GET", "/api/v1/usage", tok, nil)
	raw.Data(t, &u)
	for _, m := range u.Items {
		if m.Metric == "executions" && m.Used != nil {
			return [2]int64{*m.Used, m.Overage}
		}
	}
	t.Fatalf("no executions in usage: %s", raw.Raw)
	return [2]int64{}
}

// Each run costs an execution; over the plan's daily executions a manual
// run is refused (402), an automatic one is recorded as skipped.
func TestExecutionLimit(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok, recv := gatewayNode(t, url)
		me := h.Login("wf@example.com", pw)
		g := connectedGateway(t, h, tok, "in", recv)
		w := create(t, h, tok, "counted", def(manual, transform("a", "`1`", "")))
		start(t, h, tok, w.ID, nil)
		if n := usedExecutions(t, h, tok); n != [2]int64{1, 0} {
			t.Fatalf("a run counted %v executions", n)
		}
		ev := create(t, h, tok, "events", def(obj{"type": "event"}, transform("a", "`1`", "")))
		sched := create(t, h, tok, "schedule", def(obj{"type": "schedule", "cron": "0 0 1 1 *"}, transform("a", "`1`", "")))
		hook := create(t, h, tok, "hook", def(obj{"type": "webhook"}, transform("a", "`1`", "")))
		// Overage on without credits: refused all the same, and nothing of
		// the refused attempt is counted.
		fillExecutions(t, h, actor.Actor{UserID: me.UserID, Plan: actor.Free}, 99)
		h.Call(http.StatusOK, "PUT", "/api/v1/credits/settings", tok, obj{"overageEnabled": true})
		used := usedExecutions(t, h, tok)
		if used != [2]int64{100, 0} {
			t.Fatalf("usage: %v", used)
		}

		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/" + w.ID + "/runs", Token: tok})
		if r.Status != http.StatusPaymentRequired || r.Code() != "PLAN_LIMIT_EXCEEDED" {
			t.Fatalf("manual run over the limit: %d %s", r.Status, r.Raw)
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: hookPath(hook)}); r.Status != http.StatusPaymentRequired {
			t.Fatalf("webhook over the limit: %d %s", r.Status, r.Raw)
		}

		deliver(t, h, g, "evt-over", obj{"text": "hi"})
		rs := listRuns(t, h, tok, "workflowId="+ev.ID)
		if len(rs) != 1 || rs[0].Status != "failed" || !strings.HasPrefix(rs[0].Error, "skipped: ") || !strings.Contains(rs[0].Error, "executions") {
			t.Fatalf("event run over the limit: %+v", rs)
		}
		skipped := getRun(t, h, tok, rs[0].ID)
		if len(skipped.Steps) != 0 {
			t.Fatalf("a skipped run ran steps: %+v", skipped)
		}

		exec(t, h, `UPDATE workflow_schedules SET next_fire_at = $1 WHERE workflow_id = $2`, time.Now().UTC().Add(-time.Minute).Truncate(time.Second), sched.ID)
		if _, err := h.App.Workflows.SweepSchedules(context.Background()); err != nil {
			t.Fatal(err)
		}
		if rs := listRuns(t, h, tok, "workflowId="+sched.ID); len(rs) != 1 || !strings.HasPrefix(rs[0].Error, "skipped: ") {
			t.Fatalf("scheduled run over the limit: %+v", rs)
		}
		if n := usedExecutions(t, h, tok); n != used {
			t.Fatalf("refused runs moved the counter: %v → %v", used, n)
		}
		// Retrying a skipped run costs its execution: refused while over.
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/runs/" + skipped.ID + "/retry", Token: tok}); r.Status != http.StatusPaymentRequired {
			t.Fatalf("retry of a skipped run over the limit: %d %s", r.Status, r.Raw)
		}
		// On a bigger plan, the retry runs and counts.
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+me.UserID, h.Admin().AccessToken, obj{"plan": "STARTER"})
		tok = h.Login("wf@example.com", pw).AccessToken
		h.Call(http.StatusOK, "POST", "/api/v1/runs/"+skipped.ID+"/retry", tok, nil)
		if r := waitRun(t, h, tok, skipped.ID, nil); r.Status != "completed" {
			t.Fatalf("retried skipped run: %+v", r)
		}
		if n := usedExecutions(t, h, tok); n[0] != used[0]+1 {
			t.Fatalf("the retried run counted %d executions", n[0]-used[0])
		}
	})
}

// A stored version that no longer compiles (rules tightened since it was
// saved) does not make the gateway refuse events: that workflow is
// skipped, the others run.
func TestEventTriggerSkipsBrokenVersion(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok, recv := gatewayNode(t, url)
		g := connectedGateway(t, h, tok, "in", recv)
		broken := create(t, h, tok, "broken", def(obj{"type": "event"}, transform("t", "`1`", "")))
		fine := create(t, h, tok, "fine", def(obj{"type": "event"}, transform("t", "`2`", "")))
		exec(t, h, `UPDATE workflow_versions SET definition = $1 WHERE workflow_id = $2`,
			`{"trigger":{"type":"event"},"startStepId":"t","steps":[{"id":"t","type":"transform","config":{"expression":"[["}}],"settings":{}}`, broken.ID)
		// A second node on the same database has not compiled it yet.
		h2 := apptest.Start(t, url, func(c *config.Config) { c.DataDir = filepath.Dir(h.MailDir) }) // the same keyring
		deliver(t, h2, g, "evt-1", obj{"text": "hi"})
		if rs := listRuns(t, h, tok, "workflowId="+fine.ID); len(rs) != 1 {
			t.Fatalf("healthy workflow: %+v", rs)
		}
		if rs := listRuns(t, h, tok, "workflowId="+broken.ID); len(rs) != 0 {
			t.Fatalf("broken workflow: %+v", rs)
		}
	})
}
