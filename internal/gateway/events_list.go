package gateway

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/channel"
)

// EventFilter narrows a gateway's inbound events: by event type
// (gateway.message, …), by processing status (RECEIVED or PROCESSED), and
// a page (Cursor: the last id of the previous page; Limit 1–200, default
// 50).
type EventFilter struct {
	Type   string
	Status string
	Cursor string
	Limit  int
}

var eventTypes = []string{channel.EventMessage, channel.EventCommand, channel.EventMemberJoined, channel.EventMemberLeft, channel.EventWebhook}

// ListEvents lists a gateway's inbound events, newest first.
func (s *Service) ListEvents(ctx context.Context, a actor.Actor, gatewayID string, f EventFilter) (EventPage, error) {
	if err := allow(a, actor.PermGatewayRead); err != nil {
		return EventPage{}, err
	}
	if _, err := s.Get(ctx, a, gatewayID); err != nil {
		return EventPage{}, err
	}
	if f.Limit <= 0 {
		f.Limit = 50
	}
	f.Limit = min(f.Limit, 200)
	q := `SELECT payload, status, processed_at, id FROM gateway_events WHERE workspace_id = $1 AND gateway_id = $2`
	args := []any{gatewayID}
	if f.Type != "" {
		known := false
		for _, t := range eventTypes {
			known = known || t == f.Type
		}
		if !known {
			return EventPage{}, apperr.Invalid(apperr.FieldError{Field: "type", Message: "must be gateway.message, gateway.command, gateway.member_joined, gateway.member_left or gateway.webhook"})
		}
		args = append(args, f.Type)
		q += fmt.Sprintf(` AND type = $%d`, len(args)+1)
	}
	switch f.Status {
	case "":
	case "RECEIVED", "PROCESSED":
		args = append(args, f.Status)
		q += fmt.Sprintf(` AND status = $%d`, len(args)+1)
	default:
		return EventPage{}, apperr.Invalid(apperr.FieldError{Field: "status", Message: "must be RECEIVED or PROCESSED"})
	}
	if f.Cursor != "" {
		args = append(args, f.Cursor)
		q += fmt.Sprintf(` AND id < $%d`, len(args)+1)
	}
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT %d`, f.Limit+1)
	rows, err := db.Scope(s.db.Read(), a.WorkspaceID()).QueryContext(ctx, q, args...)
	if err != nil {
		return EventPage{}, apperr.Wrap(err, "list events")
	}
	defer rows.Close()
	p := EventPage{Items: []WorkspaceJob{}}
	for rows.Next() {
		var raw, status, id string
		var processed sql.NullTime
		if err := rows.Scan(&raw, &status, &processed, &id); err != nil {
			return EventPage{}, apperr.Wrap(err, "list events")
		}
		ev, err := scanEvent(fixed{raw, status, processed})
		if err != nil {
			return EventPage{}, apperr.Wrap(err, "list events")
		}
		p.Items = append(p.Items, ev)
	}
	if err := rows.Err(); err != nil {
		return EventPage{}, apperr.Wrap(err, "list events")
	}
	if len(p.Items) > f.Limit {
		p.Items = p.Items[:f.Limit]
		next := p.Items[f.Limit-1].ID
		p.NextCursor = &next
	}
	return p, nil
}
