package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/billing/stripefake"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func overviewOf(t *testing.T, h *apptest.Harness, token string) billing.Overview {
	t.Helper()
	var o billing.Overview
	h.Call(http.StatusOK, "GET", "/api/v1/billing", token, nil).Data(t, &o)
	return o
}

func offers(o billing.Overview) map[actor.Plan]billing.PlanOffer {
	out := map[actor.Plan]billing.PlanOffer{}
	for _, p := range o.Plans {
		out[p.Plan] = p
	}
	return out
}

// Without Stripe the billing screen still learns the plan and every plan's
// limits, and that nothing can be bought.
func TestBillingOverview_WithoutStripeSellsNothing(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		u := h.SignUp("nostripe@example.com", pw)
		o := overviewOf(t, h, u.AccessToken)
		if o.Enabled || !o.CanManage || o.Plan != actor.Free || o.Subscription != nil {
			t.Fatalf("overview %+v", o)
		}
		if len(o.Plans) != len(actor.Plans) {
			t.Fatalf("%d plans, want %d", len(o.Plans), len(actor.Plans))
		}
		for _, p := range o.Plans {
			if p.Subscribable {
				t.Errorf("%s is for sale without Stripe", p.Plan)
			}
			if p.Current != (p.Plan == actor.Free) {
				t.Errorf("%s current = %v", p.Plan, p.Current)
			}
			if p.Limits != actor.PlanLimits[p.Plan] {
				t.Errorf("%s limits %+v", p.Plan, p.Limits)
			}
		}
		if r := h.Do(apptest.Request{Method: "GET", Path: "/api/v1/billing"}); r.Status != http.StatusUnauthorized {
			t.Errorf("signed out: %d %s", r.Status, r.Raw)
		}
	})
}

// The plans with a price are for sale; the subscription follows Stripe's
// events; an organization's billing is its own, and only its owner buys.
func TestBillingOverview_PlansSubscriptionAndWhoMayBuy(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake := startBilling(t, url)
		owner := h.SignUp("ov-owner@example.com", pw)
		o := overviewOf(t, h, owner.AccessToken)
		if !o.Enabled || !o.CanManage || o.Subscription != nil {
			t.Fatalf("overview %+v", o)
		}
		sold := offers(o)
		for _, p := range actor.Plans {
			want := p == actor.Starter || p == actor.Pro // the prices startBilling configures
			if sold[p].Subscribable != want {
				t.Errorf("%s subscribable = %v, want %v", p, sold[p].Subscribable, want)
			}
		}

		var sess billing.Session
		h.Call(http.StatusOK, "POST", "/api/v1/billing/subscription", owner.AccessToken, map[string]string{"plan": "PRO"}).Data(t, &sess)
		cust := fake.Object(sess.ID)["customer"].(string)
		sub := fake.AddSubscription(cust, "price_pro", map[string]string{"workspace_id": owner.UserID})
		if got := outcome(t, deliver(h, stripefake.Event("evt_ov1", "customer.subscription.created", time.Now(), sub), testWebhookSecret, time.Now())); got != "applied" {
			t.Fatalf("subscription event: %s", got)
		}
		o = overviewOf(t, h, owner.AccessToken)
		if o.Plan != actor.Pro || o.Subscription == nil || *o.Subscription != (billing.SubscriptionState{Status: "active", Plan: actor.Pro, Live: true}) {
			t.Fatalf("after subscribing: plan %s, subscription %+v", o.Plan, o.Subscription)
		}
		if !offers(o)[actor.Pro].Current || offers(o)[actor.Free].Current {
			t.Errorf("current plan not PRO: %+v", o.Plans)
		}

		// The organization has neither the owner's plan nor subscription.
		org := createOrg(t, h, owner, "Billing Co")
		orgTok := switchTo(t, h, owner, org.ID)
		if o := overviewOf(t, h, orgTok); o.Plan != actor.Free || o.Subscription != nil || !o.CanManage {
			t.Errorf("org overview for its owner: %+v", o)
		}
		m := h.SignUp("ov-member@example.com", pw)
		h.Call(http.StatusOK, "POST", "/api/v1/invitations/accept", m.AccessToken, map[string]string{"token": invite(t, h, owner, org.ID, m.Email, "ORG_ADMIN", 1)})
		if o := overviewOf(t, h, switchTo(t, h, m, org.ID)); o.CanManage || !o.Enabled {
			t.Errorf("an ORG_ADMIN may not buy for the organization: %+v", o)
		}
	})
}
