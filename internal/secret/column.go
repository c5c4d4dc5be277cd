package secret

import (
	"context"
	"fmt"

	"github.com/switchboard/switchboard/internal/db"
)

// Column is a Store over one table column of sealed values, each row
// owned by a workspace: how gateway credentials and installation secrets
// take part in key rotation.
type Column struct {
	DB *db.DB
	// StoreName names the store in messages ("gateway credentials"); What
	// names one row's owner in errors ("gateway").
	StoreName, What string
	// Table has columns id, workspace_id, Sealed and KeyID.
	Table, Sealed, KeyID string
	// Present, when set, is the SQL condition of rows that hold a value.
	Present string
	// Context is the seal context of a row's value (see Keyring.Seal).
	Context func(id string) string
}

// Seal seals value as row id's: the sealed text and the id of the key
// that sealed it, for the KeyID column.
func (c Column) Seal(kr *Keyring, id string, value []byte) (enc, keyID string, err error) {
	enc, err = kr.Seal(value, c.Context(id))
	if err != nil {
		return "", "", fmt.Errorf("seal %s: %s %s: %w", c.StoreName, c.What, id, err)
	}
	keyID, err = KeyID(enc)
	return enc, keyID, err
}

// Open opens row id's sealed value.
func (c Column) Open(kr *Keyring, id, enc string) ([]byte, error) {
	plain, err := kr.Open(enc, c.Context(id))
	if err != nil {
		return nil, fmt.Errorf("open %s: %s %s: %w", c.StoreName, c.What, id, err)
	}
	return plain, nil
}

// Name implements Store.
func (c Column) Name() string { return c.StoreName }

func (c Column) where(extra string) string {
	switch {
	case c.Present == "" && extra == "":
		return ""
	case c.Present == "":
		return " WHERE " + extra
	case extra == "":
		return " WHERE " + c.Present
	}
	return " WHERE " + c.Present + " AND " + extra
}

// CountByKey walks every workspace: key maintenance is a platform
// operation, and it reads only key ids.
func (c Column) CountByKey(ctx context.Context) (map[string]int64, error) {
	rows, err := c.DB.Read().QueryContext(ctx, `SELECT `+c.KeyID+`, COUNT(*) FROM `+c.Table+c.where("")+` GROUP BY `+c.KeyID)
	if err != nil {
		return nil, fmt.Errorf("count sealed %s: %w", c.StoreName, err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			return nil, fmt.Errorf("count sealed %s: %w", c.StoreName, err)
		}
		out[id] = n
	}
	return out, rows.Err()
}

// ResealBatch re-seals up to n values that are not under the primary key.
// Each update is a compare-and-swap on the old sealed value, so a value
// replaced meanwhile is never overwritten with a stale copy (the next pass
// picks it up if it is still under an old key).
func (c Column) ResealBatch(ctx context.Context, kr *Keyring, n int) (int, error) {
	type item struct{ id, ws, enc string }
	var batch []item
	// Finding old values across workspaces is the rotation's job; every
	// write below is scoped to the row's workspace.
	rows, err := c.DB.Read().QueryContext(ctx, `SELECT id, workspace_id, `+c.Sealed+` FROM `+c.Table+
		c.where(c.KeyID+` <> $1`)+` ORDER BY id LIMIT $2`, kr.PrimaryID(), n)
	if err != nil {
		return 0, fmt.Errorf("find %s to reseal: %w", c.StoreName, err)
	}
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.ws, &it.enc); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find %s to reseal: %w", c.StoreName, err)
		}
		batch = append(batch, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find %s to reseal: %w", c.StoreName, err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	changed := 0
	err = c.DB.Tx(ctx, func(tx *db.Tx) error {
		changed = 0
		for _, it := range batch {
			plain, err := kr.Open(it.enc, c.Context(it.id))
			if err != nil {
				return fmt.Errorf("%s %s: %w", c.What, it.id, err)
			}
			enc, err := kr.Seal(plain, c.Context(it.id))
			if err != nil {
				return fmt.Errorf("%s %s: %w", c.What, it.id, err)
			}
			keyID, err := KeyID(enc)
			if err != nil {
				return err
			}
			res, err := db.Scope(tx, it.ws).ExecContext(ctx, `UPDATE `+c.Table+` SET `+c.Sealed+` = $3, `+c.KeyID+` = $4
				WHERE workspace_id = $1 AND id = $2 AND `+c.Sealed+` = $5`, it.id, enc, keyID, it.enc)
			if err != nil {
				return fmt.Errorf("reseal %s %s: %w", c.What, it.id, err)
			}
			if k, _ := res.RowsAffected(); k > 0 {
				changed++
			}
		}
		return nil
	})
	return changed, err
}
