// Package channel is the contract between the gateway service and the
// adapters that speak each provider's protocol (one sub-package per
// provider). An adapter is stateless: everything it needs arrives in a
// Target, and it returns normalized events and typed errors the service
// turns into statuses, retries and audit rows.
package channel

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Type names a provider.
type Type string

const (
	Telegram Type = "TELEGRAM"
	Discord  Type = "DISCORD"
	Slack    Type = "SLACK"
	WhatsApp Type = "WHATSAPP"
	Webhook  Type = "WEBHOOK"
)

// Normalized event types, shared by every adapter.
const (
	EventMessage      = "gateway.message"
	EventCommand      = "gateway.command"
	EventMemberJoined = "gateway.member_joined"
	EventMemberLeft   = "gateway.member_left"
	EventWebhook      = "gateway.webhook"
)

// Target is one gateway as an adapter sees it: its opened credentials and
// its (non-secret) configuration.
type Target struct {
	ID          string
	Credentials map[string]string
	Config      map[string]any
}

// ConfigString returns a string setting, or "".
func (t Target) ConfigString(key string) string {
	s, _ := t.Config[key].(string)
	return s
}

// Identity is what a provider says about the bot behind the credentials.
type Identity struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
}

// Request is an inbound HTTP request, read whole.
type Request struct {
	Method string
	Header http.Header
	Query  url.Values
	Body   []byte
	Now    time.Time
}

// Reply is what the inbound endpoint answers the provider. A nil Reply
// means a plain 200 {"ok": true}.
type Reply struct {
	Status      int
	ContentType string
	Body        []byte
}

// JSONReply encodes v as a 200 JSON reply.
func JSONReply(v any) *Reply {
	b, _ := json.Marshal(v)
	return &Reply{Status: http.StatusOK, ContentType: "application/json", Body: b}
}

// Event is one normalized inbound event.
type Event struct {
	// Type is one of the Event* constants.
	Type string
	// ProviderID identifies the delivery at the provider (Telegram
	// update_id, Slack event_id, …); a repeated ProviderID is a duplicate.
	ProviderID string
	ChatID     string
	UserID     string
	Username   string
	Text       string
	// Command and Args are set for EventCommand.
	Command string
	Args    string
	// Fields are named values: a Discord command's options (keyed by
	// their path, "group.sub.option") or a modal's inputs (by custom_id).
	Fields map[string]string
	// Raw is the provider's own object for this event.
	Raw json.RawMessage
}

// Inbound is an authenticated inbound request: events to store, and the
// answer to give (for handshakes such as Slack's url_verification).
type Inbound struct {
	Events []Event
	Reply  *Reply
	// Statuses are the provider's reports on messages this gateway sent.
	Statuses []DeliveryStatus
}

// DeliveryStatus is a provider's report on one sent message (WhatsApp's
// statuses[]).
type DeliveryStatus struct {
	// ProviderMessageID is the id the provider answered the send with.
	ProviderMessageID string
	// Failed reports that the provider could not deliver the message;
	// Error then says why (code and title).
	Failed bool
	Error  string
}

// Message is an outbound message.
type Message struct {
	// ID is Switchboard's id of the send; adapters that support it pass it
	// as an idempotency key.
	ID     string
	ChatID string
	Text   string
}

// Sent is a provider's receipt for a message.
type Sent struct {
	ProviderMessageID string
}

// Adapter speaks one provider's protocol.
type Adapter interface {
	Type() Type
	// Validate checks credentials and configuration for shape (not
	// against the provider) and returns them normalized. Errors name the
	// field ("credentials.botToken") as a *FieldError.
	Validate(creds map[string]string, cfg map[string]any) (map[string]string, map[string]any, error)
	// Verify checks the credentials with the provider.
	Verify(ctx context.Context, t Target) (Identity, error)
	// Register points the provider's inbound delivery at hookURL (where
	// the provider supports it; others are configured by the user).
	Register(ctx context.Context, t Target, hookURL string) error
	// Unregister stops inbound delivery where the provider supports it.
	Unregister(ctx context.Context, t Target) error
	// Parse authenticates an inbound request (returning ErrUnauthorized,
	// ErrStale or ErrMalformed) and normalizes it.
	Parse(ctx context.Context, t Target, r Request) (Inbound, error)
	// Send delivers a message, returning a *SendError on failure.
	Send(ctx context.Context, t Target, m Message) (Sent, error)
}

// Inbound failures. The service maps them to 401 and 400.
var (
	ErrUnauthorized = errors.New("signature missing or invalid")
	ErrStale        = errors.New("timestamp outside the accepted window")
	ErrMalformed    = errors.New("malformed request")
)

// FieldError names an invalid credential or configuration field.
type FieldError struct {
	Field, Message string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Message }

// Invalid returns a FieldError.
func Invalid(field, format string, args ...any) *FieldError {
	return &FieldError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Failure classifies a provider error.
type Failure int

const (
	// Temporary failures (5xx, network) are retried with backoff.
	Temporary Failure = iota
	// RateLimited failures are retried after RetryAfter.
	RateLimited
	// Auth failures mean the credentials were refused; repeated ones put
	// the gateway in ERROR.
	Auth
	// Permanent failures (bad chat id, message too long) are not retried.
	Permanent
)

func (f Failure) String() string {
	return [...]string{"temporary", "rate_limited", "auth", "permanent"}[f]
}

// SendError is a classified provider failure. Its message never holds a
// credential.
type SendError struct {
	Kind       Failure
	RetryAfter time.Duration
	Status     int
	Message    string
}

func (e *SendError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("%s (HTTP %d): %s", e.Kind, e.Status, e.Message)
	}
	return e.Kind.String() + ": " + e.Message
}

// Classify turns an HTTP status (and a provider's retry hint) into a
// SendError.
func Classify(status int, retryAfter time.Duration, msg string) *SendError {
	e := &SendError{Status: status, Message: truncate(msg, 300)}
	switch {
	case status == http.StatusTooManyRequests:
		e.Kind, e.RetryAfter = RateLimited, retryAfter
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = Auth
	case status >= 500 || status == http.StatusRequestTimeout:
		e.Kind = Temporary
	default:
		e.Kind = Permanent
	}
	return e
}

// TransportError wraps a network failure as Temporary, dropping the URL
// (which for some providers embeds the token).
func TransportError(err error) *SendError {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &SendError{Kind: Temporary, Message: truncate(err.Error(), 300)}
}

// ParseRetryAfter reads a Retry-After header given in seconds (fractions
// allowed); HTTP dates are not used by these providers.
func ParseRetryAfter(h string) time.Duration {
	var f float64
	if _, err := fmt.Sscanf(strings.TrimSpace(h), "%g", &f); err != nil || !(f >= 0) {
		return 0
	}
	return RetryAfterSeconds(f)
}

// MaxRetryAfter bounds a provider's requested wait.
const MaxRetryAfter = 24 * time.Hour

// RetryAfterSeconds turns a provider's wait in seconds into a duration, at
// most MaxRetryAfter: an absurd value must not wrap into a negative one.
func RetryAfterSeconds(f float64) time.Duration {
	if !(f > 0) {
		return 0
	}
	if f > MaxRetryAfter.Seconds() {
		return MaxRetryAfter
	}
	return time.Duration(f * float64(time.Second))
}

// truncate bounds a provider's error message (not a message text) to n
// bytes, cutting at a character boundary so it stays valid UTF-8 (which
// PostgreSQL requires of text).
func truncate(s string, n int) string { return Clip(s, n) }

// Clip shortens an error message to at most n bytes of valid UTF-8,
// marking the cut with "…". Message texts are never clipped.
func Clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:max(cut, 0)] + "…"
}

// Str returns a trimmed credential or an error naming it when empty.
func Str(m map[string]string, key string) (string, error) {
	v := strings.TrimSpace(m[key])
	if v == "" {
		return "", Invalid("credentials."+key, "is required")
	}
	return v, nil
}

// Only rejects credential keys outside allowed, so a typo is an error and
// not a silently ignored secret.
func Only(m map[string]string, allowed ...string) error {
	for k := range m {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return Invalid("credentials."+k, "unknown field (expected %s)", strings.Join(allowed, ", "))
		}
	}
	return nil
}
