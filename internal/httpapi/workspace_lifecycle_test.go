package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
)

// A workspace's automations as a test sets them up: a connected Telegram
// gateway, a webhook workflow, a schedule workflow, a manual workflow with
// a run waiting in a delay, a scheduler installation sending through the
// gateway and an installation subscribed to the gateway's events.
type automations struct {
	gw                     gw
	hook, sched, delayed   lcWorkflow
	waitingRun             string
	scheduler, subscribed  string
	ws, token, email, user string
}

type lcWorkflow struct {
	ID, HookURL string
	Enabled     bool
	NextRunAt   *time.Time
}

type lcRun struct {
	ID, Status, Error string
	TimeoutAt         time.Time
}

func lcCreateWorkflow(t *testing.T, h *apptest.Harness, tok, name string, trigger map[string]any, steps ...map[string]any) lcWorkflow {
	t.Helper()
	var w lcWorkflow
	def := map[string]any{"trigger": trigger, "steps": steps, "startStepId": steps[0]["id"]}
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, map[string]any{"name": name, "definition": def}).Data(t, &w)
	return w
}

func lcTransform(id, expr, next string) map[string]any {
	s := map[string]any{"id": id, "type": "transform", "config": map[string]any{"expression": expr}}
	if next != "" {
		s["nextStepId"] = next
	}
	return s
}

func lcSQL(t *testing.T, h *apptest.Harness, q string, args ...any) int64 {
	t.Helper()
	var n int64
	err := h.App.DB.Tx(context.Background(), func(tx *db.Tx) error {
		res, err := tx.ExecContext(context.Background(), q, args...)
		if err != nil {
			return err
		}
		n, _ = res.RowsAffected()
		return nil
	})
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func lcCount(t *testing.T, h *apptest.Harness, q string, args ...any) int {
	t.Helper()
	var n int
	if err := h.App.DB.Read().QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func lcRunOf(t *testing.T, h *apptest.Harness, id string) lcRun {
	t.Helper()
	var r lcRun
	if err := h.App.DB.Read().QueryRowContext(context.Background(), `SELECT id, status, COALESCE(error, ''), timeout_at FROM workflow_runs WHERE id = $1`, id).
		Scan(&r.ID, &r.Status, &r.Error, &r.TimeoutAt); err != nil {
		t.Fatalf("run %s: %v", id, err)
	}
	return r
}

// pollUntil polls cond until it holds, or fails the test after 30 s.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not reached within 30s: %s", what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func setUpAutomations(t *testing.T, h *apptest.Harness, f *gatewaytest.Fake, email string) automations {
	t.Helper()
	s := h.SignUp(email, pw)
	a := automations{token: s.AccessToken, email: email, user: s.UserID, ws: s.UserID}
	a.gw = createGateway(t, h, a.token, map[string]any{"type": "TELEGRAM", "name": "tg", "credentials": map[string]string{"botToken": fakeTelegramToken}})
	if a.gw = connectGateway(t, h, a.token, a.gw.ID); a.gw.Status != "CONNECTED" {
		t.Fatalf("connect: %+v", a.gw)
	}
	a.hook = lcCreateWorkflow(t, h, a.token, "hook", map[string]any{"type": "webhook"}, lcTransform("t", "`1`", ""))
	a.sched = lcCreateWorkflow(t, h, a.token, "sched", map[string]any{"type": "schedule", "cron": "0 0 1 1 *"}, lcTransform("t", "`1`", ""))
	a.delayed = lcCreateWorkflow(t, h, a.token, "delayed", map[string]any{"type": "manual"},
		map[string]any{"id": "wait", "type": "delay", "config": map[string]any{"seconds": 3600}, "nextStepId": "t"}, lcTransform("t", "`1`", ""))
	var r lcRun
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+a.delayed.ID+"/runs", a.token, map[string]any{}).Data(t, &r)
	a.waitingRun = r.ID
	a.scheduler = install(t, h, a.token, map[string]any{"plugin": "scheduler", "config": map[string]any{"schedules": []any{
		map[string]any{"name": "tick", "cron": "0 0 1 1 *", "gatewayId": a.gw.ID, "chatId": "555", "text": "scheduled hello"}}}})
	rules := map[string]any{"rules": []any{map[string]any{"keyword": "ping", "reply": "pong"}}}
	a.subscribed = install(t, h, a.token, map[string]any{"plugin": "auto-reply", "config": rules, "gatewayIds": []string{a.gw.ID}})
	return a
}

func hookStatus(h *apptest.Harness, hookURL string) *apptest.Response {
	i := strings.Index(hookURL, "/hooks/")
	return h.Do(apptest.Request{Method: "POST", Path: hookURL[i:], Body: `{"a":1}`})
}

func deliverStatus(t *testing.T, h *apptest.Harness, f *gatewaytest.Fake, g gw, update map[string]any) *apptest.Response {
	t.Helper()
	_, sec := f.Hook()
	return h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: jsonBody(t, update),
		Headers: map[string]string{"X-Telegram-Bot-Api-Secret-Token": sec}})
}

// Deactivating the owner pauses the personal workspace's automations:
// webhooks and inbound hooks answer 404, schedules skip their ticks, event
// subscriptions deliver nothing and a queued run waits (it neither runs,
// fails nor times out); the gateway stays registered at Telegram.
// Reactivation resumes all of it.
func TestWorkspaceLifecycle_DeactivationPausesAndReactivationResumes(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		f := gatewaytest.NewTelegram(t, fakeTelegramToken)
		h := gatewayNode(t, url, []string{f.Host()}, func(c *config.Config) { c.Gateway.TelegramAPIURL = f.URL })
		a := setUpAutomations(t, h, f, "paused-owner@example.com")
		admin := h.Admin()
		ctx := context.Background()
		now := time.Now().UTC().Truncate(time.Second)
		// The scheduler's yearly schedule is driven by explicit sweep
		// times, years ahead, so the node's own periodic sweep never fires it.
		newYear := func(y int) time.Time { return time.Date(y, 1, 1, 0, 30, 0, 0, time.UTC) }
		if _, err := h.App.Scheduler.Sweep(ctx, newYear(2031).Add(-90*time.Minute)); err != nil { // the schedule's first sight
			t.Fatal(err)
		}

		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+a.user, admin.AccessToken, map[string]any{"isActive": false})

		// Webhooks and inbound hooks: 404, nothing stored.
		if r := hookStatus(h, a.hook.HookURL); r.Status != http.StatusNotFound || r.Code() != "NOT_FOUND" {
			t.Errorf("paused workflow webhook answered %d %s", r.Status, r.Raw)
		}
		if r := deliverStatus(t, h, f, a.gw, tgMessage(9001, "ann", "ping")); r.Status != http.StatusNotFound {
			t.Errorf("paused inbound hook answered %d %s", r.Status, r.Raw)
		}
		if n := lcCount(t, h, `SELECT COUNT(*) FROM gateway_events WHERE workspace_id = $1`, a.ws); n != 0 {
			t.Errorf("%d events stored for a paused workspace", n)
		}
		// The queued run waits: its job is worked and snoozed, the run stays
		// running, and the timeout sweep passes over it.
		// The run waits in a one-hour delay: its job is made due now.
		due := `now()`
		if h.App.DB.Dialect == db.SQLite {
			due = `datetime('now', 'subsec')`
		}
		lcSQL(t, h, `UPDATE river_job SET state = 'available', scheduled_at = `+due+` WHERE kind = 'workflow.run' AND state = 'scheduled'`)
		pollUntil(t, "the waiting run's job is tried and snoozed", func() bool {
			return lcCount(t, h, `SELECT COUNT(*) FROM river_job WHERE kind = 'workflow.run' AND attempted_at IS NOT NULL`) > 0
		})
		lcSQL(t, h, `UPDATE workflow_runs SET timeout_at = $1 WHERE id = $2`, time.Now().UTC().Add(-time.Minute), a.waitingRun)
		if _, err := h.App.Workflows.SweepTimeouts(ctx); err != nil {
			t.Fatal(err)
		}
		if r := lcRunOf(t, h, a.waitingRun); r.Status != "running" {
			t.Fatalf("a paused workspace's queued run ended: %+v", r)
		}
		timeout := time.Now().UTC().Add(time.Hour).Truncate(time.Millisecond)
		lcSQL(t, h, `UPDATE workflow_runs SET timeout_at = $1 WHERE id = $2`, timeout, a.waitingRun)
		// Schedules skip their ticks: the workflow's tick is claimed without
		// a run, the scheduler's without a message.
		lcSQL(t, h, `UPDATE workflow_schedules SET next_fire_at = $1 WHERE workflow_id = $2`, now.Add(-time.Minute), a.sched.ID)
		if n, err := h.App.Workflows.SweepSchedules(ctx); err != nil || n != 0 {
			t.Fatalf("schedule sweep of a paused workspace started %d runs (%v)", n, err)
		}
		if n := lcCount(t, h, `SELECT COUNT(*) FROM workflow_schedules WHERE workflow_id = $1 AND next_fire_at > $2`, a.sched.ID, now); n != 1 {
			t.Errorf("the paused tick was not skipped (next tick not moved on)")
		}
		if n, err := h.App.Scheduler.Sweep(ctx, newYear(2031)); err != nil || n != 0 {
			t.Fatalf("scheduler sweep of a paused workspace claimed %d ticks (%v)", n, err)
		}
		if n := lcCount(t, h, `SELECT COUNT(*) FROM workflow_runs WHERE workflow_id = $1`, a.sched.ID); n != 0 {
			t.Errorf("%d scheduled runs in a paused workspace", n)
		}
		// The gateway stays registered at the platform.
		if u, _ := f.Hook(); u == "" || f.Calls("deleteWebhook") != 0 {
			t.Errorf("pausing unregistered the gateway: hook %q, deleteWebhook calls %d", u, f.Calls("deleteWebhook"))
		}
		if len(f.Sent()) != 0 {
			t.Errorf("a paused workspace sent %+v", f.Sent())
		}

		// Reactivation resumes everything.
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+a.user, admin.AccessToken, map[string]any{"isActive": true})
		tok := h.Login(a.email, pw).AccessToken
		pollUntil(t, "the waiting run completes", func() bool { return lcRunOf(t, h, a.waitingRun).Status == "completed" })
		if r := lcRunOf(t, h, a.waitingRun); r.Error != "" || !r.TimeoutAt.After(timeout) {
			t.Errorf("resumed run (its timeout %v must move on by the time paused): %+v", timeout, r)
		}
		if r := hookStatus(h, a.hook.HookURL); r.Status != http.StatusAccepted {
			t.Errorf("resumed webhook answered %d %s", r.Status, r.Raw)
		}
		deliverTelegram(t, h, f, a.gw, tgMessage(9002, "ann", "ping"))
		es := waitExecutions(t, h, tok, a.subscribed, 1)
		if es[0].Trigger != "event" || es[0].Status != "SUCCEEDED" {
			t.Errorf("resumed subscription: %+v", es)
		}
		lcSQL(t, h, `UPDATE workflow_schedules SET next_fire_at = $1 WHERE workflow_id = $2`, time.Now().UTC().Add(-time.Minute).Truncate(time.Second), a.sched.ID)
		// The node's own sweep (every second) may claim the due tick before
		// this explicit one: either way the tick starts exactly one run.
		if n, err := h.App.Workflows.SweepSchedules(ctx); err != nil || n > 1 {
			t.Fatalf("resumed schedule sweep started %d runs (%v)", n, err)
		}
		pollUntil(t, "the resumed schedule's tick starts a run", func() bool {
			return lcCount(t, h, `SELECT COUNT(*) FROM workflow_runs WHERE workflow_id = $1`, a.sched.ID) >= 1
		})
		if n := lcCount(t, h, `SELECT COUNT(*) FROM workflow_runs WHERE workflow_id = $1`, a.sched.ID); n != 1 {
			t.Fatalf("the resumed schedule's one tick started %d runs", n)
		}
		if n, err := h.App.Scheduler.Sweep(ctx, newYear(2032)); err != nil || n != 1 {
			t.Fatalf("resumed scheduler claimed %d ticks (%v)", n, err)
		}
		sent := waitSent(t, f, 2) // the auto-reply's pong and the scheduled hello
		var texts []string
		for _, m := range sent {
			texts = append(texts, m.Text)
		}
		if got := strings.Join(texts, ","); !strings.Contains(got, "pong") || !strings.Contains(got, "scheduled hello") {
			t.Errorf("sent after resume: %s", got)
		}
		if acts := auditActionsOf(t, h, admin.AccessToken, a.ws); !strings.Contains(acts, "workspace.paused") || !strings.Contains(acts, "workspace.resumed") {
			t.Errorf("audit of the workspace: %s", acts)
		}
	})
}

func auditActionsOf(t *testing.T, h *apptest.Harness, token, resourceID string) string {
	t.Helper()
	var page struct {
		Items []struct{ Action, ResourceID string }
	}
	h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?limit=200&resourceId="+resourceID, token, nil).Data(t, &page)
	var out []string
	for _, it := range page.Items {
		if it.ResourceID == resourceID {
			out = append(out, it.Action)
		}
	}
	return strings.Join(out, ",")
}

// Deleting the owner ends the personal workspace's automations in the
// delete's transaction: webhooks 404, schedules and subscriptions are
// removed, the waiting run ends cancelled with the reason, and the gateway
// is disconnected and unregistered at Telegram (deleteWebhook) by a job.
// A restore brings back the account, not the registrations.
func TestWorkspaceLifecycle_UserDeletionEndsAutomations(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		f := gatewaytest.NewTelegram(t, fakeTelegramToken)
		h := gatewayNode(t, url, []string{f.Host()}, func(c *config.Config) { c.Gateway.TelegramAPIURL = f.URL })
		a := setUpAutomations(t, h, f, "deleted-owner@example.com")
		admin := h.Admin()
		ctx := context.Background()
		_, secret := f.Hook()

		h.Call(http.StatusOK, "DELETE", "/api/v1/admin/users/"+a.user, admin.AccessToken, nil)

		if r := hookStatus(h, a.hook.HookURL); r.Status != http.StatusNotFound {
			t.Errorf("deleted owner's webhook answered %d %s", r.Status, r.Raw)
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: hookPath(a.gw), Body: jsonBody(t, tgMessage(9101, "ann", "ping")),
			Headers: map[string]string{"X-Telegram-Bot-Api-Secret-Token": secret}}); r.Status != http.StatusNotFound {
			t.Errorf("deleted owner's inbound hook answered %d %s", r.Status, r.Raw)
		}
		if r := lcRunOf(t, h, a.waitingRun); r.Status != "cancelled" || r.Error != "the owner's account was deleted" {
			t.Errorf("waiting run after the delete: %+v", r)
		}
		if n := lcCount(t, h, `SELECT COUNT(*) FROM workflow_schedules WHERE workspace_id = $1`, a.ws); n != 0 {
			t.Errorf("%d schedules left", n)
		}
		if n := lcCount(t, h, `SELECT COUNT(*) FROM plugin_installations WHERE workspace_id = $1 AND (CAST(gateway_ids AS TEXT) <> '[]' OR (plugin_slug = 'scheduler' AND enabled = $2))`, a.ws, true); n != 0 {
			t.Errorf("%d installations still subscribed or scheduling", n)
		}
		if n := lcCount(t, h, `SELECT COUNT(*) FROM workflows WHERE workspace_id = $1 AND enabled = $2`, a.ws, true); n != 0 {
			t.Errorf("%d workflows still enabled", n)
		}
		if n := lcCount(t, h, `SELECT COUNT(*) FROM gateways WHERE workspace_id = $1 AND status <> 'DISCONNECTED'`, a.ws); n != 0 {
			t.Errorf("%d gateways still connected", n)
		}
		pollUntil(t, "Telegram's webhook is deleted", func() bool { u, _ := f.Hook(); return f.Calls("deleteWebhook") == 1 && u == "" })
		if n, err := h.App.Scheduler.Sweep(ctx, time.Date(2040, 1, 1, 0, 30, 0, 0, time.UTC)); err != nil || n != 0 {
			t.Errorf("scheduler of a deleted owner claimed %d ticks (%v)", n, err)
		}
		if acts := auditActionsOf(t, h, admin.AccessToken, a.ws); !strings.Contains(acts, "workspace.ended") {
			t.Errorf("audit of the workspace: %s", acts)
		}

		// A restore brings the account back, not the registrations.
		h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+a.user+"/restore", admin.AccessToken, nil)
		tok := h.Login(a.email, pw).AccessToken
		if g := getGateway(t, h, tok, a.gw.ID); g.Status != "DISCONNECTED" {
			t.Errorf("restored gateway: %+v", g)
		}
		if r := hookStatus(h, a.hook.HookURL); r.Status != http.StatusNotFound {
			t.Errorf("restored account's old webhook URL answered %d %s", r.Status, r.Raw)
		}
		var w lcWorkflow
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+a.hook.ID+"/enable", tok, nil).Data(t, &w)
		if w.HookURL == a.hook.HookURL || hookStatus(h, w.HookURL).Status != http.StatusAccepted {
			t.Errorf("enabled again, the webhook has a new working URL: old %s new %s", a.hook.HookURL, w.HookURL)
		}
		// Reconnecting registers again; the finished unregister job does not undo it.
		if g := connectGateway(t, h, tok, a.gw.ID); g.Status != "CONNECTED" {
			t.Fatalf("reconnect: %+v", g)
		}
		if u, _ := f.Hook(); u == "" {
			t.Errorf("reconnected gateway is not registered")
		}
	})
}

// Deleting an organization ends its automations the same way.
func TestWorkspaceLifecycle_OrgDeletionEndsAutomations(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		f := gatewaytest.NewTelegram(t, fakeTelegramToken)
		h := gatewayNode(t, url, []string{f.Host()}, func(c *config.Config) { c.Gateway.TelegramAPIURL = f.URL })
		s := h.SignUp("org-owner@example.com", pw)
		var o struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/orgs", s.AccessToken, map[string]string{"name": "Doomed"}).Data(t, &o)
		var sw struct{ AccessToken string }
		h.Call(http.StatusOK, "POST", "/api/v1/auth/switch", s.AccessToken, map[string]any{"organizationId": o.ID}).Data(t, &sw)
		tok := sw.AccessToken
		g := createGateway(t, h, tok, map[string]any{"type": "TELEGRAM", "name": "tg", "credentials": map[string]string{"botToken": fakeTelegramToken}})
		if g = connectGateway(t, h, tok, g.ID); g.Status != "CONNECTED" {
			t.Fatalf("connect: %+v", g)
		}
		hook := lcCreateWorkflow(t, h, tok, "hook", map[string]any{"type": "webhook"}, lcTransform("t", "`1`", ""))
		delayed := lcCreateWorkflow(t, h, tok, "delayed", map[string]any{"type": "manual"},
			map[string]any{"id": "wait", "type": "delay", "config": map[string]any{"seconds": 3600}, "nextStepId": "t"}, lcTransform("t", "`1`", ""))
		var r lcRun
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+delayed.ID+"/runs", tok, map[string]any{}).Data(t, &r)

		h.Call(http.StatusOK, "DELETE", "/api/v1/orgs/"+o.ID, s.AccessToken, nil)

		if resp := hookStatus(h, hook.HookURL); resp.Status != http.StatusNotFound {
			t.Errorf("deleted organization's webhook answered %d %s", resp.Status, resp.Raw)
		}
		if got := lcRunOf(t, h, r.ID); got.Status != "cancelled" || got.Error != "the organization was deleted" {
			t.Errorf("waiting run after the delete: %+v", got)
		}
		pollUntil(t, "Telegram's webhook is deleted", func() bool { u, _ := f.Hook(); return u == "" && f.Calls("deleteWebhook") == 1 })
	})
}

// An account deleted by its owner ends its personal workspace's
// automations like an admin's delete.
func TestWorkspaceLifecycle_SelfDeletionEndsAutomations(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		tok := h.SignUp("leaving@example.com", pw).AccessToken
		hook := lcCreateWorkflow(t, h, tok, "hook", map[string]any{"type": "webhook"}, lcTransform("t", "`1`", ""))
		delayed := lcCreateWorkflow(t, h, tok, "delayed", map[string]any{"type": "manual"},
			map[string]any{"id": "wait", "type": "delay", "config": map[string]any{"seconds": 3600}, "nextStepId": "t"}, lcTransform("t", "`1`", ""))
		var r lcRun
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+delayed.ID+"/runs", tok, map[string]any{}).Data(t, &r)

		h.Call(http.StatusOK, "DELETE", "/api/v1/me", tok, nil)

		if resp := hookStatus(h, hook.HookURL); resp.Status != http.StatusNotFound {
			t.Errorf("deleted account's webhook answered %d %s", resp.Status, resp.Raw)
		}
		if got := lcRunOf(t, h, r.ID); got.Status != "cancelled" || got.Error != "the owner's account was deleted" {
			t.Errorf("waiting run after the delete: %+v", got)
		}
	})
}
