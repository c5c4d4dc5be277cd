package billing

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"

	"github.com/stripe/stripe-go/v82"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
)

func decodeObject(ev *stripe.Event, v any) error {
	if err := json.Unmarshal(ev.Data.Raw, v); err != nil {
		return apperr.New(apperr.Validation, "event %s: data.object is not a %s", ev.ID, ev.Type)
	}
	return nil
}

func customerID(c *stripe.Customer) string {
	if c == nil {
		return ""
	}
	return c.ID
}

var errUnknownCustomer = apperr.New(apperr.NotFound, "the event names no workspace of this server")

// workspaceOf finds the workspace an event is about: by its Stripe customer,
// else by the workspace id billing put in the metadata. The two must agree.
func (s *Service) workspaceOf(ctx context.Context, q db.Querier, customer string, meta map[string]string) (string, error) {
	byCustomer, found, err := s.accounts.ByCustomer(ctx, q, customer)
	if err != nil {
		return "", err
	}
	ws := meta["workspace_id"]
	switch {
	case found && ws != "" && ws != byCustomer:
		return "", apperr.New(apperr.Validation, "the event's customer and workspace disagree")
	case found:
		return byCustomer, nil
	case ws == "":
		return "", errUnknownCustomer
	}
	ok, err := s.accounts.WorkspaceExists(ctx, q, ws)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errUnknownCustomer
	}
	return ws, nil
}

// onCheckoutCompleted credits a paid credit-pack checkout and queues making
// the card that paid it the customer's default, for auto top-up. A session
// still unpaid (a bank transfer, say) is ignored; its
// async_payment_succeeded event credits it later. Both events share the
// ledger key, so the pack is credited once whichever arrives first.
func (s *Service) onCheckoutCompleted(ctx context.Context, tx *db.Tx, ev *stripe.Event) (string, bool, error) {
	var cs stripe.CheckoutSession
	if err := decodeObject(ev, &cs); err != nil {
		return "", false, err
	}
	if cs.Mode != stripe.CheckoutSessionModePayment || cs.Metadata["kind"] != "credit_pack" {
		return "", false, nil // subscriptions follow their own events
	}
	ws, err := s.workspaceOf(ctx, tx, customerID(cs.Customer), cs.Metadata)
	if err != nil {
		return "", false, err
	}
	if cs.PaymentStatus != stripe.CheckoutSessionPaymentStatusPaid {
		return ws, false, nil
	}
	amount, err := strconv.ParseInt(cs.Metadata["credits"], 10, 64)
	if err != nil || amount <= 0 {
		return "", false, apperr.New(apperr.Validation, "checkout session %s carries no credit amount", cs.ID)
	}
	pi := ""
	if cs.PaymentIntent != nil {
		pi = cs.PaymentIntent.ID
	}
	r, err := s.credits.AddCreditsTx(ctx, tx, systemFor(ws), ws, credit.Change{Type: credit.Purchase, Amount: amount, Key: "checkout:" + cs.ID,
		Description: "credit pack " + cs.Metadata["package"], AuditAction: "billing.credits_purchased",
		Metadata: map[string]any{"stripeEventId": ev.ID, "checkoutSessionId": cs.ID, "paymentIntentId": pi, "package": cs.Metadata["package"], "amountCents": cs.AmountTotal}})
	if err != nil {
		return "", false, err
	}
	if !r.Replayed && pi != "" {
		if err := recordPayment(ctx, tx, ws, pi, r.Transaction.ID, amount, cs.AmountTotal); err != nil {
			return "", false, err
		}
		if cust := customerID(cs.Customer); cust != "" {
			if err := s.enqueueSavePaymentMethod(ctx, tx, savePaymentMethodArgs{WorkspaceID: ws, CustomerID: cust, PaymentIntent: pi}); err != nil {
				return "", false, err
			}
		}
	}
	return ws, !r.Replayed, nil
}

// recordPayment remembers which ledger row a payment bought, for refunds.
func recordPayment(ctx context.Context, tx *db.Tx, ws, paymentIntent, txID string, credits, cents int64) error {
	_, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO billing_payments (workspace_id, payment_intent_id, transaction_id, credits, amount_cents, refunded_cents, created_at)
		VALUES ($1, $2, $3, $4, $5, 0, $6) ON CONFLICT (payment_intent_id) DO NOTHING /* workspace_id = $1 */`, paymentIntent, txID, credits, cents, db.Now())
	if err != nil {
		return fmt.Errorf("record payment: %w", err)
	}
	return nil
}

// onPaymentIntentSucceeded credits an auto top-up whose charge needed more
// than the job's synchronous confirmation (3-D Secure, say).
func (s *Service) onPaymentIntentSucceeded(ctx context.Context, tx *db.Tx, ev *stripe.Event) (string, bool, error) {
	var pi stripe.PaymentIntent
	if err := decodeObject(ev, &pi); err != nil {
		return "", false, err
	}
	if pi.Metadata["kind"] != "auto_topup" {
		return "", false, nil // checkout payments are credited by their session
	}
	ws, err := s.workspaceOf(ctx, tx, customerID(pi.Customer), pi.Metadata)
	if err != nil {
		return "", false, err
	}
	r, err := s.creditTopUp(ctx, tx, ws, &pi, ev.ID)
	if err != nil {
		return "", false, err
	}
	return ws, !r.Replayed, nil
}

// creditTopUp credits a succeeded auto top-up charge once per crossing.
func (s *Service) creditTopUp(ctx context.Context, tx *db.Tx, ws string, pi *stripe.PaymentIntent, eventID string) (credit.Result, error) {
	amount, err := strconv.ParseInt(pi.Metadata["credits"], 10, 64)
	if err != nil || amount <= 0 {
		return credit.Result{}, apperr.New(apperr.Validation, "payment intent %s carries no credit amount", pi.ID)
	}
	meta := map[string]any{"paymentIntentId": pi.ID, "crossingTransactionId": pi.Metadata["crossing"], "amountCents": pi.Amount}
	if eventID != "" {
		meta["stripeEventId"] = eventID
	}
	r, err := s.credits.AddCreditsTx(ctx, tx, systemFor(ws), ws, credit.Change{Type: credit.Purchase, Amount: amount,
		Key: "topup:" + pi.Metadata["crossing"], Description: "auto top-up", AuditAction: "billing.auto_topup_credited", Metadata: meta})
	if err != nil {
		return credit.Result{}, err
	}
	if !r.Replayed {
		if err := recordPayment(ctx, tx, ws, pi.ID, r.Transaction.ID, amount, pi.Amount); err != nil {
			return credit.Result{}, err
		}
	}
	return r, nil
}

// onInvoicePaid records a paid invoice in the audit log. The plan follows
// the subscription events, not invoices.
func (s *Service) onInvoicePaid(ctx context.Context, tx *db.Tx, ev *stripe.Event) (string, bool, error) {
	var inv stripe.Invoice
	if err := decodeObject(ev, &inv); err != nil {
		return "", false, err
	}
	ws, err := s.workspaceOf(ctx, tx, customerID(inv.Customer), inv.Metadata)
	if err != nil {
		return "", false, err
	}
	return ws, true, audit.Record(ctx, tx, systemFor(ws), auditFor(ws, audit.Entry{Action: "billing.invoice_paid", Resource: "invoice", ResourceID: inv.ID,
		Metadata: map[string]any{"stripeEventId": ev.ID, "amountPaid": inv.AmountPaid, "currency": inv.Currency}}))
}

// auditFor names the workspace on an audit entry a system actor writes.
func auditFor(ws string, e audit.Entry) audit.Entry {
	a := systemFor(ws)
	if a.OrganizationID != "" {
		e.OrganizationID = a.OrganizationID
	} else {
		e.UserID = ws
	}
	return e
}

// subscription is the state a workspace's plan follows.
type subscription struct {
	ID           string
	Status       string
	Plan         actor.Plan
	EventCreated int64
}

func (s subscription) live() bool {
	switch s.Status {
	case "active", "trialing", "past_due":
		return s.ID != ""
	}
	return false
}

func (s *Service) subscriptionOf(ctx context.Context, q db.Querier, ws string) (subscription, error) {
	var sub subscription
	err := db.Scope(q, ws).QueryRowContext(ctx, `SELECT subscription_id, status, plan, event_created FROM billing_subscriptions WHERE workspace_id = $1`).
		Scan(&sub.ID, &sub.Status, &sub.Plan, &sub.EventCreated)
	if errors.Is(err, sql.ErrNoRows) {
		return subscription{}, nil
	}
	if err != nil {
		return subscription{}, fmt.Errorf("read subscription: %w", err)
	}
	return sub, nil
}

// onSubscription makes the workspace's plan follow its subscription. Events
// older than the newest applied are ignored, and a cancelled subscription
// never comes back to life, so late or reordered deliveries cannot undo a
// newer state.
func (s *Service) onSubscription(ctx context.Context, tx *db.Tx, ev *stripe.Event) (string, bool, error) {
	var sub stripe.Subscription
	if err := decodeObject(ev, &sub); err != nil {
		return "", false, err
	}
	ws, err := s.workspaceOf(ctx, tx, customerID(sub.Customer), sub.Metadata)
	if err != nil {
		return "", false, err
	}
	status := string(sub.Status)
	if ev.Type == "customer.subscription.deleted" {
		status = "canceled"
	}
	next := subscription{ID: sub.ID, Status: status, EventCreated: ev.Created}
	switch status {
	case "active", "trialing", "past_due":
		price := ""
		if sub.Items != nil && len(sub.Items.Data) > 0 && sub.Items.Data[0].Price != nil {
			price = sub.Items.Data[0].Price.ID
		}
		p, ok := s.prices[price]
		if !ok {
			s.log.Warn("subscription for a price no plan uses", "eventId", ev.ID, "price", price)
			return ws, false, nil
		}
		next.Plan = p
	case "canceled", "unpaid", "incomplete_expired", "paused":
		// paused: a trial ended without a payment method; unpaid: Stripe
		// gave up retrying. Either can become active again and bring the
		// plan back; past_due above keeps it while Stripe retries.
		next.Plan = actor.Free
	default: // incomplete: the first payment is still being made
		return ws, false, nil
	}
	cur, err := s.subscriptionOf(ctx, tx, ws)
	if err != nil {
		return "", false, err
	}
	switch {
	case cur.ID != "" && ev.Created < cur.EventCreated:
		return ws, false, nil // older than what we applied
	case cur.ID == next.ID && cur.Status == "canceled" && next.Status != "canceled":
		return ws, false, nil // a cancelled subscription stays cancelled
	case cur.ID != "" && cur.ID != next.ID && cur.live() && !next.live():
		return ws, false, nil // the end of an older subscription; a newer one is live
	}
	if _, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO billing_subscriptions (workspace_id, subscription_id, status, plan, event_created, event_id, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (workspace_id) DO UPDATE SET subscription_id = excluded.subscription_id, status = excluded.status, plan = excluded.plan,
			event_created = excluded.event_created, event_id = excluded.event_id, updated_at = excluded.updated_at
		WHERE billing_subscriptions.workspace_id = $1`, next.ID, next.Status, next.Plan, next.EventCreated, ev.ID, db.Now()); err != nil {
		return "", false, fmt.Errorf("save subscription: %w", err)
	}
	st := s.accounts.store(ws)
	meta := map[string]any{"stripeEventId": ev.ID, "subscriptionId": sub.ID, "status": status}
	from, err := st.SetPlanTx(ctx, tx, systemFor(ws), ws, next.Plan, meta)
	if err != nil {
		return "", false, err
	}
	meta["plan"], meta["previousPlan"] = next.Plan, from
	// The card the subscription's checkout saved for its renewals becomes
	// the customer's default as well, the one auto top-up charges.
	if pm := sub.DefaultPaymentMethod; pm != nil && pm.ID != "" && next.Plan != actor.Free {
		if cust := customerID(sub.Customer); cust != "" {
			if err := s.enqueueSavePaymentMethod(ctx, tx, savePaymentMethodArgs{WorkspaceID: ws, CustomerID: cust, PaymentMethodID: pm.ID}); err != nil {
				return "", false, err
			}
		}
	}
	return ws, true, audit.Record(ctx, tx, systemFor(ws), auditFor(ws, audit.Entry{Action: "billing.subscription_" + verbOf(ev.Type),
		Resource: "subscription", ResourceID: sub.ID, Metadata: meta}))
}

func verbOf(t stripe.EventType) string {
	switch t {
	case "customer.subscription.created":
		return "created"
	case "customer.subscription.deleted":
		return "deleted"
	}
	return "updated"
}

// share is the part of credits that refunded of total cents paid for,
// rounded down, computed without overflow.
func share(credits, totalCents, refundedCents int64) int64 {
	if totalCents <= 0 || refundedCents <= 0 {
		return 0
	}
	if refundedCents >= totalCents {
		return credits
	}
	n := new(big.Int).Mul(big.NewInt(credits), big.NewInt(refundedCents))
	return n.Quo(n, big.NewInt(totalCents)).Int64()
}

// onChargeRefunded takes back the credits a refunded payment bought, in
// proportion to the amount refunded. amount_refunded is cumulative, so each
// refund state applies once and an older state delivered late does nothing.
// A refund of a payment not recorded yet (its purchase event has not
// arrived) fails with CONFLICT, so Stripe delivers it again later.
func (s *Service) onChargeRefunded(ctx context.Context, tx *db.Tx, ev *stripe.Event) (string, bool, error) {
	var ch stripe.Charge
	if err := decodeObject(ev, &ch); err != nil {
		return "", false, err
	}
	ws, err := s.workspaceOf(ctx, tx, customerID(ch.Customer), ch.Metadata)
	if err != nil {
		return "", false, err
	}
	if ch.PaymentIntent == nil || ch.PaymentIntent.ID == "" {
		return ws, false, nil
	}
	var txID string
	var credits, cents, refunded int64
	err = db.Scope(tx, ws).QueryRowContext(ctx, `SELECT transaction_id, credits, amount_cents, refunded_cents FROM billing_payments
		WHERE workspace_id = $1 AND payment_intent_id = $2`, ch.PaymentIntent.ID).Scan(&txID, &credits, &cents, &refunded)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, apperr.New(apperr.Conflict, "payment %s is not recorded yet; deliver the refund again later", ch.PaymentIntent.ID)
	}
	if err != nil {
		return "", false, fmt.Errorf("read payment: %w", err)
	}
	if ch.AmountRefunded <= refunded {
		return ws, false, nil
	}
	take := share(credits, cents, ch.AmountRefunded) - share(credits, cents, refunded)
	if _, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE billing_payments SET refunded_cents = $3
		WHERE workspace_id = $1 AND payment_intent_id = $2 AND refunded_cents < $3`, ch.PaymentIntent.ID, ch.AmountRefunded); err != nil {
		return "", false, fmt.Errorf("record refund: %w", err)
	}
	if take <= 0 {
		return ws, true, nil
	}
	meta := map[string]any{"stripeEventId": ev.ID, "chargeId": ch.ID, "refundedCents": ch.AmountRefunded}
	_, shortfall, err := s.credits.ReversePurchaseTx(ctx, tx, systemFor(ws), ws, txID, take,
		"refund:"+ch.ID+":"+strconv.FormatInt(ch.AmountRefunded, 10), meta)
	if err != nil {
		return "", false, err
	}
	if shortfall > 0 {
		if err := audit.Record(ctx, tx, systemFor(ws), auditFor(ws, audit.Entry{Action: "billing.refund_shortfall", Resource: "charge", ResourceID: ch.ID,
			Metadata: map[string]any{"stripeEventId": ev.ID, "shortfall": shortfall, "requested": take}})); err != nil {
			return "", false, err
		}
	}
	return ws, true, nil
}
