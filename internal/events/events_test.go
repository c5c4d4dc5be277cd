package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/billing/stripefake"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/events"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
)

type obj = map[string]any

const pw = "correct horse battery"

// received is one delivery as the receiver saw it, verified.
type received struct {
	ID       string
	Envelope struct {
		Type      string
		Timestamp time.Time
		Data      map[string]any
	}
}

// receiver is a local Standard Webhooks endpoint: it verifies every call
// with the scheme's reference library under the secret it is given, and
// answers 500 to the next `fail` deliveries of the type failType.
type receiver struct {
	srv      *httptest.Server
	mu       sync.Mutex
	wh       *standardwebhooks.Webhook
	failType string
	fail     int
	got      []received
	bad      []string
	ch       chan struct{}
	// hold, when set, keeps the next call waiting until it is closed;
	// held is closed when that call arrives.
	hold, held chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{ch: make(chan struct{}, 100)}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	hold, held := rc.hold, rc.held
	rc.hold, rc.held = nil, nil
	rc.mu.Unlock()
	if hold != nil {
		close(held)
		<-hold
	}
	rc.mu.Lock()
	defer func() {
		rc.mu.Unlock()
		select {
		case rc.ch <- struct{}{}:
		default: // a waiter will see the change at its next look
		}
	}()
	if rc.wh == nil {
		rc.bad = append(rc.bad, "no secret yet")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	if err := rc.wh.Verify(body, r.Header); err != nil {
		rc.bad = append(rc.bad, err.Error())
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	var g received
	g.ID = r.Header.Get("webhook-id")
	if err := json.Unmarshal(body, &g.Envelope); err != nil {
		rc.bad = append(rc.bad, "body: "+err.Error())
	}
	if rc.fail > 0 && g.Envelope.Type == rc.failType {
		rc.fail--
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte("receiver is down for maintenance"))
		return
	}
	rc.got = append(rc.got, g)
	_, _ = w.Write([]byte("ok"))
}

func (rc *receiver) setSecret(t *testing.T, secret string) {
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("reference library refused the secret %q: %v", secret, err)
	}
	rc.mu.Lock()
	rc.wh = wh
	rc.mu.Unlock()
}

// holdNext keeps the next call waiting until the returned hold is closed;
// held is closed when that call has arrived.
func (rc *receiver) holdNext() (hold, held chan struct{}) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.hold, rc.held = make(chan struct{}), make(chan struct{})
	return rc.hold, rc.held
}

// failNext makes the next n deliveries of typ answer 500.
func (rc *receiver) failNext(typ string, n int) {
	rc.mu.Lock()
	rc.failType, rc.fail = typ, n
	rc.mu.Unlock()
}

// waitFor waits until n verified deliveries of typ arrived (a delivery
// sent twice, as at-least-once allows, counts each time) and returns them.
func (rc *receiver) waitFor(t *testing.T, typ string, n int) []received {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		rc.mu.Lock()
		var got []received
		for _, g := range rc.got {
			if g.Envelope.Type == typ {
				got = append(got, g)
			}
		}
		bad := append([]string(nil), rc.bad...)
		rc.mu.Unlock()
		if len(bad) > 0 {
			t.Fatalf("deliveries failed verification: %v", bad)
		}
		if len(got) >= n {
			return got
		}
		select {
		case <-rc.ch:
		case <-deadline:
			t.Fatalf("waited for %d %s deliveries, got %d", n, typ, len(got))
		}
	}
}

type subscription struct {
	ID, URL, Secret string
	Events          []string
	Enabled         bool
}

type delivery struct {
	ID, SubscriptionID, EventID, EventType, Status, LastError string
	Attempts                                                  int
	LastStatusCode                                            *int
	NextAttemptAt                                             *time.Time
	Payload                                                   json.RawMessage
	Log                                                       []struct {
		Attempt       int
		StatusCode    *int
		Response      string
		Error         string
		NextAttemptAt *time.Time
	}
}

// TestEventSubscriptions runs the scenarios below on one node per engine,
// whose deliveries may reach two local receivers (operator allow-list
// entries, as a private deployment would set) and retry within
// milliseconds, and whose Telegram and Stripe are local fakes.
func TestEventSubscriptions(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		signed, emitted, hooked := newReceiver(t), newReceiver(t), newReceiver(t)
		tg := gatewaytest.NewTelegram(t, telegramToken)
		fake := stripefake.Start(t, stripeKey)
		opt := apptest.FastHashing
		opt.Events = events.Options{Schedule: []time.Duration{10 * time.Millisecond, 10 * time.Millisecond}}
		h := apptest.StartWith(t, url, opt, func(c *config.Config) {
			c.Gateway.OutboundAllow = []string{strings.TrimPrefix(signed.srv.URL, "http://"), strings.TrimPrefix(emitted.srv.URL, "http://"),
				strings.TrimPrefix(hooked.srv.URL, "http://"), tg.Host()}
			c.Gateway.TelegramAPIURL = tg.URL
			c.Stripe = config.StripeConfig{SecretKey: stripeKey, WebhookSecret: stripeWebhookSecret, APIURL: fake.URL,
				PlanPrices: map[string]string{"PRO": "price_pro"}}
		})
		t.Run("SignedDeliveries", func(t *testing.T) { signedDeliveries(t, h, signed) })
		t.Run("EmittedWhereTheyHappen", func(t *testing.T) { emittedWhereTheyHappen(t, h, emitted, tg, fake) })
		t.Run("WebhookRuns", func(t *testing.T) { webhookRuns(t, h, hooked) })
	})
}

// waitDelivery polls a delivery until it leaves pending.
func waitDelivery(t *testing.T, h *apptest.Harness, tok, subID, id string) delivery {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var d delivery
		h.Call(http.StatusOK, "GET", "/api/v1/event-subscriptions/"+subID+"/deliveries/"+id, tok, nil).Data(t, &d)
		if d.Status != "pending" {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery %s still pending: %+v", id, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func deliveries(t *testing.T, h *apptest.Harness, tok, subID, query string) []delivery {
	t.Helper()
	var ds []delivery
	h.Call(http.StatusOK, "GET", "/api/v1/event-subscriptions/"+subID+"/deliveries?"+query, tok, nil).Items(t, &ds)
	return ds
}

func startRun(t *testing.T, h *apptest.Harness, tok string, steps ...obj) string {
	t.Helper()
	var w struct{ ID string }
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, obj{"name": "wf", "definition": obj{
		"trigger": obj{"type": "manual"}, "startStepId": steps[0]["id"], "steps": steps}}).Data(t, &w)
	var r struct{ ID string }
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+w.ID+"/runs", tok, nil).Data(t, &r)
	return r.ID
}

// A run a webhook starts emits its end once the workspace subscribes: the
// read that finds the webhook's workflow also asks whether the workspace
// has subscriptions (and spares the transaction that question when it has
// none), so a subscription made before a call is honoured by that call.
func webhookRuns(t *testing.T, h *apptest.Harness, rc *receiver) {
	tok := h.SignUp("hooks@example.com", pw).AccessToken
	var w struct{ HookURL string }
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, obj{"name": "hooked", "definition": obj{
		"trigger": obj{"type": "webhook", "mode": "sync"}, "startStepId": "a",
		"steps": []obj{{"id": "a", "type": "transform", "config": obj{"expression": "`1`"}}}}}).Data(t, &w)
	call := func() string {
		t.Helper()
		// A sync webhook answers with the workflow's output, not an envelope.
		res, err := http.Post(h.URL+w.HookURL[strings.Index(w.HookURL, "/hooks/"):], "application/json", strings.NewReader(`{"n":1}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK || res.Header.Get("X-Switchboard-Run-Id") == "" {
			t.Fatalf("webhook: %d", res.StatusCode)
		}
		return res.Header.Get("X-Switchboard-Run-Id")
	}
	// No subscription yet: nothing is sent. After the first call the node
	// serves the webhook from its cache, and on PostgreSQL writes such a
	// run as one statement that holds only while the workspace has no
	// subscription.
	for range 3 {
		call()
	}
	var sub subscription
	h.Call(http.StatusCreated, "POST", "/api/v1/event-subscriptions", tok, obj{"url": rc.srv.URL + "/hook",
		"events": []string{"run.completed"}}).Data(t, &sub)
	rc.setSecret(t, sub.Secret)
	first, second := call(), call()
	got := rc.waitFor(t, "run.completed", 2)
	ids := map[any]int{}
	for _, d := range got {
		ids[d.Envelope.Data["runId"]]++
	}
	if len(got) != 2 || ids[first] != 1 || ids[second] != 1 {
		t.Fatalf("run.completed of webhook runs %s and %s: %+v", first, second, got)
	}
}

// A subscription receives its workspace's run events signed as Standard
// Webhooks (verified with the reference library); a failing receiver is
// retried and the log shows each attempt; a delivery can be redelivered;
// private destinations are refused; other workspaces see nothing.
func signedDeliveries(t *testing.T, h *apptest.Harness, rc *receiver) {
	tok := h.SignUp("events@example.com", pw).AccessToken
	ctx := context.Background()

	var sub subscription
	h.Call(http.StatusCreated, "POST", "/api/v1/event-subscriptions", tok, obj{"url": rc.srv.URL + "/hook",
		"events": []string{"run.completed", "run.failed"}, "description": "ops"}).Data(t, &sub)
	if !strings.HasPrefix(sub.Secret, "whsec_") || !sub.Enabled || len(sub.Events) != 2 {
		t.Fatalf("created: %+v", sub)
	}
	rc.setSecret(t, sub.Secret)
	var sealed string
	if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT secret_sealed FROM event_subscriptions WHERE id = $1`, sub.ID).Scan(&sealed); err != nil ||
		!strings.HasPrefix(sealed, "sb1:") || strings.Contains(sealed, strings.TrimPrefix(sub.Secret, "whsec_")) {
		t.Fatalf("secret not sealed: %q %v", sealed, err)
	}
	if got := h.Call(http.StatusOK, "GET", "/api/v1/event-subscriptions/"+sub.ID, tok, nil); strings.Contains(string(got.Raw), sub.Secret) {
		t.Fatalf("GET shows the secret: %s", got.Raw)
	}

	// A host name that resolves to a loopback address is accepted here
	// and refused at each connection (checked at the end; its retries
	// overlap what follows).
	var local subscription
	h.Call(http.StatusCreated, "POST", "/api/v1/event-subscriptions", tok, obj{"url": "http://localhost:9/hook", "events": []string{"plan.changed"}}).Data(t, &local)
	var test delivery
	h.Call(http.StatusAccepted, "POST", "/api/v1/event-subscriptions/"+local.ID+"/test", tok, nil).Data(t, &test)

	// A completed run, delivered at once.
	runID := startRun(t, h, tok, obj{"id": "a", "type": "transform", "config": obj{"expression": "`1`"}})
	got := rc.waitFor(t, "run.completed", 1)
	if e := got[0].Envelope; e.Type != "run.completed" || e.Data["runId"] != runID || e.Data["status"] != "completed" || e.Timestamp.IsZero() {
		t.Fatalf("run.completed: %+v", got[0])
	}

	// A failed run, while the receiver fails twice: three attempts.
	rc.failNext("run.failed", 2)
	failedRun := startRun(t, h, tok, obj{"id": "p", "type": "plugin", "config": obj{"plugin": "template",
		"input": obj{"template": `{{ "{{.x" }}`}}})
	got = rc.waitFor(t, "run.failed", 1)
	if e := got[0].Envelope; e.Data["runId"] != failedRun || e.Data["stepId"] != "p" || e.Data["error"] == "" {
		t.Fatalf("run.failed: %+v", got[0])
	}
	failed := deliveries(t, h, tok, sub.ID, "eventType=run.failed")
	if len(failed) != 1 {
		t.Fatalf("run.failed deliveries: %+v", failed)
	}
	d := waitDelivery(t, h, tok, sub.ID, failed[0].ID)
	if d.Status != "succeeded" || d.Attempts != 3 || len(d.Log) != 3 || d.EventID != got[0].ID {
		t.Fatalf("retried delivery: %+v", d)
	}
	for i, a := range d.Log {
		wantCode, wantNext := 500, true
		if i == 2 {
			wantCode, wantNext = 200, false
		}
		if a.Attempt != i+1 || a.StatusCode == nil || *a.StatusCode != wantCode || (a.NextAttemptAt != nil) != wantNext {
			t.Errorf("attempt %d: %+v", i+1, a)
		}
	}
	if !strings.Contains(d.Log[0].Response, "down for maintenance") || d.Log[2].Response != "ok" {
		t.Errorf("response snippets: %q, %q", d.Log[0].Response, d.Log[2].Response)
	}

	// Redelivery: same webhook-id and body, the log goes on.
	var again delivery
	h.Call(http.StatusAccepted, "POST", "/api/v1/event-subscriptions/"+sub.ID+"/deliveries/"+d.ID+"/redeliver", tok, nil).Data(t, &again)
	got = rc.waitFor(t, "run.failed", 2)
	if got[1].ID != d.EventID {
		t.Fatalf("redelivered: %+v", got[1])
	}
	if d = waitDelivery(t, h, tok, sub.ID, d.ID); d.Status != "succeeded" || len(d.Log) != 4 {
		t.Fatalf("after redelivery: %+v", d)
	}
	if ok := deliveries(t, h, tok, sub.ID, "status=succeeded"); len(ok) != 2 {
		t.Errorf("succeeded deliveries: %d", len(ok))
	}
	if r := h.Do(apptest.Request{Method: "GET", Path: "/api/v1/event-subscriptions/" + sub.ID + "/deliveries?status=lost", Token: tok}); r.Status != http.StatusBadRequest {
		t.Errorf("bad status filter: %d", r.Status)
	}

	// Rotation: the old secret no longer verifies, the new one does.
	var rotated subscription
	h.Call(http.StatusOK, "POST", "/api/v1/event-subscriptions/"+sub.ID+"/rotate-secret", tok, nil).Data(t, &rotated)
	if rotated.Secret == sub.Secret || !strings.HasPrefix(rotated.Secret, "whsec_") {
		t.Fatalf("rotated secret %q", rotated.Secret)
	}
	rc.setSecret(t, rotated.Secret)
	// While its attempt is in flight a delivery is pending: its job owns
	// it, and a redelivery is refused.
	hold, held := rc.holdNext()
	var inFlight delivery
	h.Call(http.StatusAccepted, "POST", "/api/v1/event-subscriptions/"+sub.ID+"/test", tok, nil).Data(t, &inFlight)
	select {
	case <-held:
	case <-time.After(30 * time.Second):
		t.Fatal("the test event never arrived")
	}
	if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/event-subscriptions/" + sub.ID + "/deliveries/" + inFlight.ID + "/redeliver",
		Token: tok}); r.Status != http.StatusConflict || r.Code() != "CONFLICT" {
		t.Errorf("redeliver while pending: %d %s", r.Status, r.Raw)
	}
	close(hold)
	if got = rc.waitFor(t, "event.test", 1); got[0].Envelope.Data["subscriptionId"] != sub.ID {
		t.Fatalf("test event: %+v", got[0])
	}
	if r := h.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/event-subscriptions/" + sub.ID, Token: tok,
		Body: obj{"url": "http://169.254.169.254/latest/meta-data"}}); r.Status != http.StatusBadRequest {
		t.Errorf("update to a link-local address: %d %s", r.Status, r.Raw)
	}

	// Private destinations: an address literal is refused at once; the
	// name that resolves to one was refused at connection time, logged.
	for _, u := range []string{"http://10.0.0.1/hook", "http://127.0.0.1:9/hook", "http://[::1]/x", "ftp://example.com/"} {
		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/event-subscriptions", Token: tok, Body: obj{"url": u, "events": []string{"run.failed"}}})
		if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" {
			t.Errorf("%s: %d %s", u, r.Status, r.Raw)
		}
	}
	if d := waitDelivery(t, h, tok, local.ID, test.ID); d.Status != "failed" || d.Attempts != 3 || !strings.Contains(d.LastError, "not allowed") ||
		d.Log[0].StatusCode != nil || !strings.Contains(d.Log[0].Error, "not allowed") {
		t.Fatalf("private destination: %+v", d)
	}

	// The plan bounds subscriptions (FREE: 2).
	if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/event-subscriptions", Token: tok, Body: obj{"url": rc.srv.URL,
		"events": []string{"credits.low"}}}); r.Status != http.StatusPaymentRequired || r.Code() != "PLAN_LIMIT_EXCEEDED" {
		t.Errorf("over the plan: %d %s", r.Status, r.Raw)
	}
	var page []subscription
	if next := h.Call(http.StatusOK, "GET", "/api/v1/event-subscriptions?limit=1", tok, nil).Items(t, &page); next == "" || len(page) != 1 || page[0].ID != local.ID {
		t.Errorf("first page: %+v next %q", page, next)
	}

	// Another workspace: every route answers 404.
	other := h.SignUp("stranger@example.com", pw).AccessToken
	base := "/api/v1/event-subscriptions/" + sub.ID
	for _, c := range [][2]string{{"GET", base}, {"PATCH", base}, {"DELETE", base}, {"POST", base + "/rotate-secret"}, {"POST", base + "/test"},
		{"GET", base + "/deliveries"}, {"GET", base + "/deliveries/" + d.ID}, {"POST", base + "/deliveries/" + d.ID + "/redeliver"}} {
		var body any
		if c[0] == "PATCH" {
			body = obj{"enabled": false}
		}
		if r := h.Do(apptest.Request{Method: c[0], Path: c[1], Token: other, Body: body}); r.Status != http.StatusNotFound {
			t.Errorf("%s %s from another workspace: %d %s", c[0], c[1], r.Status, r.Raw)
		}
	}
	var theirs []subscription
	h.Call(http.StatusOK, "GET", "/api/v1/event-subscriptions", other, nil).Items(t, &theirs)
	if len(theirs) != 0 {
		t.Errorf("another workspace lists %+v", theirs)
	}

	// Disabled, it receives nothing; deleted, it is gone with its log.
	var upd subscription
	h.Call(http.StatusOK, "PATCH", base, tok, obj{"enabled": false, "events": []string{"run.failed"}}).Data(t, &upd)
	if upd.Enabled || len(upd.Events) != 1 {
		t.Fatalf("updated: %+v", upd)
	}
	startRun(t, h, tok, obj{"id": "a", "type": "transform", "config": obj{"expression": "`2`"}})
	if n := len(deliveries(t, h, tok, sub.ID, "")); n != 3 {
		t.Errorf("a disabled subscription got a delivery: %d", n)
	}
	h.Call(http.StatusOK, "DELETE", base, tok, nil)
	h.Call(http.StatusNotFound, "GET", base, tok, nil)
	var left int
	if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM event_delivery_attempts WHERE delivery_id = $1`, d.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("log left behind: %d %v", left, err)
	}
	// Finished deliveries past retention go, with their log: what is
	// left is the refused destination's test delivery.
	if n, err := h.App.Events.PruneDeliveries(ctx, time.Now().Add(time.Hour)); err != nil || n != 1 {
		t.Errorf("pruned %d deliveries, want 1: %v", n, err)
	}
	if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM event_delivery_attempts WHERE delivery_id = $1`, test.ID).Scan(&left); err != nil || left != 0 {
		t.Errorf("log of a pruned delivery: %d %v", left, err)
	}
	if ds := deliveries(t, h, tok, local.ID, ""); len(ds) != 0 {
		t.Errorf("deliveries after pruning: %+v", ds)
	}
	for action, want := range map[string]int{"event_subscription.created": 1, "event_subscription.secret_rotated": 1,
		"event_subscription.redelivered": 1, "event_subscription.updated": 1, "event_subscription.deleted": 1} {
		var n int
		if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_logs WHERE action = $1 AND resource_id = $2`,
			action, sub.ID).Scan(&n); err != nil || n != want {
			t.Errorf("audit %s: %d %v", action, n, err)
		}
	}
}

// Each event is emitted where it happens, in the transaction of its
// change: gateway.error when a gateway enters ERROR, credits.low when usage
// crosses the low-balance threshold (once), plan.changed when a Stripe
// subscription or an admin moves the plan, run.failed when the sweep times
// a run out.
func emittedWhereTheyHappen(t *testing.T, h *apptest.Harness, rc *receiver, tg *gatewaytest.Fake, fake *stripefake.Server) {
	u := h.SignUp("emitted@example.com", pw)
	tok := u.AccessToken
	ctx := context.Background()
	var sub subscription
	h.Call(http.StatusCreated, "POST", "/api/v1/event-subscriptions", tok, obj{"url": rc.srv.URL,
		"events": []string{"gateway.error", "credits.low", "plan.changed", "run.failed"}}).Data(t, &sub)
	rc.setSecret(t, sub.Secret)

	// gateway.error: connecting with revoked credentials.
	var g struct{ ID, Status string }
	h.Call(http.StatusCreated, "POST", "/api/v1/gateways", tok, obj{"type": "TELEGRAM", "name": "tg",
		"credentials": map[string]string{"botToken": telegramToken}}).Data(t, &g)
	tg.Revoke()
	if h.Call(http.StatusOK, "POST", "/api/v1/gateways/"+g.ID+"/connect", tok, nil).Data(t, &g); g.Status != "ERROR" {
		t.Fatalf("gateway: %+v", g)
	}

	// credits.low: 20 → 15 → 9 (crossing 10) → 8 credits: one event.
	sys := actor.Actor{System: true, UserID: u.UserID, Plan: actor.Free}
	if _, err := h.App.Credits.AddCredits(ctx, sys, u.UserID, credit.Change{Type: credit.Grant, Amount: 20_000}); err != nil {
		t.Fatal(err)
	}
	a := actor.Actor{UserID: u.UserID, Role: actor.Member, Plan: actor.Free}
	for _, amount := range []int64{5_000, 6_000, 1_000} {
		if _, err := h.App.Credits.DeductCredits(ctx, a, credit.Change{Amount: amount}); err != nil {
			t.Fatal(err)
		}
	}

	// plan.changed: a Stripe subscription moves the workspace to PRO.
	var sess billing.Session
	h.Call(http.StatusOK, "POST", "/api/v1/billing/subscription", tok, map[string]string{"plan": "PRO"}).Data(t, &sess)
	stripeSub := fake.AddSubscription(fake.Object(sess.ID)["customer"].(string), "price_pro", map[string]string{"workspace_id": u.UserID})
	payload := stripefake.Event("evt_sub", "customer.subscription.created", time.Now(), stripeSub)
	if res := h.Do(apptest.Request{Method: "POST", Path: "/hooks/stripe", Body: payload,
		Headers: map[string]string{"Stripe-Signature": billing.Sign(payload, stripeWebhookSecret, time.Now())}}); res.Status != http.StatusOK {
		t.Fatalf("stripe event: %d %s", res.Status, res.Raw)
	}

	// plan.changed again: an admin moves it on to BUSINESS.
	h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+u.UserID, h.Admin().AccessToken, obj{"plan": "BUSINESS"})

	// run.failed by the timeout sweep, for a run waiting in a delay.
	var w struct{ ID string }
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, obj{"name": "slow", "definition": obj{"trigger": obj{"type": "manual"},
		"startStepId": "d", "steps": []obj{{"id": "d", "type": "delay", "config": obj{"seconds": 3600}}}}}).Data(t, &w)
	var r struct{ ID string }
	h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+w.ID+"/runs", tok, nil).Data(t, &r)
	if _, err := h.App.DB.SQL().ExecContext(ctx, `UPDATE workflow_runs SET timeout_at = $1 WHERE id = $2`, time.Now().Add(-time.Minute).UTC(), r.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := h.App.Workflows.SweepTimeouts(ctx); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}

	// Each event recorded once (credits.low: one crossing, one event)…
	for typ, n := range map[string]int{"gateway.error": 1, "credits.low": 1, "plan.changed": 2, "run.failed": 1} {
		if got := len(deliveries(t, h, tok, sub.ID, "eventType="+typ)); got != n {
			t.Errorf("%s deliveries: %d, want %d", typ, got, n)
		}
	}
	// … and received; a delivery repeated (at least once) counts once.
	byType := map[string][]map[string]any{}
	for typ, n := range map[string]int{"gateway.error": 1, "credits.low": 1, "plan.changed": 2, "run.failed": 1} {
		seen := map[string]bool{}
		for _, e := range rc.waitFor(t, typ, n) {
			if !seen[e.ID] {
				seen[e.ID] = true
				byType[typ] = append(byType[typ], e.Envelope.Data)
			}
		}
	}
	if e := byType["gateway.error"]; len(e) != 1 || e[0]["gatewayId"] != g.ID || e[0]["status"] != "ERROR" || e[0]["step"] != "connect" {
		t.Errorf("gateway.error: %v", e)
	}
	if e := byType["credits.low"]; len(e) != 1 || e[0]["balance"] != 9000.0 || e[0]["threshold"] != 10000.0 || e[0]["workspaceId"] != u.UserID {
		t.Errorf("credits.low: %v", e)
	}
	moves := map[string]bool{}
	for _, e := range byType["plan.changed"] {
		moves[fmt.Sprint(e["from"], "→", e["to"])] = true
	}
	if len(byType["plan.changed"]) != 2 || !moves["FREE→PRO"] || !moves["PRO→BUSINESS"] {
		t.Errorf("plan.changed: %v", byType["plan.changed"])
	}
	if e := byType["run.failed"]; len(e) != 1 || e[0]["runId"] != r.ID || e[0]["error"] != "the run exceeded its timeout" {
		t.Errorf("run.failed: %v", e)
	}
}

const (
	telegramToken       = "123456789:AAFakeTelegramTokenForTests_abcdefgh"
	stripeKey           = "sk_test_switchboard"
	stripeWebhookSecret = "whsec_switchboard_test"
)
