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

// SignupInput is a new account's details.
type SignupInput struct {
	Email    string `json:"email"`
	Password string `json:"password"`
	Name     string `json:"name"`
}

const verificationTTL = 48 * time.Hour

// Signup creates a MEMBER account on the FREE plan and mails a verification
// link. The account can sign in at once; verification is recorded.
func (s *Service) Signup(ctx context.Context, a actor.Actor, in SignupInput) (User, error) {
	email, err := checkEmail("email", in.Email)
	if err != nil {
		return User{}, err
	}
	name, err := checkName("name", in.Name)
	if err != nil {
		return User{}, err
	}
	if err := checkPassword("password", in.Password); err != nil {
		return User{}, err
	}
	return s.createUser(ctx, a, email, name, in.Password, actor.Member, false, "auth.signup")
}

// createUser stores a new account. A verified account (one an operator
// created) gets no verification mail.
func (s *Service) createUser(ctx context.Context, a actor.Actor, email, name, password string, role actor.Role, verified bool, action string) (User, error) {
	hash, err := hashPassword(password, s.cfg.Hash)
	if err != nil {
		return User{}, err
	}
	now := db.Now()
	u := User{ID: ids.New(ids.User), Email: email, Name: name, Role: role, Plan: actor.Free,
		IsActive: true, LastPasswordChange: now, CreatedAt: now, UpdatedAt: now, passwordHash: hash}
	if verified {
		u.EmailVerified, u.EmailVerifiedAt = true, &now
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		if err := insertUser(ctx, tx, u); err != nil {
			return err
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "user", ResourceID: u.ID,
			UserID: u.ID, Metadata: map[string]any{"email": email, "role": role, "emailVerified": verified}}); err != nil {
			return err
		}
		if verified {
			return nil
		}
		return s.startVerification(ctx, tx, u)
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// startVerification stores a fresh verification token and mails its link.
func (s *Service) startVerification(ctx context.Context, tx *db.Tx, u User) error {
	token, hash := newToken("")
	now := db.Now()
	if _, err := tx.ExecContext(ctx, `UPDATE email_verification_tokens SET used_at = $1
		WHERE user_id = $2 AND used_at IS NULL`, now, u.ID); err != nil {
		return fmt.Errorf("retire verification tokens: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO email_verification_tokens
		(id, user_id, email, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		ids.New(ids.Token), u.ID, u.Email, hash, now, now.Add(verificationTTL)); err != nil {
		return fmt.Errorf("store verification token: %w", err)
	}
	link := s.cfg.PublicURL + "/verify-email?token=" + url.QueryEscape(token)
	return s.mailTx(ctx, tx, mail.Message{To: u.Email, Subject: "Confirm your email for Switchboard",
		Text: fmt.Sprintf("Hello %s,\n\nconfirm this address for your Switchboard account by opening:\n\n%s\n\n"+
			"Or send the token to POST /api/v1/auth/email/verify:\n\n%s\n\nThe link expires in 48 hours.\n",
			displayName(u), link, token)})
}

func displayName(u User) string {
	if u.Name != "" {
		return u.Name
	}
	return u.Email
}

// VerifyEmail consumes a verification token and marks the address verified.
func (s *Service) VerifyEmail(ctx context.Context, a actor.Actor, token string) (User, error) {
	if token == "" {
		return User{}, apperr.Invalid(apperr.FieldError{Field: "token", Message: "is required"})
	}
	var u User
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		var userID, email string
		err := tx.QueryRowContext(ctx, `UPDATE email_verification_tokens SET used_at = $1
			WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 RETURNING user_id, email`,
			now, hashToken(token)).Scan(&userID, &email)
		if err != nil {
			return apperr.Invalid(apperr.FieldError{Field: "token", Message: "is invalid, expired or already used"})
		}
		// The address may have changed since the mail went out.
		res, err := tx.ExecContext(ctx, `UPDATE users SET email_verified_at = $1, updated_at = $1
			WHERE id = $2 AND lower(email) = $3 AND deleted_at IS NULL`, now, userID, email)
		if err != nil {
			return fmt.Errorf("mark email verified: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.Invalid(apperr.FieldError{Field: "token", Message: "is for an address this account no longer uses"})
		}
		if u, err = userByID(ctx, tx, userID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "auth.email_verified", Resource: "user",
			ResourceID: userID, UserID: userID, Metadata: map[string]any{"email": email}})
	})
	return u, err
}

// ResendVerification mails a new verification link to the actor's address.
func (s *Service) ResendVerification(ctx context.Context, a actor.Actor) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		u, err := userByID(ctx, tx, a.UserID)
		if err != nil {
			return err
		}
		if u.EmailVerified {
			return apperr.New(apperr.Conflict, "this email address is already verified")
		}
		if err := audit.Record(ctx, tx, a, audit.Entry{Action: "auth.email_verification_sent", Resource: "user", ResourceID: u.ID}); err != nil {
			return err
		}
		return s.startVerification(ctx, tx, u)
	})
}
