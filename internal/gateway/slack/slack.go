// Package slack connects gateways to a Slack app: auth.test verifies the
// bot token, the Events API delivers events signed with the app's signing
// secret (v0 HMAC-SHA256 over "v0:timestamp:body", five-minute window, the
// url_verification challenge answered), and chat.postMessage sends.
package slack

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/gateway/channel"
)

// DefaultBaseURL is Slack's Web API.
const DefaultBaseURL = "https://slack.com/api"

// Window is how old a request's timestamp may be.
const Window = 5 * time.Minute

// Adapter speaks Slack's Web API at BaseURL.
type Adapter struct {
	BaseURL string
	Client  channel.Doer
}

// New returns an adapter; an empty baseURL means the public API.
func New(baseURL string, c channel.Doer) *Adapter {
	if baseURL == "" {
		baseURL = DefaultBaseURL
	}
	return &Adapter{BaseURL: strings.TrimRight(baseURL, "/"), Client: c}
}

func (*Adapter) Type() channel.Type { return channel.Slack }

// Validate requires credentials.botToken (xoxb-…) and
// credentials.signingSecret.
func (*Adapter) Validate(creds map[string]string, cfg map[string]any) (map[string]string, map[string]any, error) {
	if err := channel.Only(creds, "botToken", "signingSecret"); err != nil {
		return nil, nil, err
	}
	tok, err := channel.Str(creds, "botToken")
	if err != nil {
		return nil, nil, err
	}
	if !strings.HasPrefix(tok, "xoxb-") || len(tok) < 20 {
		return nil, nil, channel.Invalid("credentials.botToken", "must be a bot token starting with xoxb-")
	}
	sec, err := channel.Str(creds, "signingSecret")
	if err != nil {
		return nil, nil, err
	}
	if len(sec) < 16 {
		return nil, nil, channel.Invalid("credentials.signingSecret", "must be the app's signing secret")
	}
	return map[string]string{"botToken": tok, "signingSecret": sec}, cfg, nil
}

// authErrors are the Web API errors that mean the token is refused.
var authErrors = map[string]bool{"invalid_auth": true, "not_authed": true, "account_inactive": true,
	"token_revoked": true, "token_expired": true, "no_permission": false}

// Rate limits: Slack answers HTTP 429 {"ok": false, "error":
// "ratelimited"} with Retry-After in seconds. A call waits that long and
// tries again, at most rateRetries times and never longer than rateMaxWait
// or past its context's deadline; beyond that the RateLimited error goes to
// the caller (a send job snoozes for RetryAfter).
const (
	rateRetries = 2
	rateMaxWait = 30 * time.Second
)

func (a *Adapter) call(ctx context.Context, t channel.Target, method string, in any) (json.RawMessage, error) {
	for try := 0; ; try++ {
		raw, err := a.callOnce(ctx, t, method, in)
		var se *channel.SendError
		if err == nil || try >= rateRetries || !errors.As(err, &se) || se.Kind != channel.RateLimited {
			return raw, err
		}
		wait := se.RetryAfter
		if wait <= 0 {
			wait = time.Second
		}
		if wait > rateMaxWait {
			return nil, err
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
			return nil, err
		}
		tm := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			tm.Stop()
			return nil, err
		case <-tm.C:
		}
	}
}

func (a *Adapter) callOnce(ctx context.Context, t channel.Target, method string, in any) (json.RawMessage, error) {
	// Slack reads JSON bodies only with an explicit charset (it warns
	// "missing_charset" otherwise).
	h := http.Header{"Authorization": {"Bearer " + t.Credentials["botToken"]}, "Content-Type": {"application/json; charset=utf-8"}}
	status, rh, raw, err := channel.CallJSON(ctx, a.Client, http.MethodPost, a.BaseURL+"/"+method, h, in)
	if err != nil {
		return nil, err
	}
	var r struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	_ = json.Unmarshal(raw, &r)
	if status == http.StatusOK && r.OK {
		return raw, nil
	}
	retry := channel.ParseRetryAfter(rh.Get("Retry-After"))
	se := channel.Classify(status, retry, r.Error)
	switch {
	case r.Error == "ratelimited" || r.Error == "rate_limited":
		se.Kind, se.RetryAfter = channel.RateLimited, retry
	case status == http.StatusOK:
		se.Kind = channel.Permanent
		if authErrors[r.Error] {
			se.Kind = channel.Auth
		}
	}
	return nil, se
}

func (a *Adapter) Verify(ctx context.Context, t channel.Target) (channel.Identity, error) {
	raw, err := a.call(ctx, t, "auth.test", map[string]any{})
	if err != nil {
		return channel.Identity{}, err
	}
	var me struct {
		UserID string `json:"user_id"`
		User   string `json:"user"`
	}
	_ = json.Unmarshal(raw, &me)
	return channel.Identity{ID: me.UserID, Name: me.User}, nil
}

// Register is a no-op: the Events API request URL is set in the app's
// settings, and Slack checks it with url_verification.
func (a *Adapter) Register(context.Context, channel.Target, string) error { return nil }

func (a *Adapter) Unregister(context.Context, channel.Target) error { return nil }

func (a *Adapter) Send(ctx context.Context, t channel.Target, m channel.Message) (channel.Sent, error) {
	raw, err := a.call(ctx, t, "chat.postMessage", map[string]any{"channel": m.ChatID, "text": m.Text})
	if err != nil {
		return channel.Sent{}, err
	}
	var r struct{ TS string }
	_ = json.Unmarshal(raw, &r)
	return channel.Sent{ProviderMessageID: r.TS}, nil
}

// Sign computes the X-Slack-Signature of a body at timestamp ts.
func Sign(secret, ts string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return "v0=" + hex.EncodeToString(m.Sum(nil))
}

type envelope struct {
	Type      string `json:"type"`
	Challenge string `json:"challenge"`
	EventID   string `json:"event_id"`
	Event     *struct {
		Type    string `json:"type"`
		Subtype string `json:"subtype"`
		BotID   string `json:"bot_id"`
		User    string `json:"user"`
		Channel string `json:"channel"`
		Text    string `json:"text"`
		TS      string `json:"ts"`
	} `json:"event"`
}

// Parse verifies the signature and window, answers url_verification, and
// turns messages, mentions and channel joins/leaves into events. The bot's
// own messages are ignored so replies do not loop. A message (or mention)
// is keyed by its channel and ts, other events by event_id.
func (a *Adapter) Parse(_ context.Context, t channel.Target, r channel.Request) (channel.Inbound, error) {
	ts := r.Header.Get("X-Slack-Request-Timestamp")
	got := r.Header.Get("X-Slack-Signature")
	want := Sign(t.Credentials["signingSecret"], ts, r.Body)
	if ts == "" || t.Credentials["signingSecret"] == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return channel.Inbound{}, channel.ErrUnauthorized
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return channel.Inbound{}, channel.ErrMalformed
	}
	if d := r.Now.Sub(time.Unix(sec, 0)); d > Window || d < -Window {
		return channel.Inbound{}, channel.ErrStale
	}
	var env envelope
	if err := json.Unmarshal(r.Body, &env); err != nil {
		return channel.Inbound{}, channel.ErrMalformed
	}
	switch env.Type {
	case "url_verification":
		return channel.Inbound{Reply: channel.JSONReply(map[string]string{"challenge": env.Challenge})}, nil
	case "event_callback":
	default:
		return channel.Inbound{}, nil
	}
	ev := env.Event
	if ev == nil || env.EventID == "" {
		return channel.Inbound{}, channel.ErrMalformed
	}
	raw, _ := json.Marshal(ev)
	e := channel.Event{ProviderID: env.EventID, ChatID: ev.Channel, UserID: ev.User, Text: ev.Text, Raw: raw}
	switch ev.Type {
	case "message", "app_mention":
		if ev.BotID != "" || ev.Subtype != "" {
			return channel.Inbound{}, nil
		}
		e.Type = channel.EventMessage
		if ev.Channel != "" && ev.TS != "" {
			// An app subscribed to both app_mention and message gets one
			// user message as two events (two event_ids, one channel and
			// ts): keyed by the message, the second is a duplicate and
			// the message is answered once.
			e.ProviderID = "message:" + ev.Channel + ":" + ev.TS
		}
	case "member_joined_channel":
		e.Type = channel.EventMemberJoined
	case "member_left_channel":
		e.Type = channel.EventMemberLeft
	default:
		return channel.Inbound{}, nil
	}
	return channel.Inbound{Events: []channel.Event{e}}, nil
}
