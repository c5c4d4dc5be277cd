package flag

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

const flagColumns = `id, key, description, enabled, user_ids, organization_ids, roles, plans,
	percentage, variants, created_by, updated_by, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanFlag(s scanner) (Flag, error) {
	var f Flag
	var users, orgs, roles, plans, variants string
	var pct sql.NullInt64
	var createdBy, updatedBy sql.NullString
	if err := s.Scan(&f.ID, &f.Key, &f.Description, &f.Enabled, &users, &orgs, &roles, &plans,
		&pct, &variants, &createdBy, &updatedBy, &f.CreatedAt, &f.UpdatedAt); err != nil {
		return Flag{}, err
	}
	for _, c := range []struct {
		col string
		raw string
		dst any
	}{
		{"user_ids", users, &f.UserIDs}, {"organization_ids", orgs, &f.OrganizationIDs},
		{"roles", roles, &f.Roles}, {"plans", plans, &f.Plans}, {"variants", variants, &f.Variants},
	} {
		if err := json.Unmarshal([]byte(c.raw), c.dst); err != nil {
			return Flag{}, fmt.Errorf("flag %s: decode %s: %w", f.Key, c.col, err)
		}
	}
	if pct.Valid {
		p := int(pct.Int64)
		f.Percentage = &p
	}
	f.CreatedBy, f.UpdatedBy = createdBy.String, updatedBy.String
	f.CreatedAt, f.UpdatedAt = f.CreatedAt.UTC(), f.UpdatedAt.UTC()
	f.normalize()
	return f, nil
}

// listFlags reads every flag, ordered by key.
func listFlags(ctx context.Context, q db.Querier) ([]Flag, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+flagColumns+` FROM feature_flags ORDER BY key`)
	if err != nil {
		return nil, fmt.Errorf("list flags: %w", err)
	}
	defer rows.Close()
	out := []Flag{}
	for rows.Next() {
		f, err := scanFlag(rows)
		if err != nil {
			return nil, fmt.Errorf("list flags: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list flags: %w", err)
	}
	return out, nil
}

// flagByKey reads one flag; an unknown key is NOT_FOUND.
func flagByKey(ctx context.Context, q db.Querier, key string) (Flag, error) {
	if !ValidKey(key) {
		return Flag{}, notFound(key)
	}
	f, err := scanFlag(q.QueryRowContext(ctx, `SELECT `+flagColumns+` FROM feature_flags WHERE key = $1`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Flag{}, notFound(key)
	}
	if err != nil {
		return Flag{}, fmt.Errorf("read flag %s: %w", key, err)
	}
	return f, nil
}

func notFound(key string) error {
	return apperr.New(apperr.NotFound, "no feature flag with key %q", key)
}

// jsonCols encodes the JSON columns of f in column order: user_ids,
// organization_ids, roles, plans, variants.
func jsonCols(f Flag) ([]any, error) {
	out := make([]any, 0, 5)
	for _, v := range []any{f.UserIDs, f.OrganizationIDs, f.Roles, f.Plans, f.Variants} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode flag %s: %w", f.Key, err)
		}
		out = append(out, string(b))
	}
	return out, nil
}

func insertFlag(ctx context.Context, tx *db.Tx, f Flag) error {
	j, err := jsonCols(f)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO feature_flags (`+flagColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`,
		f.ID, f.Key, f.Description, f.Enabled, j[0], j[1], j[2], j[3], nullInt(f.Percentage), j[4],
		nullString(f.CreatedBy), nullString(f.UpdatedBy), f.CreatedAt, f.UpdatedAt)
	if db.IsUniqueViolation(err) {
		return apperr.New(apperr.Conflict, "a feature flag with key %q already exists", f.Key)
	}
	if err != nil {
		return fmt.Errorf("insert flag %s: %w", f.Key, err)
	}
	return nil
}

func updateFlag(ctx context.Context, tx *db.Tx, f Flag) error {
	j, err := jsonCols(f)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE feature_flags SET description = $2, enabled = $3, user_ids = $4,
		organization_ids = $5, roles = $6, plans = $7, percentage = $8, variants = $9, updated_by = $10,
		updated_at = $11 WHERE id = $1`,
		f.ID, f.Description, f.Enabled, j[0], j[1], j[2], j[3], nullInt(f.Percentage), j[4],
		nullString(f.UpdatedBy), f.UpdatedAt)
	if err != nil {
		return fmt.Errorf("update flag %s: %w", f.Key, err)
	}
	return nil
}

func deleteFlag(ctx context.Context, tx *db.Tx, id string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM feature_flags WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete flag %s: %w", id, err)
	}
	return nil
}

// bumpVersion advances the version every node polls. Writers call it first
// in their transaction: on PostgreSQL the row lock it takes serializes flag
// writers, so a read-modify-write of a flag cannot lose a concurrent change
// (SQLite's single writer already serializes them).
func bumpVersion(ctx context.Context, tx *db.Tx) (int64, error) {
	var v int64
	if err := tx.QueryRowContext(ctx, `UPDATE flag_state SET version = version + 1 WHERE id = 1 RETURNING version`).Scan(&v); err != nil {
		return 0, fmt.Errorf("bump flag version: %w", err)
	}
	return v, nil
}

func readVersion(ctx context.Context, q db.Querier) (int64, error) {
	var v int64
	if err := q.QueryRowContext(ctx, `SELECT version FROM flag_state WHERE id = 1`).Scan(&v); err != nil {
		return 0, fmt.Errorf("read flag version: %w", err)
	}
	return v, nil
}

func nullInt(p *int) any {
	if p == nil {
		return nil
	}
	return int64(*p)
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
