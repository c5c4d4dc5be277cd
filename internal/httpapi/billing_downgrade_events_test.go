package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/billing/stripefake"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Event subscriptions, which came after the other plan limits, follow the
// downgrade rules too: a workspace left with more than FREE allows keeps
// them, adding one is refused naming the metric as every limit does, and
// the usage report shows what exceeds.
func TestStripe_DowngradeKeepsEventSubscriptionsAndShowsThemInUsage(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake := startBilling(t, url)
		u := h.SignUp("downgrade-events@example.com", "correct horse battery")
		tok := u.AccessToken
		var sess billing.Session
		h.Call(http.StatusOK, "POST", "/api/v1/billing/subscription", tok, map[string]string{"plan": "STARTER"}).Data(t, &sess)
		sub := fake.AddSubscription(fake.Object(sess.ID)["customer"].(string), "price_starter", map[string]string{"workspace_id": u.UserID})
		t0 := time.Now().Add(-time.Minute)
		if got := outcome(t, deliver(h, stripefake.Event("evt_ev_up", "customer.subscription.created", t0, sub), testWebhookSecret, time.Now())); got != "applied" {
			t.Fatalf("subscribe: %s", got)
		}
		for i := range 3 { // STARTER allows 5, FREE 2
			h.Call(http.StatusCreated, "POST", "/api/v1/event-subscriptions", tok, map[string]any{"url": fmt.Sprintf("https://example.com/hook/%d", i),
				"events": []string{"run.completed"}})
		}
		sub["status"] = "canceled"
		if got := outcome(t, deliver(h, stripefake.Event("evt_ev_down", "customer.subscription.deleted", t0.Add(10*time.Second), sub), testWebhookSecret, time.Now())); got != "applied" {
			t.Fatalf("cancel: %s", got)
		}
		var subs []json.RawMessage
		h.Call(http.StatusOK, "GET", "/api/v1/event-subscriptions", tok, nil).Items(t, &subs)
		if len(subs) != 3 {
			t.Fatalf("%d event subscriptions after the downgrade, want 3", len(subs))
		}
		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/event-subscriptions", Token: tok,
			Body: map[string]any{"url": "https://example.com/hook/more", "events": []string{"run.completed"}}})
		var details map[string]any
		if r.Body.Error != nil {
			_ = json.Unmarshal(r.Body.Error.Details, &details)
		}
		if r.Status != http.StatusPaymentRequired || r.Code() != "PLAN_LIMIT_EXCEEDED" || details["metric"] != "eventSubscriptions" ||
			details["limit"] != float64(2) || details["used"] != float64(3) || details["plan"] != "FREE" {
			t.Fatalf("one more subscription: %d %s", r.Status, r.Raw)
		}
		var rep credit.UsageReport
		h.Call(http.StatusOK, "GET", "/api/v1/usage", tok, nil).Data(t, &rep)
		found := false
		for _, it := range rep.Items {
			if it.Metric == "eventSubscriptions" {
				found = true
				if it.Used == nil || *it.Used != 3 || it.Limit != 2 || !it.Exceeded {
					t.Errorf("eventSubscriptions usage %+v", it)
				}
			}
		}
		if !found {
			t.Errorf("the usage report has no eventSubscriptions item: %+v", rep.Items)
		}
	})
}
