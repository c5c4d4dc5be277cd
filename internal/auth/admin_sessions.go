package auth

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
)

// AdminSession is a session as support and admins see it: ended ones
// included, with why they ended and who impersonated in them.
type AdminSession struct {
	ID             string     `json:"id"`
	IP             string     `json:"ip"`
	UserAgent      string     `json:"userAgent"`
	CreatedAt      time.Time  `json:"createdAt"`
	LastUsedAt     time.Time  `json:"lastUsedAt"`
	ExpiresAt      time.Time  `json:"expiresAt"`
	RevokedAt      *time.Time `json:"revokedAt,omitempty"`
	RevokedReason  string     `json:"revokedReason,omitempty"`
	ImpersonatorID string     `json:"impersonatorId,omitempty"`
	Live           bool       `json:"live"`
}

// SessionPage is one page of a user's sessions, newest first.
type SessionPage struct {
	Items      []AdminSession `json:"items"`
	NextCursor *string        `json:"nextCursor"`
}

// ListUserSessions lists every session of an account, newest first
// (users:read: SUPPORT and admins). It changes nothing.
func (s *Service) ListUserSessions(ctx context.Context, a actor.Actor, userID, cursor string, limit int) (SessionPage, error) {
	if err := requirePerm(a, actor.PermUsersRead); err != nil {
		return SessionPage{}, err
	}
	if _, err := userByID(ctx, s.db.Read(), userID); err != nil {
		return SessionPage{}, err
	}
	if limit <= 0 {
		limit = 50
	}
	if limit > 200 {
		limit = 200
	}
	q := `SELECT id, ip, user_agent, created_at, last_used_at, expires_at, revoked_at, revoked_reason, impersonator_id
		FROM sessions WHERE user_id = $1`
	args := []any{userID}
	if cursor != "" {
		q += ` AND id < $2`
		args = append(args, cursor)
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, limit+1)
	rows, err := s.db.Read().QueryContext(ctx, q, args...)
	if err != nil {
		return SessionPage{}, fmt.Errorf("list sessions of %s: %w", userID, err)
	}
	defer rows.Close()
	now := time.Now()
	page := SessionPage{Items: []AdminSession{}}
	for rows.Next() {
		var se AdminSession
		var revoked sql.NullTime
		var reason, imp sql.NullString
		if err := rows.Scan(&se.ID, &se.IP, &se.UserAgent, &se.CreatedAt, &se.LastUsedAt, &se.ExpiresAt, &revoked, &reason, &imp); err != nil {
			return SessionPage{}, fmt.Errorf("scan session: %w", err)
		}
		se.CreatedAt, se.LastUsedAt, se.ExpiresAt = se.CreatedAt.UTC(), se.LastUsedAt.UTC(), se.ExpiresAt.UTC()
		se.RevokedAt, se.RevokedReason, se.ImpersonatorID = timePtr(revoked), reason.String, imp.String
		se.Live = !revoked.Valid && se.ExpiresAt.After(now)
		page.Items = append(page.Items, se)
	}
	if err := rows.Err(); err != nil {
		return SessionPage{}, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		next := page.Items[limit-1].ID
		page.NextCursor = &next
	}
	return page, nil
}
