// Package telegram connects gateways to the Telegram Bot API: getMe to
// verify a token, setWebhook with a secret_token to receive updates (checked
// on every delivery in X-Telegram-Bot-Api-Secret-Token), sendMessage to
// reply.
package telegram

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"

	"github.com/switchboard/switchboard/internal/gateway/channel"
)

// DefaultBaseURL is the public Bot API.
const DefaultBaseURL = "https://api.telegram.org"

// SecretHeader carries the webhook secret Telegram echoes on deliveries.
const SecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// Adapter speaks the Bot API at BaseURL.
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

func (*Adapter) Type() channel.Type { return channel.Telegram }

var tokenShape = regexp.MustCompile(`^[0-9]{3,20}:[A-Za-z0-9_-]{20,100}$`)

// Validate requires botToken; webhookSecret is generated here, never given
// by the user, and rotates with the token.
func (*Adapter) Validate(creds map[string]string, cfg map[string]any) (map[string]string, map[string]any, error) {
	if err := channel.Only(creds, "botToken"); err != nil {
		return nil, nil, err
	}
	tok, err := channel.Str(creds, "botToken")
	if err != nil {
		return nil, nil, err
	}
	if !tokenShape.MatchString(tok) {
		return nil, nil, channel.Invalid("credentials.botToken", "must look like 123456789:AA… (from @BotFather)")
	}
	if err := CheckReceive(cfg); err != nil {
		return nil, nil, err
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, nil, fmt.Errorf("webhook secret: %w", err)
	}
	return map[string]string{"botToken": tok, "webhookSecret": base64.RawURLEncoding.EncodeToString(b)}, cfg, nil
}

// result is the Bot API envelope.
type result struct {
	OK          bool            `json:"ok"`
	Result      json.RawMessage `json:"result"`
	ErrorCode   int             `json:"error_code"`
	Description string          `json:"description"`
	Parameters  struct {
		RetryAfter float64 `json:"retry_after"`
	} `json:"parameters"`
}

func (a *Adapter) call(ctx context.Context, t channel.Target, method string, in any) (json.RawMessage, error) {
	status, h, raw, err := channel.CallJSON(ctx, a.Client, http.MethodPost, a.BaseURL+"/bot"+t.Credentials["botToken"]+"/"+method, nil, in)
	if err != nil {
		return nil, err
	}
	var r result
	if jerr := json.Unmarshal(raw, &r); jerr != nil {
		return nil, channel.Classify(status, 0, fmt.Sprintf("unexpected %s response", method))
	}
	if status == http.StatusOK && r.OK {
		return r.Result, nil
	}
	code := r.ErrorCode
	if code == 0 {
		code = status
	}
	retry := channel.RetryAfterSeconds(r.Parameters.RetryAfter)
	if retry == 0 {
		retry = channel.ParseRetryAfter(h.Get("Retry-After"))
	}
	e := channel.Classify(code, retry, r.Description)
	switch code {
	case http.StatusUnauthorized, http.StatusNotFound:
		// 404 is what the Bot API answers for a token it cannot parse.
		e.Kind = channel.Auth
	case http.StatusForbidden:
		// "bot was blocked by the user": the chat refuses, not the token.
		e.Kind = channel.Permanent
	}
	return nil, e
}

func (a *Adapter) Verify(ctx context.Context, t channel.Target) (channel.Identity, error) {
	raw, err := a.call(ctx, t, "getMe", nil)
	if err != nil {
		return channel.Identity{}, err
	}
	var me struct {
		ID       int64  `json:"id"`
		Username string `json:"username"`
	}
	if err := json.Unmarshal(raw, &me); err != nil {
		return channel.Identity{}, &channel.SendError{Kind: channel.Temporary, Message: "unexpected getMe result"}
	}
	return channel.Identity{ID: strconv.FormatInt(me.ID, 10), Name: me.Username}, nil
}

func (a *Adapter) Register(ctx context.Context, t channel.Target, hookURL string) error {
	_, err := a.call(ctx, t, "setWebhook", map[string]any{
		"url": hookURL, "secret_token": t.Credentials["webhookSecret"],
		"allowed_updates": []string{"message", "chat_member"},
	})
	return err
}

func (a *Adapter) Unregister(ctx context.Context, t channel.Target) error {
	_, err := a.call(ctx, t, "deleteWebhook", map[string]any{})
	return err
}

func (a *Adapter) Send(ctx context.Context, t channel.Target, m channel.Message) (channel.Sent, error) {
	raw, err := a.call(ctx, t, "sendMessage", map[string]any{"chat_id": m.ChatID, "text": m.Text})
	if err != nil {
		return channel.Sent{}, err
	}
	var msg struct {
		MessageID int64 `json:"message_id"`
	}
	_ = json.Unmarshal(raw, &msg)
	return channel.Sent{ProviderMessageID: strconv.FormatInt(msg.MessageID, 10)}, nil
}

type user struct {
	ID       int64  `json:"id"`
	Username string `json:"username"`
}

type chat struct {
	ID int64 `json:"id"`
}

// chatMember is a ChatMember: status is creator, administrator, member,
// restricted (is_member says whether still in the chat), left or kicked.
type chatMember struct {
	Status   string `json:"status"`
	User     user   `json:"user"`
	IsMember bool   `json:"is_member"`
}

func (m chatMember) in() bool {
	switch m.Status {
	case "creator", "administrator", "member":
		return true
	case "restricted":
		return m.IsMember
	}
	return false
}

type update struct {
	UpdateID *int64 `json:"update_id"`
	Message  *struct {
		MessageID      int64  `json:"message_id"`
		Date           int64  `json:"date"`
		From           *user  `json:"from"`
		Chat           chat   `json:"chat"`
		Text           string `json:"text"`
		Caption        string `json:"caption"`
		NewChatMembers []user `json:"new_chat_members"`
		LeftChatMember *user  `json:"left_chat_member"`
	} `json:"message"`
	ChatMember *struct {
		Chat          chat       `json:"chat"`
		Date          int64      `json:"date"`
		OldChatMember chatMember `json:"old_chat_member"`
		NewChatMember chatMember `json:"new_chat_member"`
	} `json:"chat_member"`
}

// memberID keys a join or leave by chat, user and date, so one join that
// Telegram reports twice — as a chat_member update and as a message's
// new_chat_members — is one event when both carry the same date. Without a
// date it falls back to the update's own key.
func memberID(kind string, chatID, userID, date int64, fallback string) string {
	if date == 0 {
		return fallback
	}
	return fmt.Sprintf("member:%d:%d:%s:%d", chatID, userID, kind, date)
}

// Parse checks the secret token and turns an Update into events:
// messages (a media message's caption is its text), /commands, member
// joins and leaves (from chat_member updates, requested in
// allowed_updates, and from service messages). Other updates are
// acknowledged and ignored.
func (a *Adapter) Parse(_ context.Context, t channel.Target, r channel.Request) (channel.Inbound, error) {
	want := t.Credentials["webhookSecret"]
	got := r.Header.Get(SecretHeader)
	if want == "" || subtle.ConstantTimeCompare([]byte(got), []byte(want)) != 1 {
		return channel.Inbound{}, channel.ErrUnauthorized
	}
	var u update
	if err := json.Unmarshal(r.Body, &u); err != nil || u.UpdateID == nil {
		return channel.Inbound{}, channel.ErrMalformed
	}
	id := strconv.FormatInt(*u.UpdateID, 10)
	if cm := u.ChatMember; cm != nil {
		was, is := cm.OldChatMember.in(), cm.NewChatMember.in()
		if was == is {
			// Promotions, restrictions, a ban of someone already gone.
			return channel.Inbound{}, nil
		}
		raw, _ := json.Marshal(cm)
		usr := cm.NewChatMember.User
		e := channel.Event{Type: channel.EventMemberJoined, ChatID: strconv.FormatInt(cm.Chat.ID, 10),
			UserID: strconv.FormatInt(usr.ID, 10), Username: usr.Username, Raw: raw}
		e.ProviderID = memberID("joined", cm.Chat.ID, usr.ID, cm.Date, id+":joined")
		if was {
			e.Type = channel.EventMemberLeft
			e.ProviderID = memberID("left", cm.Chat.ID, usr.ID, cm.Date, id+":left")
		}
		return channel.Inbound{Events: []channel.Event{e}}, nil
	}
	m := u.Message
	if m == nil {
		return channel.Inbound{}, nil
	}
	raw, _ := json.Marshal(m)
	chatID := strconv.FormatInt(m.Chat.ID, 10)
	base := channel.Event{ProviderID: id, ChatID: chatID, Raw: raw}
	if m.From != nil {
		base.UserID, base.Username = strconv.FormatInt(m.From.ID, 10), m.From.Username
	}
	var out []channel.Event
	for i, nm := range m.NewChatMembers {
		e := base
		e.Type, e.ProviderID = channel.EventMemberJoined, memberID("joined", m.Chat.ID, nm.ID, m.Date, id+":joined:"+strconv.Itoa(i))
		e.UserID, e.Username = strconv.FormatInt(nm.ID, 10), nm.Username
		out = append(out, e)
	}
	if lm := m.LeftChatMember; lm != nil {
		e := base
		e.Type, e.ProviderID = channel.EventMemberLeft, memberID("left", m.Chat.ID, lm.ID, m.Date, id+":left")
		e.UserID, e.Username = strconv.FormatInt(lm.ID, 10), lm.Username
		out = append(out, e)
	}
	text := m.Text
	if text == "" {
		// Photos, videos, documents and voice notes carry their text as
		// a caption.
		text = m.Caption
	}
	if text != "" {
		e := base
		e.Type, e.Text = channel.EventMessage, text
		if strings.HasPrefix(text, "/") {
			cmd, args, _ := strings.Cut(text[1:], " ")
			cmd, _, _ = strings.Cut(cmd, "@")
			e.Type, e.Command, e.Args = channel.EventCommand, cmd, strings.TrimSpace(args)
		}
		out = append(out, e)
	}
	return channel.Inbound{Events: out}, nil
}
