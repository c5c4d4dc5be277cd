package billing

import (
	"context"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
)

// Overview is a workspace's billing as its billing screen shows it: what it
// is on, what it may buy, and whether the actor may buy it.
type Overview struct {
	// Enabled is false on a server without Stripe: nothing can be bought,
	// and checkout, subscription and portal answer NOT_FOUND.
	Enabled bool `json:"enabled"`
	// CanManage is whether the actor buys credits and plans for this
	// workspace and changes its settings (credits:manage: the owner of a
	// personal workspace, an organization's ORG_OWNER).
	CanManage bool       `json:"canManage"`
	Plan      actor.Plan `json:"plan"`
	// Subscription is the workspace's Stripe subscription as the last
	// webhook reported it; null when it never had one.
	Subscription *SubscriptionState `json:"subscription"`
	// Plans lists every plan, cheapest first.
	Plans []PlanOffer `json:"plans"`
}

// SubscriptionState is a subscription's status as Stripe last reported it.
type SubscriptionState struct {
	// Status is Stripe's: active, trialing, past_due, canceled, unpaid, …
	Status string     `json:"status"`
	Plan   actor.Plan `json:"plan"`
	// Live is true while the subscription bills (active, trialing,
	// past_due): a plan change then switches it in place.
	Live bool `json:"live"`
}

// PlanOffer is one plan with its limits.
type PlanOffer struct {
	Plan   actor.Plan   `json:"plan"`
	Limits actor.Limits `json:"limits"`
	// Subscribable: this server sells the plan by subscription (a Stripe
	// price is configured for it). FREE is reached by cancelling in the
	// customer portal; ENTERPRISE and unpriced plans by an admin.
	Subscribable bool `json:"subscribable"`
	Current      bool `json:"current"`
}

// Overview reports the actor's workspace billing (credits:read: every
// member of the workspace).
func (s *Service) Overview(ctx context.Context, a actor.Actor) (Overview, error) {
	if !a.Can(actor.PermCreditsRead) {
		return Overview{}, apperr.New(apperr.Forbidden, "you lack %s", actor.PermCreditsRead)
	}
	out := Overview{Enabled: s.stripe != nil, CanManage: a.Can(actor.PermCreditsManage), Plan: a.Plan, Plans: []PlanOffer{}}
	sub, err := s.subscriptionOf(ctx, s.db.Read(), a.WorkspaceID())
	if err != nil {
		return Overview{}, err
	}
	if sub.ID != "" {
		out.Subscription = &SubscriptionState{Status: sub.Status, Plan: sub.Plan, Live: sub.live()}
	}
	for _, p := range actor.Plans {
		price := s.cfg.PlanPrices[p]
		out.Plans = append(out.Plans, PlanOffer{Plan: p, Limits: actor.PlanLimits[p], Current: p == a.Plan,
			Subscribable: out.Enabled && price != "" && p != actor.Free})
	}
	return out, nil
}
