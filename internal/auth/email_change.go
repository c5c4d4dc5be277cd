package auth

import (
	"context"
	"database/sql"
	"errors"
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

// An email change is the one way to move an account to another mailbox,
// which is also where password resets go; so it is guarded at both ends:
//
//   - the request needs the current password, from the account holder
//     signed in (not an API key, not an impersonator);
//   - the new address must open a mailed link within confirmTTL; until it
//     does, sign-in and password reset stay with the old address;
//   - the old address is told, at the request and again when the change
//     takes effect, with a link valid for revertTTL that restores it. The
//     revert sets a new password in the same step (whoever changed the
//     email knew the old one), signs out every session, revokes every API
//     key and retires outstanding reset links. While a confirmed change can
//     still be reverted, no other account may take the old address.
const (
	confirmTTL = 24 * time.Hour
	revertTTL  = 7 * 24 * time.Hour
)

var errBadChangeToken = apperr.Invalid(apperr.FieldError{Field: "token", Message: "is invalid, expired or already used"})

// emailReserved reports whether email is the old address of a recent
// change by another account that its owner may still revert.
func emailReserved(ctx context.Context, q db.Querier, email, exceptUserID string) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx, `SELECT count(*) FROM email_changes WHERE lower(old_email) = $1 AND user_id <> $2
		AND confirmed_at > $3 AND reverted_at IS NULL`, normalizeEmail(email), exceptUserID, db.Now().Add(-revertTTL)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check reserved email: %w", err)
	}
	return n > 0, nil
}

// emailTaken reports whether a live account other than userID uses email,
// or it is reserved for a possible revert.
func emailTaken(ctx context.Context, q db.Querier, email, userID string) (bool, error) {
	var n int
	if err := q.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE lower(email) = $1 AND deleted_at IS NULL AND id <> $2`,
		normalizeEmail(email), userID).Scan(&n); err != nil {
		return false, fmt.Errorf("check email in use: %w", err)
	}
	if n > 0 {
		return true, nil
	}
	return emailReserved(ctx, q, email, userID)
}

// newChangeToken stores a token of one purpose for an email change.
func newChangeToken(ctx context.Context, tx *db.Tx, changeID, purpose string, ttl time.Duration) (string, error) {
	token, hash := newToken("")
	now := db.Now()
	if _, err := tx.ExecContext(ctx, `INSERT INTO email_change_tokens (token_hash, change_id, purpose, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, hash, changeID, purpose, now, now.Add(ttl)); err != nil {
		return "", fmt.Errorf("store %s token: %w", purpose, err)
	}
	return token, nil
}

// requestEmailChange records a pending change of u's address to email and
// mails both addresses. The caller has checked the password and the actor.
func (s *Service) requestEmailChange(ctx context.Context, tx *db.Tx, a actor.Actor, u User, email string) error {
	taken, err := emailTaken(ctx, tx, email, u.ID)
	if err != nil {
		return err
	}
	if taken {
		return apperr.New(apperr.Conflict, "another account uses this email")
	}
	now := db.Now()
	// Only the newest request can be confirmed.
	if err := cancelEmailChanges(ctx, tx, u.ID, now); err != nil {
		return err
	}
	id := ids.New(ids.Token)
	if _, err := tx.ExecContext(ctx, `INSERT INTO email_changes (id, user_id, old_email, new_email, created_at)
		VALUES ($1, $2, $3, $4, $5)`, id, u.ID, u.Email, email, now); err != nil {
		return fmt.Errorf("store email change: %w", err)
	}
	confirm, err := newChangeToken(ctx, tx, id, "confirm", confirmTTL)
	if err != nil {
		return err
	}
	revert, err := newChangeToken(ctx, tx, id, "revert", revertTTL)
	if err != nil {
		return err
	}
	if err := audit.Record(ctx, tx, personal(a), audit.Entry{Action: "user.email_change_requested", Resource: "user", ResourceID: u.ID,
		Metadata: map[string]any{"from": u.Email, "to": email}}); err != nil {
		return err
	}
	if err := s.mailTx(ctx, tx, mail.Message{To: email, Subject: "Confirm your new email for Switchboard",
		Text: fmt.Sprintf("Hello %s,\n\nconfirm that this address should become the email of your Switchboard account "+
			"by opening this link within 24 hours:\n\n%s\n\nOr send the token to POST /api/v1/auth/email/change/confirm:\n\n%s\n\n"+
			"Until then, sign-in and password reset stay with your current address. If you did not ask for this, ignore this mail.\n",
			displayName(u), s.cfg.PublicURL+"/confirm-email-change?token="+url.QueryEscape(confirm), confirm)}); err != nil {
		return err
	}
	return s.mailTx(ctx, tx, mail.Message{To: u.Email, Subject: "Your Switchboard email is about to change",
		Text: fmt.Sprintf("Hello %s,\n\nsomeone signed in to your Switchboard account asked to change its email to %s. "+
			"It changes only when that address confirms.\n\nIf this was not you, open this link within 7 days: it keeps "+
			"(or restores) this address, signs out every session, revokes every API key, removes passkeys and asks you for a new password:\n\n%s\n\n"+
			"Or send the token with a new password to POST /api/v1/auth/email/change/revert:\n\n%s\n",
			displayName(u), email, s.cfg.PublicURL+"/revert-email-change?token="+url.QueryEscape(revert), revert)})
}

type emailChange struct {
	id, userID, oldEmail, newEmail string
	createdAt                      time.Time
	confirmed, reverted, cancelled bool
}

// useChangeToken consumes a token of the given purpose and loads its change.
func useChangeToken(ctx context.Context, tx *db.Tx, token, purpose string) (emailChange, error) {
	if token == "" {
		return emailChange{}, apperr.Invalid(apperr.FieldError{Field: "token", Message: "is required"})
	}
	now := db.Now()
	var c emailChange
	err := tx.QueryRowContext(ctx, `UPDATE email_change_tokens SET used_at = $1
		WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING change_id`,
		now, hashToken(token), purpose).Scan(&c.id)
	if errors.Is(err, sql.ErrNoRows) {
		return emailChange{}, errBadChangeToken
	}
	if err != nil {
		return emailChange{}, fmt.Errorf("use %s token: %w", purpose, err)
	}
	var confirmed, reverted, cancelled sql.NullTime
	if err := tx.QueryRowContext(ctx, `SELECT user_id, old_email, new_email, created_at, confirmed_at, reverted_at, cancelled_at
		FROM email_changes WHERE id = $1`, c.id).Scan(&c.userID, &c.oldEmail, &c.newEmail, &c.createdAt, &confirmed, &reverted, &cancelled); err != nil {
		return emailChange{}, fmt.Errorf("load email change: %w", err)
	}
	c.confirmed, c.reverted, c.cancelled = confirmed.Valid, reverted.Valid, cancelled.Valid
	return c, nil
}

// ConfirmEmailChange makes a pending change take effect: the new address
// opened its link, so it is also verified. The old address is told, with a
// link to revert.
func (s *Service) ConfirmEmailChange(ctx context.Context, a actor.Actor, token string) (User, error) {
	var u User
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		c, err := useChangeToken(ctx, tx, token, "confirm")
		if err != nil {
			return err
		}
		if c.confirmed || c.reverted || c.cancelled {
			return apperr.Invalid(apperr.FieldError{Field: "token", Message: "is for a change that was replaced, reverted or already made"})
		}
		cur, err := userByID(ctx, tx, c.userID)
		if err != nil {
			return err
		}
		if cur.DeletedAt != nil || normalizeEmail(cur.Email) != normalizeEmail(c.oldEmail) {
			return errBadChangeToken
		}
		taken, err := emailTaken(ctx, tx, c.newEmail, c.userID)
		if err != nil {
			return err
		}
		if taken {
			return apperr.New(apperr.Conflict, "another account now uses this email")
		}
		now := db.Now()
		_, err = tx.ExecContext(ctx, `UPDATE users SET email = $1, email_verified_at = $2, updated_at = $2 WHERE id = $3`,
			c.newEmail, now, c.userID)
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "another account now uses this email")
		}
		if err != nil {
			return fmt.Errorf("change email: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE email_changes SET confirmed_at = $1 WHERE id = $2`, now, c.id); err != nil {
			return fmt.Errorf("confirm email change: %w", err)
		}
		// Verification links for the old address mean nothing now.
		if _, err := tx.ExecContext(ctx, `UPDATE email_verification_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL`,
			now, c.userID); err != nil {
			return fmt.Errorf("retire verification tokens: %w", err)
		}
		revert, err := newChangeToken(ctx, tx, c.id, "revert", revertTTL)
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: "user.email_changed", Resource: "user", ResourceID: c.userID,
			UserID: c.userID, Metadata: map[string]any{"from": c.oldEmail, "to": c.newEmail}}); err != nil {
			return err
		}
		if u, err = userByID(ctx, tx, c.userID); err != nil {
			return err
		}
		return s.mailTx(ctx, tx, mail.Message{To: c.oldEmail, Subject: "Your Switchboard email was changed",
			Text: fmt.Sprintf("Hello %s,\n\nthe email of your Switchboard account was changed from this address to %s.\n\n"+
				"If this was not you, open this link within 7 days: it restores this address, signs out every session, "+
				"revokes every API key, removes passkeys and asks you for a new password:\n\n%s\n\n"+
				"Or send the token with a new password to POST /api/v1/auth/email/change/revert:\n\n%s\n",
				displayName(u), c.newEmail, s.cfg.PublicURL+"/revert-email-change?token="+url.QueryEscape(revert), revert)})
	})
	return u, err
}

// EmailChangeReverted is the answer to a revert: the restored account and
// what was ended.
type EmailChangeReverted struct {
	User            User           `json:"user"`
	SessionsRevoked int64          `json:"sessionsRevoked"`
	APIKeysRevoked  []RevokedKey   `json:"apiKeysRevoked"`
	FactorsRemoved  FactorsRemoved `json:"factorsRemoved"`
}

// RevertEmailChange undoes an email change with the link mailed to the old
// address, and secures the account in the same transaction: the old address
// comes back (verified: its owner opened the link), the password becomes
// the one given here, every session ends, every API key is revoked, the
// passkeys and an authenticator app set up since the request are removed
// (recovery.go), and pending changes and reset links are retired.
func (s *Service) RevertEmailChange(ctx context.Context, a actor.Actor, token, password string) (EmailChangeReverted, error) {
	if token == "" {
		return EmailChangeReverted{}, apperr.Invalid(apperr.FieldError{Field: "token", Message: "is required"})
	}
	if err := checkPassword("password", password); err != nil {
		return EmailChangeReverted{}, err
	}
	hash, err := hashPassword(password, s.cfg.Hash)
	if err != nil {
		return EmailChangeReverted{}, err
	}
	out := EmailChangeReverted{APIKeysRevoked: []RevokedKey{}}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		c, err := useChangeToken(ctx, tx, token, "revert")
		if err != nil {
			return err
		}
		if c.reverted {
			return errBadChangeToken
		}
		cur, err := userByID(ctx, tx, c.userID)
		if err != nil {
			return err
		}
		if cur.DeletedAt != nil {
			return errBadChangeToken
		}
		now := db.Now()
		_, err = tx.ExecContext(ctx, `UPDATE users SET email = $1, email_verified_at = $2, password_hash = $3,
			last_password_change = $2, failed_login_count = 0, locked_until = NULL, updated_at = $2 WHERE id = $4`,
			c.oldEmail, now, hash, c.userID)
		if db.IsUniqueViolation(err) {
			return apperr.New(apperr.Conflict, "another account now uses %s; the address cannot be restored", c.oldEmail)
		}
		if err != nil {
			return fmt.Errorf("restore email: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE email_changes SET reverted_at = $1 WHERE id = $2`, now, c.id); err != nil {
			return fmt.Errorf("revert email change: %w", err)
		}
		if err := cancelEmailChanges(ctx, tx, c.userID, now); err != nil {
			return err
		}
		// Whoever changed the email knew the password (recovery.go).
		if out.FactorsRemoved, err = removeRecoveredFactors(ctx, tx, c.userID, true, &c.createdAt); err != nil {
			return err
		}
		for _, q := range []string{
			`UPDATE email_change_tokens SET used_at = $1 WHERE used_at IS NULL AND change_id IN (SELECT id FROM email_changes WHERE user_id = $2)`,
			`UPDATE password_reset_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL`,
			`UPDATE email_verification_tokens SET used_at = $1 WHERE user_id = $2 AND used_at IS NULL`,
		} {
			if _, err := tx.ExecContext(ctx, q, now, c.userID); err != nil {
				return fmt.Errorf("retire tokens: %w", err)
			}
		}
		if out.SessionsRevoked, err = revokeSessions(ctx, tx, c.userID, "", "email_change_reverted"); err != nil {
			return err
		}
		if out.APIKeysRevoked, err = revokeAPIKeys(ctx, tx, c.userID); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: "user.email_change_reverted", Resource: "user", ResourceID: c.userID,
			UserID: c.userID, Metadata: map[string]any{"from": cur.Email, "to": c.oldEmail, "sessionsRevoked": out.SessionsRevoked,
				"apiKeysRevoked": keyIDs(out.APIKeysRevoked), "factorsRemoved": out.FactorsRemoved}}); err != nil {
			return err
		}
		if out.User, err = userByID(ctx, tx, c.userID); err != nil {
			return err
		}
		return s.mailTx(ctx, tx, mail.Message{To: c.oldEmail, Subject: "Your Switchboard email was restored",
			Text: fmt.Sprintf("Hello %s,\n\nthe email of your Switchboard account is this address again and its password is the "+
				"one you just chose. Every session was signed out and %d API keys were revoked; create new keys for your "+
				"programs after you sign in.%s\n", displayName(out.User), len(out.APIKeysRevoked), removedFactorsText(out.FactorsRemoved))})
	})
	if err != nil {
		return EmailChangeReverted{}, err
	}
	return out, nil
}

// pendingEmail is the address a change waits to be confirmed by, if any.
func pendingEmail(ctx context.Context, q db.Querier, userID string) (string, error) {
	var e string
	err := q.QueryRowContext(ctx, `SELECT c.new_email FROM email_changes c JOIN email_change_tokens t ON t.change_id = c.id
		WHERE c.user_id = $1 AND c.confirmed_at IS NULL AND c.reverted_at IS NULL AND c.cancelled_at IS NULL
		AND t.purpose = 'confirm' AND t.used_at IS NULL AND t.expires_at > $2
		ORDER BY c.id DESC LIMIT 1`, userID, db.Now()).Scan(&e)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("load pending email: %w", err)
	}
	return e, nil
}
