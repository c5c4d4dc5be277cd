package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// Session is a signed-in device as its owner sees it.
type Session struct {
	ID           string    `json:"id"`
	IP           string    `json:"ip"`
	UserAgent    string    `json:"userAgent"`
	CreatedAt    time.Time `json:"createdAt"`
	LastUsedAt   time.Time `json:"lastUsedAt"`
	ExpiresAt    time.Time `json:"expiresAt"`
	Current      bool      `json:"current"`
	Impersonated bool      `json:"impersonated"`
}

type issued struct {
	Tokens
	sessionID string
}

const refreshPrefix = "sbr_"

// openSession starts a session for u and issues its first tokens. An
// impersonation session gets no refresh token and dies with its access token.
func (s *Service) openSession(ctx context.Context, tx *db.Tx, a actor.Actor, u User, impersonatorID string) (issued, error) {
	now := db.Now()
	id := ids.New(ids.Session)
	ttl := s.cfg.SessionTTL
	accessTTL := s.cfg.AccessTTL
	if impersonatorID != "" {
		ttl, accessTTL = s.cfg.ImpersonationTTL, s.cfg.ImpersonationTTL
	}
	// A sign-in is a re-authentication (reauth.go); an impersonation is not.
	var reauthAt any = now
	if impersonatorID != "" {
		reauthAt = nil
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO sessions (id, user_id, impersonator_id, ip, user_agent,
		created_at, last_used_at, expires_at, reauth_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)`,
		id, u.ID, nullIfEmpty(impersonatorID), a.IP, a.UserAgent, now, now.Add(ttl), reauthAt); err != nil {
		return issued{}, fmt.Errorf("insert session: %w", err)
	}
	out := issued{sessionID: id, Tokens: Tokens{User: u, ExpiresIn: int(accessTTL.Seconds())}}
	if impersonatorID == "" {
		token, hash := newToken(refreshPrefix)
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, created_at)
			VALUES ($1, $2, $3)`, hash, id, now); err != nil {
			return issued{}, fmt.Errorf("insert refresh token: %w", err)
		}
		out.RefreshToken = token
	}
	access, err := s.tokens.sign(Claims{UserID: u.ID, Email: u.Email, Plan: u.Plan, SessionID: id,
		Role: u.Role, ImpersonatorID: impersonatorID}, now, accessTTL)
	if err != nil {
		return issued{}, err
	}
	out.AccessToken = access
	return out, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var errBadRefresh = apperr.New(apperr.Unauthorized, "refresh token is invalid or expired")

// Refresh exchanges a refresh token for new tokens. Every refresh token works
// once: presenting one that was already used means it was stolen or leaked,
// so the whole session is revoked.
func (s *Service) Refresh(ctx context.Context, a actor.Actor, refreshToken string) (Tokens, error) {
	if refreshToken == "" {
		return Tokens{}, apperr.Invalid(apperr.FieldError{Field: "refreshToken", Message: "is required"})
	}
	hash := hashToken(refreshToken)
	var out Tokens
	var reused bool
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		now := db.Now()
		var sessionID string
		err := tx.QueryRowContext(ctx, `UPDATE refresh_tokens SET used_at = $1
			WHERE token_hash = $2 AND used_at IS NULL RETURNING session_id`, now, hash).Scan(&sessionID)
		if errors.Is(err, sql.ErrNoRows) {
			err = tx.QueryRowContext(ctx, `SELECT session_id FROM refresh_tokens WHERE token_hash = $1`, hash).Scan(&sessionID)
			if errors.Is(err, sql.ErrNoRows) {
				return errBadRefresh
			}
			if err != nil {
				return fmt.Errorf("look up refresh token: %w", err)
			}
			reused = true
			return s.revokeReusedSession(ctx, tx, a, sessionID)
		}
		if err != nil {
			return fmt.Errorf("use refresh token: %w", err)
		}
		var userID string
		var revoked sql.NullTime
		var expires time.Time
		var orgID sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT user_id, revoked_at, expires_at, organization_id FROM sessions WHERE id = $1`,
			sessionID).Scan(&userID, &revoked, &expires, &orgID); err != nil {
			return fmt.Errorf("load session: %w", err)
		}
		if revoked.Valid || !expires.After(now) {
			return errBadRefresh
		}
		u, err := userByID(ctx, tx, userID)
		if err != nil {
			return err
		}
		if !u.live() {
			return errBadRefresh
		}
		token, newHash := newToken(refreshPrefix)
		if _, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (token_hash, session_id, created_at)
			VALUES ($1, $2, $3)`, newHash, sessionID, now); err != nil {
			return fmt.Errorf("insert refresh token: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET last_used_at = $1, expires_at = $2 WHERE id = $3`,
			now, now.Add(s.cfg.SessionTTL), sessionID); err != nil {
			return fmt.Errorf("extend session: %w", err)
		}
		// The session keeps acting where it last switched to, as long as the
		// membership lasts; otherwise it falls back to the personal workspace.
		var oc orgContext
		if orgID.Valid {
			ok := false
			if oc, ok, err = membershipFor(ctx, tx, u.ID, orgID.String); err != nil {
				return err
			}
			if !ok {
				orgID = sql.NullString{}
				if _, err := tx.ExecContext(ctx, `UPDATE sessions SET organization_id = NULL WHERE id = $1`, sessionID); err != nil {
					return fmt.Errorf("reset session workspace: %w", err)
				}
			}
		}
		access, err := s.tokens.sign(claimsFor(u, sessionID, "", orgID.String, oc), now, s.cfg.AccessTTL)
		if err != nil {
			return err
		}
		out = Tokens{AccessToken: access, RefreshToken: token, ExpiresIn: int(s.cfg.AccessTTL.Seconds()), User: u}
		return nil
	})
	if err != nil {
		return Tokens{}, err
	}
	if reused {
		return Tokens{}, apperr.New(apperr.Unauthorized, "refresh token was already used; the session has been revoked, sign in again")
	}
	return out, nil
}

func (s *Service) revokeReusedSession(ctx context.Context, tx *db.Tx, a actor.Actor, sessionID string) error {
	var userID string
	if err := tx.QueryRowContext(ctx, `SELECT user_id FROM sessions WHERE id = $1`, sessionID).Scan(&userID); err != nil {
		return fmt.Errorf("load session: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoked_reason = 'refresh_token_reuse'
		WHERE id = $2 AND revoked_at IS NULL`, db.Now(), sessionID); err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	return audit.Record(ctx, tx, a, audit.Entry{Action: "auth.refresh_token_reuse", Resource: "session",
		ResourceID: sessionID, UserID: userID, Status: audit.Failure})
}

// revokeSessions revokes every live session of a user except keep (if set),
// and every session in which the user impersonates someone: whatever signs
// an admin out everywhere ends their impersonations too.
func revokeSessions(ctx context.Context, tx *db.Tx, userID, keep, reason string) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoked_reason = $2
		WHERE (user_id = $3 OR impersonator_id = $3) AND revoked_at IS NULL AND id <> $4`, db.Now(), reason, userID, keep)
	if err != nil {
		return 0, fmt.Errorf("revoke sessions of %s: %w", userID, err)
	}
	n, _ := res.RowsAffected()
	return n, nil
}

// Logout ends the actor's current session.
func (s *Service) Logout(ctx context.Context, a actor.Actor) error {
	if a.SessionID == "" {
		return apperr.New(apperr.Validation, "this credential is an API key, not a session; revoke the key instead")
	}
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoked_reason = 'logout'
			WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`, db.Now(), a.SessionID, a.UserID); err != nil {
			return fmt.Errorf("logout: %w", err)
		}
		return audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.logout", Resource: "session", ResourceID: a.SessionID})
	})
}

// LogoutAll ends every session of the actor, the current one included.
func (s *Service) LogoutAll(ctx context.Context, a actor.Actor) (int64, error) {
	var n int64
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		var err error
		if n, err = revokeSessions(ctx, tx, a.UserID, "", "logout_all"); err != nil {
			return err
		}
		return audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.logout_all", Resource: "user",
			ResourceID: a.UserID, Metadata: map[string]any{"sessionsRevoked": n}})
	})
	return n, err
}

// ListSessions lists the actor's live sessions, newest first (by id), at
// most limit (1–201, default 200) of those after the id after.
func (s *Service) ListSessions(ctx context.Context, a actor.Actor, after string, limit int) ([]Session, error) {
	if limit <= 0 || limit > 201 {
		limit = 200
	}
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, ip, user_agent, created_at, last_used_at, expires_at,
		impersonator_id FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		AND ($3 = '' OR id < $3) ORDER BY id DESC LIMIT $4`, a.UserID, db.Now(), after, limit)
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	out := []Session{}
	for rows.Next() {
		var se Session
		var imp sql.NullString
		if err := rows.Scan(&se.ID, &se.IP, &se.UserAgent, &se.CreatedAt, &se.LastUsedAt, &se.ExpiresAt, &imp); err != nil {
			return nil, fmt.Errorf("scan session: %w", err)
		}
		se.CreatedAt, se.LastUsedAt, se.ExpiresAt = se.CreatedAt.UTC(), se.LastUsedAt.UTC(), se.ExpiresAt.UTC()
		se.Current = se.ID == a.SessionID
		se.Impersonated = imp.Valid
		out = append(out, se)
	}
	return out, rows.Err()
}

// RevokeSession ends one of the actor's own sessions. Another user's
// session id answers NOT_FOUND.
func (s *Service) RevokeSession(ctx context.Context, a actor.Actor, id string) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1, revoked_reason = 'revoked_by_user'
			WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`, db.Now(), id, a.UserID)
		if err != nil {
			return fmt.Errorf("revoke session: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.NotFound, "session not found")
		}
		return audit.Record(ctx, tx, personal(a), audit.Entry{Action: "auth.session_revoked", Resource: "session", ResourceID: id})
	})
}
