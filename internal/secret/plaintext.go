package secret

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/db"
)

// SealPlaintext seals the values an older schema kept in clear in column
// plain of c's table: each row whose Sealed column is still empty and whose
// plain column is not gets its value sealed into Sealed (with KeyID), and
// plain emptied. SQL cannot seal, so a server runs this at start-up after
// the migration that added the sealed column.
//
// It is idempotent and safe on several nodes at once: each update is a
// compare-and-swap on the plaintext and on the row being still unsealed, so
// a row sealed (or given a new value) meanwhile is left alone, and a pass
// ends when no unsealed row remains. It returns how many rows it sealed.
func (c Column) SealPlaintext(ctx context.Context, kr *Keyring, plain string, batch int) (int, error) {
	if batch <= 0 {
		batch = 100
	}
	total := 0
	for {
		type item struct{ id, ws, value string }
		var items []item
		// Finding unsealed rows spans workspaces, like rotation; every write
		// below is scoped to the row's workspace.
		rows, err := c.DB.Read().QueryContext(ctx, `SELECT id, workspace_id, `+plain+` FROM `+c.Table+
			` WHERE `+c.Sealed+` = '' AND `+plain+` <> '' ORDER BY id LIMIT $1`, batch)
		if err != nil {
			return total, fmt.Errorf("find %s to seal: %w", c.StoreName, err)
		}
		for rows.Next() {
			var it item
			if err := rows.Scan(&it.id, &it.ws, &it.value); err != nil {
				rows.Close()
				return total, fmt.Errorf("find %s to seal: %w", c.StoreName, err)
			}
			items = append(items, it)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, fmt.Errorf("find %s to seal: %w", c.StoreName, err)
		}
		if len(items) == 0 {
			return total, nil
		}
		sealed := 0
		err = c.DB.Tx(ctx, func(tx *db.Tx) error {
			sealed = 0
			for _, it := range items {
				enc, err := kr.Seal([]byte(it.value), c.Context(it.id))
				if err != nil {
					return fmt.Errorf("%s %s: %w", c.What, it.id, err)
				}
				keyID, err := KeyID(enc)
				if err != nil {
					return err
				}
				res, err := db.Scope(tx, it.ws).ExecContext(ctx, `UPDATE `+c.Table+` SET `+c.Sealed+` = $3, `+c.KeyID+` = $4, `+plain+` = ''
					WHERE workspace_id = $1 AND id = $2 AND `+plain+` = $5 AND `+c.Sealed+` = ''`, it.id, enc, keyID, it.value)
				if err != nil {
					return fmt.Errorf("seal %s %s: %w", c.What, it.id, err)
				}
				if k, _ := res.RowsAffected(); k > 0 {
					sealed++
				}
			}
			return nil
		})
		if err != nil {
			return total, err
		}
		total += sealed
	}
}
