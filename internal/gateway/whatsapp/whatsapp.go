// Package whatsapp connects gateways to the WhatsApp Business Cloud API
// (Meta Graph API): the phone number is read to verify the access token,
// the webhook is verified with the hub.challenge handshake, deliveries are
// authenticated by X-Hub-Signature-256 (HMAC-SHA256 of the body under the
// app secret), and text messages are sent to /{phone-number-id}/messages.
package whatsapp

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/switchboard/switchboard/internal/gateway/channel"
)

// DefaultBaseURL is the Graph API.
const DefaultBaseURL = "https://graph.facebook.com/v21.0"

// Adapter speaks the Graph API at BaseURL.
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

func (*Adapter) Type() channel.Type { return channel.WhatsApp }

var digits = regexp.MustCompile(`^[0-9]{5,30}$`)

// Validate requires credentials accessToken, appSecret and verifyToken, and
// config.phoneNumberId.
func (*Adapter) Validate(creds map[string]string, cfg map[string]any) (map[string]string, map[string]any, error) {
	if err := channel.Only(creds, "accessToken", "appSecret", "verifyToken"); err != nil {
		return nil, nil, err
	}
	out := map[string]string{}
	for _, k := range []string{"accessToken", "appSecret", "verifyToken"} {
		v, err := channel.Str(creds, k)
		if err != nil {
			return nil, nil, err
		}
		if len(v) < 8 {
			return nil, nil, channel.Invalid("credentials."+k, "is too short")
		}
		out[k] = v
	}
	if id, _ := cfg["phoneNumberId"].(string); !digits.MatchString(id) {
		return nil, nil, channel.Invalid("config.phoneNumberId", "must be the phone number id (digits) from the WhatsApp manager")
	}
	return out, cfg, nil
}

// rateCodes are Graph error codes that mean "slow down".
var rateCodes = map[int]bool{4: true, 80007: true, 130429: true, 131048: true, 131056: true}

func (a *Adapter) call(ctx context.Context, t channel.Target, method, path string, in any) ([]byte, error) {
	h := http.Header{"Authorization": {"Bearer " + t.Credentials["accessToken"]}}
	status, rh, raw, err := channel.CallJSON(ctx, a.Client, method, a.BaseURL+path, h, in)
	if err != nil {
		return nil, err
	}
	if status >= 200 && status < 300 {
		return raw, nil
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
			Code    int    `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(raw, &e)
	se := channel.Classify(status, channel.ParseRetryAfter(rh.Get("Retry-After")), e.Error.Message)
	switch {
	case e.Error.Code == 190: // OAuthException: access token invalid or expired
		se.Kind = channel.Auth
	case rateCodes[e.Error.Code]:
		se.Kind = channel.RateLimited
	case status == http.StatusForbidden:
		se.Kind = channel.Permanent
	}
	return nil, se
}

func (a *Adapter) Verify(ctx context.Context, t channel.Target) (channel.Identity, error) {
	raw, err := a.call(ctx, t, http.MethodGet, "/"+url.PathEscape(t.ConfigString("phoneNumberId"))+"?fields=display_phone_number,verified_name", nil)
	if err != nil {
		return channel.Identity{}, err
	}
	var me struct {
		ID   string `json:"id"`
		Name string `json:"verified_name"`
	}
	_ = json.Unmarshal(raw, &me)
	return channel.Identity{ID: me.ID, Name: me.Name}, nil
}

// Register is a no-op: the webhook is configured on the Meta app, which
// verifies it with the hub.challenge handshake.
func (a *Adapter) Register(context.Context, channel.Target, string) error { return nil }

func (a *Adapter) Unregister(context.Context, channel.Target) error { return nil }

func (a *Adapter) Send(ctx context.Context, t channel.Target, m channel.Message) (channel.Sent, error) {
	raw, err := a.call(ctx, t, http.MethodPost, "/"+url.PathEscape(t.ConfigString("phoneNumberId"))+"/messages", map[string]any{
		"messaging_product": "whatsapp", "recipient_type": "individual", "to": m.ChatID,
		"type": "text", "text": map[string]any{"body": m.Text},
	})
	if err != nil {
		return channel.Sent{}, err
	}
	var r struct {
		Messages []struct{ ID string } `json:"messages"`
	}
	_ = json.Unmarshal(raw, &r)
	if len(r.Messages) == 0 {
		return channel.Sent{}, nil
	}
	return channel.Sent{ProviderMessageID: r.Messages[0].ID}, nil
}

// Sign computes X-Hub-Signature-256 of a body.
func Sign(appSecret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(appSecret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

type payload struct {
	Object string `json:"object"`
	Entry  []struct {
		Changes []struct {
			Field string `json:"field"`
			Value struct {
				Metadata struct {
					PhoneNumberID string `json:"phone_number_id"`
				} `json:"metadata"`
				Contacts []struct {
					WaID    string `json:"wa_id"`
					Profile struct {
						Name string `json:"name"`
					} `json:"profile"`
				} `json:"contacts"`
				Messages []json.RawMessage `json:"messages"`
				Statuses []status          `json:"statuses"`
			} `json:"value"`
		} `json:"changes"`
	} `json:"entry"`
}

type message struct {
	From string `json:"from"`
	ID   string `json:"id"`
	Type string `json:"type"`
	Text struct {
		Body string `json:"body"`
	} `json:"text"`
}

// status is a delivery report on a message the business sent.
type status struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Errors []struct {
		Code      int    `json:"code"`
		Title     string `json:"title"`
		Message   string `json:"message"`
		ErrorData struct {
			Details string `json:"details"`
		} `json:"error_data"`
	} `json:"errors"`
}

// failure renders a failed status's first error: code, title, details.
func (s status) failure() string {
	if len(s.Errors) == 0 {
		return "WhatsApp reported the message failed"
	}
	e := s.Errors[0]
	msg := fmt.Sprintf("WhatsApp error %d: %s", e.Code, e.Title)
	if d := e.ErrorData.Details; d != "" && d != e.Title {
		msg += " (" + d + ")"
	}
	return msg
}

// Parse answers the GET verification handshake and authenticates POSTed
// notifications. One Meta app delivers the notifications of every phone
// number of its business accounts to the same callback, so a change is
// this gateway's only when its metadata.phone_number_id is the gateway's
// phoneNumberId; others are acknowledged and ignored. Each incoming
// message becomes an event (keyed by its wamid); a "failed" status
// becomes a delivery report on the send it names.
func (a *Adapter) Parse(_ context.Context, t channel.Target, r channel.Request) (channel.Inbound, error) {
	if r.Method == http.MethodGet {
		want := t.Credentials["verifyToken"]
		got := r.Query.Get("hub.verify_token")
		if r.Query.Get("hub.mode") != "subscribe" || want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
			return channel.Inbound{}, channel.ErrUnauthorized
		}
		return channel.Inbound{Reply: &channel.Reply{Status: http.StatusOK, ContentType: "text/plain",
			Body: []byte(r.Query.Get("hub.challenge"))}}, nil
	}
	want := Sign(t.Credentials["appSecret"], r.Body)
	if t.Credentials["appSecret"] == "" || !hmac.Equal([]byte(r.Header.Get("X-Hub-Signature-256")), []byte(want)) {
		return channel.Inbound{}, channel.ErrUnauthorized
	}
	var p payload
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Object == "" {
		return channel.Inbound{}, channel.ErrMalformed
	}
	phone := t.ConfigString("phoneNumberId")
	var in channel.Inbound
	for _, en := range p.Entry {
		for _, ch := range en.Changes {
			if phone == "" || ch.Value.Metadata.PhoneNumberID != phone {
				continue
			}
			names := map[string]string{}
			for _, c := range ch.Value.Contacts {
				names[c.WaID] = c.Profile.Name
			}
			for _, raw := range ch.Value.Messages {
				var m message
				if err := json.Unmarshal(raw, &m); err != nil || m.ID == "" {
					return channel.Inbound{}, channel.ErrMalformed
				}
				e := channel.Event{Type: channel.EventMessage, ProviderID: m.ID, ChatID: m.From, UserID: m.From,
					Username: names[m.From], Text: m.Text.Body, Raw: raw}
				if strings.HasPrefix(e.Text, "/") {
					cmd, args, _ := strings.Cut(e.Text[1:], " ")
					e.Type, e.Command, e.Args = channel.EventCommand, cmd, strings.TrimSpace(args)
				}
				in.Events = append(in.Events, e)
			}
			for _, st := range ch.Value.Statuses {
				// sent, delivered and read need no change: the send is
				// SENT once the Cloud API accepted it.
				if st.Status == "failed" && st.ID != "" {
					in.Statuses = append(in.Statuses, channel.DeliveryStatus{ProviderMessageID: st.ID, Failed: true, Error: st.failure()})
				}
			}
		}
	}
	return in, nil
}
