package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
)

// Me returns the actor's own account.
func (s *Service) Me(ctx context.Context, a actor.Actor) (User, error) {
	if u, ok := ctx.Value(userKey{}).(User); ok && u.ID == a.UserID {
		return u, nil
	}
	return userByID(ctx, s.db.Read(), a.UserID)
}

// UpdateMeInput holds the fields a user may change on their own account; a
// nil field is left as it is.
type UpdateMeInput struct {
	Name  *string `json:"name,omitempty"`
	Email *string `json:"email,omitempty"`
	// CurrentPassword is required with a new email, unless the session
	// re-authenticated in the last five minutes (a sign-in counts).
	CurrentPassword string `json:"currentPassword,omitempty"`
}

// UpdateMe changes the actor's name at once. A new email needs the current
// password and only becomes pending: it takes effect when the new address
// confirms (see email_change.go), and the answer shows it as pendingEmail.
func (s *Service) UpdateMe(ctx context.Context, a actor.Actor, in UpdateMeInput) (User, error) {
	if in.Name == nil && in.Email == nil {
		return User{}, apperr.New(apperr.Validation, "nothing to update: send name or email")
	}
	var name, email string
	var err error
	if in.Name != nil {
		if name, err = checkName("name", *in.Name); err != nil {
			return User{}, err
		}
	}
	cur, err := userByID(ctx, s.db.Read(), a.UserID)
	if err != nil {
		return User{}, err
	}
	if in.Email != nil {
		// A key or an impersonation session is refused before the address
		// is even looked at: what it sends there is none of its business.
		if normalizeEmail(*in.Email) != normalizeEmail(cur.Email) {
			if err := requirePerson(a, "change the email"); err != nil {
				return User{}, err
			}
		}
		if email, err = checkEmail("email", *in.Email); err != nil {
			return User{}, err
		}
	}
	emailChanges := in.Email != nil && email != normalizeEmail(cur.Email)
	if emailChanges {
		if err := requirePerson(a, "change the email"); err != nil {
			return User{}, err
		}
		switch {
		case in.CurrentPassword != "":
			if _, err := s.checkCurrentPassword(ctx, a, in.CurrentPassword, "user.email_change_requested"); err != nil {
				return User{}, err
			}
		case !a.Reauthenticated:
			return User{}, apperr.Invalid(apperr.FieldError{Field: "currentPassword",
				Message: "is required to change the email, unless you re-authenticated in the last five minutes (POST /api/v1/auth/reauth)"})
		}
	}
	var u User
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		cur, err := userByID(ctx, tx, a.UserID)
		if err != nil {
			return err
		}
		if in.Name != nil && name != cur.Name {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET name = $1, updated_at = $2 WHERE id = $3`, name, db.Now(), a.UserID); err != nil {
				return fmt.Errorf("update name: %w", err)
			}
			if err := audit.Record(ctx, tx, personal(a), audit.Entry{Action: "user.updated", Resource: "user", ResourceID: a.UserID,
				Metadata: audit.WithDiff(map[string]any{"name": map[string]any{"from": cur.Name, "to": name}},
					map[string]any{"name": cur.Name}, map[string]any{"name": name})}); err != nil {
				return err
			}
		}
		if emailChanges {
			if err := s.requestEmailChange(ctx, tx, a, cur, email); err != nil {
				return err
			}
		}
		if u, err = userByID(ctx, tx, a.UserID); err != nil {
			return err
		}
		u.PendingEmail, err = pendingEmail(ctx, tx, a.UserID)
		return err
	})
	return u, err
}

// ChangePasswordInput is a voluntary password change by the signed-in
// account holder.
type ChangePasswordInput struct {
	// CurrentPassword is required unless the session re-authenticated in
	// the last five minutes (a sign-in counts).
	CurrentPassword string `json:"currentPassword,omitempty"`
	NewPassword     string `json:"newPassword"`
	// RevokeAPIKeys also revokes every API key. A voluntary change keeps
	// them by default: the programs using them did not leak the password.
	RevokeAPIKeys bool `json:"revokeApiKeys,omitempty"`
}

// PasswordChanged is the answer to a password change: what it ended.
type PasswordChanged struct {
	Message              string       `json:"message"`
	OtherSessionsRevoked int64        `json:"otherSessionsRevoked"`
	APIKeysRevoked       []RevokedKey `json:"apiKeysRevoked"`
}

// ChangePassword sets a new password after checking the current one; every
// other session is revoked, and the API keys too when asked. Only the
// account holder, signed in, may: not an API key, not an impersonator.
func (s *Service) ChangePassword(ctx context.Context, a actor.Actor, in ChangePasswordInput) (PasswordChanged, error) {
	if err := requirePerson(a, "change the password"); err != nil {
		return PasswordChanged{}, err
	}
	if in.CurrentPassword == "" && !a.Reauthenticated {
		return PasswordChanged{}, apperr.Invalid(apperr.FieldError{Field: "currentPassword",
			Message: "is required, unless you re-authenticated in the last five minutes (POST /api/v1/auth/reauth)"})
	}
	if err := checkPassword("newPassword", in.NewPassword); err != nil {
		return PasswordChanged{}, err
	}
	var u User
	var err error
	if in.CurrentPassword != "" {
		u, err = s.checkCurrentPassword(ctx, a, in.CurrentPassword, "auth.password_changed")
	} else {
		u, err = userByID(ctx, s.db.Read(), a.UserID)
	}
	if err != nil {
		return PasswordChanged{}, err
	}
	hash, err := hashPassword(in.NewPassword, s.cfg.Hash)
	if err != nil {
		return PasswordChanged{}, err
	}
	out := PasswordChanged{Message: "password changed", APIKeysRevoked: []RevokedKey{}}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, last_password_change = $2, updated_at = $2
			WHERE id = $3`, hash, now, a.UserID); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		n, err := revokeSessions(ctx, tx, a.UserID, a.SessionID, "password_changed")
		if err != nil {
			return err
		}
		out.OtherSessionsRevoked = n
		// A change of address asked for with the old password waits no
		// longer (recovery.go).
		if err := cancelEmailChanges(ctx, tx, a.UserID, now); err != nil {
			return err
		}
		if in.RevokeAPIKeys {
			if out.APIKeysRevoked, err = revokeAPIKeys(ctx, tx, a.UserID); err != nil {
				return err
			}
		}
		if err := audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.password_changed", Resource: "user",
			ResourceID: a.UserID, Metadata: map[string]any{"otherSessionsRevoked": n, "apiKeysRevoked": keyIDs(out.APIKeysRevoked)}}); err != nil {
			return err
		}
		return s.sendPasswordChangedNotice(ctx, tx, u)
	})
	if err != nil {
		return PasswordChanged{}, err
	}
	return out, nil
}

// checkCurrentPassword proves the caller knows the account's password
// before a sensitive change. Each try takes one of the account's sign-in
// tries, so wrong answers lock the account exactly as wrong logins do; a
// wrong one is audited under action.
func (s *Service) checkCurrentPassword(ctx context.Context, a actor.Actor, current, action string) (User, error) {
	u, err := userByID(ctx, s.db.Read(), a.UserID)
	if err != nil {
		return User{}, err
	}
	// As in Login: a reserved try always gets settled, even if the caller
	// hangs up.
	ctx = context.WithoutCancel(ctx)
	attempt, err := s.reserveAttempt(ctx, u.ID)
	if err != nil {
		return User{}, err
	}
	if attempt == 0 {
		_, _ = verifyPassword(current, s.dummy())
		if err := s.db.Tx(ctx, func(tx *db.Tx) error {
			return audit.Record(ctx, tx, personal(a), audit.Entry{Action: action, Resource: "user",
				ResourceID: a.UserID, Status: audit.Failure, Metadata: map[string]any{"reason": "locked"}})
		}); err != nil {
			return User{}, err
		}
		return User{}, apperr.New(apperr.RateLimited,
			"too many wrong passwords: password checks for this account are paused for a while; try again later")
	}
	ok, err := verifyPassword(current, u.passwordHash)
	if err != nil {
		return User{}, fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		if err := s.recordWrongPassword(ctx, a, u, attempt, action, "wrong_current_password"); !errors.Is(err, errBadCredentials) {
			return User{}, err
		}
		return User{}, apperr.Invalid(apperr.FieldError{Field: "currentPassword", Message: "is wrong"})
	}
	if err := s.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE users SET failed_login_count = 0 WHERE id = $1`, u.ID)
		return err
	}); err != nil {
		return User{}, fmt.Errorf("settle password try: %w", err)
	}
	return u, nil
}

// DeleteMe soft-deletes the actor's account: it can no longer sign in, every
// session and API key stops working, and the email is free for a new
// account. An admin can restore it while the email is still free.
func (s *Service) DeleteMe(ctx context.Context, a actor.Actor) error {
	if err := requirePerson(a, "delete the account"); err != nil {
		return err
	}
	if err := a.RequireReauth("delete the account"); err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := softDelete(ctx, tx, a, a.UserID, "account_deleted", "user.deleted"); err != nil {
			return err
		}
		return s.endPersonalWorkspace(ctx, tx, a, a.UserID)
	})
}

func softDelete(ctx context.Context, tx *db.Tx, a actor.Actor, userID, reason, action string) error {
	now := db.Now()
	res, err := tx.ExecContext(ctx, `UPDATE users SET deleted_at = $1, updated_at = $1 WHERE id = $2 AND deleted_at IS NULL`, now, userID)
	if err != nil {
		return fmt.Errorf("delete user: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return apperr.New(apperr.NotFound, "user not found")
	}
	sessions, err := revokeSessions(ctx, tx, userID, "", reason)
	if err != nil {
		return err
	}
	keys, err := revokeAPIKeys(ctx, tx, userID)
	if err != nil {
		return err
	}
	return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "user", ResourceID: userID,
		Metadata: map[string]any{"sessionsRevoked": sessions, "apiKeysRevoked": len(keys)}})
}
