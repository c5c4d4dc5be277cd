package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
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

const (
	testStripeKey     = "sk_test_switchboard"
	testWebhookSecret = "whsec_switchboard_test"
)

// startBilling runs a node whose Stripe is a local fake.
func startBilling(t *testing.T, url string) (*apptest.Harness, *stripefake.Server) {
	t.Helper()
	fake := stripefake.Start(t, testStripeKey)
	h := apptest.Start(t, url, func(c *config.Config) {
		c.Stripe = config.StripeConfig{SecretKey: testStripeKey, WebhookSecret: testWebhookSecret, APIURL: fake.URL,
			PlanPrices: map[string]string{"STARTER": "price_starter", "PRO": "price_pro"}}
	})
	return h, fake
}

// deliver posts an event to /hooks/stripe signed at `at` with secret.
func deliver(h *apptest.Harness, payload []byte, secret string, at time.Time) *apptest.Response {
	return h.Do(apptest.Request{Method: "POST", Path: "/hooks/stripe", Body: payload,
		Headers: map[string]string{"Stripe-Signature": billing.Sign(payload, secret, at)}})
}

func outcome(t *testing.T, r *apptest.Response) string {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("webhook answered %d: %s", r.Status, r.Raw)
	}
	var res billing.WebhookResult
	r.Data(t, &res)
	return res.Outcome
}

func balanceOf(t *testing.T, h *apptest.Harness, token string) credit.Balance {
	t.Helper()
	var b credit.Balance
	h.Call(http.StatusOK, "GET", "/api/v1/credits", token, nil).Data(t, &b)
	return b
}

// ledgerInvariant checks balance == sum(ledger) and no negative balance,
// straight in the database.
func ledgerInvariant(t *testing.T, h *apptest.Harness) {
	t.Helper()
	var bad int
	if err := h.App.DB.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM credit_balances b
		WHERE b.balance < 0 OR b.balance <> COALESCE((SELECT SUM(amount) FROM credit_transactions t WHERE t.workspace_id = b.workspace_id), 0)`).Scan(&bad); err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Errorf("%d workspaces break the ledger invariant", bad)
	}
}

func TestStripe_PackBoughtOnceRefundedAndReplaysRefused(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake := startBilling(t, url)
		u := h.SignUp("buyer@example.com", "correct horse battery")
		var sess billing.Session
		h.Call(http.StatusOK, "POST", "/api/v1/billing/checkout", u.AccessToken, map[string]string{"package": "credits_1000"}).Data(t, &sess)
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/billing/checkout", Token: u.AccessToken, Body: map[string]string{"package": "credits_7"}}); r.Status != 400 {
			t.Fatalf("unknown pack: %d %s", r.Status, r.Raw)
		}
		obj := fake.Object(sess.ID)
		cust := obj["customer"].(string)

		// Unpaid completion (bank transfer pending) credits nothing.
		unpaid := stripefake.Event("evt_unpaid", "checkout.session.completed", time.Now(), obj)
		if got := outcome(t, deliver(h, unpaid, testWebhookSecret, time.Now())); got != "ignored" {
			t.Fatalf("unpaid session: %s", got)
		}
		obj["payment_status"], obj["status"], obj["payment_intent"] = "paid", "complete", "pi_pack1"
		paid := stripefake.Event("evt_paid", "checkout.session.async_payment_succeeded", time.Now(), obj)

		// Forged, stale, future and unsigned deliveries: 400, nothing credited.
		for name, r := range map[string]*apptest.Response{
			"forged":   deliver(h, paid, "whsec_wrong", time.Now()),
			"stale":    deliver(h, paid, testWebhookSecret, time.Now().Add(-301*time.Second)),
			"future":   deliver(h, paid, testWebhookSecret, time.Now().Add(10*time.Minute)),
			"unsigned": h.Do(apptest.Request{Method: "POST", Path: "/hooks/stripe", Body: paid}),
			"tampered": h.Do(apptest.Request{Method: "POST", Path: "/hooks/stripe", Body: []byte(strings.Replace(string(paid), "1000000", "9000000", 1)),
				Headers: map[string]string{"Stripe-Signature": billing.Sign(paid, testWebhookSecret, time.Now())}}),
		} {
			if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" {
				t.Errorf("%s signature answered %d %s", name, r.Status, r.Raw)
			}
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 0 {
			t.Fatalf("refused deliveries credited %d", b.Balance)
		}

		// The same event 20 times in parallel credits once.
		var wg sync.WaitGroup
		outcomes := make(chan string, 20)
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := deliver(h, paid, testWebhookSecret, time.Now())
				if r.Status != http.StatusOK {
					t.Errorf("parallel delivery: %d %s", r.Status, r.Raw)
					return
				}
				var res billing.WebhookResult
				r.Data(t, &res)
				outcomes <- res.Outcome
			}()
		}
		wg.Wait()
		close(outcomes)
		count := map[string]int{}
		for o := range outcomes {
			count[o]++
		}
		if count["applied"] != 1 || count["duplicate"] != 19 {
			t.Fatalf("20 parallel deliveries: %v", count)
		}
		// checkout.session.completed for the same session (out of order,
		// other event id) credits nothing more; a rolled secret pair works.
		late := stripefake.Event("evt_late", "checkout.session.completed", time.Now(), obj)
		now := time.Now()
		pair := strings.Replace(billing.Sign(late, "whsec_old", now), "t=", "t=", 1) + "," + strings.Split(billing.Sign(late, testWebhookSecret, now), ",")[1]
		r := h.Do(apptest.Request{Method: "POST", Path: "/hooks/stripe", Body: late, Headers: map[string]string{"Stripe-Signature": pair}})
		if got := outcome(t, r); got != "ignored" {
			t.Fatalf("completion after async success: %s", got)
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 1_000_000 || b.Lifetime != 1_000_000 {
			t.Fatalf("after purchase: %+v", b)
		}

		// Refunds: half, then all; a late older state changes nothing.
		charge := func(id string, refunded int64) map[string]any {
			return map[string]any{"id": "ch_1", "object": "charge", "amount": 1000, "amount_refunded": refunded, "refunded": refunded == 1000,
				"customer": cust, "payment_intent": "pi_pack1", "metadata": map[string]any{}}
		}
		if got := outcome(t, deliver(h, stripefake.Event("evt_ref1", "charge.refunded", time.Now(), charge("ch_1", 500)), testWebhookSecret, time.Now())); got != "applied" {
			t.Fatalf("half refund: %s", got)
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 500_000 {
			t.Fatalf("after half refund: %d", b.Balance)
		}
		if got := outcome(t, deliver(h, stripefake.Event("evt_ref2", "charge.refunded", time.Now(), charge("ch_1", 1000)), testWebhookSecret, time.Now())); got != "applied" {
			t.Fatalf("full refund: %s", got)
		}
		if got := outcome(t, deliver(h, stripefake.Event("evt_ref1b", "charge.refunded", time.Now(), charge("ch_1", 500)), testWebhookSecret, time.Now())); got != "ignored" {
			t.Fatalf("late older refund state: %s", got)
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 0 {
			t.Fatalf("after full refund: %d", b.Balance)
		}

		// Unknown event types are acknowledged; unknown customers refused.
		if got := outcome(t, deliver(h, stripefake.Event("evt_x", "customer.created", time.Now(), map[string]any{"id": "cus_x"}), testWebhookSecret, time.Now())); got != "ignored" {
			t.Fatalf("unknown type: %s", got)
		}
		// An event for a customer no workspace has is acknowledged (Stripe
		// retries anything else for days) and stored as ignored.
		stranger := charge("ch_2", 1000)
		stranger["customer"] = "cus_nobody"
		if got := outcome(t, deliver(h, stripefake.Event("evt_stranger", "charge.refunded", time.Now(), stranger), testWebhookSecret, time.Now())); got != "ignored" {
			t.Fatalf("unknown customer: %s", got)
		}
		var status, reason string
		if err := h.App.DB.Read().QueryRowContext(context.Background(), `SELECT status, COALESCE(reason, '') FROM stripe_events WHERE id = 'evt_stranger'`).
			Scan(&status, &reason); err != nil || status != "ignored" || !strings.Contains(reason, "no workspace") {
			t.Fatalf("stored unknown-customer event: %q %q %v", status, reason, err)
		}
		if got := outcome(t, deliver(h, stripefake.Event("evt_stranger", "charge.refunded", time.Now(), stranger), testWebhookSecret, time.Now())); got != "duplicate" {
			t.Fatalf("redelivered unknown-customer event: %s", got)
		}

		var page credit.TxPage
		h.Call(http.StatusOK, "GET", "/api/v1/credits/transactions", u.AccessToken, nil).Data(t, &page)
		if len(page.Items) != 3 || page.Items[2].Type != credit.Purchase || page.Items[0].Type != credit.Refund || page.Items[0].ReversesID != page.Items[2].ID {
			t.Fatalf("ledger %+v", page.Items)
		}
		csv := h.Do(apptest.Request{Method: "GET", Path: "/api/v1/credits/transactions?format=csv&type=refund", Token: u.AccessToken})
		if csv.Status != 200 || !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") || strings.Count(string(csv.Raw), "\n") != 3 {
			t.Fatalf("csv export: %d %s", csv.Status, csv.Raw)
		}
		var audited int
		if err := h.App.DB.Read().QueryRowContext(context.Background(),
			`SELECT COUNT(*) FROM audit_logs WHERE CAST(metadata AS TEXT) LIKE '%evt_paid%' OR CAST(metadata AS TEXT) LIKE '%evt_ref1"%' OR CAST(metadata AS TEXT) LIKE '%evt_ref2%'`).Scan(&audited); err != nil {
			t.Fatal(err)
		}
		if audited < 3 {
			t.Errorf("%d audit rows name the applied events' ids, want 3", audited)
		}
		ledgerInvariant(t, h)
	})
}

func TestStripe_PlanFollowsSubscriptionInAnyOrder(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake := startBilling(t, url)
		u := h.SignUp("subscriber@example.com", "correct horse battery")
		plan := func() actor.Plan {
			var rep credit.UsageReport
			h.Call(http.StatusOK, "GET", "/api/v1/usage", u.AccessToken, nil).Data(t, &rep)
			return rep.Plan
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/billing/subscription", Token: u.AccessToken, Body: map[string]string{"plan": "ENTERPRISE"}}); r.Status != 400 {
			t.Fatalf("plan without a price: %d %s", r.Status, r.Raw)
		}
		var sess billing.Session
		h.Call(http.StatusOK, "POST", "/api/v1/billing/subscription", u.AccessToken, map[string]string{"plan": "PRO"}).Data(t, &sess)
		cust := fake.Object(sess.ID)["customer"].(string)
		sub := fake.AddSubscription(cust, "price_pro", map[string]string{"workspace_id": u.UserID})
		t0 := time.Now().Add(-time.Minute)
		send := func(id, typ string, at time.Time, obj map[string]any) string {
			return outcome(t, deliver(h, stripefake.Event(id, typ, at, obj), testWebhookSecret, time.Now()))
		}
		if got := send("evt_s1", "customer.subscription.created", t0, sub); got != "applied" || plan() != actor.Pro {
			t.Fatalf("created: %s, plan %s", got, plan())
		}
		// Switching plans goes through the running subscription.
		h.Call(http.StatusOK, "POST", "/api/v1/billing/subscription", u.AccessToken, map[string]string{"plan": "STARTER"}).Data(t, &sess)
		if sess.Status != "updated" {
			t.Fatalf("switch: %+v", sess)
		}
		starter := fake.Object(sub["id"].(string))
		cancelled := fake.Object(sub["id"].(string))
		cancelled["status"] = "canceled"
		// The deletion arrives before the (older) update: the update is stale.
		if got := send("evt_s3", "customer.subscription.deleted", t0.Add(20*time.Second), cancelled); got != "applied" || plan() != actor.Free {
			t.Fatalf("deleted: %s, plan %s", got, plan())
		}
		if got := send("evt_s2", "customer.subscription.updated", t0.Add(10*time.Second), starter); got != "ignored" || plan() != actor.Free {
			t.Fatalf("late update: %s, plan %s", got, plan())
		}
		if got := send("evt_s2", "customer.subscription.updated", t0.Add(10*time.Second), starter); got != "duplicate" {
			t.Fatalf("replay: %s", got)
		}
		var changes int
		if err := h.App.DB.Read().QueryRowContext(context.Background(),
			`SELECT COUNT(*) FROM audit_logs WHERE action = 'billing.plan_changed' AND user_id = $1`, u.UserID).Scan(&changes); err != nil {
			t.Fatal(err)
		}
		if changes != 2 {
			t.Errorf("%d audited plan changes, want 2 (FREE→PRO, PRO→FREE)", changes)
		}
		var portal billing.Session
		h.Call(http.StatusOK, "POST", "/api/v1/billing/portal", u.AccessToken, nil).Data(t, &portal)
		if !strings.HasPrefix(portal.URL, fake.URL+"/p/session/") {
			t.Fatalf("portal %+v", portal)
		}
	})
}

func TestCredits_AdminGrantsOverageAndLimitsOverHTTP(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, _ := startBilling(t, url)
		admin := h.Admin()
		u := h.SignUp("metered@example.com", "correct horse battery")
		grant := "/api/v1/admin/workspaces/" + u.UserID + "/credits"
		for name, body := range map[string]any{
			"zero":      map[string]any{"amount": 0, "type": "grant", "reason": "x"},
			"negative":  map[string]any{"amount": -5, "type": "grant", "reason": "x"},
			"too large": `{"amount": 100000000000000000000, "type": "grant", "reason": "x"}`,
			"purchase":  map[string]any{"amount": 5, "type": "purchase", "reason": "x"},
			"no reason": map[string]any{"amount": 5, "type": "bonus"},
		} {
			if r := h.Do(apptest.Request{Method: "POST", Path: grant, Token: admin.AccessToken, Body: body}); r.Status != 400 {
				t.Errorf("%s: %d %s", name, r.Status, r.Raw)
			}
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: grant, Token: u.AccessToken, Body: map[string]any{"amount": 5, "type": "grant", "reason": "me"}}); r.Status != 403 {
			t.Errorf("a MEMBER granted credits: %d", r.Status)
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/admin/workspaces/usr_01h455vb4pex5vsknk084sn02q/credits", Token: admin.AccessToken,
			Body: map[string]any{"amount": 5, "type": "grant", "reason": "x"}}); r.Status != 404 {
			t.Errorf("unknown workspace: %d %s", r.Status, r.Raw)
		}
		h.Call(http.StatusCreated, "POST", grant, admin.AccessToken, map[string]any{"amount": 1000, "type": "grant", "reason": "welcome", "idempotencyKey": "welcome"})
		// The replay answers like the first request (Idempotency-Key semantics).
		if r := h.Call(http.StatusCreated, "POST", grant, admin.AccessToken, map[string]any{"amount": 1000, "type": "grant", "reason": "welcome", "idempotencyKey": "welcome"}); r.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("grant replay not marked: %v", r.Header)
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 1000 {
			t.Fatalf("after grant: %d", b.Balance)
		}

		// FREE allows 100 executions a day; the workflow engine meters them
		// through Limits (no HTTP endpoint consumes executions yet).
		a := actor.Actor{UserID: u.UserID, Role: actor.Member, Plan: actor.Free}
		ctx := context.Background()
		if _, err := h.App.Limits.Consume(ctx, a, actor.ActionExecute, 100, ""); err != nil {
			t.Fatal(err)
		}
		if _, err := h.App.Limits.Consume(ctx, a, actor.ActionExecute, 1, ""); err == nil {
			t.Fatal("execution beyond the plan allowed without overage")
		}
		var b credit.Balance
		h.Call(http.StatusOK, "PUT", "/api/v1/credits/settings", u.AccessToken, map[string]any{"overageEnabled": true}).Data(t, &b)
		if !b.Settings.OverageEnabled {
			t.Fatalf("settings %+v", b.Settings)
		}
		if r := h.Do(apptest.Request{Method: "PUT", Path: "/api/v1/credits/settings", Token: u.AccessToken,
			Body: map[string]any{"autoTopUp": map[string]any{"enabled": true, "threshold": 100, "amount": 7}}}); r.Status != 400 {
			t.Errorf("top-up of a non-pack amount: %d %s", r.Status, r.Raw)
		}
		c, err := h.App.Limits.Consume(ctx, a, actor.ActionExecute, 20, "batch")
		if err != nil || c.Overage != 20 || c.Charged != 200 {
			t.Fatalf("overage: %+v %v", c, err)
		}
		var rep credit.UsageReport
		h.Call(http.StatusOK, "GET", "/api/v1/usage", u.AccessToken, nil).Data(t, &rep)
		if rep.Items[0].Metric != "executions" || *rep.Items[0].Used != 120 || rep.Items[0].Overage != 20 || rep.Items[0].Limit != 100 {
			t.Fatalf("usage %+v", rep.Items[0])
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 800 {
			t.Fatalf("after overage: %d", b.Balance)
		}
		// Overage the credits cannot pay is refused as a plan limit.
		if _, err := h.App.Limits.Consume(ctx, a, actor.ActionExecute, 1000, ""); err == nil || !strings.Contains(err.Error(), "PLAN_LIMIT_EXCEEDED") {
			t.Fatalf("unaffordable overage: %v", err)
		}
		var est struct{ Millicredits int64 }
		h.Call(http.StatusOK, "GET", "/api/v1/credits/estimate?action=ai.gpt-4o-mini&quantity=2500", u.AccessToken, nil).Data(t, &est)
		if est.Millicredits != 500 {
			t.Errorf("estimate %d", est.Millicredits)
		}
		var costs []credit.Cost
		h.Call(http.StatusOK, "GET", "/api/v1/credits/costs", u.AccessToken, nil).Items(t, &costs)
		if len(costs) != len(credit.CreditCosts) {
			t.Errorf("%d costs", len(costs))
		}
		ledgerInvariant(t, h)
	})
}

func TestStripe_AutoTopUpChargesOncePerCrossing(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake := startBilling(t, url)
		u := h.SignUp("topup@example.com", "correct horse battery")
		obj := payCheckout(t, h, fake, u.AccessToken, "credits_1000", "evt_buy")
		cust := obj["customer"].(string)
		pm := waitDefaultPaymentMethod(t, fake, cust, obj["payment_intent"].(string))
		h.Call(http.StatusOK, "PUT", "/api/v1/credits/settings", u.AccessToken,
			map[string]any{"autoTopUp": map[string]any{"enabled": true, "threshold": 500_000, "amount": 1_000_000}})
		a := actor.Actor{UserID: u.UserID, Role: actor.Member, Plan: actor.Free}
		ctx := context.Background()
		var wg sync.WaitGroup
		for i := 0; i < 20; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := h.App.Credits.DeductCredits(ctx, a, credit.Change{Amount: 40_000}); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait() // 1,000,000 − 800,000 = 200,000: one crossing of 500,000
		deadline := time.Now().Add(15 * time.Second)
		for balanceOf(t, h, u.AccessToken).Balance != 1_200_000 {
			if time.Now().After(deadline) {
				t.Fatalf("no top-up: balance %d, %d charges", balanceOf(t, h, u.AccessToken).Balance, fake.Calls("POST /v1/payment_intents"))
			}
			time.Sleep(20 * time.Millisecond)
		}
		charges := topUpCharges(fake)
		if len(charges) != 1 {
			t.Fatalf("%d charges for one crossing", len(charges))
		}
		// The charge used the card the checkout saved, for its customer.
		pi := charges[0]
		if pi["payment_method"] != pm || pi["customer"] != cust || pi["status"] != "succeeded" {
			t.Fatalf("top-up charge %v, want payment method %s of %s", pi, pm, cust)
		}
		// Redelivering the charge's success by webhook credits nothing more.
		if got := outcome(t, deliver(h, stripefake.Event("evt_pi", "payment_intent.succeeded", time.Now(), pi), testWebhookSecret, time.Now())); got != "ignored" {
			t.Fatalf("payment_intent.succeeded after the job credited: %s", got)
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 1_200_000 {
			t.Fatalf("balance %d", b.Balance)
		}
		// Staying above the threshold charges nothing; the next fall does.
		if _, err := h.App.Credits.DeductCredits(ctx, a, credit.Change{Amount: 600_000}); err != nil {
			t.Fatal(err)
		}
		if _, err := h.App.Credits.DeductCredits(ctx, a, credit.Change{Amount: 200_000}); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(15 * time.Second)
		for len(topUpCharges(fake)) != 2 || balanceOf(t, h, u.AccessToken).Balance != 1_400_000 {
			if time.Now().After(deadline) {
				t.Fatalf("second crossing: %d charges, balance %d", len(topUpCharges(fake)), balanceOf(t, h, u.AccessToken).Balance)
			}
			time.Sleep(20 * time.Millisecond)
		}
		ledgerInvariant(t, h)
		_ = fmt.Sprint()
	})
}
