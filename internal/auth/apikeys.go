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

// maxKeysPerUser bounds how many live keys one account may hold; an
// organization may hold as many of its own.
const maxKeysPerUser = 50

// APIKey is a key as its owner sees it after creation: never the key itself.
type APIKey struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
	// Scopes are what the key may reach: ["*"] is full access.
	Scopes     []actor.Scope `json:"scopes"`
	CreatedAt  time.Time     `json:"createdAt"`
	LastUsedAt *time.Time    `json:"lastUsedAt,omitempty"`
	ExpiresAt  *time.Time    `json:"expiresAt,omitempty"`
	// CreatedBy is, on an organization's key, the member who created it
	// (who may since have left: the key stays the organization's).
	CreatedBy string `json:"createdBy,omitempty"`
}

// CreateAPIKeyInput names a new key, gives it scopes and optionally bounds
// its life.
type CreateAPIKeyInput struct {
	Name          string `json:"name"`
	ExpiresInDays int    `json:"expiresInDays,omitempty"`
	// Scopes: workflows:read, workflows:write, workflows:run,
	// gateways:read, gateways:write, gateways:send, plugins:read,
	// plugins:write, credits:read, audit:read, the shorthand read_only, or
	// * (full access). Omitted on a personal key: *. Required on an
	// organization's key.
	Scopes []actor.Scope `json:"scopes,omitempty"`
}

// CreatedAPIKey carries the key in clear, shown exactly once.
type CreatedAPIKey struct {
	APIKey
	Key string `json:"key"`
}

// CreateAPIKey issues a personal key that acts as the actor in their
// personal workspace, within its scopes. Only its hash is stored.
func (s *Service) CreateAPIKey(ctx context.Context, a actor.Actor, in CreateAPIKeyInput) (CreatedAPIKey, error) {
	if len(in.Scopes) == 0 {
		in.Scopes = []actor.Scope{actor.ScopeAll}
	}
	return s.createKey(ctx, personal(a), "", in)
}

// personal is the actor in their personal workspace, where a personal key
// acts whatever workspace the request that created it was made in. The
// account's own events (its email, password, factors, passkeys, sessions)
// are audited there too: in an organization's log, whichever workspace the
// request named, its admins would read a member's old and new address.
func personal(a actor.Actor) actor.Actor {
	return a.InOrg("", "", "", a.Plan)
}

// createKey issues a key: personal when orgID is empty, else the
// organization's (a is then the creator acting in that organization).
func (s *Service) createKey(ctx context.Context, a actor.Actor, orgID string, in CreateAPIKeyInput) (CreatedAPIKey, error) {
	// The credential is refused before the body is looked at: a key or an
	// impersonator learns nothing from a malformed request but "no".
	if err := requirePerson(a, "create API keys"); err != nil {
		return CreatedAPIKey{}, err
	}
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
	if len(in.Scopes) == 0 || len(in.Scopes) > 20 {
		return CreatedAPIKey{}, apperr.Invalid(apperr.FieldError{Field: "scopes", Message: "list between 1 and 20 scopes, e.g. [\"workflows:read\"] or [\"*\"]"})
	}
	scopes, ok, unknown := actor.ParseScopes(in.Scopes)
	if !ok {
		return CreatedAPIKey{}, apperr.Invalid(apperr.FieldError{Field: "scopes", Message: fmt.Sprintf("%q is not a scope; scopes are %v", truncateRunes(unknown, 40), actor.Scopes())})
	}
	if err := a.RequireReauth("create an API key"); err != nil {
		return CreatedAPIKey{}, err
	}
	if sc, ok := a.CanGrant(scopes, orgID != ""); !ok {
		return CreatedAPIKey{}, apperr.New(apperr.Forbidden, "you cannot give a key the scope %s: it covers rights you do not hold here", sc)
	}
	key, hash := newToken(apiKeyPrefix)
	now := db.Now()
	out := CreatedAPIKey{Key: key, APIKey: APIKey{ID: ids.New(ids.APIKey), Name: name, Prefix: key[:len(apiKeyPrefix)+6],
		Scopes: scopes.Names(), CreatedAt: now}}
	if orgID != "" {
		out.CreatedBy = a.UserID
	}
	if in.ExpiresInDays > 0 {
		exp := now.Add(time.Duration(in.ExpiresInDays) * 24 * time.Hour)
		out.ExpiresAt = &exp
	}
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		var live int
		q, arg := `SELECT count(*) FROM api_keys WHERE user_id = $1 AND organization_id IS NULL AND revoked_at IS NULL`, a.UserID
		if orgID != "" {
			q, arg = `SELECT count(*) FROM api_keys WHERE organization_id = $1 AND revoked_at IS NULL`, orgID
		}
		if err := tx.QueryRowContext(ctx, q, arg).Scan(&live); err != nil {
			return fmt.Errorf("count keys: %w", err)
		}
		if live >= maxKeysPerUser {
			return apperr.New(apperr.Conflict, "there are %d live API keys; revoke one before creating another", live)
		}
		var exp, org any
		if out.ExpiresAt != nil {
			exp = *out.ExpiresAt
		}
		if orgID != "" {
			org = orgID
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at, expires_at, scopes, organization_id)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, out.ID, a.UserID, name, out.Prefix, hash, now, exp, scopes.String(), org); err != nil {
			return fmt.Errorf("insert key: %w", err)
		}
		meta := map[string]any{"name": name, "prefix": out.Prefix, "scopes": out.Scopes}
		if out.ExpiresAt != nil {
			meta["expiresAt"] = out.ExpiresAt.Format(time.RFC3339)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "apikey.created", Resource: "api_key", ResourceID: out.ID, Metadata: meta})
	})
	if err != nil {
		return CreatedAPIKey{}, err
	}
	return out, nil
}

func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// ListAPIKeys lists the actor's live personal keys, newest first.
func (s *Service) ListAPIKeys(ctx context.Context, a actor.Actor) ([]APIKey, error) {
	return s.listKeys(ctx, `user_id = $1 AND organization_id IS NULL`, a.UserID, false)
}

func (s *Service) listKeys(ctx context.Context, where, arg string, org bool) ([]APIKey, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, name, prefix, scopes, user_id, created_at, last_used_at, expires_at
		FROM api_keys WHERE `+where+` AND revoked_at IS NULL ORDER BY id DESC`, arg)
	if err != nil {
		return nil, fmt.Errorf("list keys: %w", err)
	}
	defer rows.Close()
	out := []APIKey{}
	for rows.Next() {
		var k APIKey
		var scopes, by string
		var used, exp sql.NullTime
		if err := rows.Scan(&k.ID, &k.Name, &k.Prefix, &scopes, &by, &k.CreatedAt, &used, &exp); err != nil {
			return nil, fmt.Errorf("scan key: %w", err)
		}
		k.CreatedAt = k.CreatedAt.UTC()
		k.LastUsedAt, k.ExpiresAt = timePtr(used), timePtr(exp)
		k.Scopes = actor.ParseStoredScopes(scopes).Names()
		if org {
			k.CreatedBy = by
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// RevokeAPIKey revokes one of the actor's personal keys; another user's
// key id, or an organization's, answers NOT_FOUND.
func (s *Service) RevokeAPIKey(ctx context.Context, a actor.Actor, id string) error {
	return s.revokeKey(ctx, personal(a), id, `user_id = $3 AND organization_id IS NULL`, a.UserID)
}

func (s *Service) revokeKey(ctx context.Context, a actor.Actor, id, where, arg string) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		var name, prefix string
		err := tx.QueryRowContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND `+where+` AND revoked_at IS NULL
			RETURNING name, prefix`, db.Now(), id, arg).Scan(&name, &prefix)
		if err == sql.ErrNoRows {
			return apperr.New(apperr.NotFound, "API key not found")
		}
		if err != nil {
			return fmt.Errorf("revoke key: %w", err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "apikey.revoked", Resource: "api_key", ResourceID: id,
			Metadata: map[string]any{"name": name, "prefix": prefix}})
	})
}
