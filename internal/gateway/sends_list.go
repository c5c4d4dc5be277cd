package gateway

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// SendFilter narrows a gateway's outbound messages: by delivery status,
// by creation time (Since inclusive), and a page (Cursor: the last id of
// the previous page).
type SendFilter struct {
	Status string
	Since  time.Time
	Cursor string
	Limit  int
}

// SendPage is a page of outbound messages, newest first.
type SendPage struct {
	Items      []SendRecord `json:"items"`
	NextCursor *string      `json:"nextCursor"`
}

// Sends lists a gateway's outbound messages, newest first.
func (s *Service) Sends(ctx context.Context, a actor.Actor, gatewayID string, f SendFilter) (SendPage, error) {
	if err := allow(a, actor.PermGatewayRead); err != nil {
		return SendPage{}, err
	}
	if _, err := s.Get(ctx, a, gatewayID); err != nil {
		return SendPage{}, err
	}
	if f.Limit <= 0 || f.Limit > 200 {
		f.Limit = 50
	}
	q := `SELECT ` + sendColumns + ` FROM gateway_sends WHERE workspace_id = $1 AND gateway_id = $2`
	args := []any{gatewayID}
	switch f.Status {
	case "":
	case SendQueued, SendSent, SendFailed:
		args = append(args, f.Status)
		q += fmt.Sprintf(` AND status = $%d`, len(args)+1)
	default:
		return SendPage{}, apperr.Invalid(apperr.FieldError{Field: "status", Message: "must be QUEUED, SENT or FAILED"})
	}
	if !f.Since.IsZero() {
		args = append(args, f.Since.UTC())
		q += fmt.Sprintf(` AND created_at >= $%d`, len(args)+1)
	}
	if f.Cursor != "" {
		args = append(args, f.Cursor)
		q += fmt.Sprintf(` AND id < $%d`, len(args)+1)
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, f.Limit+1)
	rows, err := db.Scope(s.db.Read(), a.WorkspaceID()).QueryContext(ctx, q, args...)
	if err != nil {
		return SendPage{}, apperr.Wrap(err, "list sends")
	}
	defer rows.Close()
	p := SendPage{Items: []SendRecord{}}
	for rows.Next() {
		var r SendRecord
		var pmid, lastErr sql.NullString
		var sent sql.NullTime
		if err := rows.Scan(&r.ID, &r.GatewayID, &r.ChatID, &r.Text, &r.Status, &r.Attempts, &pmid, &lastErr, &r.CreatedAt, &r.UpdatedAt, &sent); err != nil {
			return SendPage{}, apperr.Wrap(err, "list sends")
		}
		r.ProviderMessageID, r.LastError, r.SentAt = pmid.String, lastErr.String, ptrTime(sent.Time)
		r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
		p.Items = append(p.Items, r)
	}
	if err := rows.Err(); err != nil {
		return SendPage{}, apperr.Wrap(err, "list sends")
	}
	if len(p.Items) > f.Limit {
		p.Items = p.Items[:f.Limit]
		next := p.Items[f.Limit-1].ID
		p.NextCursor = &next
	}
	return p, nil
}
