package db_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Migration 00031 gives every existing API key full access ('*') and no
// organization, so every key keeps working as before.
func TestMigration31_ExistingKeysKeepFullAccess(t *testing.T) {
	t.Parallel()
	dbtest.EachEmptyURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		d, err := db.Open(ctx, url, db.Options{MaxConns: 4})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		if err := d.MigrateTo(ctx, 30); err != nil {
			t.Fatalf("migrate to 30: %v", err)
		}
		now := db.Now()
		err = d.Tx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, `INSERT INTO users (id, email, password_hash, last_password_change, created_at, updated_at)
				VALUES ('usr_k', 'k@example.com', 'x', $1, $1, $1)`, now); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO api_keys (id, user_id, name, prefix, key_hash, created_at)
				VALUES ('key_old', 'usr_k', 'old', 'sbk_abcdef', 'hash', $1)`, now)
			return err
		})
		if err != nil {
			t.Fatalf("seed a key under the old schema: %v", err)
		}
		if _, err := d.Migrate(ctx); err != nil {
			t.Fatalf("migrate: %v", err)
		}
		var scopes string
		var org sql.NullString
		if err := d.Read().QueryRowContext(ctx, `SELECT scopes, organization_id FROM api_keys WHERE id = 'key_old'`).Scan(&scopes, &org); err != nil {
			t.Fatal(err)
		}
		if scopes != "*" || org.Valid {
			t.Fatalf("migrated key: scopes %q, organization %v", scopes, org)
		}
	})
}
