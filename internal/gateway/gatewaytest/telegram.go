package gatewaytest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// NewTelegram fakes the Bot API for one bot token: getMe, setWebhook (with
// secret_token), deleteWebhook, getUpdates (telegram_poll.go) and
// sendMessage, with the API's error
// envelope {"ok": false, "error_code", "description", "parameters"}.
func NewTelegram(t testing.TB, token string) *Fake {
	return newFake(t, token, func(f *Fake, w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
		tok, method, _ := strings.Cut(rest, "/")
		if !ok || !f.authorized(tok) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"ok": false, "error_code": 401, "description": "Unauthorized"})
			return
		}
		f.count(method)
		var in map[string]any
		if r.Body != nil {
			_ = json.NewDecoder(r.Body).Decode(&in)
		}
		switch method {
		case "getMe":
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": map[string]any{"id": 4242, "is_bot": true, "first_name": "Fake", "username": "fake_bot"}})
		case "setWebhook":
			u, _ := in["url"].(string)
			sec, _ := in["secret_token"].(string)
			if u == "" {
				writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: bad webhook: An HTTPS URL must be provided for webhook"})
				return
			}
			f.setHook(u, sec)
			var upd []string
			if list, ok := in["allowed_updates"].([]any); ok {
				for _, x := range list {
					if s, ok := x.(string); ok {
						upd = append(upd, s)
					}
				}
			}
			f.mu.Lock()
			f.hookUpd = upd
			f.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": true, "description": "Webhook was set"})
		case "getUpdates":
			f.getUpdates(w, r, in)
		case "deleteWebhook":
			f.setHook("", "")
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": true, "description": "Webhook was deleted"})
		case "sendMessage":
			if x, ok := f.nextFailure(); ok {
				ra := int(x.RetryAfter)
				body := map[string]any{"ok": false, "error_code": x.Status, "description": http.StatusText(x.Status)}
				if x.Status == http.StatusTooManyRequests {
					body["description"] = fmt.Sprintf("Too Many Requests: retry after %d", ra)
					body["parameters"] = map[string]any{"retry_after": ra}
				}
				writeJSON(w, x.Status, body)
				return
			}
			chat := fmt.Sprint(in["chat_id"])
			text, _ := in["text"].(string)
			if chat == "" || chat == "<nil>" || text == "" {
				writeJSON(w, http.StatusBadRequest, map[string]any{"ok": false, "error_code": 400, "description": "Bad Request: message text is empty"})
				return
			}
			n := f.record(Message{ChatID: chat, Text: text, Header: r.Header.Clone()})
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": map[string]any{"message_id": n, "chat": map[string]any{"id": chat}, "text": text}})
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error_code": 404, "description": "Not Found: method not found"})
		}
	})
}
