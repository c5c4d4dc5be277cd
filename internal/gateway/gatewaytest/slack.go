package gatewaytest

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// NewSlack fakes the Web API's auth.test and chat.postMessage: auth errors
// as HTTP 200 {"ok": false, "error": "invalid_auth"}, rate limits as 429
// {"ok": false, "error": "ratelimited"} with Retry-After, and the
// missing_charset warning for a JSON body without charset=utf-8.
func NewSlack(t testing.TB, token string) *Fake {
	return newFake(t, token, func(f *Fake, w http.ResponseWriter, r *http.Request) {
		if !f.authorized(strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")) {
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "invalid_auth"})
			return
		}
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		switch r.URL.Path {
		case "/auth.test":
			f.count("auth.test")
			writeJSON(w, http.StatusOK, map[string]any{"ok": true, "url": "https://fake.slack.com/", "team": "Fake", "user": "fakebot", "team_id": "T1", "user_id": "U1"})
		case "/chat.postMessage":
			f.count("send")
			if x, ok := f.nextFailure(); ok {
				if x.Status == http.StatusTooManyRequests {
					w.Header().Set("Retry-After", strconv.Itoa(int(x.RetryAfter)))
					writeJSON(w, x.Status, map[string]any{"ok": false, "error": "ratelimited"})
					return
				}
				writeJSON(w, x.Status, map[string]any{"ok": false, "error": "fatal_error"})
				return
			}
			ch, _ := in["channel"].(string)
			text, _ := in["text"].(string)
			if ch == "" {
				writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "channel_not_found"})
				return
			}
			n := f.record(Message{ChatID: ch, Text: text, Header: r.Header.Clone()})
			out := map[string]any{"ok": true, "channel": ch, "ts": "1700000000." + strconv.Itoa(100000+n)}
			if r.Header.Get("Content-Type") != "application/json; charset=utf-8" {
				// What Slack answers a JSON body without its charset.
				out["warning"] = "missing_charset"
				out["response_metadata"] = map[string]any{"warnings": []string{"missing_charset"}}
			}
			writeJSON(w, http.StatusOK, out)
		default:
			writeJSON(w, http.StatusOK, map[string]any{"ok": false, "error": "unknown_method"})
		}
	})
}
