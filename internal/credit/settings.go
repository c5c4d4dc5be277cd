package credit

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// Settings are a workspace's credit preferences, stored as JSON with its
// balance.
type Settings struct {
	AutoTopUp AutoTopUp `json:"autoTopUp"`
	// OverageEnabled lets usage beyond the plan's limits be charged from
	// credits instead of refused.
	OverageEnabled bool `json:"overageEnabled"`
}

// AutoTopUp buys Amount millicredits with the saved payment method when a
// deduction takes the balance below Threshold.
type AutoTopUp struct {
	Enabled   bool  `json:"enabled"`
	Threshold int64 `json:"threshold"`
	Amount    int64 `json:"amount"`
}

// DefaultSettings are those of a workspace that never chose.
func DefaultSettings() Settings { return Settings{} }

func parseSettings(raw string) Settings {
	s := DefaultSettings()
	if raw == "" {
		return s
	}
	// A row written by this package always parses; anything else reads as
	// the defaults rather than failing every deduction.
	_ = json.Unmarshal([]byte(raw), &s)
	return s
}

// SettingsInput changes a workspace's settings; nil fields stay as they are.
type SettingsInput struct {
	AutoTopUp *AutoTopUpInput `json:"autoTopUp,omitempty"`
	// OverageEnabled turns charging overage from credits on or off.
	OverageEnabled *bool `json:"overageEnabled,omitempty"`
}

// AutoTopUpInput changes auto top-up; nil fields stay as they are.
type AutoTopUpInput struct {
	Enabled *bool `json:"enabled,omitempty"`
	// Threshold in millicredits: a deduction that takes the balance below it
	// triggers one top-up.
	Threshold *int64 `json:"threshold,omitempty"`
	// Amount in millicredits to buy; it must be one of TopUpAmounts.
	Amount *int64 `json:"amount,omitempty"`
}

// UpdateSettings changes the actor's workspace settings. In an organization
// only its ORG_OWNER may (credits:manage); in a personal workspace, its owner.
// topUpAmounts lists the purchasable amounts (the credit packs); an enabled
// auto top-up must buy one of them.
func (s *Service) UpdateSettings(ctx context.Context, a actor.Actor, in SettingsInput, topUpAmounts []int64) (Balance, error) {
	if !a.Can(actor.PermCreditsManage) {
		return Balance{}, apperr.New(apperr.Forbidden, "you lack %s; only the organization's owner manages its credits", actor.PermCreditsManage)
	}
	if in.AutoTopUp == nil && in.OverageEnabled == nil {
		return Balance{}, apperr.New(apperr.Validation, "nothing to update: send autoTopUp or overageEnabled")
	}
	ws := a.WorkspaceID()
	var out Balance
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		cur, err := s.balanceOf(ctx, tx, ws)
		if err != nil {
			return err
		}
		next := cur.Settings
		if in.OverageEnabled != nil {
			next.OverageEnabled = *in.OverageEnabled
		}
		if t := in.AutoTopUp; t != nil {
			if t.Enabled != nil {
				next.AutoTopUp.Enabled = *t.Enabled
			}
			if t.Threshold != nil {
				next.AutoTopUp.Threshold = *t.Threshold
			}
			if t.Amount != nil {
				next.AutoTopUp.Amount = *t.Amount
			}
		}
		if err := validateSettings(next, topUpAmounts); err != nil {
			return err
		}
		raw, err := json.Marshal(next)
		if err != nil {
			return fmt.Errorf("encode settings: %w", err)
		}
		now := db.Now()
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO credit_balances (workspace_id, settings, created_at, updated_at)
			VALUES ($1, $2, $3, $3) ON CONFLICT (workspace_id) DO UPDATE SET settings = excluded.settings, updated_at = excluded.updated_at
			WHERE credit_balances.workspace_id = $1`, string(raw), now); err != nil {
			return fmt.Errorf("save settings: %w", err)
		}
		if out, err = s.balanceOf(ctx, tx, ws); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "credits.settings_changed", Resource: "credit_balance", ResourceID: ws,
			Metadata: audit.WithDiff(map[string]any{"from": cur.Settings, "to": next}, cur.Settings, next)})
	})
	return out, err
}

func validateSettings(s Settings, amounts []int64) error {
	t := s.AutoTopUp
	if t.Threshold < 0 || t.Threshold > MaxAmount {
		return apperr.Invalid(apperr.FieldError{Field: "autoTopUp.threshold", Message: fmt.Sprintf("must be from 0 to %d millicredits", MaxAmount)})
	}
	// The amount is checked whether or not auto top-up is on: a disabled
	// setting is kept, and switching it on later must not find nonsense
	// stored. 0 means none chosen yet.
	if t.Amount != 0 && !slices.Contains(amounts, t.Amount) {
		return apperr.Invalid(apperr.FieldError{Field: "autoTopUp.amount", Message: fmt.Sprintf("must be one of the credit packs' amounts %v (millicredits), or 0 for none", amounts)})
	}
	if !t.Enabled {
		return nil
	}
	if t.Threshold <= 0 {
		return apperr.Invalid(apperr.FieldError{Field: "autoTopUp.threshold", Message: "must be positive to enable auto top-up"})
	}
	if !slices.Contains(amounts, t.Amount) {
		return apperr.Invalid(apperr.FieldError{Field: "autoTopUp.amount", Message: fmt.Sprintf("must be one of the credit packs' amounts %v (millicredits)", amounts)})
	}
	return nil
}
