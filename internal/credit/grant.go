package credit

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// GrantInput is an admin's credit to a workspace.
type GrantInput struct {
	// Amount in millicredits, positive.
	Amount int64 `json:"amount"`
	// Type is grant, bonus or refund.
	Type   Type   `json:"type"`
	Reason string `json:"reason"`
	// TransactionID, for a refund, names the usage row it gives back (at
	// most its amount across all refunds of it). Without it a refund is a
	// plain credit.
	TransactionID string `json:"transactionId,omitempty"`
	// IdempotencyKey makes a retried grant harmless.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// Grant credits a workspace by hand (credits:grant: ADMIN, SUPER_ADMIN).
func (s *Service) Grant(ctx context.Context, a actor.Actor, workspaceID string, in GrantInput) (Result, error) {
	if !a.Can(actor.PermCreditsGrant) {
		return Result{}, apperr.New(apperr.Forbidden, "you lack %s", actor.PermCreditsGrant)
	}
	if err := a.RequireReauth("grant credits"); err != nil {
		return Result{}, err
	}
	if in.Type != Grant && in.Type != Bonus && in.Type != Refund {
		return Result{}, apperr.Invalid(apperr.FieldError{Field: "type", Message: "must be grant, bonus or refund"})
	}
	if err := checkAmount("amount", in.Amount); err != nil {
		return Result{}, err
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" {
		return Result{}, apperr.Invalid(apperr.FieldError{Field: "reason", Message: "is required"})
	}
	if in.TransactionID != "" && in.Type != Refund {
		return Result{}, apperr.Invalid(apperr.FieldError{Field: "transactionId", Message: "only a refund names a transaction"})
	}
	if !ids.Valid(ids.User, workspaceID) && !ids.Valid(ids.Organization, workspaceID) {
		return Result{}, apperr.New(apperr.NotFound, "workspace not found")
	}
	var out Result
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		if s.workspaces == nil {
			return errors.New("credit: no workspace directory configured")
		}
		ok, err := s.workspaces.WorkspaceExists(ctx, tx, workspaceID)
		if err != nil {
			return err
		}
		if !ok {
			return apperr.New(apperr.NotFound, "workspace not found")
		}
		c := Change{Type: in.Type, Amount: in.Amount, Key: in.IdempotencyKey, Description: reason,
			Metadata: map[string]any{"reason": reason, "grantedBy": a.UserID}, AuditAction: "credits.admin_" + string(in.Type)}
		if in.TransactionID != "" {
			out, err = s.reverseUsageTx(ctx, tx, a, workspaceID, in.TransactionID, c)
			return err
		}
		out, err = s.creditTx(ctx, tx, a, workspaceID, c)
		return err
	})
	return out, err
}

// reverseUsageTx gives back (part of) a usage row as a new refund row that
// names it; refunds of one row never add up to more than it took.
func (s *Service) reverseUsageTx(ctx context.Context, tx *db.Tx, a actor.Actor, ws, txID string, c Change) (Result, error) {
	if err := db.LockWorkspace(ctx, tx, ws); err != nil {
		return Result{}, err
	}
	orig, err := s.transactionByID(ctx, tx, ws, txID)
	if err != nil {
		return Result{}, err
	}
	if orig.Type != Usage {
		return Result{}, apperr.Invalid(apperr.FieldError{Field: "transactionId", Message: "only a usage row can be refunded this way"})
	}
	if c.Key != "" {
		if prev, found, err := byKey(ctx, tx, ws, c.Key); err != nil {
			return Result{}, err
		} else if found {
			return replay(prev, Refund, c.Amount)
		}
	}
	var refunded int64
	if err := db.Scope(tx, ws).QueryRowContext(ctx, `SELECT COALESCE(SUM(amount), 0) FROM credit_transactions
		WHERE workspace_id = $1 AND reverses_id = $2 AND type = 'refund'`, txID).Scan(&refunded); err != nil {
		return Result{}, fmt.Errorf("sum refunds: %w", err)
	}
	if left := -orig.Amount - refunded; c.Amount > left {
		return Result{}, apperr.Invalid(apperr.FieldError{Field: "amount", Message: fmt.Sprintf("at most %d millicredits of this transaction are left to refund", left)})
	}
	c.Type, c.ReversesID = Refund, txID
	return s.creditTx(ctx, tx, a, ws, c)
}

// ReversePurchaseTx takes back up to amount of a purchase that was refunded
// to the payer, as a refund row naming the purchase. The balance never goes
// below what open reservations hold; what cannot be taken back is returned
// as shortfall (and recorded in the row's metadata). A reused key answers
// with the first result.
func (s *Service) ReversePurchaseTx(ctx context.Context, tx *db.Tx, a actor.Actor, ws, purchaseID string, amount int64, key string, meta map[string]any) (Result, int64, error) {
	if err := checkAmount("amount", amount); err != nil {
		return Result{}, 0, err
	}
	if prev, found, err := byKey(ctx, tx, ws, key); err != nil {
		return Result{}, 0, err
	} else if found {
		return Result{Transaction: prev, Replayed: true}, 0, nil
	}
	if _, err := s.transactionByID(ctx, tx, ws, purchaseID); err != nil {
		return Result{}, 0, err
	}
	// Lock the balance row first so what is available cannot shrink
	// between reading it and taking it.
	if _, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE credit_balances SET updated_at = updated_at WHERE workspace_id = $1`); err != nil {
		return Result{}, 0, fmt.Errorf("lock balance: %w", err)
	}
	b, err := s.balanceOf(ctx, tx, ws)
	if err != nil {
		return Result{}, 0, err
	}
	take, shortfall := amount, int64(0)
	if b.Available < take {
		take, shortfall = b.Available, amount-b.Available
	}
	if meta == nil {
		meta = map[string]any{}
	}
	meta["requested"] = amount
	if shortfall > 0 {
		meta["shortfall"] = shortfall
	}
	if take == 0 {
		return Result{}, shortfall, nil
	}
	r, err := s.debitTx(ctx, tx, a, ws, Change{Type: Refund, Amount: take, Key: key, Description: "refund of a purchase",
		Metadata: meta, ReversesID: purchaseID, AuditAction: "credits.purchase_refunded"})
	if apperr.Is(err, apperr.InsufficientCredits) {
		// A concurrent deduction won the race; the caller may retry.
		return Result{}, 0, fmt.Errorf("reverse purchase: balance changed: %w", err)
	}
	return r, shortfall, err
}
