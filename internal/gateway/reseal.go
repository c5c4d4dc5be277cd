package gateway

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/secret"
)

// SecretStore exposes the gateways' sealed credentials to key rotation and
// the start-up key check.
func (s *Service) SecretStore() secret.Store { return CredentialStore(s.db) }

// CredentialStore is the gateways' sealed credentials, for tools (such as
// `switchboard keys`) that run without a whole service.
func CredentialStore(d *db.DB) secret.Store { return credentialStore{d: d} }

type credentialStore struct{ d *db.DB }

func (credentialStore) Name() string { return "gateway credentials" }

// CountByKey walks every workspace: key maintenance is a platform
// operation, and it reads only key ids.
func (c credentialStore) CountByKey(ctx context.Context) (map[string]int64, error) {
	rows, err := c.d.Read().QueryContext(ctx, `SELECT credentials_key_id, COUNT(*) FROM gateways GROUP BY credentials_key_id`)
	if err != nil {
		return nil, fmt.Errorf("count sealed credentials: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count sealed credentials: %w", err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// ResealBatch re-seals up to n gateways' credentials that are not under
// the primary key. Each update is a compare-and-swap on the old sealed
// value, so a credential replaced meanwhile is never overwritten with a
// stale copy (the next pass picks it up if it is still under an old key).
func (c credentialStore) ResealBatch(ctx context.Context, kr *secret.Keyring, n int) (int, error) {
	primary := kr.PrimaryID()
	type item struct{ id, ws, enc string }
	var batch []item
	// Walking across workspaces to find old values is the rotation's job;
	// every write below is scoped to the row's workspace.
	rows, err := c.d.Read().QueryContext(ctx, `SELECT id, workspace_id, credentials_enc FROM gateways
		WHERE credentials_key_id <> $1 ORDER BY id LIMIT $2`, primary, n)
	if err != nil {
		return 0, fmt.Errorf("find credentials to reseal: %w", err)
	}
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.ws, &it.enc); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find credentials to reseal: %w", err)
		}
		batch = append(batch, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find credentials to reseal: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	changed := 0
	err = c.d.Tx(ctx, func(tx *db.Tx) error {
		changed = 0
		for _, it := range batch {
			plain, err := kr.Open(it.enc, sealContext(it.id))
			if err != nil {
				return fmt.Errorf("gateway %s: %w", it.id, err)
			}
			enc, err := kr.Seal(plain, sealContext(it.id))
			if err != nil {
				return fmt.Errorf("gateway %s: %w", it.id, err)
			}
			keyID, err := secret.KeyID(enc)
			if err != nil {
				return err
			}
			res, err := db.Scope(tx, it.ws).ExecContext(ctx, `UPDATE gateways SET credentials_enc = $3, credentials_key_id = $4
				WHERE workspace_id = $1 AND id = $2 AND credentials_enc = $5`, it.id, enc, keyID, it.enc)
			if err != nil {
				return fmt.Errorf("reseal gateway %s: %w", it.id, err)
			}
			if k, _ := res.RowsAffected(); k > 0 {
				changed++
			}
		}
		return nil
	})
	return changed, err
}
