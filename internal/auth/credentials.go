package auth

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// requirePerson refuses account management to credentials that are not the
// account holder signed in: an API key is for programs, and an admin
// impersonating the user acts for them but must never take the account
// over. what completes "… cannot <what>".
func requirePerson(a actor.Actor, what string) error {
	if a.APIKeyID != "" {
		return apperr.New(apperr.Forbidden, "an API key cannot %s: API keys are for programs; sign in with your password", what)
	}
	if a.ImpersonatorID != "" {
		return apperr.New(apperr.Forbidden, "an impersonation session cannot %s", what)
	}
	return nil
}

// RevokedKey names an API key that was revoked as a side effect, so the
// answer can say which programs lost access.
type RevokedKey struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Prefix string `json:"prefix"`
}

// revokeAPIKeys revokes every live personal API key of a user. The keys
// of organizations they created are the organizations' and stay.
func revokeAPIKeys(ctx context.Context, tx *db.Tx, userID string) ([]RevokedKey, error) {
	rows, err := tx.QueryContext(ctx, `UPDATE api_keys SET revoked_at = $1 WHERE user_id = $2 AND organization_id IS NULL AND revoked_at IS NULL
		RETURNING id, name, prefix`, db.Now(), userID)
	if err != nil {
		return nil, fmt.Errorf("revoke API keys of %s: %w", userID, err)
	}
	defer rows.Close()
	out := []RevokedKey{}
	for rows.Next() {
		var k RevokedKey
		if err := rows.Scan(&k.ID, &k.Name, &k.Prefix); err != nil {
			return nil, fmt.Errorf("scan revoked key: %w", err)
		}
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("revoke API keys of %s: %w", userID, err)
	}
	return out, nil
}

func keyIDs(ks []RevokedKey) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = k.ID
	}
	return out
}

// RevokedCredentials says what a sign-out-everywhere ended.
type RevokedCredentials struct {
	// Sessions is how many sessions ended.
	Sessions int64 `json:"revoked"`
	// APIKeys lists the API keys revoked with them.
	APIKeys []RevokedKey `json:"apiKeysRevoked"`
}
