// Package discord connects gateways to Discord: the bot token is verified
// with GET /users/@me, the interactions endpoint is registered on the
// application, every interaction is authenticated with its Ed25519
// signature (X-Signature-Ed25519 over timestamp ‖ body), and messages are
// sent with POST /channels/{id}/messages.
package discord

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/gateway/channel"
)

// DefaultBaseURL is Discord's REST API.
const DefaultBaseURL = "https://discord.com/api/v10"

// Window is how old an interaction's timestamp may be.
const Window = 5 * time.Minute

// Adapter speaks Discord's REST API at BaseURL.
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

func (*Adapter) Type() channel.Type { return channel.Discord }

// Validate requires credentials.botToken and config.publicKey (the
// application's Ed25519 public key, 64 hex digits; not a secret).
func (*Adapter) Validate(creds map[string]string, cfg map[string]any) (map[string]string, map[string]any, error) {
	if err := channel.Only(creds, "botToken"); err != nil {
		return nil, nil, err
	}
	tok, err := channel.Str(creds, "botToken")
	if err != nil {
		return nil, nil, err
	}
	if len(tok) < 20 || strings.ContainsAny(tok, " \t\r\n") {
		return nil, nil, channel.Invalid("credentials.botToken", "must be the bot token from the Discord developer portal")
	}
	pk, _ := cfg["publicKey"].(string)
	if b, err := hex.DecodeString(pk); err != nil || len(b) != ed25519.PublicKeySize {
		return nil, nil, channel.Invalid("config.publicKey", "must be the application's public key (64 hex digits)")
	}
	return map[string]string{"botToken": tok}, cfg, nil
}

func (a *Adapter) call(ctx context.Context, t channel.Target, method, path string, in any) ([]byte, error) {
	h := http.Header{"Authorization": {"Bot " + t.Credentials["botToken"]}}
	status, rh, raw, err := channel.CallJSON(ctx, a.Client, method, a.BaseURL+path, h, in)
	if err != nil {
		return nil, err
	}
	if status >= 200 && status < 300 {
		return raw, nil
	}
	var e struct {
		Message    string  `json:"message"`
		RetryAfter float64 `json:"retry_after"`
	}
	_ = json.Unmarshal(raw, &e)
	retry := channel.RetryAfterSeconds(e.RetryAfter)
	if retry == 0 {
		retry = channel.ParseRetryAfter(rh.Get("Retry-After"))
	}
	se := channel.Classify(status, retry, e.Message)
	if status == http.StatusForbidden {
		// Missing permissions on a channel, not a bad token.
		se.Kind = channel.Permanent
	}
	return nil, se
}

func (a *Adapter) Verify(ctx context.Context, t channel.Target) (channel.Identity, error) {
	raw, err := a.call(ctx, t, http.MethodGet, "/users/@me", nil)
	if err != nil {
		return channel.Identity{}, err
	}
	var me struct{ ID, Username string }
	_ = json.Unmarshal(raw, &me)
	return channel.Identity{ID: me.ID, Name: me.Username}, nil
}

// Register sets the application's interactions endpoint; Discord checks it
// at once with signed PINGs.
func (a *Adapter) Register(ctx context.Context, t channel.Target, hookURL string) error {
	_, err := a.call(ctx, t, http.MethodPatch, "/applications/@me", map[string]any{"interactions_endpoint_url": hookURL})
	return err
}

func (a *Adapter) Unregister(ctx context.Context, t channel.Target) error {
	_, err := a.call(ctx, t, http.MethodPatch, "/applications/@me", map[string]any{"interactions_endpoint_url": nil})
	return err
}

func (a *Adapter) Send(ctx context.Context, t channel.Target, m channel.Message) (channel.Sent, error) {
	raw, err := a.call(ctx, t, http.MethodPost, "/channels/"+url.PathEscape(m.ChatID)+"/messages",
		map[string]any{"content": m.Text, "nonce": truncate(m.ID, 25), "enforce_nonce": true})
	if err != nil {
		return channel.Sent{}, err
	}
	var msg struct{ ID string }
	_ = json.Unmarshal(raw, &msg)
	return channel.Sent{ProviderMessageID: msg.ID}, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

type duser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
}

type interaction struct {
	ID        string `json:"id"`
	Type      int    `json:"type"`
	ChannelID string `json:"channel_id"`
	Data      *struct {
		Name    string `json:"name"`
		Options []struct {
			Name  string          `json:"name"`
			Value json.RawMessage `json:"value"`
		} `json:"options"`
	} `json:"data"`
	Member *struct {
		User duser `json:"user"`
	} `json:"member"`
	User *duser `json:"user"`
}

// Parse verifies the Ed25519 signature and the timestamp window, answers
// PINGs, and turns application commands into gateway.command events.
func (a *Adapter) Parse(_ context.Context, t channel.Target, r channel.Request) (channel.Inbound, error) {
	pk, err := hex.DecodeString(t.ConfigString("publicKey"))
	if err != nil || len(pk) != ed25519.PublicKeySize {
		return channel.Inbound{}, channel.ErrUnauthorized
	}
	sig, err := hex.DecodeString(r.Header.Get("X-Signature-Ed25519"))
	ts := r.Header.Get("X-Signature-Timestamp")
	if err != nil || len(sig) != ed25519.SignatureSize || ts == "" {
		return channel.Inbound{}, channel.ErrUnauthorized
	}
	msg := make([]byte, 0, len(ts)+len(r.Body))
	msg = append(append(msg, ts...), r.Body...)
	if !ed25519.Verify(ed25519.PublicKey(pk), msg, sig) {
		return channel.Inbound{}, channel.ErrUnauthorized
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return channel.Inbound{}, channel.ErrMalformed
	}
	if d := r.Now.Sub(time.Unix(sec, 0)); d > Window || d < -Window {
		return channel.Inbound{}, channel.ErrStale
	}
	var in interaction
	if err := json.Unmarshal(r.Body, &in); err != nil || in.ID == "" {
		return channel.Inbound{}, channel.ErrMalformed
	}
	switch in.Type {
	case 1: // PING
		return channel.Inbound{Reply: channel.JSONReply(map[string]int{"type": 1})}, nil
	case 2: // APPLICATION_COMMAND
	default:
		// Components and others: acknowledge without a visible change.
		return channel.Inbound{Reply: channel.JSONReply(map[string]int{"type": 6})}, nil
	}
	u := in.User
	if in.Member != nil {
		u = &in.Member.User
	}
	e := channel.Event{Type: channel.EventCommand, ProviderID: in.ID, ChatID: in.ChannelID, Raw: r.Body}
	if u != nil {
		e.UserID, e.Username = u.ID, u.Username
	}
	if in.Data != nil {
		e.Command = in.Data.Name
		var args []string
		for _, o := range in.Data.Options {
			v := strings.Trim(string(o.Value), `"`)
			args = append(args, o.Name+"="+v)
		}
		e.Args = strings.Join(args, " ")
		e.Text = strings.TrimSpace("/" + e.Command + " " + e.Args)
	}
	reply := channel.JSONReply(map[string]any{"type": 4, "data": map[string]any{"content": "Received.", "flags": 64}})
	return channel.Inbound{Events: []channel.Event{e}, Reply: reply}, nil
}
