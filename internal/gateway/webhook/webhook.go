// Package webhook is the generic gateway: inbound requests signed the
// Standard Webhooks way (webhook-id, webhook-timestamp and webhook-signature
// headers; HMAC-SHA256 over "id.timestamp.body"; a five-minute window), and
// outbound messages POSTed, signed the same way, to a URL the user gives —
// through the SSRF-safe client.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/gateway/channel"
)

// Window is how old a request's timestamp may be.
const Window = 5 * time.Minute

// URLChecker vets a user-supplied URL before it is stored.
type URLChecker interface {
	CheckURL(raw string) (*url.URL, error)
}

// Adapter signs and verifies Standard Webhooks messages.
type Adapter struct {
	Client channel.Doer
	URLs   URLChecker
}

// New returns an adapter.
func New(c channel.Doer, urls URLChecker) *Adapter { return &Adapter{Client: c, URLs: urls} }

func (*Adapter) Type() channel.Type { return channel.Webhook }

// DecodeSecret returns the HMAC key of a "whsec_<base64>" secret.
func DecodeSecret(s string) ([]byte, bool) {
	rest, ok := strings.CutPrefix(s, "whsec_")
	if !ok {
		return nil, false
	}
	k, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(k) < 24 || len(k) > 64 {
		return nil, false
	}
	return k, true
}

// Validate requires credentials.signingSecret ("whsec_" and 24–64 base64
// bytes) and accepts config.url, the outbound target, which must pass the
// SSRF policy.
func (a *Adapter) Validate(creds map[string]string, cfg map[string]any) (map[string]string, map[string]any, error) {
	if err := channel.Only(creds, "signingSecret"); err != nil {
		return nil, nil, err
	}
	sec, err := channel.Str(creds, "signingSecret")
	if err != nil {
		return nil, nil, err
	}
	if _, ok := DecodeSecret(sec); !ok {
		return nil, nil, channel.Invalid("credentials.signingSecret", "must be whsec_ followed by 24 to 64 base64-encoded bytes")
	}
	if raw, present := cfg["url"]; present {
		s, _ := raw.(string)
		if s == "" {
			return nil, nil, channel.Invalid("config.url", "must be an http(s) URL")
		}
		if _, err := a.URLs.CheckURL(s); err != nil {
			return nil, nil, channel.Invalid("config.url", "%s", strings.TrimPrefix(err.Error(), "safehttp: "))
		}
	}
	return map[string]string{"signingSecret": sec}, cfg, nil
}

// Verify checks nothing remote: a webhook has no identity to ask.
func (a *Adapter) Verify(_ context.Context, t channel.Target) (channel.Identity, error) {
	if u, err := url.Parse(t.ConfigString("url")); err == nil && u.Host != "" {
		return channel.Identity{Name: u.Host}, nil
	}
	return channel.Identity{Name: "webhook"}, nil
}

func (a *Adapter) Register(context.Context, channel.Target, string) error { return nil }

func (a *Adapter) Unregister(context.Context, channel.Target) error { return nil }

// Sign returns the webhook-signature header value for a message.
func Sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id + "." + strconv.FormatInt(ts, 10) + "."))
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Send POSTs {"type": "message.created", "timestamp", "data": {id, chatId,
// text}} to config.url with Standard Webhooks headers; webhook-id is the
// send's id, so the receiver can drop retries it has already seen.
func (a *Adapter) Send(ctx context.Context, t channel.Target, m channel.Message) (channel.Sent, error) {
	target := t.ConfigString("url")
	if target == "" {
		return channel.Sent{}, &channel.SendError{Kind: channel.Permanent, Message: "config.url is not set"}
	}
	key, ok := DecodeSecret(t.Credentials["signingSecret"])
	if !ok {
		return channel.Sent{}, &channel.SendError{Kind: channel.Auth, Message: "signing secret unusable"}
	}
	now := time.Now().UTC()
	body, _ := json.Marshal(map[string]any{"type": "message.created", "timestamp": now.Format(time.RFC3339),
		"data": map[string]string{"id": m.ID, "chatId": m.ChatID, "text": m.Text}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return channel.Sent{}, &channel.SendError{Kind: channel.Permanent, Message: "bad target URL"}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("webhook-id", m.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(now.Unix(), 10))
	req.Header.Set("webhook-signature", Sign(key, m.ID, now.Unix(), body))
	res, err := a.Client.Do(req)
	if err != nil {
		se := channel.TransportError(err)
		if strings.Contains(err.Error(), "destination not allowed") {
			se.Kind = channel.Permanent
		}
		return channel.Sent{}, se
	}
	defer res.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(res.Body, 200))
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return channel.Sent{ProviderMessageID: m.ID}, nil
	}
	return channel.Sent{}, channel.Classify(res.StatusCode, channel.ParseRetryAfter(res.Header.Get("Retry-After")), strings.TrimSpace(string(snippet)))
}

// Parse verifies a Standard Webhooks request: one of the space-separated
// v1 signatures must match, and the timestamp must be within the window.
// The JSON body becomes a gateway.webhook event keyed by webhook-id.
func (a *Adapter) Parse(_ context.Context, t channel.Target, r channel.Request) (channel.Inbound, error) {
	key, ok := DecodeSecret(t.Credentials["signingSecret"])
	id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
	if !ok || id == "" || ts == "" || len(id) > 200 {
		return channel.Inbound{}, channel.ErrUnauthorized
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return channel.Inbound{}, channel.ErrUnauthorized
	}
	want := Sign(key, id, sec, r.Body)
	valid := false
	for _, s := range strings.Fields(r.Header.Get("webhook-signature")) {
		valid = valid || hmac.Equal([]byte(s), []byte(want))
	}
	if !valid {
		return channel.Inbound{}, channel.ErrUnauthorized
	}
	if d := r.Now.Sub(time.Unix(sec, 0)); d > Window || d < -Window {
		return channel.Inbound{}, channel.ErrStale
	}
	var body map[string]any
	if err := json.Unmarshal(r.Body, &body); err != nil {
		return channel.Inbound{}, channel.ErrMalformed
	}
	e := channel.Event{Type: channel.EventWebhook, ProviderID: id, Raw: r.Body}
	e.Text, _ = body["text"].(string)
	e.ChatID, _ = body["chatId"].(string)
	return channel.Inbound{Events: []channel.Event{e}}, nil
}
