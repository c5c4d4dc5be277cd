package auth

import (
	"context"
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
}

// UpdateMe changes the actor's name or email. A new email must be verified
// again.
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
	if in.Email != nil {
		if email, err = checkEmail("email", *in.Email); err != nil {
			return User{}, err
		}
	}
	var u User
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		cur, err := userByID(ctx, tx, a.UserID)
		if err != nil {
			return err
		}
		now := db.Now()
		changes := map[string]any{}
		if in.Name != nil && name != cur.Name {
			if _, err := tx.ExecContext(ctx, `UPDATE users SET name = $1, updated_at = $2 WHERE id = $3`, name, now, a.UserID); err != nil {
				return fmt.Errorf("update name: %w", err)
			}
			changes["name"] = map[string]any{"from": cur.Name, "to": name}
		}
		emailChanged := in.Email != nil && email != cur.Email
		if emailChanged {
			_, err := tx.ExecContext(ctx, `UPDATE users SET email = $1, email_verified_at = NULL, updated_at = $2 WHERE id = $3`, email, now, a.UserID)
			if db.IsUniqueViolation(err) {
				return apperr.New(apperr.Conflict, "another account uses this email")
			}
			if err != nil {
				return fmt.Errorf("update email: %w", err)
			}
			changes["email"] = map[string]any{"from": cur.Email, "to": email}
		}
		if u, err = userByID(ctx, tx, a.UserID); err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: "user.updated", Resource: "user", ResourceID: a.UserID, Metadata: changes}); err != nil {
			return err
		}
		if emailChanged {
			return s.startVerification(ctx, tx, u)
		}
		return nil
	})
	return u, err
}

// ChangePassword sets a new password after checking the current one; every
// other session is revoked.
func (s *Service) ChangePassword(ctx context.Context, a actor.Actor, current, next string) error {
	if current == "" {
		return apperr.Invalid(apperr.FieldError{Field: "currentPassword", Message: "is required"})
	}
	if err := checkPassword("newPassword", next); err != nil {
		return err
	}
	u, err := userByID(ctx, s.db.Read(), a.UserID)
	if err != nil {
		return err
	}
	ok, err := verifyPassword(current, u.passwordHash)
	if err != nil {
		return fmt.Errorf("verify password: %w", err)
	}
	if !ok {
		_ = s.db.Tx(ctx, func(tx *db.Tx) error {
			return audit.Record(ctx, tx, a, audit.Entry{Action: "auth.password_changed", Resource: "user",
				ResourceID: a.UserID, Status: audit.Failure, Metadata: map[string]any{"reason": "wrong_current_password"}})
		})
		return apperr.Invalid(apperr.FieldError{Field: "currentPassword", Message: "is wrong"})
	}
	hash, err := hashPassword(next, s.cfg.Hash)
	if err != nil {
		return err
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, last_password_change = $2, updated_at = $2
			WHERE id = $3`, hash, now, a.UserID); err != nil {
			return fmt.Errorf("set password: %w", err)
		}
		n, err := revokeSessions(ctx, tx, a.UserID, a.SessionID, "password_changed")
		if err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: "auth.password_changed", Resource: "user",
			ResourceID: a.UserID, Metadata: map[string]any{"otherSessionsRevoked": n}}); err != nil {
			return err
		}
		return s.sendPasswordChangedNotice(ctx, tx, u)
	})
}

// DeleteMe soft-deletes the actor's account: it can no longer sign in, every
// session and API key stops working, and the email is free for a new
// account. An admin can restore it while the email is still free.
func (s *Service) DeleteMe(ctx context.Context, a actor.Actor) error {
	if a.ImpersonatorID != "" {
		return apperr.New(apperr.Forbidden, "an impersonation session cannot delete the account")
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
	keys, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, now, userID)
	if err != nil {
		return fmt.Errorf("revoke keys: %w", err)
	}
	nk, _ := keys.RowsAffected()
	return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "user", ResourceID: userID,
		Metadata: map[string]any{"sessionsRevoked": sessions, "apiKeysRevoked": nk}})
}
