package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/billing/stripefake"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// payCheckout checks out a pack, lets the fake play the customer paying
// it, and delivers checkout.session.completed as Stripe would.
func payCheckout(t *testing.T, h *apptest.Harness, fake *stripefake.Server, token, pack, eventID string) map[string]any {
	t.Helper()
	var sess billing.Session
	h.Call(http.StatusOK, "POST", "/api/v1/billing/checkout", token, map[string]string{"package": pack}).Data(t, &sess)
	obj, err := fake.CompleteCheckout(sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got := outcome(t, deliver(h, stripefake.Event(eventID, "checkout.session.completed", time.Now(), obj), testWebhookSecret, time.Now())); got != "applied" {
		t.Fatalf("paid checkout: %s", got)
	}
	return obj
}

// waitDefaultPaymentMethod waits until the card that paid paymentIntent is
// the customer's default at Stripe, and returns it.
func waitDefaultPaymentMethod(t *testing.T, fake *stripefake.Server, customer, paymentIntent string) string {
	t.Helper()
	pm, _ := fake.Object(paymentIntent)["payment_method"].(string)
	if pm == "" {
		t.Fatalf("payment intent %s has no payment method", paymentIntent)
	}
	deadline := time.Now().Add(15 * time.Second)
	for fake.DefaultPaymentMethod(customer) != pm {
		if time.Now().After(deadline) {
			t.Fatalf("customer %s default payment method %q, want %s", customer, fake.DefaultPaymentMethod(customer), pm)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return pm
}

// topUpCharges lists the fake's auto top-up payment intents, oldest first.
func topUpCharges(fake *stripefake.Server) []map[string]any {
	var out []map[string]any
	for _, pi := range fake.Objects("payment_intent") {
		if m, _ := pi["metadata"].(map[string]any); m["kind"] == "auto_topup" {
			out = append(out, pi)
		}
	}
	return out
}

func queuedTopUps(t *testing.T, h *apptest.Harness) int {
	t.Helper()
	var n int
	if err := h.App.DB.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM river_job WHERE kind = 'billing.auto_topup'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestStripe_RefundNeverTriggersAutoTopUp(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake := startBilling(t, url)
		u := h.SignUp("refunded@example.com", "correct horse battery")
		obj := payCheckout(t, h, fake, u.AccessToken, "credits_1000", "evt_buy1")
		cust, pi := obj["customer"].(string), obj["payment_intent"].(string)
		waitDefaultPaymentMethod(t, fake, cust, pi)
		h.Call(http.StatusOK, "PUT", "/api/v1/credits/settings", u.AccessToken,
			map[string]any{"autoTopUp": map[string]any{"enabled": true, "threshold": 500_000, "amount": 1_000_000}})

		// The full refund takes the balance from 1,000,000 to 0, across the
		// threshold: no top-up is queued in its transaction.
		refund := map[string]any{"id": "ch_refund", "object": "charge", "amount": 1000, "amount_refunded": 1000, "refunded": true,
			"customer": cust, "payment_intent": pi, "metadata": map[string]any{}}
		if got := outcome(t, deliver(h, stripefake.Event("evt_refund", "charge.refunded", time.Now(), refund), testWebhookSecret, time.Now())); got != "applied" {
			t.Fatalf("refund: %s", got)
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 0 {
			t.Fatalf("after the refund: %d", b.Balance)
		}
		if n := queuedTopUps(t, h); n != 0 {
			t.Fatalf("the refund queued %d auto top-ups", n)
		}

		// Usage across the threshold still tops up.
		payCheckout(t, h, fake, u.AccessToken, "credits_1000", "evt_buy2")
		a := actor.Actor{UserID: u.UserID, Role: actor.Member, Plan: actor.Free}
		if _, err := h.App.Credits.DeductCredits(context.Background(), a, credit.Change{Amount: 600_000}); err != nil {
			t.Fatal(err)
		}
		if n := queuedTopUps(t, h); n != 1 {
			t.Fatalf("usage across the threshold queued %d top-ups, want 1", n)
		}
		deadline := time.Now().Add(15 * time.Second)
		for balanceOf(t, h, u.AccessToken).Balance != 1_400_000 {
			if time.Now().After(deadline) {
				t.Fatalf("no top-up after usage: balance %d", balanceOf(t, h, u.AccessToken).Balance)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if n := len(topUpCharges(fake)); n != 1 {
			t.Fatalf("%d top-up charges, want 1", n)
		}
		ledgerInvariant(t, h)
	})
}

func TestStripe_SubscriptionStatusDecidesThePlan(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake := startBilling(t, url)
		cases := []struct {
			status string
			want   actor.Plan
		}{
			{"active", actor.Pro},
			{"trialing", actor.Pro},
			{"past_due", actor.Pro}, // Stripe is still retrying the payment
			{"paused", actor.Free},
			{"unpaid", actor.Free},
			{"canceled", actor.Free},
			{"incomplete_expired", actor.Free},
		}
		for i, c := range cases {
			u := h.SignUp(fmt.Sprintf("status%d@example.com", i), "correct horse battery")
			plan := func() actor.Plan {
				var rep credit.UsageReport
				h.Call(http.StatusOK, "GET", "/api/v1/usage", u.AccessToken, nil).Data(t, &rep)
				return rep.Plan
			}
			var sess billing.Session
			h.Call(http.StatusOK, "POST", "/api/v1/billing/subscription", u.AccessToken, map[string]string{"plan": "PRO"}).Data(t, &sess)
			sub := fake.AddSubscription(fake.Object(sess.ID)["customer"].(string), "price_pro", map[string]string{"workspace_id": u.UserID})
			t0 := time.Now().Add(-time.Minute)
			if got := outcome(t, deliver(h, stripefake.Event(fmt.Sprintf("evt_c%d", i), "customer.subscription.created", t0, sub), testWebhookSecret, time.Now())); got != "applied" || plan() != actor.Pro {
				t.Fatalf("created: %s, plan %s", got, plan())
			}
			sub["status"] = c.status
			deliver(h, stripefake.Event(fmt.Sprintf("evt_u%d", i), "customer.subscription.updated", t0.Add(10*time.Second), sub), testWebhookSecret, time.Now())
			if got := plan(); got != c.want {
				t.Errorf("subscription %s: plan %s, want %s", c.status, got, c.want)
			}
			if c.want != actor.Free || c.status == "canceled" || c.status == "incomplete_expired" {
				continue
			}
			// A paused or unpaid subscription that becomes active again
			// brings the plan back.
			sub["status"] = "active"
			deliver(h, stripefake.Event(fmt.Sprintf("evt_r%d", i), "customer.subscription.updated", t0.Add(20*time.Second), sub), testWebhookSecret, time.Now())
			if got := plan(); got != actor.Pro {
				t.Errorf("subscription %s then active: plan %s, want PRO", c.status, got)
			}
		}
	})
}

func TestStripe_DowngradeBelowUsageDeletesNothing(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake := startBilling(t, url)
		u := h.SignUp("downgrade@example.com", "correct horse battery")
		tok := u.AccessToken
		var sess billing.Session
		h.Call(http.StatusOK, "POST", "/api/v1/billing/subscription", tok, map[string]string{"plan": "STARTER"}).Data(t, &sess)
		sub := fake.AddSubscription(fake.Object(sess.ID)["customer"].(string), "price_starter", map[string]string{"workspace_id": u.UserID})
		t0 := time.Now().Add(-time.Minute)
		if got := outcome(t, deliver(h, stripefake.Event("evt_up", "customer.subscription.created", t0, sub), testWebhookSecret, time.Now())); got != "applied" {
			t.Fatalf("subscribe: %s", got)
		}

		// On STARTER: 3 gateways and 4 installations (FREE allows 1 and 3).
		var gws []gw
		for i := 0; i < 3; i++ {
			gws = append(gws, createGateway(t, h, tok, map[string]any{"type": "WEBHOOK", "name": fmt.Sprintf("hook %d", i),
				"credentials": map[string]string{"signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}))
		}
		var insts []struct{ ID, Plugin string }
		for _, body := range []map[string]any{{"plugin": "template"}, {"plugin": "welcome"}, {"plugin": "analytics"},
			{"plugin": "auto-reply", "config": map[string]any{"rules": []any{map[string]any{"keyword": "hi", "reply": "hello"}}}}} {
			var inst struct{ ID, Plugin string }
			h.Call(http.StatusCreated, "POST", "/api/v1/installations", tok, body).Data(t, &inst)
			insts = append(insts, inst)
		}
		def := map[string]any{
			"trigger":     map[string]any{"type": "webhook", "mode": "sync"},
			"startStepId": "render",
			"steps": []any{map[string]any{"id": "render", "type": "plugin", "config": map[string]any{"installationId": insts[0].ID,
				"input": map[string]any{"template": "hi {{ \"{{.n}}\" }}", "data": map[string]any{"n": "{{ trigger.body.n }}"}}}}},
		}
		var wf struct{ ID, HookURL string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, map[string]any{"name": "greet", "definition": def}).Data(t, &wf)
		hook := wf.HookURL[strings.Index(wf.HookURL, "/hooks/"):]

		// Cancelled: back to FREE.
		sub["status"] = "canceled"
		if got := outcome(t, deliver(h, stripefake.Event("evt_down", "customer.subscription.deleted", t0.Add(10*time.Second), sub), testWebhookSecret, time.Now())); got != "applied" {
			t.Fatalf("cancel: %s", got)
		}

		// Nothing is deleted and everything keeps working.
		var gwPage struct{ Items []gw }
		h.Call(http.StatusOK, "GET", "/api/v1/gateways", tok, nil).Data(t, &gwPage)
		if len(gwPage.Items) != 3 {
			t.Fatalf("%d gateways after the downgrade, want 3", len(gwPage.Items))
		}
		for _, g := range gws {
			if got := getGateway(t, h, tok, g.ID); got.ID != g.ID {
				t.Fatalf("gateway %s: %+v", g.ID, got)
			}
		}
		h.Call(http.StatusOK, "PATCH", "/api/v1/gateways/"+gws[2].ID, tok, map[string]any{"name": "renamed"})
		for _, inst := range insts[:1] {
			var e struct {
				Status string
				Output map[string]any
			}
			h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/execute", tok,
				map[string]any{"input": map[string]any{"template": "ok {{.x}}", "data": map[string]any{"x": 1}}}).Data(t, &e)
			if e.Status != "SUCCEEDED" || e.Output["text"] != "ok 1" {
				t.Fatalf("installation after the downgrade: %+v", e)
			}
		}
		r := h.Do(apptest.Request{Method: "POST", Path: hook, Body: `{"n":"ann"}`, Headers: map[string]string{"Content-Type": "application/json"}})
		if r.Status != http.StatusOK || !strings.Contains(string(r.Raw), "hi ann") {
			t.Fatalf("workflow after the downgrade: %d %s", r.Status, r.Raw)
		}

		// Creating more is refused, naming the limit.
		for name, req := range map[string]apptest.Request{
			"gateways": {Method: "POST", Path: "/api/v1/gateways", Token: tok, Body: map[string]any{"type": "WEBHOOK", "name": "one more",
				"credentials": map[string]string{"signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}},
			"plugins": {Method: "POST", Path: "/api/v1/installations", Token: tok, Body: map[string]any{"plugin": "scheduler", "config": map[string]any{"schedules": []any{}}}},
		} {
			r := h.Do(req)
			var details map[string]any
			if r.Body.Error != nil {
				_ = json.Unmarshal(r.Body.Error.Details, &details)
			}
			if r.Status != http.StatusPaymentRequired || r.Code() != "PLAN_LIMIT_EXCEEDED" || details["metric"] != name ||
				details["plan"] != "FREE" || details["limit"] != float64(map[string]int{"gateways": 1, "plugins": 3}[name]) ||
				!strings.Contains(r.Body.Error.Message, name) {
				t.Errorf("one more of %s: %d %s", name, r.Status, r.Raw)
			}
		}

		// The usage report shows what exceeds.
		var rep credit.UsageReport
		h.Call(http.StatusOK, "GET", "/api/v1/usage", tok, nil).Data(t, &rep)
		got := map[string]credit.UsageItem{}
		for _, it := range rep.Items {
			got[it.Metric] = it
		}
		if g := got["gateways"]; g.Used == nil || *g.Used != 3 || g.Limit != 1 || !g.Exceeded {
			t.Errorf("gateways usage %+v", g)
		}
		if p := got["plugins"]; p.Used == nil || *p.Used != 4 || p.Limit != 3 || !p.Exceeded {
			t.Errorf("plugins usage %+v", p)
		}
		if e := got["executions"]; e.Exceeded {
			t.Errorf("executions usage %+v exceeds", e)
		}
		if !strings.Contains(string(h.Call(http.StatusOK, "GET", "/api/v1/usage", tok, nil).Raw), `"exceeded":true`) {
			t.Error("the usage JSON carries no exceeded flag")
		}
	})
}

func TestStripe_APIURLWithPathPrefix(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		fake := stripefake.StartAt(t, testStripeKey, "/stripe-prefix")
		h := apptest.Start(t, url, func(c *config.Config) {
			c.Stripe = config.StripeConfig{SecretKey: testStripeKey, WebhookSecret: testWebhookSecret, APIURL: fake.URL,
				PlanPrices: map[string]string{"PRO": "price_pro"}}
		})
		if !strings.HasSuffix(fake.URL, "/stripe-prefix") {
			t.Fatalf("fake URL %s", fake.URL)
		}
		u := h.SignUp("prefixed@example.com", "correct horse battery")
		var sess billing.Session
		h.Call(http.StatusOK, "POST", "/api/v1/billing/checkout", u.AccessToken, map[string]string{"package": "credits_1000"}).Data(t, &sess)
		if fake.Calls("POST /v1/customers") != 1 || fake.Calls("POST /v1/checkout/sessions") != 1 || fake.Object(sess.ID) == nil {
			t.Fatalf("requests did not reach the fake under its prefix: session %+v", sess)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/billing/portal", u.AccessToken, nil)
	})
}

// A subscription's checkout saves its card for the renewals; that card
// becomes the customer's default too, and auto top-up charges it.
func TestStripe_AutoTopUpChargesTheCardASubscriptionSaved(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake := startBilling(t, url)
		u := h.SignUp("sub-topup@example.com", "correct horse battery")
		var sess billing.Session
		h.Call(http.StatusOK, "POST", "/api/v1/billing/subscription", u.AccessToken, map[string]string{"plan": "PRO"}).Data(t, &sess)
		cust := fake.Object(sess.ID)["customer"].(string)
		sub := fake.AddSubscription(cust, "price_pro", map[string]string{"workspace_id": u.UserID})
		if got := outcome(t, deliver(h, stripefake.Event("evt_sub", "customer.subscription.created", time.Now(), sub), testWebhookSecret, time.Now())); got != "applied" {
			t.Fatalf("subscription created: %s", got)
		}
		pm := sub["default_payment_method"].(string)
		deadline := time.Now().Add(15 * time.Second)
		for fake.DefaultPaymentMethod(cust) != pm {
			if time.Now().After(deadline) {
				t.Fatalf("customer default payment method %q, want the subscription's %s", fake.DefaultPaymentMethod(cust), pm)
			}
			time.Sleep(20 * time.Millisecond)
		}
		a := actor.Actor{UserID: u.UserID, Role: actor.Member, Plan: actor.Pro}
		ctx := context.Background()
		if _, err := h.App.Credits.AddCredits(ctx, actor.Actor{System: true}, u.UserID, credit.Change{Type: credit.Grant, Amount: 1_000_000, Key: "seed"}); err != nil {
			t.Fatal(err)
		}
		h.Call(http.StatusOK, "PUT", "/api/v1/credits/settings", u.AccessToken,
			map[string]any{"autoTopUp": map[string]any{"enabled": true, "threshold": 500_000, "amount": 1_000_000}})
		if _, err := h.App.Credits.DeductCredits(ctx, a, credit.Change{Amount: 600_000}); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(15 * time.Second)
		for len(topUpCharges(fake)) != 1 || balanceOf(t, h, u.AccessToken).Balance != 1_400_000 {
			if time.Now().After(deadline) {
				t.Fatalf("no top-up: %d charges, balance %d", len(topUpCharges(fake)), balanceOf(t, h, u.AccessToken).Balance)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if pi := topUpCharges(fake)[0]; pi["payment_method"] != pm || pi["customer"] != cust {
			t.Fatalf("top-up charge %v, want the subscription's card %s of %s", pi, pm, cust)
		}
	})
}
