package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

const stripeTimeout = 30 * time.Second

// Session is where to send the user: a Checkout or portal URL.
type Session struct {
	ID  string `json:"id,omitempty"`
	URL string `json:"url,omitempty"`
	// Status is "checkout" (go to URL), "portal", or "updated" (an existing
	// subscription was switched to the new plan; the plan follows once
	// Stripe confirms it by webhook).
	Status string `json:"status"`
}

// CheckoutInput buys a credit pack.
type CheckoutInput struct {
	Package string `json:"package"`
}

// SubscriptionInput subscribes to a plan.
type SubscriptionInput struct {
	Plan actor.Plan `json:"plan"`
}

func requireManage(a actor.Actor) error {
	if !a.Can(actor.PermCreditsManage) {
		return apperr.New(apperr.Forbidden, "you lack %s; only the organization's owner buys credits and plans", actor.PermCreditsManage)
	}
	return nil
}

// stripeErr turns a Stripe API failure into an error for the client; the
// cause is logged, not shown.
func stripeErr(op string, err error) error {
	var se *stripe.Error
	if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 && se.Type == stripe.ErrorTypeCard {
		return apperr.New(apperr.Validation, "payment refused: %s", se.Msg)
	}
	return fmt.Errorf("stripe %s: %w", op, err)
}

// customer returns the workspace's Stripe customer, creating it on first
// use. Two racing requests create one customer: the Stripe idempotency key
// is the workspace id, and the first id stored wins.
func (s *Service) customer(ctx context.Context, a actor.Actor) (string, error) {
	ws := a.WorkspaceID()
	st := s.accounts.store(ws)
	if st == nil {
		return "", apperr.New(apperr.NotFound, "workspace not found")
	}
	_, cust, ok, err := st.BillingAccount(ctx, s.db.Read(), ws)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", apperr.New(apperr.NotFound, "workspace not found")
	}
	if cust != "" {
		return cust, nil
	}
	params := &stripe.CustomerCreateParams{Email: stripe.String(a.Email), Metadata: map[string]string{"workspace_id": ws}}
	params.SetIdempotencyKey("customer-" + ws)
	c, err := s.stripe.V1Customers.Create(ctx, params)
	if err != nil {
		return "", stripeErr("create customer", err)
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		stored, err := st.SetStripeCustomerTx(ctx, tx, ws, c.ID)
		if err != nil {
			return err
		}
		if stored != c.ID {
			cust = stored
			return nil
		}
		cust = c.ID
		return audit.Record(ctx, tx, a, audit.Entry{Action: "billing.customer_created", Resource: "workspace", ResourceID: ws,
			Metadata: map[string]any{"stripeCustomerId": c.ID}})
	})
	return cust, err
}

func (s *Service) returnURL(path string) *string { return stripe.String(s.cfg.PublicURL + path) }

// Checkout opens a Stripe Checkout Session selling a credit pack to the
// actor's workspace. The credits arrive with checkout.session.completed
// once the payment is paid.
func (s *Service) Checkout(ctx context.Context, a actor.Actor, in CheckoutInput) (Session, error) {
	if err := s.enabled(); err != nil {
		return Session{}, err
	}
	if err := requireManage(a); err != nil {
		return Session{}, err
	}
	p, ok := packByID(in.Package)
	if !ok {
		return Session{}, apperr.Invalid(apperr.FieldError{Field: "package", Message: "is not a credit pack; see GET /api/v1/billing/packs"})
	}
	cust, err := s.customer(ctx, a)
	if err != nil {
		return Session{}, err
	}
	ws := a.WorkspaceID()
	meta := map[string]string{"workspace_id": ws, "package": p.ID, "credits": strconv.FormatInt(p.Credits, 10), "kind": "credit_pack"}
	cs, err := s.stripe.V1CheckoutSessions.Create(ctx, &stripe.CheckoutSessionCreateParams{
		Mode: stripe.String(string(stripe.CheckoutSessionModePayment)), Customer: stripe.String(cust),
		ClientReferenceID: stripe.String(ws), Metadata: meta,
		SuccessURL: s.returnURL("/billing/success?session_id={CHECKOUT_SESSION_ID}"), CancelURL: s.returnURL("/billing/cancelled"),
		LineItems: []*stripe.CheckoutSessionCreateLineItemParams{{
			Quantity: stripe.Int64(1),
			PriceData: &stripe.CheckoutSessionCreateLineItemPriceDataParams{
				Currency: stripe.String(p.Currency), UnitAmount: stripe.Int64(p.PriceCents),
				ProductData: &stripe.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripe.String(p.Name)},
			},
		}},
		// Keep the card for auto top-up.
		PaymentIntentData: &stripe.CheckoutSessionCreatePaymentIntentDataParams{
			SetupFutureUsage: stripe.String("off_session"), Metadata: meta,
		},
	})
	if err != nil {
		return Session{}, stripeErr("create checkout session", err)
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		return audit.Record(ctx, tx, a, audit.Entry{Action: "billing.checkout_created", Resource: "workspace", ResourceID: ws,
			Metadata: map[string]any{"checkoutSessionId": cs.ID, "package": p.ID, "credits": p.Credits}})
	})
	return Session{ID: cs.ID, URL: cs.URL, Status: "checkout"}, err
}

// Subscribe moves the workspace to a paid plan: a Checkout Session for a
// first subscription, or a price change of the existing one. Either way the
// plan changes only when Stripe's subscription event arrives. FREE is
// reached by cancelling in the customer portal.
func (s *Service) Subscribe(ctx context.Context, a actor.Actor, in SubscriptionInput) (Session, error) {
	if err := s.enabled(); err != nil {
		return Session{}, err
	}
	if err := requireManage(a); err != nil {
		return Session{}, err
	}
	price, ok := s.cfg.PlanPrices[in.Plan]
	if !in.Plan.Valid() || !ok || price == "" {
		return Session{}, apperr.Invalid(apperr.FieldError{Field: "plan", Message: "is not a plan sold by subscription here (to return to FREE, cancel in the customer portal)"})
	}
	cust, err := s.customer(ctx, a)
	if err != nil {
		return Session{}, err
	}
	ws := a.WorkspaceID()
	sub, err := s.subscriptionOf(ctx, s.db.Read(), ws)
	if err != nil {
		return Session{}, err
	}
	if sub.live() {
		cur, err := s.stripe.V1Subscriptions.Retrieve(ctx, sub.ID, nil)
		if err != nil {
			return Session{}, stripeErr("read subscription", err)
		}
		if cur.Items == nil || len(cur.Items.Data) == 0 {
			return Session{}, fmt.Errorf("subscription %s has no items", sub.ID)
		}
		params := &stripe.SubscriptionUpdateParams{
			Items:             []*stripe.SubscriptionUpdateItemParams{{ID: stripe.String(cur.Items.Data[0].ID), Price: stripe.String(price)}},
			ProrationBehavior: stripe.String("create_prorations"),
			Metadata:          map[string]string{"workspace_id": ws, "plan": string(in.Plan)},
		}
		if _, err := s.stripe.V1Subscriptions.Update(ctx, sub.ID, params); err != nil {
			return Session{}, stripeErr("update subscription", err)
		}
		err = s.db.Tx(ctx, func(tx *db.Tx) error {
			return audit.Record(ctx, tx, a, audit.Entry{Action: "billing.subscription_change_requested", Resource: "workspace", ResourceID: ws,
				Metadata: map[string]any{"subscriptionId": sub.ID, "plan": in.Plan}})
		})
		return Session{ID: sub.ID, Status: "updated"}, err
	}
	meta := map[string]string{"workspace_id": ws, "plan": string(in.Plan), "kind": "subscription"}
	cs, err := s.stripe.V1CheckoutSessions.Create(ctx, &stripe.CheckoutSessionCreateParams{
		Mode: stripe.String(string(stripe.CheckoutSessionModeSubscription)), Customer: stripe.String(cust),
		ClientReferenceID: stripe.String(ws), Metadata: meta,
		SuccessURL: s.returnURL("/billing/success?session_id={CHECKOUT_SESSION_ID}"), CancelURL: s.returnURL("/billing/cancelled"),
		LineItems:        []*stripe.CheckoutSessionCreateLineItemParams{{Price: stripe.String(price), Quantity: stripe.Int64(1)}},
		SubscriptionData: &stripe.CheckoutSessionCreateSubscriptionDataParams{Metadata: meta},
	})
	if err != nil {
		return Session{}, stripeErr("create checkout session", err)
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		return audit.Record(ctx, tx, a, audit.Entry{Action: "billing.checkout_created", Resource: "workspace", ResourceID: ws,
			Metadata: map[string]any{"checkoutSessionId": cs.ID, "plan": in.Plan}})
	})
	return Session{ID: cs.ID, URL: cs.URL, Status: "checkout"}, err
}

// Portal opens Stripe's customer portal, where the owner changes or
// cancels the plan and manages payment methods.
func (s *Service) Portal(ctx context.Context, a actor.Actor) (Session, error) {
	if err := s.enabled(); err != nil {
		return Session{}, err
	}
	if err := requireManage(a); err != nil {
		return Session{}, err
	}
	cust, err := s.customer(ctx, a)
	if err != nil {
		return Session{}, err
	}
	ps, err := s.stripe.V1BillingPortalSessions.Create(ctx, &stripe.BillingPortalSessionCreateParams{
		Customer: stripe.String(cust), ReturnURL: s.returnURL("/billing"),
	})
	if err != nil {
		return Session{}, stripeErr("create portal session", err)
	}
	return Session{ID: ps.ID, URL: ps.URL, Status: "portal"}, nil
}
