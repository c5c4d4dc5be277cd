// Package gateway owns a workspace's gateways: connected bots and channels
// (Telegram, Discord, Slack, WhatsApp, signed webhooks). It stores their
// credentials sealed (package secret), verifies and registers them with the
// provider, accepts inbound deliveries as durable events, and sends
// messages through retried jobs. Each provider's protocol lives in its own
// sub-package behind channel.Adapter.
//
// Guarantees:
//   - Credentials are never returned, logged or stored in clear; a value
//     sealed for one gateway does not open for another.
//   - An authenticated inbound event is stored and its processing job
//     enqueued in one transaction before the provider is answered; a
//     delivery repeated with the same provider id is stored once.
//   - A send is delivered at least once (providers that accept an
//     idempotency key get the send's id); rate limits are honoured with the
//     provider's retry_after; repeated authentication failures put the
//     gateway in ERROR.
package gateway

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/secret"
	"github.com/switchboard/switchboard/internal/telemetry"
)

// Status of a gateway.
type Status string

const (
	Disconnected Status = "DISCONNECTED"
	Connecting   Status = "CONNECTING"
	Connected    Status = "CONNECTED"
	Error        Status = "ERROR"
)

// Options tune the service; the zero value is production's.
type Options struct {
	// AuthFailuresBeforeError is how many authentication failures in a row
	// put a gateway in ERROR (default 3).
	AuthFailuresBeforeError int
	// SendAttempts bounds delivery attempts of one send (default 8).
	SendAttempts int
	// RetryBase is the first retry delay after a temporary failure; it
	// doubles per attempt up to RetryMax (defaults 2 s and 10 min).
	RetryBase, RetryMax time.Duration
	// MaxRetryAfter caps a provider's retry_after (default 1 h).
	MaxRetryAfter time.Duration
	// ProviderTimeout bounds each call to a provider (default 15 s).
	ProviderTimeout time.Duration
	// PollTimeout is a long poll's wait (default 10 s), PollLease how long
	// a node's hold on a polled gateway lasts unrenewed (45 s), PollScan
	// how often a node looks for gateways to poll (5 s). See poll.go.
	PollTimeout, PollLease, PollScan time.Duration
}

func (o *Options) defaults() {
	if o.AuthFailuresBeforeError <= 0 {
		o.AuthFailuresBeforeError = 3
	}
	if o.SendAttempts <= 0 {
		o.SendAttempts = 8
	}
	if o.RetryBase <= 0 {
		o.RetryBase = 2 * time.Second
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 10 * time.Minute
	}
	if o.MaxRetryAfter <= 0 {
		o.MaxRetryAfter = time.Hour
	}
	if o.ProviderTimeout <= 0 {
		o.ProviderTimeout = 15 * time.Second
	}
	o.pollDefaults()
}

// Consumer receives every stored inbound event once its processing job
// runs (at least once). Plugins and workflows subscribe here.
type Consumer func(ctx context.Context, a actor.Actor, ev WorkspaceJob) error

// Service implements gateways.
type Service struct {
	db        *db.DB
	keys      *secret.Keyring
	jobs      *jobs.Runner
	log       *slog.Logger
	adapters  map[channel.Type]channel.Adapter
	publicURL string
	opt       Options
	consumers []Consumer
	onStore   []StoreHook
	metrics   *telemetry.Metrics
	poll      pollers
	claims    []ClaimHook
	onError   ErrorHook
}

// New returns the service. publicURL is the base of inbound URLs
// (--public-url).
func New(d *db.DB, keys *secret.Keyring, runner *jobs.Runner, adapters []channel.Adapter, publicURL string, log *slog.Logger, opt Options) *Service {
	if log == nil {
		log = slog.Default()
	}
	opt.defaults()
	m := map[channel.Type]channel.Adapter{}
	for _, ad := range adapters {
		m[ad.Type()] = ad
	}
	return &Service{db: d, keys: keys, jobs: runner, log: log, adapters: m,
		publicURL: strings.TrimRight(publicURL, "/"), opt: opt}
}

// Subscribe adds a consumer of inbound events. Call before jobs start.
func (s *Service) Subscribe(c Consumer) { s.consumers = append(s.consumers, c) }

// StoreHook runs inside the transaction that stores a new inbound event
// (never for a duplicate delivery), after its processing job is enqueued:
// work enqueued here exists if and only if the event does. a is a system
// actor of the gateway's workspace carrying its plan. An error rolls the
// delivery back, and the provider is answered with an error (it retries).
type StoreHook func(ctx context.Context, tx *db.Tx, a actor.Actor, ev WorkspaceJob) error

// OnStore adds a StoreHook. Call while wiring, before serving.
func (s *Service) OnStore(h StoreHook) { s.onStore = append(s.onStore, h) }

// Keys is the keyring credentials are sealed with.
func (s *Service) Keys() *secret.Keyring { return s.keys }

// Types lists the supported gateway types.
func Types() []channel.Type {
	return []channel.Type{channel.Telegram, channel.Discord, channel.Slack, channel.WhatsApp, channel.Webhook}
}

var errNotFound = apperr.New(apperr.NotFound, "gateway not found")

// allow checks a permission; a system actor (a job acting for the
// workspace) holds every gateway permission in its workspace.
func allow(a actor.Actor, p actor.Permission) error {
	if a.System && a.WorkspaceID() != "" {
		return nil
	}
	if !a.Can(p) {
		return apperr.New(apperr.Forbidden, "you lack the permission %s", p)
	}
	return nil
}

func (s *Service) adapter(t channel.Type) (channel.Adapter, error) {
	ad, ok := s.adapters[t]
	if !ok {
		return nil, apperr.Invalid(apperr.FieldError{Field: "type", Message: "must be one of " + typeList()})
	}
	return ad, nil
}

func typeList() string {
	var out []string
	for _, t := range Types() {
		out = append(out, string(t))
	}
	return strings.Join(out, ", ")
}

// inboundURL is where the provider delivers: the id and the path token.
func (s *Service) inboundURL(id, token string) string {
	return s.publicURL + "/hooks/gateways/" + id + "/" + token
}

// systemActor rebuilds an actor for a gateway's workspace, for jobs.
func systemActor(r *row) actor.Actor {
	a := actor.Actor{System: true, UserID: r.UserID, OrganizationID: r.OrganizationID, Plan: r.plan}
	if r.OrganizationID != "" {
		a.UserID = ""
	}
	return a
}

// scrub removes every credential value from a message before it is
// stored, logged or returned (a provider or transport error may echo a
// URL that embeds a token).
func scrub(msg string, creds map[string]string) string {
	for _, v := range creds {
		if len(v) >= 6 {
			msg = strings.ReplaceAll(msg, v, "[REDACTED]")
		}
	}
	return channel.Clip(msg, 500)
}

func fieldErr(err error) error {
	if fe, ok := err.(*channel.FieldError); ok {
		return apperr.Invalid(apperr.FieldError{Field: fe.Field, Message: fe.Message})
	}
	return apperr.Wrap(err, "validate gateway")
}

func ptrTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}
