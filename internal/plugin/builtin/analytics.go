package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/plugin"
)

// AnalyticsMessage is one message the analytics built-in counts: where it
// was said, by whom, and on which UTC day.
type AnalyticsMessage struct {
	GatewayID string
	ChatID    string
	UserID    string
	Username  string
	Day       time.Time
}

// AnalyticsRecorder keeps the analytics built-in's counters; package
// plugin/analytics provides it. Record counts m for the installation once
// per key: a second call with the same key counts nothing and reports
// counted false.
type AnalyticsRecorder interface {
	Record(ctx context.Context, a actor.Actor, installationID, key string, m AnalyticsMessage) (counted bool, err error)
}

// Analytics counts the messages and commands of the gateways an
// installation subscribes to, per chat, user and UTC day (the day the
// event was received). It counts only subscribed gateway events, each
// exactly once however often its execution is retried (the execution's
// idempotency key, "event:<event id>", is the counting key). Other
// triggers and other event types succeed with counted false. The counters
// are read through GET /api/v1/installations/{id}/analytics.
type Analytics struct{ rec AnalyticsRecorder }

var (
	analyticsInput  = plugin.MustSchema(eventInputSchema)
	analyticsOutput = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"counted": {"type": "boolean"},
			"duplicate": {"type": "boolean"},
			"day": {"type": "string"},
			"reason": {"type": "string"}
		},
		"required": ["counted"],
		"additionalProperties": false
	}`)
	analyticsConfig = plugin.MustSchema(`{"type": "object", "additionalProperties": false}`)
)

// NewAnalytics returns the catalog entry of the analytics built-in; rec
// keeps its counters.
func NewAnalytics(rec AnalyticsRecorder) plugin.Builtin {
	return plugin.Builtin{Runner: Analytics{rec: rec}, Name: "Analytics",
		Description: "Counts messages per chat, user and day on the gateways it subscribes to; query them with GET /api/v1/installations/{id}/analytics."}
}

func (Analytics) Slug() string                         { return "analytics" }
func (Analytics) Version() string                      { return "1.0.0" }
func (Analytics) InputSchema() *plugin.Schema          { return analyticsInput }
func (Analytics) OutputSchema() *plugin.Schema         { return analyticsOutput }
func (Analytics) ConfigSchema() *plugin.Schema         { return analyticsConfig }
func (Analytics) CanBeWorkflowStep() bool              { return false }
func (Analytics) ValidateConfig(json.RawMessage) error { return nil }

// Execute counts the event if it is a message or a command.
func (a Analytics) Execute(ctx context.Context, ec plugin.ExecutionContext, input json.RawMessage) plugin.ExecutionResult {
	if ec.Trigger != plugin.TriggerEvent {
		// Only events the host delivered are counted: a standalone input
		// could claim any chat, user or day.
		return encode(map[string]any{"counted": false, "reason": "only events of subscribed gateways are counted"}, 0)
	}
	var ev struct {
		gatewayEvent
		CreatedAt time.Time `json:"createdAt"`
	}
	if err := json.Unmarshal(input, &ev); err != nil {
		return plugin.Failed("input: " + err.Error())
	}
	if ev.Type != "gateway.message" && ev.Type != "gateway.command" {
		return encode(map[string]any{"counted": false, "reason": "not a message"}, 0)
	}
	if a.rec == nil {
		return plugin.Failed("this node cannot keep analytics")
	}
	if ec.IdempotencyKey == "" {
		return plugin.Failed("the execution has no idempotency key to count the event once by")
	}
	at := ev.CreatedAt
	if at.IsZero() {
		at = ec.Now
	}
	day := at.UTC().Truncate(24 * time.Hour)
	counted, err := a.rec.Record(ctx, ec.Actor, ec.InstallationID, ec.IdempotencyKey, AnalyticsMessage{
		GatewayID: ev.Payload.GatewayID, ChatID: ev.Payload.ChatID, UserID: ev.Payload.UserID, Username: ev.Payload.Username, Day: day})
	if err != nil {
		// The recorder logs internal causes; the execution shows only what
		// is fit for the installation's users.
		msg := "the counters could not be updated"
		var ae *apperr.Error
		if errors.As(err, &ae) && ae.Code != apperr.Internal {
			msg = ae.Message
		}
		return plugin.Failed("count: " + msg)
	}
	// A retry finds the event counted already: it is in the counters, once.
	return encode(map[string]any{"counted": true, "duplicate": !counted, "day": day.Format(time.DateOnly)}, 0)
}
