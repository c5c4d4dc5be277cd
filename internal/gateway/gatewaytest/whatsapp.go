package gatewaytest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// NewWhatsApp fakes the Graph API for one phone number id: GET
// /{phone-number-id} and POST /{phone-number-id}/messages, with Graph's
// error object (code 190 for a bad token, 130429 for throughput limits).
func NewWhatsApp(t testing.TB, token, phoneID string) *Fake {
	return newFake(t, token, func(f *Fake, w http.ResponseWriter, r *http.Request) {
		if !f.authorized(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]any{
				"message": "Invalid OAuth access token - Cannot parse access token", "type": "OAuthException", "code": 190, "fbtrace_id": "Afake"}})
			return
		}
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/"+phoneID:
			f.count("phone")
			writeJSON(w, http.StatusOK, map[string]any{"id": phoneID, "display_phone_number": "+1 555 0100", "verified_name": "Fake Business"})
		case r.Method == http.MethodPost && r.URL.Path == "/"+phoneID+"/messages":
			f.count("send")
			if x, ok := f.nextFailure(); ok {
				if x.Status == http.StatusTooManyRequests {
					w.Header().Set("Retry-After", strconv.Itoa(int(x.RetryAfter)))
					writeJSON(w, x.Status, map[string]any{"error": map[string]any{"message": "(#130429) Rate limit hit", "type": "OAuthException", "code": 130429}})
					return
				}
				writeJSON(w, x.Status, map[string]any{"error": map[string]any{"message": "Service temporarily unavailable", "code": 2}})
				return
			}
			var in struct {
				Product string `json:"messaging_product"`
				To      string `json:"to"`
				Type    string `json:"type"`
				Text    struct {
					Body string `json:"body"`
				} `json:"text"`
			}
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Product != "whatsapp" || in.To == "" {
				writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]any{"message": "(#100) Invalid parameter", "code": 100}})
				return
			}
			n := f.record(Message{ChatID: in.To, Text: in.Text.Body, Header: r.Header.Clone()})
			writeJSON(w, http.StatusOK, map[string]any{"messaging_product": "whatsapp",
				"contacts": []any{map[string]any{"input": in.To, "wa_id": in.To}},
				"messages": []any{map[string]any{"id": "wamid.fake" + strconv.Itoa(n)}}})
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"error": map[string]any{"message": "Unknown path", "code": 803}})
		}
	})
}
