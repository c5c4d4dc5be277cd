// Package planaccount reads and changes the billing columns — plan and
// Stripe customer — that users (personal workspaces) and organizations
// both carry. The owning packages (auth, org) expose these operations on
// their own tables through a Table, so billing never writes either table
// itself and the SQL exists once.
package planaccount

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// Table is one owner table with plan, stripe_customer_id, updated_at and
// deleted_at columns.
type Table struct {
	// Name is the table, a constant of the owning package.
	Name string
	// Resource names the owner in audit rows ("user", "organization").
	Resource string
	// OrgOwned records plan changes with the organization id, else with
	// the user id.
	OrgOwned bool
}

// BillingAccount returns a live owner's plan and Stripe customer id.
func (t Table) BillingAccount(ctx context.Context, q db.Querier, id string) (actor.Plan, string, bool, error) {
	var plan actor.Plan
	var cust sql.NullString
	err := q.QueryRowContext(ctx, `SELECT plan, stripe_customer_id FROM `+t.Name+` WHERE id = $1 AND deleted_at IS NULL`, id).Scan(&plan, &cust)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("read billing account of %s: %w", t.Resource, err)
	}
	return plan, cust.String, true, nil
}

// AccountByStripeCustomer returns the live owner a Stripe customer belongs to.
func (t Table) AccountByStripeCustomer(ctx context.Context, q db.Querier, customerID string) (string, bool, error) {
	var id string
	err := q.QueryRowContext(ctx, `SELECT id FROM `+t.Name+` WHERE stripe_customer_id = $1 AND deleted_at IS NULL`, customerID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("find %s by customer: %w", t.Resource, err)
	}
	return id, true, nil
}

// SetStripeCustomerTx records the owner's Stripe customer unless one is
// recorded already, and returns the one that is.
func (t Table) SetStripeCustomerTx(ctx context.Context, tx *db.Tx, id, customerID string) (string, error) {
	if _, err := tx.ExecContext(ctx, `UPDATE `+t.Name+` SET stripe_customer_id = $1, updated_at = $2
		WHERE id = $3 AND stripe_customer_id IS NULL`, customerID, db.Now(), id); err != nil {
		return "", fmt.Errorf("set stripe customer: %w", err)
	}
	var cur sql.NullString
	if err := tx.QueryRowContext(ctx, `SELECT stripe_customer_id FROM `+t.Name+` WHERE id = $1`, id).Scan(&cur); err != nil {
		return "", fmt.Errorf("read stripe customer: %w", err)
	}
	return cur.String, nil
}

// SetPlanTx moves the owner to plan inside tx, audited with meta (billing
// puts the Stripe event id there). It returns the plan before; an
// unchanged plan writes nothing.
func (t Table) SetPlanTx(ctx context.Context, tx *db.Tx, a actor.Actor, id string, plan actor.Plan, meta map[string]any) (actor.Plan, error) {
	var cur actor.Plan
	if err := tx.QueryRowContext(ctx, `SELECT plan FROM `+t.Name+` WHERE id = $1`, id).Scan(&cur); err != nil {
		return "", fmt.Errorf("read plan: %w", err)
	}
	if cur == plan {
		return cur, nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE `+t.Name+` SET plan = $1, updated_at = $2 WHERE id = $3`, plan, db.Now(), id); err != nil {
		return "", fmt.Errorf("set plan: %w", err)
	}
	m := map[string]any{"from": cur, "to": plan}
	for k, v := range meta {
		m[k] = v
	}
	e := audit.Entry{Action: "billing.plan_changed", Resource: t.Resource, ResourceID: id, Metadata: m}
	if t.OrgOwned {
		e.OrganizationID = id
	} else {
		e.UserID = id
	}
	return cur, audit.Record(ctx, tx, a, e)
}
