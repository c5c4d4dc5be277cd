package audit

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// Filter narrows a listing. Zero fields do not filter.
type Filter struct {
	UserID         string
	OrganizationID string
	Action         string
	Resource       string
	ResourceID     string
	Status         string
	From, To       time.Time
	// Cursor is the opaque value of a previous page's NextCursor.
	Cursor string
	Limit  int
}

// Page is one page of rows, newest first.
type Page struct {
	Items      []Row   `json:"items"`
	NextCursor *string `json:"nextCursor"`
}

const (
	defaultLimit = 50
	maxLimit     = 200
)

// List returns rows matching f, newest first, with cursor pagination.
func List(ctx context.Context, q db.Querier, f Filter) (Page, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = defaultLimit
	}
	if limit > maxLimit {
		limit = maxLimit
	}
	var where []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.UserID != "" {
		add("user_id = $%d", f.UserID)
	}

	if f.OrganizationID != "" {
		add("organization_id = $%d", f.OrganizationID)
	}
	if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if f.Resource != "" {
		add("resource = $%d", f.Resource)
	}
	if f.ResourceID != "" {
		add("resource_id = $%d", f.ResourceID)
	}
	if f.Status != "" {
		if f.Status != Success && f.Status != Failure {
			return Page{}, apperr.Invalid(apperr.FieldError{Field: "status", Message: "must be success or failure"})
		}
		add("status = $%d", f.Status)
	}
	if !f.From.IsZero() {
		add("created_at >= $%d", f.From.UTC())
	}
	if !f.To.IsZero() {
		add("created_at < $%d", f.To.UTC())
	}
	if f.Cursor != "" {
		seq, err := strconv.ParseInt(f.Cursor, 36, 64)
		if err != nil || seq <= 0 {
			return Page{}, apperr.Invalid(apperr.FieldError{Field: "cursor", Message: "not a cursor this API returned"})
		}
		add("seq < $%d", seq)
	}
	query := `SELECT ` + columns + ` FROM audit_logs`
	if len(where) > 0 {
		query += " WHERE " + strings.Join(where, " AND ")
	}
	query += fmt.Sprintf(" ORDER BY seq DESC LIMIT %d", limit+1)
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return Page{}, fmt.Errorf("list audit: %w", err)
	}
	defer rows.Close()
	page := Page{Items: []Row{}}
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			return Page{}, err
		}
		page.Items = append(page.Items, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("list audit: %w", err)
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		next := strconv.FormatInt(page.Items[limit-1].Seq, 36)
		page.NextCursor = &next
	}
	return page, nil
}

const columns = `id, seq, chain_id, chain_seq, user_id, organization_id, impersonator_id, action, resource, resource_id,
	status, ip_address, user_agent, request_id, metadata, created_at, prev_hash, hash`

func scanRow(rows *sql.Rows) (Row, error) { return scanRowPlus(rows) }

// scanRowPlus scans the row's columns followed by extra ones.
func scanRowPlus(rows *sql.Rows, extra ...any) (Row, error) {
	var r Row
	var user, org, imp, resID sql.NullString
	var meta string
	if err := rows.Scan(append([]any{&r.ID, &r.Seq, &r.ChainID, &r.ChainSeq, &user, &org, &imp, &r.Action, &r.Resource, &resID,
		&r.Status, &r.IPAddress, &r.UserAgent, &r.RequestID, &meta, &r.CreatedAt,
		&r.PrevHash, &r.Hash}, extra...)...); err != nil {
		return Row{}, fmt.Errorf("scan audit row: %w", err)
	}
	r.UserID, r.OrganizationID, r.ImpersonatorID, r.ResourceID = user.String, org.String, imp.String, resID.String
	r.Metadata = []byte(meta)
	r.CreatedAt = r.CreatedAt.UTC()
	return r, nil
}
