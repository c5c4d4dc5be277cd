package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// User is an account as the API shows it. The password hash never leaves
// this package.
type User struct {
	ID               string        `json:"id"`
	Email            string        `json:"email"`
	Name             string        `json:"name"`
	Role             actor.Role    `json:"role"`
	Plan             actor.Plan    `json:"plan"`
	OrganizationID   string        `json:"organizationId,omitempty"`
	DepartmentID     string        `json:"departmentId,omitempty"`
	OrgRole          actor.OrgRole `json:"orgRole,omitempty"`
	StripeCustomerID string        `json:"stripeCustomerId,omitempty"`
	IsActive         bool          `json:"isActive"`
	EmailVerified    bool          `json:"emailVerified"`
	EmailVerifiedAt  *time.Time    `json:"emailVerifiedAt,omitempty"`
	// PendingEmail is an address the account is changing to that has not
	// confirmed yet; set in the answer to PATCH /me.
	PendingEmail       string     `json:"pendingEmail,omitempty"`
	FailedLoginCount   int        `json:"failedLoginCount"`
	LockedUntil        *time.Time `json:"lockedUntil,omitempty"`
	LastPasswordChange time.Time  `json:"lastPasswordChange"`
	LastLoginAt        *time.Time `json:"lastLoginAt,omitempty"`
	DeletedAt          *time.Time `json:"deletedAt,omitempty"`
	CreatedAt          time.Time  `json:"createdAt"`
	UpdatedAt          time.Time  `json:"updatedAt"`

	passwordHash string
	lockoutCount int
	scan         *userScan
}

const userColumns = `id, email, name, password_hash, role, organization_id, department_id, org_role,
	plan, stripe_customer_id, is_active, email_verified_at, failed_login_count, lockout_count,
	locked_until, last_password_change, last_login_at, deleted_at, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

// userScan holds the nullable columns of a users row while it is scanned.
type userScan struct {
	org, dept, orgRole, stripe           sql.NullString
	verified, locked, lastLogin, deleted sql.NullTime
}

// userDest returns scan destinations for userColumns, in order; call
// finishUser after scanning.
func userDest(u *User) []any {
	n := &userScan{}
	u.scan = n
	return []any{&u.ID, &u.Email, &u.Name, &u.passwordHash, &u.Role, &n.org, &n.dept, &n.orgRole,
		&u.Plan, &n.stripe, &u.IsActive, &n.verified, &u.FailedLoginCount, &u.lockoutCount,
		&n.locked, &u.LastPasswordChange, &n.lastLogin, &n.deleted, &u.CreatedAt, &u.UpdatedAt}
}

func finishUser(u *User) {
	n := u.scan
	u.scan = nil
	u.OrganizationID, u.DepartmentID, u.OrgRole = n.org.String, n.dept.String, actor.OrgRole(n.orgRole.String)
	u.StripeCustomerID = n.stripe.String
	u.EmailVerifiedAt, u.LockedUntil = timePtr(n.verified), timePtr(n.locked)
	u.LastLoginAt, u.DeletedAt = timePtr(n.lastLogin), timePtr(n.deleted)
	u.EmailVerified = u.EmailVerifiedAt != nil
	u.LastPasswordChange, u.CreatedAt, u.UpdatedAt = u.LastPasswordChange.UTC(), u.CreatedAt.UTC(), u.UpdatedAt.UTC()
}

func scanUser(s scanner) (User, error) {
	var u User
	if err := s.Scan(userDest(&u)...); err != nil {
		return User{}, err
	}
	finishUser(&u)
	return u, nil
}

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

// live reports whether the account can act: not deleted and active.
func (u User) live() bool { return u.DeletedAt == nil && u.IsActive }

// userByID loads a user, deleted or not. Missing → NOT_FOUND.
func userByID(ctx context.Context, q db.Querier, id string) (User, error) {
	u, err := scanUser(q.QueryRowContext(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, apperr.New(apperr.NotFound, "user not found")
	}
	if err != nil {
		return User{}, fmt.Errorf("load user %s: %w", id, err)
	}
	return u, nil
}

// liveUserByEmail loads the non-deleted account with this email, if any.
func liveUserByEmail(ctx context.Context, q db.Querier, email string) (User, bool, error) {
	u, err := scanUser(q.QueryRowContext(ctx,
		`SELECT `+userColumns+` FROM users WHERE lower(email) = $1 AND deleted_at IS NULL`, normalizeEmail(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return User{}, false, nil
	}
	if err != nil {
		return User{}, false, fmt.Errorf("load user by email: %w", err)
	}
	return u, true, nil
}

func insertUser(ctx context.Context, tx *db.Tx, u User) error {
	// The old address of a recent email change stays its owner's while
	// the change can be reverted.
	if reserved, err := emailReserved(ctx, tx, u.Email, u.ID); err != nil {
		return err
	} else if reserved {
		return apperr.New(apperr.Conflict, "an account with this email already exists")
	}
	var verified any
	if u.EmailVerifiedAt != nil {
		verified = *u.EmailVerifiedAt
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, name, password_hash, role, plan,
		is_active, email_verified_at, last_password_change, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		u.ID, u.Email, u.Name, u.passwordHash, u.Role, u.Plan, true, verified, u.LastPasswordChange, u.CreatedAt, u.UpdatedAt)
	if db.IsUniqueViolation(err) {
		return apperr.New(apperr.Conflict, "an account with this email already exists")
	}
	if err != nil {
		return fmt.Errorf("insert user: %w", err)
	}
	return nil
}

func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

// checkEmail validates and normalizes an email address.
func checkEmail(field, raw string) (string, error) {
	e := normalizeEmail(raw)
	if e == "" {
		return "", apperr.Invalid(apperr.FieldError{Field: field, Message: "is required"})
	}
	if len(e) > 254 {
		return "", apperr.Invalid(apperr.FieldError{Field: field, Message: "must be at most 254 characters"})
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Address != e || !strings.Contains(e[strings.LastIndexByte(e, '@'):], ".") {
		return "", apperr.Invalid(apperr.FieldError{Field: field, Message: "is not a valid email address"})
	}
	return e, nil
}

// typedEmail adds to audit metadata the email a visitor typed, but only if
// it is an email address: people type their password into the email field
// by mistake, and a password must never be stored.
func typedEmail(typed string, meta map[string]any) map[string]any {
	if e, err := checkEmail("email", typed); err == nil {
		meta["email"] = e
	}
	return meta
}

func checkName(field, raw string) (string, error) {
	n := strings.TrimSpace(raw)
	if utf8.RuneCountInString(n) > 100 {
		return "", apperr.Invalid(apperr.FieldError{Field: field, Message: "must be at most 100 characters"})
	}
	for _, r := range n {
		if r < 0x20 || r == 0x7f {
			return "", apperr.Invalid(apperr.FieldError{Field: field, Message: "must not contain control characters"})
		}
	}
	return n, nil
}
