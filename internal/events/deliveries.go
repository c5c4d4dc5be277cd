package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// Delivery statuses.
const (
	StatusPending   = "pending"
	StatusSucceeded = "succeeded"
	StatusFailed    = "failed"
)

var errDeliveryNotFound = apperr.New(apperr.NotFound, "delivery not found")

// Delivery is one event sent to one subscription, with its log.
type Delivery struct {
	ID             string `json:"id"`
	SubscriptionID string `json:"subscriptionId"`
	// EventID is the webhook-id header: the same across the attempts and
	// redeliveries of this event, and across its subscriptions.
	EventID        string          `json:"eventId"`
	EventType      string          `json:"eventType"`
	Status         string          `json:"status"`
	Attempts       int             `json:"attempts"`
	LastStatusCode *int            `json:"lastStatusCode,omitempty"`
	LastError      string          `json:"lastError,omitempty"`
	NextAttemptAt  *time.Time      `json:"nextAttemptAt,omitempty"`
	Payload        json.RawMessage `json:"payload"`
	CreatedAt      time.Time       `json:"createdAt"`
	UpdatedAt      time.Time       `json:"updatedAt"`
	DeliveredAt    *time.Time      `json:"deliveredAt,omitempty"`
	// Log is every attempt, oldest first (only in GET of one delivery).
	Log []Attempt `json:"log,omitempty"`
}

// Attempt is one HTTP attempt of a delivery.
type Attempt struct {
	Attempt    int  `json:"attempt"`
	StatusCode *int `json:"statusCode,omitempty"`
	// Response is the start of the receiver's answer (at most 1 KiB).
	Response      string     `json:"response,omitempty"`
	Error         string     `json:"error,omitempty"`
	DurationMs    int64      `json:"durationMs"`
	AttemptedAt   time.Time  `json:"attemptedAt"`
	NextAttemptAt *time.Time `json:"nextAttemptAt,omitempty"`
}

// DeliveryFilter narrows a listing of deliveries.
type DeliveryFilter struct {
	Status    string
	EventType string
	Cursor    string
	Limit     int
}

// DeliveryPage is one page of deliveries, newest first.
type DeliveryPage struct {
	Items      []Delivery `json:"items"`
	NextCursor *string    `json:"nextCursor"`
}

const deliveryColumns = `id, subscription_id, event_id, event_type, status, attempts, last_status_code, last_error,
	next_attempt_at, payload, created_at, updated_at, delivered_at`

func scanDelivery(row interface{ Scan(...any) error }) (Delivery, error) {
	var d Delivery
	var code sql.NullInt64
	var lastErr, payload sql.NullString
	var next, delivered sql.NullTime
	if err := row.Scan(&d.ID, &d.SubscriptionID, &d.EventID, &d.EventType, &d.Status, &d.Attempts, &code, &lastErr,
		&next, &payload, &d.CreatedAt, &d.UpdatedAt, &delivered); err != nil {
		return Delivery{}, err
	}
	d.LastStatusCode, d.LastError, d.NextAttemptAt, d.DeliveredAt = ptrInt(code), lastErr.String, ptrTime(next), ptrTime(delivered)
	d.Payload = json.RawMessage(payload.String)
	d.CreatedAt, d.UpdatedAt = d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return d, nil
}

func loadDelivery(ctx context.Context, q db.Querier, ws, id string) (Delivery, error) {
	if !ids.Valid(prefixDelivery, id) {
		return Delivery{}, errNotFound
	}
	d, err := scanDelivery(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+deliveryColumns+` FROM event_deliveries
		WHERE workspace_id = $1 AND id = $2`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Delivery{}, errNotFound
	}
	return d, err
}

// Deliveries lists a subscription's deliveries, newest first.
func (s *Service) Deliveries(ctx context.Context, a actor.Actor, subID string, f DeliveryFilter) (DeliveryPage, error) {
	if err := allow(a); err != nil {
		return DeliveryPage{}, err
	}
	switch f.Status {
	case "", StatusPending, StatusSucceeded, StatusFailed:
	default:
		return DeliveryPage{}, apperr.Invalid(apperr.FieldError{Field: "status", Message: "must be pending, succeeded or failed"})
	}
	if f.EventType != "" && f.EventType != Test && !slices.Contains(Types, f.EventType) {
		return DeliveryPage{}, apperr.Invalid(apperr.FieldError{Field: "eventType", Message: "is not an event type"})
	}
	ws := a.WorkspaceID()
	if _, err := s.loadSubscription(ctx, s.db.Read(), ws, subID); err != nil {
		return DeliveryPage{}, apperr.Wrap(err, "list deliveries")
	}
	limit := f.Limit
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	q := `SELECT ` + deliveryColumns + ` FROM event_deliveries WHERE workspace_id = $1 AND subscription_id = $2`
	args := []any{subID}
	add := func(cond string, v any) {
		args = append(args, v)
		q += fmt.Sprintf(" AND "+cond, len(args)+1)
	}
	if f.Status != "" {
		add("status = $%d", f.Status)
	}
	if f.EventType != "" {
		add("event_type = $%d", f.EventType)
	}
	if f.Cursor != "" {
		add("id < $%d", f.Cursor)
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args)+1)
	items, next, err := db.CollectPage(ctx, s.db.Read(), ws, q, args, limit, func(rows *sql.Rows) (Delivery, string, error) {
		d, err := scanDelivery(rows)
		return d, d.ID, err
	})
	if err != nil {
		return DeliveryPage{}, apperr.Wrap(err, "list deliveries")
	}
	p := DeliveryPage{Items: items}
	if next != "" {
		p.NextCursor = &next
	}
	return p, nil
}

// Delivery returns one delivery of a subscription with its attempt log.
func (s *Service) Delivery(ctx context.Context, a actor.Actor, subID, id string) (Delivery, error) {
	if err := allow(a); err != nil {
		return Delivery{}, err
	}
	ws := a.WorkspaceID()
	d, err := loadDelivery(ctx, s.db.Read(), ws, id)
	if errors.Is(err, errNotFound) || (err == nil && d.SubscriptionID != subID) {
		return Delivery{}, errDeliveryNotFound
	}
	if err != nil {
		return Delivery{}, apperr.Wrap(err, "get delivery")
	}
	rows, err := db.Scope(s.db.Read(), ws).QueryContext(ctx, `SELECT attempt, status_code, response, error, duration_ms,
		attempted_at, next_attempt_at FROM event_delivery_attempts WHERE workspace_id = $1 AND delivery_id = $2 ORDER BY attempt`, id)
	if err != nil {
		return Delivery{}, apperr.Wrap(err, "get delivery log")
	}
	defer rows.Close()
	d.Log = []Attempt{}
	for rows.Next() {
		var at Attempt
		var code sql.NullInt64
		var msg sql.NullString
		var next sql.NullTime
		if err := rows.Scan(&at.Attempt, &code, &at.Response, &msg, &at.DurationMs, &at.AttemptedAt, &next); err != nil {
			return Delivery{}, apperr.Wrap(err, "get delivery log")
		}
		at.StatusCode, at.Error, at.NextAttemptAt, at.AttemptedAt = ptrInt(code), msg.String, ptrTime(next), at.AttemptedAt.UTC()
		d.Log = append(d.Log, at)
	}
	return d, apperr.Wrap(rows.Err(), "get delivery log")
}

// Redeliver sends a finished delivery (succeeded or failed) again, with
// the same webhook-id and body and a fresh schedule of attempts; its log
// goes on. A delivery still pending is CONFLICT: its job owns it.
func (s *Service) Redeliver(ctx context.Context, a actor.Actor, subID, id string) (Delivery, error) {
	if err := allow(a); err != nil {
		return Delivery{}, err
	}
	ws := a.WorkspaceID()
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		d, err := loadDelivery(ctx, tx, ws, id)
		if errors.Is(err, errNotFound) || (err == nil && d.SubscriptionID != subID) {
			return errDeliveryNotFound
		}
		if err != nil {
			return err
		}
		sub, err := s.loadSubscription(ctx, tx, ws, subID)
		if err != nil {
			return err
		}
		if d.Status == StatusPending {
			return apperr.New(apperr.Conflict, "the delivery is still being attempted")
		}
		if !sub.Enabled {
			return apperr.New(apperr.Conflict, "the subscription is disabled; enable it first")
		}
		now := db.Now()
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE event_deliveries SET status = 'pending', next_attempt_at = $3,
			updated_at = $3, delivered_at = NULL WHERE workspace_id = $1 AND id = $2`, id, now); err != nil {
			return fmt.Errorf("redeliver: %w", err)
		}
		plan, err := planOf(ctx, tx, ws)
		if err != nil {
			return err
		}
		if err := s.enqueueTx(ctx, tx, ws, plan, id); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "event_subscription.redelivered", Resource: "event_subscription",
			ResourceID: subID, Metadata: map[string]any{"deliveryId": id, "eventType": d.EventType}})
	})
	if err != nil {
		return Delivery{}, apperr.Wrap(err, "redeliver")
	}
	return s.Delivery(ctx, a, subID, id)
}

// SendTest queues an event.test delivery to one subscription (enabled or
// not), to check a receiver's verification.
func (s *Service) SendTest(ctx context.Context, a actor.Actor, subID string) (Delivery, error) {
	if err := allow(a); err != nil {
		return Delivery{}, err
	}
	ws := a.WorkspaceID()
	var id string
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		sub, err := s.loadSubscription(ctx, tx, ws, subID)
		if err != nil {
			return err
		}
		if !sub.Enabled {
			return apperr.New(apperr.Conflict, "the subscription is disabled; enable it first")
		}
		now := db.Now()
		body, err := json.Marshal(Envelope{Type: Test, Timestamp: now, Data: map[string]any{"subscriptionId": sub.ID,
			"message": "This is a test event from Switchboard."}})
		if err != nil {
			return err
		}
		plan, err := planOf(ctx, tx, ws)
		if err != nil {
			return err
		}
		id, err = s.queueTx(ctx, tx, ws, plan, sub.ID, ids.New(prefixEvent), Test, body, now)
		return err
	})
	if err != nil {
		return Delivery{}, apperr.Wrap(err, "send test event")
	}
	return s.Delivery(ctx, a, subID, id)
}
