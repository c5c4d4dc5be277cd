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
		Name       string      `json:"name"`
		CustomID   string      `json:"custom_id"`
		Options    []option    `json:"options"`
		Components []component `json:"components"`
	} `json:"data"`
	Member *struct {
		User duser `json:"user"`
	} `json:"member"`
	User *duser `json:"user"`
}

// Interaction types and the response types that answer them.
const (
	interactionPing         = 1
	interactionCommand      = 2
	interactionAutocomplete = 4
	interactionModalSubmit  = 5

	responsePong                = 1
	responseMessage             = 4
	responseDeferredUpdate      = 6
	responseAutocompleteResults = 8
)

// option is an application command option; a SUB_COMMAND (1) or
// SUB_COMMAND_GROUP (2) carries its own options instead of a value.
type option struct {
	Name    string          `json:"name"`
	Type    int             `json:"type"`
	Value   json.RawMessage `json:"value"`
	Options []option        `json:"options"`
}

// component is a modal's component: an action row (1) or a label (18)
// holds others; a text input has a value, a select menu values.
type component struct {
	Type       int         `json:"type"`
	CustomID   string      `json:"custom_id"`
	Value      *string     `json:"value"`
	Values     []string    `json:"values"`
	Components []component `json:"components"`
	Component  *component  `json:"component"`
}

// flatten walks a command's options: subcommand names form the path, and
// every valued option becomes "name=value" in args and a field keyed by
// its path ("group.sub.name").
func flatten(path []string, opts []option, args *[]string, fields map[string]string) {
	for _, o := range opts {
		if o.Type == 1 || o.Type == 2 {
			*args = append(*args, o.Name)
			flatten(append(append([]string(nil), path...), o.Name), o.Options, args, fields)
			continue
		}
		v := optionValue(o.Value)
		*args = append(*args, o.Name+"="+v)
		fields[strings.Join(append(append([]string(nil), path...), o.Name), ".")] = v
	}
}

// optionValue is a string option's text, or any other value's JSON
// (numbers, booleans, snowflakes of users and channels come as strings).
func optionValue(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// inputs collects a modal's values by custom_id, in order.
func inputs(cs []component, fields map[string]string, order *[]string) {
	for _, c := range cs {
		switch {
		case c.Component != nil:
			inputs([]component{*c.Component}, fields, order)
		case len(c.Components) > 0:
			inputs(c.Components, fields, order)
		case c.CustomID == "":
		case c.Value != nil:
			fields[c.CustomID] = *c.Value
			*order = append(*order, *c.Value)
		case c.Values != nil:
			v := strings.Join(c.Values, ",")
			fields[c.CustomID] = v
			*order = append(*order, v)
		}
	}
}

// Parse verifies the Ed25519 signature and the timestamp window, answers
// PINGs and autocompletes, turns application commands into gateway.command
// events (subcommand paths and options kept) and modal submits into
// gateway.message events with the inputs as fields.
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
	case interactionPing:
		return channel.Inbound{Reply: channel.JSONReply(map[string]int{"type": responsePong})}, nil
	case interactionAutocomplete:
		// Suggestions must come within Discord's 3 seconds, before any
		// plugin or workflow could run: none are offered, which Discord
		// shows as "no options", and the user types the value.
		return channel.Inbound{Reply: channel.JSONReply(map[string]any{"type": responseAutocompleteResults,
			"data": map[string]any{"choices": []any{}}})}, nil
	case interactionCommand, interactionModalSubmit:
	default:
		// Button and select clicks and others: acknowledged without a
		// visible change.
		return channel.Inbound{Reply: channel.JSONReply(map[string]int{"type": responseDeferredUpdate})}, nil
	}
	u := in.User
	if in.Member != nil {
		u = &in.Member.User
	}
	e := channel.Event{Type: channel.EventCommand, ProviderID: in.ID, ChatID: in.ChannelID, Raw: r.Body, Fields: map[string]string{}}
	if u != nil {
		e.UserID, e.Username = u.ID, u.Username
	}
	if in.Data != nil && in.Type == interactionCommand {
		e.Command = in.Data.Name
		var args []string
		flatten(nil, in.Data.Options, &args, e.Fields)
		e.Args = strings.Join(args, " ")
		e.Text = strings.TrimSpace("/" + e.Command + " " + e.Args)
	}
	if in.Data != nil && in.Type == interactionModalSubmit {
		// A submitted form: its inputs are the message's fields, and
		// their values, one a line, its text.
		var values []string
		inputs(in.Data.Components, e.Fields, &values)
		e.Type, e.Text = channel.EventMessage, strings.Join(values, "\n")
	}
	if len(e.Fields) == 0 {
		e.Fields = nil
	}
	reply := channel.JSONReply(map[string]any{"type": responseMessage, "data": map[string]any{"content": "Received.", "flags": 64}})
	return channel.Inbound{Events: []channel.Event{e}, Reply: reply}, nil
}
