package db

import (
	"context"
	"database/sql"
)

// CollectPage runs a workspace's listing query (ordered newest first, with
// LIMIT limit+1) and returns at most limit items and the cursor of the next
// page ("" on the last one): the id scan gives the item it read.
func CollectPage[T any](ctx context.Context, q Querier, ws, query string, args []any, limit int,
	scan func(*sql.Rows) (T, string, error)) ([]T, string, error) {
	rows, err := Scope(q, ws).QueryContext(ctx, query, args...)
	if err != nil {
		return nil, "", err
	}
	defer rows.Close()
	items, ids := []T{}, []string{}
	for rows.Next() {
		v, id, err := scan(rows)
		if err != nil {
			return nil, "", err
		}
		items, ids = append(items, v), append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, "", err
	}
	if len(items) > limit {
		return items[:limit], ids[limit-1], nil
	}
	return items, "", nil
}
