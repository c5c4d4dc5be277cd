package gateway

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/jobs"
)

// WorkspaceJob is an inbound event in the seed's WorkspaceJob shape, the
// unit plugins and workflows consume: whose it is, what happened, and the
// normalized payload.
type WorkspaceJob struct {
	ID             string       `json:"id"`
	WorkspaceID    string       `json:"workspaceId"`
	UserID         string       `json:"userId,omitempty"`
	OrganizationID string       `json:"organizationId,omitempty"`
	Type           string       `json:"type"`
	Payload        EventPayload `json:"payload"`
	Status         string       `json:"status"`
	CreatedAt      time.Time    `json:"createdAt"`
	ProcessedAt    *time.Time   `json:"processedAt,omitempty"`
}

// EventPayload is the normalized content of an inbound event.
type EventPayload struct {
	GatewayID       string            `json:"gatewayId"`
	GatewayType     channel.Type      `json:"gatewayType"`
	ProviderEventID string            `json:"providerEventId"`
	ChatID          string            `json:"chatId,omitempty"`
	UserID          string            `json:"userId,omitempty"`
	Username        string            `json:"username,omitempty"`
	Text            string            `json:"text,omitempty"`
	Command         string            `json:"command,omitempty"`
	Args            string            `json:"args,omitempty"`
	Fields          map[string]string `json:"fields,omitempty"`
	Raw             json.RawMessage   `json:"raw,omitempty"`
}

// InboundResult is what the inbound endpoint answers.
type InboundResult struct {
	// Reply is the provider-specific answer (a challenge); nil for a plain
	// acknowledgement.
	Reply *channel.Reply
	// Stored counts new events; Duplicates counts repeated deliveries.
	Stored, Duplicates int
}

// Inbound authenticates and stores one delivery to a gateway's inbound URL.
// An unknown gateway, a wrong path token or a paused workspace answers
// NOT_FOUND; a missing or
// forged signature UNAUTHORIZED; a stale timestamp or malformed body
// VALIDATION_ERROR — and nothing is stored. Events are stored, with a job
// to process each, in one transaction; a delivery whose provider id was
// seen before is acknowledged and not stored again.
func (s *Service) Inbound(ctx context.Context, id, token string, req channel.Request) (InboundResult, error) {
	if !ids.Valid(ids.Gateway, id) || token == "" {
		return InboundResult{}, errNotFound
	}
	ws, err := hookWorkspace(ctx, s.db.Read(), id)
	if err != nil {
		return InboundResult{}, apperr.Wrap(err, "inbound")
	}
	// A paused workspace (its owner deactivated) takes no deliveries, not
	// even a platform's challenge: the same answer as an unknown gateway.
	if paused, err := s.pausedWorkspace(ctx, ws); err != nil {
		return InboundResult{}, apperr.Wrap(err, "inbound")
	} else if paused {
		return InboundResult{}, errNotFound
	}
	r, err := getRow(ctx, s.db.Read(), ws, id)
	if err != nil {
		return InboundResult{}, apperr.Wrap(err, "inbound")
	}
	want, err := s.openHook(r)
	if err != nil {
		return InboundResult{}, err
	}
	if subtle.ConstantTimeCompare([]byte(token), []byte(want)) != 1 {
		return InboundResult{}, errNotFound
	}
	creds, err := s.open(r)
	if err != nil {
		return InboundResult{}, err
	}
	ad, err := s.adapter(r.Type)
	if err != nil {
		return InboundResult{}, apperr.Wrap(err, "inbound")
	}
	return s.deliver(ctx, r, creds, ad, req)
}

// deliver is the inbound path after authentication of the caller: parse,
// de-duplicate, store and route. Webhook deliveries and long-polled
// updates (poll.go) both take it.
func (s *Service) deliver(ctx context.Context, r *row, creds map[string]string, ad channel.Adapter, req channel.Request) (InboundResult, error) {
	if req.Now.IsZero() {
		req.Now = time.Now()
	}
	in, err := ad.Parse(ctx, target(r, creds), req)
	if err != nil {
		s.log.Info("inbound refused", "gatewayId", r.ID, "type", r.Type, "reason", err.Error())
		s.metrics.Inbound(string(r.Type), "rejected")
		switch {
		case errors.Is(err, channel.ErrUnauthorized):
			return InboundResult{}, apperr.New(apperr.Unauthorized, "inbound request: %s", err.Error())
		case errors.Is(err, channel.ErrStale), errors.Is(err, channel.ErrMalformed):
			return InboundResult{}, apperr.New(apperr.Validation, "inbound request: %s", err.Error())
		}
		return InboundResult{}, apperr.Wrap(err, "parse inbound")
	}
	res := InboundResult{Reply: in.Reply}
	if len(in.Events) == 0 && len(in.Statuses) == 0 {
		return res, nil
	}
	if r.Status == Disconnected && len(in.Events) > 0 {
		return InboundResult{}, apperr.New(apperr.NotFound, "gateway is disconnected and accepts no events")
	}
	// Deliveries arriving together on SQLite share one commit.
	err = s.db.GroupTx(ctx, func(tx *db.Tx) error {
		res.Stored, res.Duplicates = 0, 0
		for _, st := range in.Statuses {
			if err := s.applyStatus(ctx, tx, r, st, creds); err != nil {
				return err
			}
		}
		for _, e := range in.Events {
			stored, err := s.storeEvent(ctx, tx, r, e)
			if err != nil {
				return err
			}
			if stored {
				res.Stored++
			} else {
				res.Duplicates++
			}
		}
		return nil
	})
	if err != nil {
		return InboundResult{}, apperr.Wrap(err, "store inbound events")
	}
	s.countInbound(string(r.Type), res)
	return res, nil
}

// applyStatus records a provider's report on a message the gateway sent,
// found by the id the provider gave it. A report on a message that is not
// (or no longer) this gateway's changes nothing.
func (s *Service) applyStatus(ctx context.Context, tx *db.Tx, r *row, st channel.DeliveryStatus, creds map[string]string) error {
	if !st.Failed || st.ProviderMessageID == "" || len(st.ProviderMessageID) > 200 || strings.IndexByte(st.ProviderMessageID, 0) >= 0 {
		return nil
	}
	_, err := db.Scope(tx, r.workspaceID).ExecContext(ctx, `UPDATE gateway_sends SET status = 'FAILED', last_error = $4, updated_at = $5
		WHERE workspace_id = $1 AND gateway_id = $2 AND provider_message_id = $3`,
		r.ID, st.ProviderMessageID, scrub(st.Error, creds), db.Now())
	if err != nil {
		return fmt.Errorf("record delivery status: %w", err)
	}
	return nil
}

// storeEvent inserts one event unless its provider id is known, and
// enqueues its processing in the same transaction.
func (s *Service) storeEvent(ctx context.Context, tx *db.Tx, r *row, e channel.Event) (bool, error) {
	job := WorkspaceJob{ID: ids.New(ids.GatewayEvent), WorkspaceID: r.workspaceID, UserID: r.UserID,
		OrganizationID: r.OrganizationID, Type: e.Type, CreatedAt: db.Now(),
		Payload: EventPayload{GatewayID: r.ID, GatewayType: r.Type, ProviderEventID: e.ProviderID, ChatID: e.ChatID,
			UserID: e.UserID, Username: e.Username, Text: e.Text, Command: e.Command, Args: e.Args, Fields: e.Fields, Raw: e.Raw}}
	if len(e.ProviderID) > 200 {
		return false, apperr.New(apperr.Validation, "inbound request: provider event id too long")
	}
	// The id may come from a header, which can carry any byte above 0x7f;
	// it is stored as text, which takes only UTF-8 without NUL.
	if !utf8.ValidString(e.ProviderID) || strings.IndexByte(e.ProviderID, 0) >= 0 {
		return false, apperr.New(apperr.Validation, "inbound request: provider event id must be UTF-8 text without NUL")
	}
	raw, err := json.Marshal(job)
	if err != nil {
		return false, fmt.Errorf("encode event: %w", err)
	}
	var got string
	err = db.Scope(tx, r.workspaceID).QueryRowContext(ctx, `INSERT INTO gateway_events
		(workspace_id, id, gateway_id, type, provider_event_id, payload, status, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, 'RECEIVED', $7)
		ON CONFLICT (gateway_id, provider_event_id) DO NOTHING RETURNING id /* workspace_id = $1 */`,
		job.ID, r.ID, e.Type, e.ProviderID, string(raw), job.CreatedAt).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("insert event: %w", err)
	}
	job.Status = "RECEIVED"
	if claimed, err := s.claim(ctx, tx, r, job); err != nil || claimed {
		return err == nil, err
	}
	if _, err := s.jobs.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: r.workspaceID, Plan: r.plan},
		eventArgs{EventID: job.ID, WorkspaceID: r.workspaceID}, &river.InsertOpts{MaxAttempts: 10}); err != nil {
		return false, err
	}
	job.Status = "RECEIVED"
	for _, h := range s.onStore {
		if err := h(ctx, tx, systemActor(r), job); err != nil {
			return false, fmt.Errorf("event subscribers: %w", err)
		}
	}
	return true, nil
}

// eventArgs is the processing job of one stored event.
type eventArgs struct {
	EventID     string `json:"eventId"`
	WorkspaceID string `json:"workspaceId"`
}

func (eventArgs) Kind() string { return "gateway.event" }

type eventWorker struct {
	river.WorkerDefaults[eventArgs]
	s *Service
}

// Work hands the event to every consumer and marks it PROCESSED. It runs
// at least once per event; consumers must tolerate a repeat after a crash.
func (w *eventWorker) Work(ctx context.Context, job *river.Job[eventArgs]) error {
	ev, err := w.s.loadEvent(ctx, job.Args.WorkspaceID, job.Args.EventID)
	if errors.Is(err, sql.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("event %s no longer exists", job.Args.EventID))
	}
	if err != nil {
		return err
	}
	if ev.Status == "PROCESSED" {
		return nil
	}
	a := actor.Actor{System: true, UserID: ev.UserID, OrganizationID: ev.OrganizationID}
	if ev.OrganizationID != "" {
		a.UserID = ""
	}
	for _, c := range w.s.consumers {
		if err := c(ctx, a, ev); err != nil {
			return fmt.Errorf("consume event %s: %w", ev.ID, err)
		}
	}
	return w.s.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := db.Scope(tx, ev.WorkspaceID).ExecContext(ctx, `UPDATE gateway_events SET status = 'PROCESSED', processed_at = $3
			WHERE workspace_id = $1 AND id = $2`, ev.ID, db.Now())
		if err != nil {
			return fmt.Errorf("mark event %s processed: %w", ev.ID, err)
		}
		return nil
	})
}

func (s *Service) loadEvent(ctx context.Context, ws, id string) (WorkspaceJob, error) {
	return scanEvent(db.Scope(s.db.Read(), ws).QueryRowContext(ctx,
		`SELECT payload, status, processed_at FROM gateway_events WHERE workspace_id = $1 AND id = $2`, id))
}

func scanEvent(sc scanner) (WorkspaceJob, error) {
	var raw, status string
	var processed sql.NullTime
	if err := sc.Scan(&raw, &status, &processed); err != nil {
		return WorkspaceJob{}, err
	}
	var ev WorkspaceJob
	if err := json.Unmarshal([]byte(raw), &ev); err != nil {
		return WorkspaceJob{}, fmt.Errorf("decode event: %w", err)
	}
	ev.Status, ev.ProcessedAt = status, ptrTime(processed.Time)
	return ev, nil
}

// EventPage is a page of events, newest first.
type EventPage struct {
	Items      []WorkspaceJob `json:"items"`
	NextCursor *string        `json:"nextCursor"`
}

// Events lists a gateway's inbound events, newest first (ListEvents
// with only a page).
func (s *Service) Events(ctx context.Context, a actor.Actor, gatewayID, cursor string, limit int) (EventPage, error) {
	return s.ListEvents(ctx, a, gatewayID, EventFilter{Cursor: cursor, Limit: limit})
}

// fixed replays already scanned values into scanEvent.
type fixed struct {
	raw, status string
	processed   sql.NullTime
}

func (f fixed) Scan(dest ...any) error {
	*dest[0].(*string), *dest[1].(*string), *dest[2].(*sql.NullTime) = f.raw, f.status, f.processed
	return nil
}
