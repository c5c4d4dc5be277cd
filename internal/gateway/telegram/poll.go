package telegram

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/switchboard/switchboard/internal/gateway/channel"
)

// Update is one update fetched by long polling: its id and its JSON, the
// body a webhook delivery of it would have had.
type Update struct {
	ID   int64
	Body json.RawMessage
}

// Receive modes of a Telegram gateway (config.receive).
const (
	ReceiveWebhook = "webhook"
	ReceivePolling = "polling"
)

// Poll long-polls getUpdates: the updates from offset on (which confirms
// every update before it), waiting up to timeout for one to arrive.
// Telegram answers 409 while a webhook is set, or when another getUpdates
// of the same bot replaced this one.
func (a *Adapter) Poll(ctx context.Context, t channel.Target, offset int64, timeout time.Duration, limit int) ([]Update, error) {
	raw, err := a.call(ctx, t, "getUpdates", map[string]any{
		"offset": offset, "timeout": int(timeout / time.Second), "limit": limit,
		"allowed_updates": []string{"message", "chat_member"},
	})
	if err != nil {
		return nil, err
	}
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, &channel.SendError{Kind: channel.Temporary, Message: "unexpected getUpdates result"}
	}
	out := make([]Update, 0, len(list))
	for _, b := range list {
		var u struct {
			UpdateID *int64 `json:"update_id"`
		}
		if json.Unmarshal(b, &u) != nil || u.UpdateID == nil {
			continue
		}
		out = append(out, Update{ID: *u.UpdateID, Body: b})
	}
	return out, nil
}

// PolledRequest is the inbound request a webhook delivery of a polled
// update would have been, secret header included, so polled updates go
// through Parse and the rest of the inbound path unchanged.
func (a *Adapter) PolledRequest(t channel.Target, u Update, now time.Time) channel.Request {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	h.Set(SecretHeader, t.Credentials["webhookSecret"])
	return channel.Request{Method: http.MethodPost, Header: h, Body: u.Body, Now: now}
}

// CheckReceive validates config.receive: absent, "webhook" or "polling".
func CheckReceive(cfg map[string]any) error {
	v, ok := cfg["receive"]
	if !ok {
		return nil
	}
	if s, _ := v.(string); s == ReceiveWebhook || s == ReceivePolling {
		return nil
	}
	return channel.Invalid("config.receive", `must be "webhook" or "polling" (omit it: polling unless the public URL is https)`)
}
