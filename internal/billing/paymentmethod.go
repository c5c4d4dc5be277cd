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
// named, and auto top-up names the customer's default.
type savePaymentMethodArgs struct {
	WorkspaceID   string `json:"workspaceId"`
	CustomerID    string `json:"customerId"`
	PaymentIntent string `json:"paymentIntentId"`
}

func (savePaymentMethodArgs) Kind() string { return "billing.save_payment_method" }

type savePaymentMethodWorker struct {
	river.WorkerDefaults[savePaymentMethodArgs]
	s *Service
}

func (w *savePaymentMethodWorker) Work(ctx context.Context, job *river.Job[savePaymentMethodArgs]) error {
	a := job.Args
	return w.s.SavePaymentMethod(ctx, a.WorkspaceID, a.CustomerID, a.PaymentIntent)
}

// enqueueSavePaymentMethod queues SavePaymentMethod in the transaction that
// credits the checkout, so it happens once the purchase is recorded and is
// retried until Stripe answers.
func (s *Service) enqueueSavePaymentMethod(ctx context.Context, tx *db.Tx, ws, customer, paymentIntent string) error {
	if s.runner == nil || s.runner.Client == nil {
		return errors.New("save payment method: no job runner")
	}
	_, err := s.runner.InsertTx(ctx, tx, savePaymentMethodArgs{WorkspaceID: ws, CustomerID: customer, PaymentIntent: paymentIntent},
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
	entry := audit.Entry{Action: "billing.payment_method_saved", Resource: "workspace", ResourceID: ws, Metadata: meta}
	pi, err := s.stripe.V1PaymentIntents.Retrieve(ctx, paymentIntent, nil)
	if err == nil && (pi.PaymentMethod == nil || pi.PaymentMethod.ID == "") {
		return nil // nothing reusable paid it
	}
	if err == nil {
		meta["paymentMethodId"] = pi.PaymentMethod.ID
		params := &stripe.CustomerUpdateParams{InvoiceSettings: &stripe.CustomerUpdateInvoiceSettingsParams{
			DefaultPaymentMethod: stripe.String(pi.PaymentMethod.ID)}}
		params.SetIdempotencyKey("default-pm-" + paymentIntent)
		_, err = s.stripe.V1Customers.Update(ctx, customer, params)
	}
	if err != nil {
		var se *stripe.Error
		if !errors.As(err, &se) || se.HTTPStatusCode < 400 || se.HTTPStatusCode >= 500 || se.HTTPStatusCode == 429 {
			return fmt.Errorf("save payment method of %s: %w", paymentIntent, err) // retried
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
