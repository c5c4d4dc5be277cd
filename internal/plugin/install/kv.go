package install

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/plugin"
)

// kvStore is an installation's key-value store. Its values count, with
// every other installation's of the workspace, against the plan's
// storageMb; a write that would pass it fails with plugin.ErrStorageLimit.
type kvStore struct {
	db           *db.DB
	workspace    string
	installation string
	plan         actor.Plan
}

var _ plugin.KV = (*kvStore)(nil)

func (k *kvStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := db.Scope(k.db.Read(), k.workspace).QueryRowContext(ctx,
		`SELECT value FROM plugin_kv WHERE workspace_id = $1 AND installation_id = $2 AND kv_key = $3`, k.installation, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("kv get: %w", err)
	}
	return v, true, nil
}

func (k *kvStore) Set(ctx context.Context, key string, value []byte) error {
	return k.db.Tx(ctx, func(tx *db.Tx) error {
		if err := db.LockWorkspace(ctx, tx, k.workspace); err != nil {
			return err
		}
		q := db.Scope(tx, k.workspace)
		var used, old int64
		if err := q.QueryRowContext(ctx, `SELECT COALESCE(SUM(size), 0) FROM plugin_kv WHERE workspace_id = $1`).Scan(&used); err != nil {
			return fmt.Errorf("kv usage: %w", err)
		}
		err := q.QueryRowContext(ctx, `SELECT size FROM plugin_kv WHERE workspace_id = $1 AND installation_id = $2 AND kv_key = $3`,
			k.installation, key).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("kv usage: %w", err)
		}
		size := int64(len(key) + len(value))
		if limit := k.plan.Limit(actor.ActionStorage); limit != actor.Unlimited && used-old+size > limit<<20 {
			return plugin.ErrStorageLimit
		}
		if value == nil {
			value = []byte{}
		}
		if _, err := db.Scope(tx, k.workspace).ExecContext(ctx, `INSERT INTO plugin_kv (workspace_id, installation_id, kv_key, value, size, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6)
			ON CONFLICT (installation_id, kv_key) DO UPDATE SET value = excluded.value, size = excluded.size, updated_at = excluded.updated_at`,
			k.installation, key, value, size, db.Now()); err != nil {
			return fmt.Errorf("kv set: %w", err)
		}
		return nil
	})
}

func (k *kvStore) Delete(ctx context.Context, key string) error {
	return k.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := db.Scope(tx, k.workspace).ExecContext(ctx,
			`DELETE FROM plugin_kv WHERE workspace_id = $1 AND installation_id = $2 AND kv_key = $3`, k.installation, key)
		if err != nil {
			return fmt.Errorf("kv delete: %w", err)
		}
		return nil
	})
}
