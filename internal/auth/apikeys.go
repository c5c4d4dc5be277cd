package auth

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// apiKeyPrefix starts every API key, so a leaked key is recognisable (and
// secret scanners can find it) and Authenticate can tell it from a JWT.
const apiKeyPrefix = "sbk_"

// maxKeysPerUser bounds how many live keys one account may hold.
const maxKeysPerUser = 50

// APIKey is a key as its owner sees it after creation: never the key itself.
type APIKey struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	CreatedAt  time.Time  `json:"createdAt"`
	LastUsedAt *time.Time `json:"lastUsedAt,omitempty"`
	ExpiresAt  *time.Time `json:"expiresAt,omitempty"`
}

// CreateAPIKeyInput names a new key and optionally bounds its life.
type CreateAPIKeyInput struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expiresInDays,omitempty"`
}

// CreatedAPIKey carries the key in clear, shown exactly once.
type CreatedAPIKey struct {
	APIKey
	Key string `json:"key"`
}

// CreateAPIKey issues a key that acts with the owner's rights. Only its
// hash is stored.
func (s *Service) CreateAPIKey(ctx context.Context, a actor.Actor, in CreateAPIKeyInput) (CreatedAPIKey, error) {
	name, err := checkName("name", in.Name)
	if err != nil {
		return CreatedAPIKey{}, err
	}
	if name == "" {
		return CreatedAPIKey{}, apperr.Invalid(apperr.FieldError{Field: "name", Message: "is required"})
	}
	if in.ExpiresInDays < 0 || in.ExpiresInDays > 3650 {
		return CreatedAPIKey{}, apperr.Invalid(apperr.FieldError{Field: "expiresInDays", Message: "must be between 1 and 3650, or omitted for no expiry"})
	}
	if err := requirePerson(a, "create API keys"); err != nil {
		return CreatedAPIKey{}, err
	}
	if err := a.RequireReauth("create an API key"); err != nil {
		return CreatedAPIKey{}, err
	}
	key, hash := newToken(apiKeyPrefix)
	now := db.Now()
	out := CreatedAPIKey{Key: key, APIKey: APIKey{ID: ids.New(ids.APIKey), Name: name, Prefix: key[:len(apiKeyPrefix)+6], CreatedAt: now}}
	if in.ExpiresInDays > 0 {
		exp := now.Add(time.Duration(in.ExpiresInDays) * 24 * time.Hour)
		out.ExpiresAt = &exp
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		var live int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL`, a.UserID).Scan(&live); err != nil {
			return fmt.Errorf("count keys: %w", err)
		}
		if live >= maxKeysPerUser {
			return apperr.New(apperr.Conflict, "you have %d API keys; revoke one before creating another", live)
		}
		var exp any
		if out.ExpiresAt != nil {
			exp = *out.ExpiresAt
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, out.ID, a.UserID, name, out.Prefix, hash, now, exp); err != nil {
			return fmt.Errorf("insert key: %w", err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "apikey.created", Resource: "api_key", ResourceID: out.ID,
			Metadata: map[string]any{"name": name, "prefix": out.Prefix}})
	})
	if err != nil {
		return CreatedAPIKey{}, err
	}
	return out, nil
}

// ListAPIKeys lists the actor's live keys, newest first.
func (s *Service) ListAPIKeys(ctx context.Context, a actor.Actor) ([]APIKey, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, name, prefix, created_at, last_used_at, expires_at
		FROM api_keys WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id DESC`, a.UserID)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	out := []APIKey{}
	for rows.Next() {
		var k APIKey
		var used, exp sql.NullTime
		if err := rows.Scan(&k.ID, &k.Name, &k.Prefix, &k.CreatedAt, &used, &exp); err != nil {
			return nil, fmt.Errorf("scan key: %w", err)
		}
		k.CreatedAt = k.CreatedAt.UTC()
		k.LastUsedAt, k.ExpiresAt = timePtr(used), timePtr(exp)
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey revokes one of the actor's keys; another user's key id
// answers NOT_FOUND.
func (s *Service) RevokeAPIKey(ctx context.Context, a actor.Actor, id string) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`,
			db.Now(), id, a.UserID)
		if err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return apperr.New(apperr.NotFound, "API key not found")
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "apikey.revoked", Resource: "api_key", ResourceID: id})
	})
}
