package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// The methods below let billing read and change a personal workspace's plan
// and Stripe customer without touching the users table itself.

// BillingAccount returns a live user's plan and Stripe customer id.
func (s *Service) BillingAccount(ctx context.Context, q db.Querier, userID string) (actor.Plan, string, bool, error) {
	var plan actor.Plan
	var cust sql.NullString
	err := q.QueryRowContext(ctx, `SELECT plan, stripe_customer_id FROM users WHERE id = $1 AND deleted_at IS NULL`, userID).Scan(&plan, &cust)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("read billing account: %w", err)
	}
	return plan, cust.String, true, nil
}

// AccountByStripeCustomer returns the live user a Stripe customer belongs to.
func (s *Service) AccountByStripeCustomer(ctx context.Context, q db.Querier, customerID string) (string, bool, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM users WHERE stripe_customer_id = $1 AND deleted_at IS NULL`, customerID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find user by customer: %w", err)
	}
	return id, true, nil
}

// SetStripeCustomerTx records the user's Stripe customer unless one is
// recorded already, and returns the one that is.
func (s *Service) SetStripeCustomerTx(ctx context.Context, tx *db.Tx, userID, customerID string) (string, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE users SET stripe_customer_id = $1, updated_at = $2
		WHERE id = $3 AND stripe_customer_id IS NULL`, customerID, db.Now(), userID); err != nil {
		return "", fmt.Errorf("set stripe customer: %w", err)
	}
	var cur sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT stripe_customer_id FROM users WHERE id = $1`, userID).Scan(&cur); err != nil {
		return "", fmt.Errorf("read stripe customer: %w", err)
	}
	return cur.String, nil
}

// SetPlanTx moves a user's personal workspace to plan inside tx, audited
// with meta (billing puts the Stripe event id there). It returns the plan
// before; an unchanged plan writes nothing.
func (s *Service) SetPlanTx(ctx context.Context, tx *db.Tx, a actor.Actor, userID string, plan actor.Plan, meta map[string]any) (actor.Plan, error) {
	var cur actor.Plan
	if err := tx.QueryRowContext(ctx, `SELECT plan FROM users WHERE id = $1`, userID).Scan(&cur); err != nil {
		return "", fmt.Errorf("read plan: %w", err)
	}
	if cur == plan {
		return cur, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE users SET plan = $1, updated_at = $2 WHERE id = $3`, plan, db.Now(), userID); err != nil {
		return "", fmt.Errorf("set plan: %w", err)
	}
	m := map[string]any{"from": cur, "to": plan}
	for k, v := range meta {
		m[k] = v
	}
	return cur, audit.Record(ctx, tx, a, audit.Entry{Action: "billing.plan_changed", Resource: "user", ResourceID: userID, UserID: userID, Metadata: m})
}
