package billing

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v82"

	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
)

// savePaymentMethodArgs makes the card that paid a checkout the customer's
// default. The checkout set the payment up for off-session use, so Stripe
// attached the card to the customer; a PaymentIntent still needs the card
// named, and auto top-up names the customer's default. A credit pack's
// checkout names its PaymentIntent (the card is read from it); a
// subscription's names the card it saved as the subscription's default.
type savePaymentMethodArgs struct {
	WorkspaceID     string `json:"workspaceId"`
	CustomerID      string `json:"customerId"`
	PaymentIntent   string `json:"paymentIntentId,omitempty"`
	PaymentMethodID string `json:"paymentMethodId,omitempty"`
}

func (savePaymentMethodArgs) Kind() string { return "billing.save_payment_method" }

type savePaymentMethodWorker struct {
	river.WorkerDefaults[savePaymentMethodArgs]
	s *Service
}

func (w *savePaymentMethodWorker) Work(ctx context.Context, job *river.Job[savePaymentMethodArgs]) error {
	a := job.Args
	if a.PaymentMethodID != "" {
		return w.s.SaveSubscriptionPaymentMethod(ctx, a.WorkspaceID, a.CustomerID, a.PaymentMethodID)
	}
	return w.s.SavePaymentMethod(ctx, a.WorkspaceID, a.CustomerID, a.PaymentIntent)
}

// enqueueSavePaymentMethod queues SavePaymentMethod in the transaction that
// credits the checkout, so it happens once the purchase is recorded and is
// retried until Stripe answers.
func (s *Service) enqueueSavePaymentMethod(ctx context.Context, tx *db.Tx, args savePaymentMethodArgs) error {
	if s.runner == nil || s.runner.Client == nil {
		return errors.New("save payment method: no job runner")
	}
	_, err := s.runner.InsertTx(ctx, tx, args,
		&river.InsertOpts{Queue: jobs.QueueDefault, MaxAttempts: 10})
	if err != nil {
		return fmt.Errorf("queue saving the payment method: %w", err)
	}
	return nil
}

// SavePaymentMethod makes the payment method that paid paymentIntent the
// customer's default (invoice_settings.default_payment_method), which auto
// top-up charges off-session. Stripe refuses a card not attached to the
// customer (one paid without being set up for future use); that is audited
// and not retried. Setting the same default twice is harmless.
func (s *Service) SavePaymentMethod(ctx context.Context, ws, customer, paymentIntent string) error {
	if s.stripe == nil {
		return nil
	}
	meta := map[string]any{"stripeCustomerId": customer, "paymentIntentId": paymentIntent}
	pi, err := s.stripe.V1PaymentIntents.Retrieve(ctx, paymentIntent, nil)
	if err == nil && (pi.PaymentMethod == nil || pi.PaymentMethod.ID == "") {
		return nil // nothing reusable paid it
	}
	pm := ""
	if err == nil {
		pm = pi.PaymentMethod.ID
	}
	return s.setDefaultPaymentMethod(ctx, ws, customer, pm, "default-pm-"+paymentIntent, meta, err)
}

// SaveSubscriptionPaymentMethod makes the card a subscription's checkout
// saved (the subscription's default_payment_method, set up by Stripe for
// its off-session renewals) the customer's default too, so auto top-up can
// charge it. Refusals are handled as in SavePaymentMethod.
func (s *Service) SaveSubscriptionPaymentMethod(ctx context.Context, ws, customer, paymentMethod string) error {
	if s.stripe == nil {
		return nil
	}
	meta := map[string]any{"stripeCustomerId": customer}
	return s.setDefaultPaymentMethod(ctx, ws, customer, paymentMethod, "default-pm-"+customer+"-"+paymentMethod, meta, nil)
}

// setDefaultPaymentMethod sets pm as the customer's default unless err (from
// finding pm) already failed, and audits the outcome: a transport or 5xx
// error is returned to be retried, a refusal is audited and ends there.
func (s *Service) setDefaultPaymentMethod(ctx context.Context, ws, customer, pm, idemKey string, meta map[string]any, err error) error {
	entry := audit.Entry{Action: "billing.payment_method_saved", Resource: "workspace", ResourceID: ws, Metadata: meta}
	if err == nil {
		meta["paymentMethodId"] = pm
		params := &stripe.CustomerUpdateParams{InvoiceSettings: &stripe.CustomerUpdateInvoiceSettingsParams{
			DefaultPaymentMethod: stripe.String(pm)}}
		params.SetIdempotencyKey(idemKey)
		_, err = s.stripe.V1Customers.Update(ctx, customer, params)
	}
	if err != nil {
		var se *stripe.Error
		if !errors.As(err, &se) || se.HTTPStatusCode < 400 || se.HTTPStatusCode >= 500 || se.HTTPStatusCode == 429 {
			return fmt.Errorf("save payment method of %s: %w", customer, err) // retried
		}
		// Refused for good (the card is not the customer's, the payment
		// is gone): retrying cannot help.
		meta["reason"] = se.Msg
		entry.Action, entry.Status = "billing.payment_method_not_saved", audit.Failure
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		return audit.Record(ctx, tx, systemFor(ws), auditFor(ws, entry))
	})
}
