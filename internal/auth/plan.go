package auth

import (
	"context"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/planaccount"
)

// billingColumns lets billing read and change the plan and Stripe customer
// of a user's personal workspace without touching the table itself.
var billingColumns = planaccount.Table{Name: "users", Resource: "user"}

// BillingAccount returns the plan and Stripe customer id of a live owner.
func (s *Service) BillingAccount(ctx context.Context, q db.Querier, userID string) (actor.Plan, string, bool, error) {
	return billingColumns.BillingAccount(ctx, q, userID)
}

// AccountByStripeCustomer returns the live owner a Stripe customer belongs to.
func (s *Service) AccountByStripeCustomer(ctx context.Context, q db.Querier, customerID string) (string, bool, error) {
	return billingColumns.AccountByStripeCustomer(ctx, q, customerID)
}

// SetStripeCustomerTx records the Stripe customer unless one is recorded.
func (s *Service) SetStripeCustomerTx(ctx context.Context, tx *db.Tx, userID, customerID string) (string, error) {
	return billingColumns.SetStripeCustomerTx(ctx, tx, userID, customerID)
}

// SetPlanTx changes the plan inside tx, audited; it returns the plan before.
func (s *Service) SetPlanTx(ctx context.Context, tx *db.Tx, a actor.Actor, userID string, plan actor.Plan, meta map[string]any) (actor.Plan, error) {
	return billingColumns.SetPlanTx(ctx, tx, a, userID, plan, meta)
}
