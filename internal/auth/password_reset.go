package auth

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/mail"
)

const resetTTL = time.Hour

// ForgotPassword mails a reset link if the address belongs to a live
// account. It returns the same result, after the same kind of work (one
// lookup, one audited transaction, mail queued as a job), whether or
// not the account exists, so the answer reveals nothing.
func (s *Service) ForgotPassword(ctx context.Context, a actor.Actor, email string) error {
	email = normalizeEmail(email)
	if email == "" {
		return apperr.Invalid(apperr.FieldError{Field: "email", Message: "is required"})
	}
	u, found, err := liveUserByEmail(ctx, s.db.Read(), email)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		if !found || !u.IsActive {
			return audit.Record(ctx, tx, a, audit.Entry{Action: "auth.password_reset_requested", Resource: "user",
				Status: audit.Failure, Metadata: typedEmail(email, map[string]any{"reason": "no_live_account"})})
		}
		token, hash := newToken("")
		now := db.Now()
		// Only the newest link works.
		if _, err := tx.ExecContext(ctx, `UPDATE password_reset_tokens SET used_at = $1
			WHERE user_id = $2 AND used_at IS NULL`, now, u.ID); err != nil {
			return fmt.Errorf("retire reset tokens: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO password_reset_tokens (id, user_id, token_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`, ids.New(ids.Token), u.ID, hash, now, now.Add(resetTTL)); err != nil {
			return fmt.Errorf("store reset token: %w", err)
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: "auth.password_reset_requested", Resource: "user",
			ResourceID: u.ID, UserID: u.ID}); err != nil {
			return err
		}
		link := s.cfg.PublicURL + "/reset-password?token=" + url.QueryEscape(token)
		return s.mailTx(ctx, tx, mail.Message{To: u.Email, Subject: "Reset your Switchboard password",
			Text: fmt.Sprintf("Hello %s,\n\nsomeone asked to reset the password of your Switchboard account. "+
				"If it was you, open this link within one hour:\n\n%s\n\nOr send the token with a new password "+
				"to POST /api/v1/auth/password/reset:\n\n%s\n\nIf it was not you, ignore this mail; your password is unchanged.\n",
				displayName(u), link, token)})
	})
}

// ResetPassword sets a new password with a reset token. The token works
// once and within an hour; every session and every API key of the account
// is revoked (whoever forgot or stole the password may have made keys),
// pending email changes are cancelled, and the owner is told by mail with
// the passkeys that can still sign in (recovery.go). The link proves the
// address, so an unverified one becomes verified, and second factors set
// up before anyone had proven it are removed.
func (s *Service) ResetPassword(ctx context.Context, a actor.Actor, token, password string) error {
	if token == "" {
		return apperr.Invalid(apperr.FieldError{Field: "token", Message: "is required"})
	}
	if err := checkPassword("password", password); err != nil {
		return err
	}
	hash, err := hashPassword(password, s.cfg.Hash)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		var userID string
		if err := tx.QueryRowContext(ctx, `UPDATE password_reset_tokens SET used_at = $1
			WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id`,
			now, hashToken(token)).Scan(&userID); err != nil {
			return apperr.Invalid(apperr.FieldError{Field: "token", Message: "is invalid, expired or already used"})
		}
		u, err := userByID(ctx, tx, userID)
		if err != nil {
			return err
		}
		if u.DeletedAt != nil {
			return apperr.Invalid(apperr.FieldError{Field: "token", Message: "is invalid, expired or already used"})
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, last_password_change = $2,
			failed_login_count = 0, locked_until = NULL, email_verified_at = COALESCE(email_verified_at, $2), updated_at = $2
			WHERE id = $3`, hash, now, userID); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		if err := cancelEmailChanges(ctx, tx, userID, now); err != nil {
			return err
		}
		// An address never verified until this link: every factor goes
		// (recovery.go).
		var totpSince *time.Time
		unverified := u.EmailVerifiedAt == nil
		if unverified {
			totpSince = &time.Time{}
		}
		removed, err := removeRecoveredFactors(ctx, tx, userID, unverified, totpSince)
		if err != nil {
			return err
		}
		passkeys, err := passkeyList(ctx, tx, userID)
		if err != nil {
			return err
		}
		if passkeys != "" {
			passkeys = "\n\nThese passkeys can still sign in to your account. If one is not yours, remove it on your account page:\n\n" + passkeys
		}
		n, err := revokeSessions(ctx, tx, userID, "", "password_reset")
		if err != nil {
			return err
		}
		keys, err := revokeAPIKeys(ctx, tx, userID)
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: "auth.password_reset", Resource: "user",
			ResourceID: userID, UserID: userID, Metadata: map[string]any{"sessionsRevoked": n, "apiKeysRevoked": keyIDs(keys),
				"factorsRemoved": removed}}); err != nil {
			return err
		}
		return s.mailTx(ctx, tx, mail.Message{To: u.Email, Subject: "Your Switchboard password was changed",
			Text: fmt.Sprintf("Hello %s,\n\nthe password of your Switchboard account was just reset with a link mailed here. "+
				"Every session was signed out and %d API keys were revoked.%s%s\n\nIf this was not you, reset your password at once:\n\n%s/forgot-password\n",
				displayName(u), len(keys), removedFactorsText(removed), passkeys, s.cfg.PublicURL)})
	})
}

func (s *Service) sendPasswordChangedNotice(ctx context.Context, tx *db.Tx, u User) error {
	return s.mailTx(ctx, tx, mail.Message{To: u.Email, Subject: "Your Switchboard password was changed",
		Text: fmt.Sprintf("Hello %s,\n\nthe password of your Switchboard account was just changed and other "+
			"sessions were signed out. If this was not you, reset your password at once:\n\n%s/forgot-password\n",
			displayName(u), s.cfg.PublicURL)})
}
