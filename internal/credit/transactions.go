package credit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// TxFilter selects ledger rows. Zero fields do not filter.
type TxFilter struct {
	Type     Type
	From, To time.Time
	// Cursor is the NextCursor of the previous page.
	Cursor string
	Limit  int
}

// TxPage is one page of ledger rows, newest first.
type TxPage struct {
	Items      []Transaction `json:"items"`
	NextCursor *string       `json:"nextCursor"`
}

// Transactions lists the actor's workspace ledger (credits:read).
func (s *Service) Transactions(ctx context.Context, a actor.Actor, f TxFilter) (TxPage, error) {
	if !a.System && !a.Can(actor.PermCreditsRead) {
		return TxPage{}, apperr.New(apperr.Forbidden, "you lack %s", actor.PermCreditsRead)
	}
	return s.transactions(ctx, s.db.Read(), a.WorkspaceID(), f)
}

func (s *Service) transactions(ctx context.Context, q db.Querier, ws string, f TxFilter) (TxPage, error) {
	if f.Type != "" && !f.Type.Valid() {
		return TxPage{}, apperr.Invalid(apperr.FieldError{Field: "type", Message: "must be purchase, usage, refund, bonus or grant"})
	}
	if f.Cursor != "" && !ids.Valid(ids.CreditTransaction, f.Cursor) {
		return TxPage{}, apperr.Invalid(apperr.FieldError{Field: "cursor", Message: "not a cursor this API returned"})
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	if limit > 1000 {
		limit = 1000
	}
	where := []string{"workspace_id = $1"}
	args := []any{}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)+1))
	}
	if f.Type != "" {
		add("type = $%d", string(f.Type))
	}
	if !f.From.IsZero() {
		add("created_at >= $%d", f.From.UTC())
	}
	if !f.To.IsZero() {
		add("created_at < $%d", f.To.UTC())
	}
	if f.Cursor != "" {
		add("id < $%d", f.Cursor)
	}
	args = append(args, limit+1)
	rows, err := db.Scope(q, ws).QueryContext(ctx, fmt.Sprintf(`SELECT `+txColumns+` FROM credit_transactions WHERE %s ORDER BY id DESC LIMIT $%d`,
		strings.Join(where, " AND "), len(args)+1), args...)
	if err != nil {
		return TxPage{}, fmt.Errorf("list transactions: %w", err)
	}
	defer rows.Close()
	page := TxPage{Items: []Transaction{}}
	for rows.Next() {
		t, err := scanTx(rows)
		if err != nil {
			return TxPage{}, fmt.Errorf("scan transaction: %w", err)
		}
		page.Items = append(page.Items, t)
	}
	if err := rows.Err(); err != nil {
		return TxPage{}, err
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		next := page.Items[limit-1].ID
		page.NextCursor = &next
	}
	return page, nil
}

// Transaction returns one ledger row of the actor's workspace.
func (s *Service) Transaction(ctx context.Context, a actor.Actor, id string) (Transaction, error) {
	if !a.System && !a.Can(actor.PermCreditsRead) {
		return Transaction{}, apperr.New(apperr.Forbidden, "you lack %s", actor.PermCreditsRead)
	}
	return s.transactionByID(ctx, s.db.Read(), a.WorkspaceID(), id)
}

func (s *Service) transactionByID(ctx context.Context, q db.Querier, ws, id string) (Transaction, error) {
	if !ids.Valid(ids.CreditTransaction, id) {
		return Transaction{}, apperr.New(apperr.NotFound, "transaction not found")
	}
	t, err := scanTx(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+txColumns+` FROM credit_transactions WHERE workspace_id = $1 AND id = $2`, id))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Transaction{}, apperr.New(apperr.NotFound, "transaction not found")
		}
		return Transaction{}, fmt.Errorf("read transaction: %w", err)
	}
	return t, nil
}
