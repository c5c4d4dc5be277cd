package gatewaytest

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Discord is a fake of Discord's REST API plus the application's Ed25519
// key pair, generated per test, to sign interactions the way Discord does.
type Discord struct {
	*Fake
	Public  ed25519.PublicKey
	private ed25519.PrivateKey
}

// PublicKeyHex is the application's public key as the portal shows it.
func (d *Discord) PublicKeyHex() string { return hex.EncodeToString(d.Public) }

// Sign returns the X-Signature-Ed25519 and X-Signature-Timestamp headers
// for body sent at ts.
func (d *Discord) Sign(body []byte, ts time.Time) map[string]string {
	stamp := strconv.FormatInt(ts.Unix(), 10)
	sig := ed25519.Sign(d.private, append([]byte(stamp), body...))
	return map[string]string{"X-Signature-Ed25519": hex.EncodeToString(sig), "X-Signature-Timestamp": stamp}
}

// NewDiscord fakes GET /users/@me, PATCH /applications/@me
// (interactions_endpoint_url) and POST /channels/{id}/messages with
// Discord's error bodies and rate-limit answers.
func NewDiscord(t testing.TB, token string) *Discord {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	d := &Discord{Public: pub, private: priv}
	d.Fake = newFake(t, token, func(f *Fake, w http.ResponseWriter, r *http.Request) {
		if !f.authorized(strings.TrimPrefix(r.Header.Get("Authorization"), "Bot ")) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"message": "401: Unauthorized", "code": 0})
			return
		}
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/users/@me":
			f.count("me")
			writeJSON(w, http.StatusOK, map[string]any{"id": "80351110224678912", "username": "fakebot", "bot": true})
		case r.Method == http.MethodPatch && r.URL.Path == "/applications/@me":
			f.count("application")
			u, _ := in["interactions_endpoint_url"].(string)
			f.setHook(u, "")
			writeJSON(w, http.StatusOK, map[string]any{"id": "1", "interactions_endpoint_url": in["interactions_endpoint_url"]})
		case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/channels/") && strings.HasSuffix(r.URL.Path, "/messages"):
			f.count("send")
			if x, ok := f.nextFailure(); ok {
				if x.Status == http.StatusTooManyRequests {
					w.Header().Set("Retry-After", strconv.FormatFloat(x.RetryAfter, 'f', -1, 64))
					w.Header().Set("X-RateLimit-Scope", "user")
					writeJSON(w, x.Status, map[string]any{"message": "You are being rate limited.", "retry_after": x.RetryAfter, "global": false})
					return
				}
				writeJSON(w, x.Status, map[string]any{"message": http.StatusText(x.Status), "code": 0})
				return
			}
			ch := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/channels/"), "/messages")
			text, _ := in["content"].(string)
			n := f.record(Message{ChatID: ch, Text: text, Header: r.Header.Clone()})
			writeJSON(w, http.StatusOK, map[string]any{"id": strconv.Itoa(1000 + n), "channel_id": ch, "content": text})
		default:
			writeJSON(w, http.StatusNotFound, map[string]any{"message": "404: Not Found", "code": 0})
		}
	})
	return d
}
