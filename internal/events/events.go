// Package events sends a workspace's events out to the URLs it subscribed,
// signed as Standard Webhooks (signature.go), each delivery a River job
// retried with backoff over hours and logged attempt by attempt.
//
// Events are emitted inside the transaction of the change they describe
// (EmitTx): the delivery rows and their jobs commit — or roll back — with
// it, so an event is never sent for a change that did not happen nor lost
// for one that did. Delivery is at least once: a receiver deduplicates by
// webhook-id, which stays the same across retries and redeliveries.
package events

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/safehttp"
	"github.com/switchboard/switchboard/internal/secret"
)

// Event types a subscription may name.
const (
	RunFailed    = "run.failed"
	RunCompleted = "run.completed"
	GatewayError = "gateway.error"
	CreditsLow   = "credits.low"
	PlanChanged  = "plan.changed"
	// Test is sent only by SendTest, to the one subscription asked.
	Test = "event.test"
)

// Types lists the event types in documentation order.
var Types = []string{RunFailed, RunCompleted, GatewayError, CreditsLow, PlanChanged}

// Id prefixes: a subscription, one delivery, and an event (the
// webhook-id, shared by the deliveries of one event).
const (
	SubscriptionPrefix = "evsub"
	DeliveryPrefix     = "evdlv"
	EventPrefix        = "evt"

	prefixSubscription = SubscriptionPrefix
	prefixDelivery     = DeliveryPrefix
	prefixEvent        = EventPrefix
)

// MaxSubscriptions bounds a workspace's subscriptions by plan: each one
// multiplies the outbound traffic of every event.
var MaxSubscriptions = map[actor.Plan]int{
	actor.Free: 2, actor.Starter: 5, actor.Pro: 20, actor.Business: 50, actor.Enterprise: 200,
}

// DefaultSchedule is the wait before each retry of a failed delivery: eight
// attempts over about 28 hours (the schedule Standard Webhooks senders
// commonly use).
var DefaultSchedule = []time.Duration{5 * time.Second, 5 * time.Minute, 30 * time.Minute, 2 * time.Hour,
	5 * time.Hour, 10 * time.Hour, 10 * time.Hour}

// Options tune the service; the zero value is production's.
type Options struct {
	// Schedule replaces DefaultSchedule (tests make it quick).
	Schedule []time.Duration
	// Timeout bounds one attempt (default 15 s).
	Timeout time.Duration
	// Allow lists the non-public destinations deliveries may reach (the
	// --outbound-allow list; see safehttp).
	Allow []string
}

// Service owns subscriptions, deliveries and their jobs.
type Service struct {
	db     *db.DB
	jobs   *jobs.Runner
	keys   *secret.Keyring
	client *safehttp.Client
	log    *slog.Logger
	opt    Options
}

// New builds the service; call RegisterJobs before the runner opens.
func New(d *db.DB, runner *jobs.Runner, keys *secret.Keyring, log *slog.Logger, opt Options) (*Service, error) {
	if len(opt.Schedule) == 0 {
		opt.Schedule = DefaultSchedule
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 15 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	client, err := safehttp.New(safehttp.Options{Allow: opt.Allow, Timeout: opt.Timeout, MaxResponseBytes: 64 << 10, MaxRedirects: 1})
	if err != nil {
		return nil, fmt.Errorf("event delivery client: %w", err)
	}
	// A receiver's redirect is not followed: the signature was made for
	// the subscribed URL, and a 3xx is the receiver's answer to log.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Service{db: d, jobs: runner, keys: keys, client: client, log: log, opt: opt}, nil
}

// RegisterJobs adds the delivery worker to the runner.
func (s *Service) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &deliverWorker{s: s})
	river.AddWorker(r.Workers(), &pruneWorker{s: s})
	r.AddPeriodic(time.Hour, func() river.JobArgs { return pruneArgs{} })
}

// SecretStore is the subscriptions' sealed signing secrets, for key
// rotation, the start-up key check and `switchboard keys`.
func SecretStore(d *db.DB) secret.Column {
	return secret.Column{DB: d, StoreName: "event subscription secrets", What: "event subscription", Table: "event_subscriptions",
		Sealed: "secret_sealed", KeyID: "secret_key_id", Context: func(id string) string { return "event-subscription:" + id }}
}

// Envelope is the body of every delivery, as Standard Webhooks recommends.
type Envelope struct {
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      any       `json:"data"`
}

// EmitTx records an event of a workspace inside tx: one pending delivery
// and its job for every enabled subscription of the workspace to typ. A
// workspace without such subscriptions costs one indexed read.
func (s *Service) EmitTx(ctx context.Context, tx *db.Tx, workspaceID, typ string, data any) error {
	subs, err := subscribedTo(ctx, tx, workspaceID, typ)
	if err != nil || len(subs) == 0 {
		return err
	}
	now := db.Now()
	body, err := json.Marshal(Envelope{Type: typ, Timestamp: now, Data: data})
	if err != nil {
		return fmt.Errorf("encode event %s: %w", typ, err)
	}
	plan, err := planOf(ctx, tx, workspaceID)
	if err != nil {
		return err
	}
	eventID := ids.New(prefixEvent)
	for _, sub := range subs {
		if _, err := s.queueTx(ctx, tx, workspaceID, plan, sub, eventID, typ, body, now); err != nil {
			return err
		}
	}
	return nil
}

// subscribedTo lists the enabled subscriptions of a workspace to typ.
func subscribedTo(ctx context.Context, q db.Querier, ws, typ string) ([]string, error) {
	rows, err := db.Scope(q, ws).QueryContext(ctx, `SELECT id, events FROM event_subscriptions
		WHERE workspace_id = $1 AND enabled = $2 ORDER BY id`, true)
	if err != nil {
		return nil, fmt.Errorf("find event subscriptions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id, raw string
		if err := rows.Scan(&id, &raw); err != nil {
			return nil, fmt.Errorf("find event subscriptions: %w", err)
		}
		var types []string
		if json.Unmarshal([]byte(raw), &types) == nil && slices.Contains(types, typ) {
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// planOf is the plan of a workspace (a user's personal one or an
// organization), which routes its delivery jobs.
func planOf(ctx context.Context, q db.Querier, ws string) (actor.Plan, error) {
	var plan sql.NullString
	err := q.QueryRowContext(ctx, `SELECT COALESCE((SELECT plan FROM organizations WHERE id = $1),
		(SELECT plan FROM users WHERE id = $1))`, ws).Scan(&plan)
	if err != nil {
		return "", fmt.Errorf("read plan of workspace: %w", err)
	}
	if !plan.Valid {
		return actor.Free, nil
	}
	return actor.Plan(plan.String), nil
}

// queueTx writes one pending delivery and its job, and returns its id.
func (s *Service) queueTx(ctx context.Context, tx *db.Tx, ws string, plan actor.Plan, subID, eventID, typ string, body []byte, now time.Time) (string, error) {
	id := ids.New(prefixDelivery)
	if _, err := db.Scope(tx, ws).ExecContext(ctx, `INSERT INTO event_deliveries (workspace_id, id, subscription_id, event_id,
		event_type, payload, status, attempts, next_attempt_at, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7)`, id, subID, eventID, typ, string(body), now); err != nil {
		return "", fmt.Errorf("record delivery: %w", err)
	}
	return id, s.enqueueTx(ctx, tx, ws, plan, id)
}

func (s *Service) enqueueTx(ctx context.Context, tx *db.Tx, ws string, plan actor.Plan, deliveryID string) error {
	if s.jobs == nil {
		return fmt.Errorf("queue delivery: no job runner")
	}
	_, err := s.jobs.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: ws, Plan: plan},
		deliverArgs{DeliveryID: deliveryID, WorkspaceID: ws}, &river.InsertOpts{MaxAttempts: len(s.opt.Schedule) + 1})
	if err != nil {
		return fmt.Errorf("queue delivery: %w", err)
	}
	return nil
}

// SubscribedSQL is a SQL condition on the workspace id col (a column or
// parameter of the enclosing query) that is false only when the workspace
// has no enabled subscription, in which case EmitTx records nothing. A
// caller that reads its own row before its transaction asks it there and
// spares EmitTx's read when the answer is false.
func (s *Service) SubscribedSQL(col string) string {
	return "EXISTS (SELECT 1 FROM event_subscriptions WHERE workspace_id = " + col + " AND enabled = TRUE)"
}
