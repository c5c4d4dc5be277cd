package gatewaytest

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/gateway/webhook"
)

// NewWebhookReceiver is a user's endpoint for WEBHOOK gateways: it accepts
// only Standard Webhooks requests signed with secret ("whsec_…"), answering
// 401 to anything else (and to everything after Revoke).
func NewWebhookReceiver(t testing.TB, secret string) *Fake {
	key, ok := webhook.DecodeSecret(secret)
	if !ok {
		t.Fatalf("bad webhook secret %q", secret)
	}
	return newFake(t, "", func(f *Fake, w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		f.count("send")
		id, ts := r.Header.Get("webhook-id"), r.Header.Get("webhook-timestamp")
		sec, _ := strconv.ParseInt(ts, 10, 64)
		want := webhook.Sign(key, id, sec, body)
		valid := false
		for _, s := range strings.Fields(r.Header.Get("webhook-signature")) {
			valid = valid || s == want
		}
		f.mu.Lock()
		revoked := f.revoked
		f.mu.Unlock()
		if !valid || revoked {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": "invalid signature"})
			return
		}
		if x, ok := f.nextFailure(); ok {
			if x.Status == http.StatusTooManyRequests {
				w.Header().Set("Retry-After", strconv.Itoa(int(x.RetryAfter)))
			}
			writeJSON(w, x.Status, map[string]any{"error": http.StatusText(x.Status)})
			return
		}
		var msg struct {
			Data struct{ ChatID, Text string } `json:"data"`
		}
		_ = json.Unmarshal(body, &msg)
		f.record(Message{ChatID: msg.Data.ChatID, Text: msg.Data.Text, Header: r.Header.Clone()})
		w.WriteHeader(http.StatusNoContent)
	})
}
