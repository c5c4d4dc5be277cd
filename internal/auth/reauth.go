package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// ReauthInput proves the account holder is at the keyboard: exactly one of
// the password, a TOTP code, a recovery code and a passkey assertion (from
// a ceremony begun with POST /api/v1/auth/reauth/passkey/begin).
type ReauthInput struct {
	Password string `json:"password,omitempty"`
	FactorProof
}

// Reauthenticated says until when the session may take sensitive actions.
type Reauthenticated struct {
	ReauthenticatedUntil time.Time `json:"reauthenticatedUntil"`
}

// canReauth refuses what cannot re-authenticate: an API key and an
// impersonation session.
func canReauth(a actor.Actor) error {
	if a.SessionID == "" {
		return apperr.New(apperr.Forbidden, "an API key cannot re-authenticate: sensitive actions need the account holder, signed in")
	}
	if a.ImpersonatorID != "" {
		return apperr.New(apperr.Forbidden, "an impersonation session cannot re-authenticate")
	}
	return nil
}

// BeginReauthPasskey starts the passkey ceremony that re-authenticates the
// actor's session: the request options allow only the account's passkeys.
// Finish with Reauth and the browser's answer.
func (s *Service) BeginReauthPasskey(ctx context.Context, a actor.Actor, requestOrigin string) (PasskeyOptions, error) {
	if err := canReauth(a); err != nil {
		return PasskeyOptions{}, err
	}
	if err := s.PasskeysEnabled(); err != nil {
		return PasskeyOptions{}, err
	}
	return s.BeginPasskeyAssertion(ctx, requestOrigin, a.UserID)
}

// Reauth marks the actor's session re-authenticated for
// actor.ReauthWindow. The mark is on the session row, so every node sees
// it. Every try takes one of the account's sign-in tries, as a login does.
// API keys and impersonation sessions cannot re-authenticate.
func (s *Service) Reauth(ctx context.Context, a actor.Actor, in ReauthInput) (Reauthenticated, error) {
	if err := canReauth(a); err != nil {
		return Reauthenticated{}, err
	}
	hasPassword := in.Password != ""
	hasFactor := in.given() > 0
	switch {
	case in.given() > 1 || (hasPassword && hasFactor):
		return Reauthenticated{}, apperr.Invalid(apperr.FieldError{Field: "password", Message: "send one of password, code, recoveryCode and passkey"})
	case !hasPassword && !hasFactor:
		return Reauthenticated{}, apperr.Invalid(apperr.FieldError{Field: "password", Message: "is required (or code, recoveryCode or passkey)"})
	}
	var until time.Time
	mark := func(tx *db.Tx, now time.Time, how map[string]any) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET reauth_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`,
			now, a.SessionID, a.UserID)
		if err != nil {
			return fmt.Errorf("mark session re-authenticated: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.Unauthorized, "session has ended; sign in again")
		}
		until = now.Add(actor.ReauthWindow)
		return audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.reauth", Resource: "session", ResourceID: a.SessionID,
			Metadata: how})
	}
	if hasPassword {
		if _, err := s.checkCurrentPassword(ctx, a, in.Password, "auth.reauth"); err != nil {
			if apperr.Is(err, apperr.Validation) {
				return Reauthenticated{}, apperr.Invalid(apperr.FieldError{Field: "password", Message: "is wrong"})
			}
			return Reauthenticated{}, err
		}
		err := s.db.Tx(ctx, func(tx *db.Tx) error { return mark(tx, db.Now(), map[string]any{"method": "password"}) })
		return Reauthenticated{ReauthenticatedUntil: until}, err
	}
	u, err := userByID(ctx, s.db.Read(), a.UserID)
	if err != nil {
		return Reauthenticated{}, err
	}
	err = s.checkSecondFactor(ctx, a, u, in.FactorProof, "auth.reauth", mark)
	var refused factorRefused
	if errors.As(err, &refused) {
		return Reauthenticated{}, apperr.Invalid(apperr.FieldError{Field: "passkey", Message: refusalMessage(refused.why)})
	}
	if errors.Is(err, errFactorRejected) {
		field := "code"
		if in.method() == "recovery_code" {
			field = "recoveryCode"
		}
		return Reauthenticated{}, apperr.Invalid(apperr.FieldError{Field: field, Message: "is wrong, expired or already used"})
	}
	if err != nil {
		return Reauthenticated{}, err
	}
	return Reauthenticated{ReauthenticatedUntil: until}, nil
}

// refusalMessage says why a passkey was refused, as a field message.
func refusalMessage(err error) string {
	var ae *apperr.Error
	if errors.As(err, &ae) {
		return "was not accepted: " + strings.TrimPrefix(ae.Message, "the passkey was not accepted: ")
	}
	return "was not accepted"
}

// ResetFactorsInput is an admin's reset of an account's second factors.
type ResetFactorsInput struct {
	// Reason is required and audited (a support ticket, say).
	Reason string `json:"reason"`
}

// ResetFactors removes every second factor of an account (its TOTP,
// recovery codes and passkeys) for a user who lost them (users:manage),
// audited with the reason; the user is told by mail. Open sign-in
// challenges and passkey ceremonies end too.
func (s *Service) ResetFactors(ctx context.Context, a actor.Actor, id string, in ResetFactorsInput) (User, error) {
	if err := requirePerm(a, actor.PermUsersManage); err != nil {
		return User{}, err
	}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" {
		return User{}, apperr.Invalid(apperr.FieldError{Field: "reason", Message: "is required"})
	}
	if len(reason) > 500 {
		return User{}, apperr.Invalid(apperr.FieldError{Field: "reason", Message: "must be at most 500 characters"})
	}
	if err := a.RequireReauth("reset an account's second factors"); err != nil {
		return User{}, err
	}
	var u User
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		cur, err := userByID(ctx, tx, id)
		if err != nil {
			return err
		}
		if err := canManage(a, cur); err != nil {
			return err
		}
		before, err := secondFactors(ctx, tx, id)
		if err != nil {
			return err
		}
		methods := []string{}
		if before.TOTP {
			methods = append(methods, "totp")
		}
		if before.Passkeys > 0 {
			methods = append(methods, "passkey")
		}
		if len(methods) == 0 {
			return apperr.New(apperr.Conflict, "the account has no second factor to reset")
		}
		for _, q := range []string{`DELETE FROM totp_factors WHERE id = $1`, `DELETE FROM recovery_codes WHERE user_id = $1`,
			`DELETE FROM passkeys WHERE user_id = $1`, `DELETE FROM webauthn_ceremonies WHERE user_id = $1`,
			`DELETE FROM mfa_challenges WHERE user_id = $1`} {
			if _, err := tx.ExecContext(ctx, q, id); err != nil {
				return fmt.Errorf("reset factors of %s: %w", id, err)
			}
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: "admin.user_factors_reset", Resource: "user", ResourceID: id,
			Metadata: map[string]any{"reason": reason, "methods": methods, "recoveryCodesRemoved": before.RecoveryCodesLeft,
				"passkeysRemoved": before.Passkeys}}); err != nil {
			return err
		}
		if err := s.factorNotice(ctx, tx, id, "The second factor of your Switchboard account was reset",
			"an administrator removed the second factors (authenticator app, recovery codes and passkeys) of your Switchboard account, "+
				"as you or someone on your behalf asked. Sign in with your password and set up a new one."); err != nil {
			return err
		}
		u = cur
		return nil
	})
	return u, err
}
