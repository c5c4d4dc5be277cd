package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// Impersonator names the admin acting in an impersonation session, so the
// dashboard can say whose session it is showing and offer to end it.
type Impersonator struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

// MeView is the answer to GET /me: the account, the address an email change
// waits on and who impersonates it, both null when there is none.
type MeView struct {
	User
	PendingEmail *string       `json:"pendingEmail"`
	Impersonator *Impersonator `json:"impersonator"`
}

// MeView returns the actor's own account with its pending email and, in an
// impersonation session, the impersonating admin.
func (s *Service) MeView(ctx context.Context, a actor.Actor) (MeView, error) {
	u, err := s.Me(ctx, a)
	if err != nil {
		return MeView{}, err
	}
	out := MeView{User: u}
	pe, err := pendingEmail(ctx, s.db.Read(), a.UserID)
	if err != nil {
		return MeView{}, err
	}
	if pe != "" {
		out.PendingEmail = &pe
	}
	if a.ImpersonatorID != "" {
		var imp Impersonator
		err := s.db.Read().QueryRowContext(ctx, `SELECT id, name, email FROM users WHERE id = $1`, a.ImpersonatorID).
			Scan(&imp.ID, &imp.Name, &imp.Email)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return MeView{}, fmt.Errorf("load impersonator: %w", err)
		}
		if err == nil {
			out.Impersonator = &imp
		}
	}
	return out, nil
}

// EndImpersonation revokes the impersonation session the actor acts in.
// The admin's own session was never touched by it, so the client goes back
// to the credentials it held before impersonating.
func (s *Service) EndImpersonation(ctx context.Context, a actor.Actor) error {
	if a.ImpersonatorID == "" || a.SessionID == "" {
		return apperr.New(apperr.Validation, "this is not an impersonation session")
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoked_reason = 'impersonation_ended'
			WHERE id = $2 AND user_id = $3 AND impersonator_id = $4 AND revoked_at IS NULL`,
			db.Now(), a.SessionID, a.UserID, a.ImpersonatorID); err != nil {
			return fmt.Errorf("end impersonation: %w", err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "admin.impersonation_ended", Resource: "user", ResourceID: a.UserID,
			Metadata: map[string]any{"sessionId": a.SessionID}})
	})
}
