package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

var errNotFound = apperr.New(apperr.NotFound, "event subscription not found")

// Subscription is a URL subscribed to some of a workspace's events. Its
// signing secret is shown once, when created or rotated.
type Subscription struct {
	ID          string    `json:"id"`
	URL         string    `json:"url"`
	Description string    `json:"description"`
	Events      []string  `json:"events"`
	Enabled     bool      `json:"enabled"`
	CreatedBy   string    `json:"createdBy,omitempty"`
	CreatedAt   time.Time `json:"createdAt"`
	UpdatedAt   time.Time `json:"updatedAt"`

	sealed string
}

// WithSecret is a subscription with its signing secret, answered only by
// create and rotate.
type WithSecret struct {
	Subscription
	// Secret ("whsec_" + base64) verifies deliveries; it is not shown again.
	Secret string `json:"secret"`
}

// CreateInput subscribes a URL.
type CreateInput struct {
	URL         string   `json:"url"`
	Events      []string `json:"events"`
	Description string   `json:"description,omitempty"`
	// Enabled defaults to true.
	Enabled *bool `json:"enabled,omitempty"`
}

// UpdateInput changes a subscription; absent fields stay as they are.
type UpdateInput struct {
	URL         *string  `json:"url,omitempty"`
	Events      []string `json:"events,omitempty"`
	Description *string  `json:"description,omitempty"`
	Enabled     *bool    `json:"enabled,omitempty"`
}

// Page is one page of subscriptions, newest first.
type Page struct {
	Items      []Subscription `json:"items"`
	NextCursor *string        `json:"nextCursor"`
}

func allow(a actor.Actor) error {
	if !a.Can(actor.PermEventsManage) {
		return apperr.New(apperr.Forbidden, "you lack the permission %s", actor.PermEventsManage)
	}
	return nil
}

func (s *Service) checkURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	switch {
	case raw == "":
		return "", apperr.Invalid(apperr.FieldError{Field: "url", Message: "is required"})
	case len(raw) > 2000:
		return "", apperr.Invalid(apperr.FieldError{Field: "url", Message: "must be at most 2000 characters"})
	}
	u, err := s.client.Policy.CheckURL(raw)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "safehttp: destination not allowed: ")
		return "", apperr.Invalid(apperr.FieldError{Field: "url", Message: msg})
	}
	return u.String(), nil
}

func checkTypes(types []string) ([]string, error) {
	if len(types) == 0 {
		return nil, apperr.Invalid(apperr.FieldError{Field: "events", Message: "must name at least one of " + strings.Join(Types, ", ")})
	}
	out := []string{}
	for _, t := range types {
		if !slices.Contains(Types, t) {
			return nil, apperr.Invalid(apperr.FieldError{Field: "events", Message: fmt.Sprintf("%q is not one of %s", t, strings.Join(Types, ", "))})
		}
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	return out, nil
}

func checkDescription(d string) error {
	if len(d) > 500 {
		return apperr.Invalid(apperr.FieldError{Field: "description", Message: "must be at most 500 characters"})
	}
	return nil
}

// Create subscribes a URL within the plan's bound on subscriptions and
// returns it with its secret, shown this once.
func (s *Service) Create(ctx context.Context, a actor.Actor, in CreateInput) (WithSecret, error) {
	if err := allow(a); err != nil {
		return WithSecret{}, err
	}
	url, err := s.checkURL(in.URL)
	if err != nil {
		return WithSecret{}, err
	}
	types, err := checkTypes(in.Events)
	if err != nil {
		return WithSecret{}, err
	}
	if err := checkDescription(in.Description); err != nil {
		return WithSecret{}, err
	}
	id := ids.New(prefixSubscription)
	plain, err := NewSecret()
	if err != nil {
		return WithSecret{}, apperr.Wrap(err, "create event subscription")
	}
	enc, keyID, err := SecretStore(s.db).Seal(s.keys, id, []byte(plain))
	if err != nil {
		return WithSecret{}, apperr.Wrap(err, "create event subscription")
	}
	now := db.Now()
	sub := Subscription{ID: id, URL: url, Description: in.Description, Events: types, Enabled: in.Enabled == nil || *in.Enabled,
		CreatedBy: a.UserID, CreatedAt: now, UpdatedAt: now}
	ws := a.WorkspaceID()
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		n, err := Count(ctx, tx, ws)
		if err != nil {
			return err
		}
		if limit := Limit(a.Plan); limit != actor.Unlimited && n >= limit {
			// Shaped as every plan limit's refusal (credit.CheckCount), so
			// a client reads the metric the same way for all of them.
			return apperr.New(apperr.PlanLimitExceeded, "plan %s allows %d %s and this workspace has %d; remove some or upgrade the plan for more",
				a.Plan, limit, UsageMetric, n).
				WithDetails(map[string]any{"metric": UsageMetric, "limit": limit, "used": n, "current": n, "requested": 1, "plan": a.Plan})
		}
		raw, _ := json.Marshal(types)
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO event_subscriptions (workspace_id, id, url, description, events,
			enabled, secret_sealed, secret_key_id, created_by, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)`, id, url, in.Description, string(raw), sub.Enabled, enc, keyID,
			nullString(a.UserID), now); err != nil {
			return fmt.Errorf("insert event subscription: %w", err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "event_subscription.created", Resource: "event_subscription", ResourceID: id,
			Metadata: map[string]any{"url": url, "events": types, "enabled": sub.Enabled}})
	})
	if err != nil {
		return WithSecret{}, apperr.Wrap(err, "create event subscription")
	}
	return WithSecret{Subscription: sub, Secret: plain}, nil
}

const subColumns = `id, url, description, events, enabled, secret_sealed, created_by, created_at, updated_at`

func scanSub(row interface{ Scan(...any) error }) (Subscription, error) {
	var sub Subscription
	var raw string
	var by sql.NullString
	if err := row.Scan(&sub.ID, &sub.URL, &sub.Description, &raw, &sub.Enabled, &sub.sealed, &by, &sub.CreatedAt, &sub.UpdatedAt); err != nil {
		return Subscription{}, err
	}
	if err := json.Unmarshal([]byte(raw), &sub.Events); err != nil {
		return Subscription{}, fmt.Errorf("event subscription %s: events unreadable: %w", sub.ID, err)
	}
	sub.CreatedBy, sub.CreatedAt, sub.UpdatedAt = by.String, sub.CreatedAt.UTC(), sub.UpdatedAt.UTC()
	return sub, nil
}

func (s *Service) loadSubscription(ctx context.Context, q db.Querier, ws, id string) (Subscription, error) {
	if !ids.Valid(prefixSubscription, id) {
		return Subscription{}, errNotFound
	}
	sub, err := scanSub(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+subColumns+` FROM event_subscriptions
		WHERE workspace_id = $1 AND id = $2`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Subscription{}, errNotFound
	}
	return sub, err
}

// Get returns one subscription (never its secret).
func (s *Service) Get(ctx context.Context, a actor.Actor, id string) (Subscription, error) {
	if err := allow(a); err != nil {
		return Subscription{}, err
	}
	sub, err := s.loadSubscription(ctx, s.db.Read(), a.WorkspaceID(), id)
	return sub, apperr.Wrap(err, "get event subscription")
}

// List returns the workspace's subscriptions, newest first, limit (1–200,
// default 50) after cursor (the last id of the previous page).
func (s *Service) List(ctx context.Context, a actor.Actor, cursor string, limit int) (Page, error) {
	if err := allow(a); err != nil {
		return Page{}, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	q := `SELECT ` + subColumns + ` FROM event_subscriptions WHERE workspace_id = $1`
	args := []any{}
	if cursor != "" {
		args = append(args, cursor)
		q += ` AND id < $2`
	}
	args = append(args, limit+1)
	q += fmt.Sprintf(` ORDER BY id DESC LIMIT $%d`, len(args)+1)
	items, next, err := db.CollectPage(ctx, s.db.Read(), a.WorkspaceID(), q, args, limit, func(rows *sql.Rows) (Subscription, string, error) {
		sub, err := scanSub(rows)
		return sub, sub.ID, err
	})
	if err != nil {
		return Page{}, apperr.Wrap(err, "list event subscriptions")
	}
	p := Page{Items: items}
	if next != "" {
		p.NextCursor = &next
	}
	return p, nil
}

// Update changes a subscription's URL, events, description or enabled flag.
// Deliveries already queued go to the subscription as it is when they are
// attempted; a disabled subscription's pending deliveries fail.
func (s *Service) Update(ctx context.Context, a actor.Actor, id string, in UpdateInput) (Subscription, error) {
	if err := allow(a); err != nil {
		return Subscription{}, err
	}
	ws := a.WorkspaceID()
	var out Subscription
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		sub, err := s.loadSubscription(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		before := map[string]any{"url": sub.URL, "events": sub.Events, "enabled": sub.Enabled, "description": sub.Description}
		if in.URL != nil {
			if sub.URL, err = s.checkURL(*in.URL); err != nil {
				return err
			}
		}
		if in.Events != nil {
			if sub.Events, err = checkTypes(in.Events); err != nil {
				return err
			}
		}
		if in.Description != nil {
			if err := checkDescription(*in.Description); err != nil {
				return err
			}
			sub.Description = *in.Description
		}
		if in.Enabled != nil {
			sub.Enabled = *in.Enabled
		}
		sub.UpdatedAt = db.Now()
		raw, _ := json.Marshal(sub.Events)
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE event_subscriptions SET url = $3, events = $4, description = $5,
			enabled = $6, updated_at = $7 WHERE workspace_id = $1 AND id = $2`, id, sub.URL, string(raw), sub.Description,
			sub.Enabled, sub.UpdatedAt); err != nil {
			return fmt.Errorf("update event subscription: %w", err)
		}
		after := map[string]any{"url": sub.URL, "events": sub.Events, "enabled": sub.Enabled, "description": sub.Description}
		out = sub
		return audit.Record(ctx, tx, a, audit.Entry{Action: "event_subscription.updated", Resource: "event_subscription", ResourceID: id,
			Metadata: audit.WithDiff(map[string]any{}, before, after)})
	})
	if err != nil {
		return Subscription{}, apperr.Wrap(err, "update event subscription")
	}
	return out, nil
}

// Delete removes a subscription with its deliveries and their log.
func (s *Service) Delete(ctx context.Context, a actor.Actor, id string) error {
	if err := allow(a); err != nil {
		return err
	}
	ws := a.WorkspaceID()
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		sub, err := s.loadSubscription(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		q := db.Scope(tx, ws)
		if _, err := q.ExecContext(ctx, `DELETE FROM event_delivery_attempts WHERE workspace_id = $1 AND delivery_id IN
			(SELECT id FROM event_deliveries WHERE workspace_id = $1 AND subscription_id = $2)`, id); err != nil {
			return fmt.Errorf("delete delivery log: %w", err)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM event_deliveries WHERE workspace_id = $1 AND subscription_id = $2`, id); err != nil {
			return fmt.Errorf("delete deliveries: %w", err)
		}
		if _, err := q.ExecContext(ctx, `DELETE FROM event_subscriptions WHERE workspace_id = $1 AND id = $2`, id); err != nil {
			return fmt.Errorf("delete event subscription: %w", err)
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "event_subscription.deleted", Resource: "event_subscription", ResourceID: id,
			Metadata: map[string]any{"url": sub.URL}})
	})
	return apperr.Wrap(err, "delete event subscription")
}

// RotateSecret gives a subscription a new signing secret, returned this
// once; deliveries signed from then on use it (retries of earlier ones
// too: a signature is made at each attempt).
func (s *Service) RotateSecret(ctx context.Context, a actor.Actor, id string) (WithSecret, error) {
	if err := allow(a); err != nil {
		return WithSecret{}, err
	}
	plain, err := NewSecret()
	if err != nil {
		return WithSecret{}, apperr.Wrap(err, "rotate secret")
	}
	ws := a.WorkspaceID()
	var out WithSecret
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		sub, err := s.loadSubscription(ctx, tx, ws, id)
		if err != nil {
			return err
		}
		enc, keyID, err := SecretStore(s.db).Seal(s.keys, sub.ID, []byte(plain))
		if err != nil {
			return err
		}
		sub.UpdatedAt = db.Now()
		if _, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE event_subscriptions SET secret_sealed = $3, secret_key_id = $4,
			updated_at = $5 WHERE workspace_id = $1 AND id = $2`, id, enc, keyID, sub.UpdatedAt); err != nil {
			return fmt.Errorf("rotate secret: %w", err)
		}
		out = WithSecret{Subscription: sub, Secret: plain}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "event_subscription.secret_rotated", Resource: "event_subscription", ResourceID: id})
	})
	if err != nil {
		return WithSecret{}, apperr.Wrap(err, "rotate secret")
	}
	return out, nil
}
