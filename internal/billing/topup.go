package billing

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/riverqueue/river"
	"github.com/stripe/stripe-go/v82"

	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
)

// topUpArgs is one auto top-up: the deduction that crossed the threshold
// names it, so a retried job charges and credits at most once.
type topUpArgs struct {
	WorkspaceID string `json:"workspaceId"`
	CrossingID  string `json:"crossingId"`
	Amount      int64  `json:"amount"`
}

func (topUpArgs) Kind() string { return "billing.auto_topup" }

type topUpWorker struct {
	river.WorkerDefaults[topUpArgs]
	s *Service
}

func (w *topUpWorker) Work(ctx context.Context, job *river.Job[topUpArgs]) error {
	return w.s.TopUp(ctx, job.Args.WorkspaceID, job.Args.CrossingID, job.Args.Amount)
}

// RegisterJobs adds billing's workers (auto top-up, saving a checkout's
// payment method) to the runner.
func (s *Service) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &topUpWorker{s: s})
	river.AddWorker(r.Workers(), &savePaymentMethodWorker{s: s})
}

// enqueueTopUp is the credits' threshold hook: it queues the charge in the
// deduction's own transaction.
func (s *Service) enqueueTopUp(ctx context.Context, tx *db.Tx, ws, txID string, set credit.Settings) error {
	if s.runner == nil || s.runner.Client == nil {
		return errors.New("auto top-up: no job runner")
	}
	_, err := s.runner.InsertTx(ctx, tx, topUpArgs{WorkspaceID: ws, CrossingID: txID, Amount: set.AutoTopUp.Amount},
		&river.InsertOpts{Queue: jobs.QueueDefault, MaxAttempts: 5})
	return err
}

// TopUp charges the workspace's saved payment method off-session for one
// threshold crossing and credits the pack when the charge succeeds. The
// Stripe idempotency key and the ledger key both derive from the crossing,
// so retries never charge or credit twice. A refusal (no card, card
// declined) is audited and not retried: the next crossing tries again.
func (s *Service) TopUp(ctx context.Context, ws, crossingID string, amount int64) error {
	if s.stripe == nil {
		return nil
	}
	fail := func(reason string, meta map[string]any) error {
		if meta == nil {
			meta = map[string]any{}
		}
		meta["reason"], meta["crossingTransactionId"] = reason, crossingID
		return s.db.Tx(ctx, func(tx *db.Tx) error {
			return audit.Record(ctx, tx, systemFor(ws), auditFor(ws, audit.Entry{Action: "billing.auto_topup_failed", Resource: "workspace",
				ResourceID: ws, Status: audit.Failure, Metadata: meta}))
		})
	}
	pack, ok := packByCredits(amount)
	if !ok {
		return fail("the amount is no longer a credit pack", map[string]any{"amount": amount})
	}
	st := s.accounts.store(ws)
	if st == nil {
		return nil
	}
	_, cust, found, err := st.BillingAccount(ctx, s.db.Read(), ws)
	if err != nil {
		return err
	}
	if !found || cust == "" {
		return fail("no Stripe customer", nil)
	}
	c, err := s.stripe.V1Customers.Retrieve(ctx, cust, nil)
	if err != nil {
		return fmt.Errorf("auto top-up: read customer: %w", err)
	}
	if c.InvoiceSettings == nil || c.InvoiceSettings.DefaultPaymentMethod == nil || c.InvoiceSettings.DefaultPaymentMethod.ID == "" {
		return fail("no saved payment method", nil)
	}
	params := &stripe.PaymentIntentCreateParams{
		Amount: stripe.Int64(pack.PriceCents), Currency: stripe.String(pack.Currency), Customer: stripe.String(cust),
		PaymentMethod: stripe.String(c.InvoiceSettings.DefaultPaymentMethod.ID), OffSession: stripe.Bool(true), Confirm: stripe.Bool(true),
		Metadata: map[string]string{"workspace_id": ws, "kind": "auto_topup", "crossing": crossingID, "credits": strconv.FormatInt(pack.Credits, 10), "package": pack.ID},
	}
	params.SetIdempotencyKey("topup-" + crossingID)
	pi, err := s.stripe.V1PaymentIntents.Create(ctx, params)
	if err != nil {
		var se *stripe.Error
		if errors.As(err, &se) && se.HTTPStatusCode >= 400 && se.HTTPStatusCode < 500 {
			return fail("charge refused: "+string(se.Code), map[string]any{"declineCode": string(se.DeclineCode)})
		}
		return fmt.Errorf("auto top-up: charge: %w", err)
	}
	if pi.Status != stripe.PaymentIntentStatusSucceeded {
		// payment_intent.succeeded credits it if it completes later.
		return s.db.Tx(ctx, func(tx *db.Tx) error {
			return audit.Record(ctx, tx, systemFor(ws), auditFor(ws, audit.Entry{Action: "billing.auto_topup_pending", Resource: "payment_intent",
				ResourceID: pi.ID, Metadata: map[string]any{"status": pi.Status, "crossingTransactionId": crossingID}}))
		})
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := s.creditTopUp(ctx, tx, ws, pi, "")
		return err
	})
}
