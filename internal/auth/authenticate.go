package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

var errNoCredential = apperr.New(apperr.Unauthorized, "sign in: send Authorization: Bearer <access token or API key>")

// Authenticate turns a bearer credential — an access token or an API key —
// into an Actor. The session (or key) and the account are read on every
// call, so a revoked session, a deleted or deactivated account, or a changed
// role takes effect on the next request on every node.
func (s *Service) Authenticate(ctx context.Context, bearer string, req actor.Request) (actor.Actor, error) {
	a, _, err := s.AuthenticateUser(ctx, bearer, req)
	return a, err
}

// AuthenticateUser is Authenticate that also returns the account it read,
// which a caller may keep for the rest of the request (see WithUser) instead
// of reading it again.
func (s *Service) AuthenticateUser(ctx context.Context, bearer string, req actor.Request) (actor.Actor, User, error) {
	if bearer == "" {
		return actor.Actor{}, User{}, errNoCredential
	}
	if strings.HasPrefix(bearer, apiKeyPrefix) {
		return s.authenticateKey(ctx, bearer, req)
	}
	c, err := s.tokens.parse(bearer)
	if err != nil {
		return actor.Actor{}, User{}, err
	}
	// One indexed query answers everything: the session is live, the
	// account is live, and — in an organization context — the membership
	// and the organization still exist. Membership is read here, not
	// through the org service, because it is part of who the caller is and
	// every request needs it.
	//
	// An impersonation session also reads its impersonator: it ends the
	// moment the impersonator is deactivated, deleted or no longer a
	// SUPER_ADMIN (signing out everywhere revokes it outright).
	row := s.db.Read().QueryRowContext(ctx, `SELECT s.revoked_at, s.expires_at, s.impersonator_id, m.org_role, m.department_id, o.plan,
		iu.role, iu.is_active, iu.deleted_at, s.reauth_at, o.require_2fa, `+s.HasFactorSQL("u.id")+`, `+prefixed("u", userColumns)+`
		FROM sessions s JOIN users u ON u.id = s.user_id
		LEFT JOIN memberships m ON m.user_id = u.id AND m.organization_id = $3
		LEFT JOIN organizations o ON o.id = m.organization_id AND o.deleted_at IS NULL
		LEFT JOIN users iu ON iu.id = s.impersonator_id
		WHERE s.id = $1 AND s.user_id = $2`, c.SessionID, c.UserID, c.OrganizationID)
	var revoked, impDeleted sql.NullTime
	var expires time.Time
	var imp, orgRole, dept, orgPlan, impRole sql.NullString
	var impActive, orgRequires2FA sql.NullBool
	var reauthAt sql.NullTime
	var hasFactor bool
	var u User
	err = row.Scan(append([]any{&revoked, &expires, &imp, &orgRole, &dept, &orgPlan, &impRole, &impActive, &impDeleted,
		&reauthAt, &orgRequires2FA, &hasFactor}, userDest(&u)...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return actor.Actor{}, User{}, errBadToken
	}
	if err != nil {
		return actor.Actor{}, User{}, fmt.Errorf("authenticate: %w", err)
	}
	finishUser(&u)
	if revoked.Valid || !expires.After(time.Now()) {
		return actor.Actor{}, User{}, apperr.New(apperr.Unauthorized, "session has ended; sign in again")
	}
	if !u.live() {
		return actor.Actor{}, User{}, apperr.New(apperr.Unauthorized, "account is deactivated or deleted")
	}
	if imp.String != c.ImpersonatorID {
		return actor.Actor{}, User{}, errBadToken
	}
	if imp.Valid && (actor.Role(impRole.String) != actor.SuperAdmin || !impActive.Bool || impDeleted.Valid) {
		return actor.Actor{}, User{}, apperr.New(apperr.Unauthorized,
			"impersonation has ended: the impersonating admin is no longer a live SUPER_ADMIN")
	}
	a := actorFor(u, c.SessionID, "", imp.String, req)
	a.HasSecondFactor = hasFactor
	// An impersonation session never counts as re-authenticated: the
	// admin proved who they are, not who the user is.
	a.Reauthenticated = !imp.Valid && reauthAt.Valid && time.Since(reauthAt.Time) < actor.ReauthWindow
	if c.OrganizationID != "" {
		if !orgRole.Valid || !orgPlan.Valid {
			return actor.Actor{}, User{}, apperr.New(apperr.Unauthorized,
				"you are no longer a member of this organization, or it was deleted; switch to another workspace")
		}
		a = a.InOrg(c.OrganizationID, actor.OrgRole(orgRole.String), dept.String, actor.Plan(orgPlan.String))
		a.MFARequired = orgRequires2FA.Bool && !hasFactor
	}
	return a, u, nil
}

// HasFactorSQL is an SQL boolean expression, true when the account whose
// id is the column userCol has a usable second factor: a confirmed TOTP
// factor or, while passkeys are on on this server, a passkey. Everything
// that asks "has a second factor" (the organization policy, the members
// list, sign-in) asks it this way.
func (s *Service) HasFactorSQL(userCol string) string {
	q := `(EXISTS (SELECT 1 FROM totp_factors f WHERE f.id = ` + userCol + ` AND f.confirmed_at IS NOT NULL)`
	if s.PasskeysEnabled() == nil {
		q += ` OR EXISTS (SELECT 1 FROM passkeys pk WHERE pk.user_id = ` + userCol + `)`
	}
	return q + `)`
}

func actorFor(u User, sessionID, keyID, impersonatorID string, req actor.Request) actor.Actor {
	return actor.Actor{UserID: u.ID, Email: u.Email, Role: u.Role, Plan: u.Plan,
		SessionID: sessionID, APIKeyID: keyID, ImpersonatorID: impersonatorID,
		IP: req.IP, UserAgent: req.UserAgent, RequestID: req.RequestID}
}

func (s *Service) authenticateKey(ctx context.Context, key string, req actor.Request) (actor.Actor, User, error) {
	row := s.db.Read().QueryRowContext(ctx, `SELECT k.id, k.scopes, k.organization_id, o.id, o.plan, k.last_used_at, k.expires_at, k.revoked_at, `+s.HasFactorSQL("u.id")+`, `+prefixed("u", userColumns)+`
		FROM api_keys k JOIN users u ON u.id = k.user_id
		LEFT JOIN organizations o ON o.id = k.organization_id AND o.deleted_at IS NULL
		WHERE k.key_hash = $1`, hashToken(key))
	var keyID, scopes string
	var keyOrg, orgID, orgPlan sql.NullString
	var lastUsed, expires, revoked sql.NullTime
	var u User
	var hasFactor bool
	err := row.Scan(append([]any{&keyID, &scopes, &keyOrg, &orgID, &orgPlan, &lastUsed, &expires, &revoked, &hasFactor}, userDest(&u)...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return actor.Actor{}, User{}, apperr.New(apperr.Unauthorized, "API key is invalid")
	}
	if err != nil {
		return actor.Actor{}, User{}, fmt.Errorf("authenticate key: %w", err)
	}
	finishUser(&u)
	now := time.Now()
	if revoked.Valid || (expires.Valid && !expires.Time.After(now)) {
		return actor.Actor{}, User{}, apperr.New(apperr.Unauthorized, "API key is revoked or expired")
	}
	var a actor.Actor
	if keyOrg.Valid {
		// The organization's key: its creator's account no longer matters.
		if !orgID.Valid {
			return actor.Actor{}, User{}, apperr.New(apperr.Unauthorized, "API key is invalid: its organization was deleted")
		}
		a = actor.Actor{UserID: keyID, Role: actor.Member, APIKeyID: keyID, OrgKey: true,
			IP: req.IP, UserAgent: req.UserAgent, RequestID: req.RequestID}
		a = a.InOrg(orgID.String, orgKeyRole, "", actor.Plan(orgPlan.String))
		u = User{}
	} else {
		if !u.live() {
			return actor.Actor{}, User{}, apperr.New(apperr.Unauthorized, "account is deactivated or deleted")
		}
		a = actorFor(u, "", keyID, "", req)
		a.HasSecondFactor = hasFactor
	}
	a.KeyScopes = actor.ParseStoredScopes(scopes)
	// Recording every use would make every API call a write; a minute's
	// precision is enough to tell a key is in use.
	if !lastUsed.Valid || now.Sub(lastUsed.Time) > time.Minute {
		if err := s.db.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2
				AND (last_used_at IS NULL OR last_used_at < $3)`, db.Now(), keyID, now.Add(-time.Minute).UTC())
			return err
		}); err != nil {
			s.log.Warn("record API key use", "keyId", keyID, "error", err)
		}
	}
	return a, u, nil
}

func prefixed(alias, cols string) string {
	parts := strings.Split(cols, ",")
	for i, p := range parts {
		parts[i] = alias + "." + strings.TrimSpace(p)
	}
	return strings.Join(parts, ", ")
}

type userKey struct{}

// WithUser keeps the account AuthenticateUser read for the rest of the
// request, so Me does not read it again.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}
