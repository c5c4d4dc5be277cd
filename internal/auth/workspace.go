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
	"github.com/switchboard/switchboard/internal/ids"
)

// orgContext is a live membership: the role and plan a token for that
// organization carries.
type orgContext struct {
	role actor.OrgRole
	plan actor.Plan
}

// membershipFor reads the user's live membership in orgID, if any.
func membershipFor(ctx context.Context, q db.Querier, userID, orgID string) (orgContext, bool, error) {
	var oc orgContext
	err := q.QueryRowContext(ctx, `SELECT m.org_role, o.plan FROM memberships m JOIN organizations o ON o.id = m.organization_id
		WHERE m.user_id = $1 AND m.organization_id = $2 AND o.deleted_at IS NULL`, userID, orgID).Scan(&oc.role, &oc.plan)
	if errors.Is(err, sql.ErrNoRows) {
		return oc, false, nil
	}
	if err != nil {
		return oc, false, fmt.Errorf("load membership: %w", err)
	}
	return oc, true, nil
}

// claimsFor builds the access token payload for u acting in orgID (or in
// the personal workspace when orgID is empty).
func claimsFor(u User, sessionID, impersonatorID, orgID string, oc orgContext) Claims {
	c := Claims{UserID: u.ID, Email: u.Email, Plan: u.Plan, SessionID: sessionID, Role: u.Role, ImpersonatorID: impersonatorID}
	if orgID != "" {
		c.OrganizationID, c.OrgRole, c.Plan = orgID, oc.role, oc.plan
	}
	return c
}

// SwitchWorkspace issues an access token for the same session acting in an
// organization the user belongs to, or in the personal workspace when
// orgID is empty. The session remembers the choice, so refreshed tokens
// keep it.
func (s *Service) SwitchWorkspace(ctx context.Context, a actor.Actor, orgID string) (Tokens, error) {
	if a.SessionID == "" {
		return Tokens{}, apperr.New(apperr.Validation, "an API key acts in its owner's personal workspace and cannot switch")
	}
	if orgID != "" && !ids.Valid(ids.Organization, orgID) {
		return Tokens{}, apperr.New(apperr.NotFound, "organization not found")
	}
	var out Tokens
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		u, err := userByID(ctx, tx, a.UserID)
		if err != nil {
			return err
		}
		var oc orgContext
		if orgID != "" {
			var ok bool
			if oc, ok, err = membershipFor(ctx, tx, a.UserID, orgID); err != nil {
				return err
			}
			if !ok {
				return apperr.New(apperr.NotFound, "organization not found")
			}
		}
		var sessionExpires sql.NullTime
		if err := tx.QueryRowContext(ctx, `UPDATE sessions SET organization_id = $1 WHERE id = $2 AND revoked_at IS NULL RETURNING expires_at`,
			nullIfEmpty(orgID), a.SessionID).Scan(&sessionExpires); err != nil {
			return apperr.New(apperr.Unauthorized, "session has ended; sign in again")
		}
		ttl := s.cfg.AccessTTL
		if a.ImpersonatorID != "" {
			ttl = s.cfg.ImpersonationTTL
		}
		now := db.Now()
		if left := sessionExpires.Time.Sub(now); left < ttl {
			ttl = left
		}
		access, err := s.tokens.sign(claimsFor(u, a.SessionID, a.ImpersonatorID, orgID, oc), now, ttl)
		if err != nil {
			return err
		}
		out = Tokens{AccessToken: access, ExpiresIn: int(ttl.Seconds()), User: u}
		from := a.OrganizationID
		return audit.Record(ctx, tx, a, audit.Entry{Action: "auth.workspace_switched", Resource: "session", ResourceID: a.SessionID,
			OrganizationID: orgID, Metadata: map[string]any{"from": from, "to": orgID}})
	})
	return out, err
}

// LiveUserIDByEmail returns the id of the live account using email.
func (s *Service) LiveUserIDByEmail(ctx context.Context, email string) (string, bool, error) {
	u, ok, err := liveUserByEmail(ctx, s.db.Read(), email)
	return u.ID, ok, err
}

// CheckPassword applies the password policy to a new password.
func (s *Service) CheckPassword(field, password string) error { return checkPassword(field, password) }

// PreparePassword checks a new password against the policy and hashes it,
// so a caller can create an account inside its own transaction without
// hashing while holding it.
func (s *Service) PreparePassword(field, password string) (string, error) {
	if err := checkPassword(field, password); err != nil {
		return "", err
	}
	return hashPassword(password, s.cfg.Hash)
}

// CreateVerifiedUserTx creates a MEMBER whose address is already proven (an
// invitation link reached it), inside the caller's transaction, with a
// password hash from PreparePassword.
func (s *Service) CreateVerifiedUserTx(ctx context.Context, tx *db.Tx, a actor.Actor, email, name, passwordHash string) (string, error) {
	e, err := checkEmail("email", email)
	if err != nil {
		return "", err
	}
	n, err := checkName("name", name)
	if err != nil {
		return "", err
	}
	now := db.Now()
	u := User{ID: ids.New(ids.User), Email: e, Name: n, Role: actor.Member, Plan: actor.Free, IsActive: true,
		EmailVerified: true, EmailVerifiedAt: &now, LastPasswordChange: now, CreatedAt: now, UpdatedAt: now, passwordHash: passwordHash}
	if err := insertUser(ctx, tx, u); err != nil {
		return "", err
	}
	if err := audit.Record(ctx, tx, a, audit.Entry{Action: "auth.signup", Resource: "user", ResourceID: u.ID, UserID: u.ID,
		Metadata: map[string]any{"email": e, "role": actor.Member, "emailVerified": true, "via": "invitation"}}); err != nil {
		return "", err
	}
	return u.ID, nil
}
