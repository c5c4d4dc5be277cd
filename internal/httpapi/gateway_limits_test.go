package httpapi_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A text longer than the channel takes, counted as the platform counts,
// is refused at the send API with the limit and the count, and fails a
// built-in reply the same way; a text at the limit goes out whole.
func TestGatewaySend_TextLimits(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, f, tok, g := telegramEventNode(t, url, "limits@example.com")

		// Telegram counts UTF-16 code units: 2,048 emoji are 4,096 of them.
		emoji := strings.Repeat("😀", 2048)
		if s := sendMessage(t, h, tok, g.ID, "555", emoji); s.Status != "SENT" {
			t.Fatalf("text at the limit: %+v", s)
		}
		if sent := f.Sent(); len(sent) != 1 || sent[0].Text != emoji {
			t.Fatalf("provider received %d messages, text intact %v", len(sent), len(sent) == 1 && sent[0].Text == emoji)
		}
		r := h.Do(apiSend(tok, g.ID, emoji+"😀"))
		if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" ||
			!strings.Contains(r.Body.Error.Message, "text: is 4098 UTF-16 code units long; TELEGRAM allows at most 4096") {
			t.Fatalf("2,049 emoji answered %d %s", r.Status, r.Raw)
		}

		// The other channels, each a user's own gateway (not connected: the
		// length is refused first, a text within it meets the 409).
		for i, c := range []struct {
			create map[string]any
			unit   string
			max    int
			char   string
		}{
			{map[string]any{"type": "DISCORD", "name": "dc", "credentials": map[string]string{"botToken": fakeDiscordToken},
				"config": map[string]any{"publicKey": strings.Repeat("ab", 32)}}, "characters", 2000, "é"},
			{map[string]any{"type": "SLACK", "name": "sl", "credentials": map[string]string{"botToken": fakeSlackToken, "signingSecret": fakeSlackSigning}},
				"characters", 40000, "x"},
			{map[string]any{"type": "WHATSAPP", "name": "wa",
				"credentials": map[string]string{"accessToken": fakeWAToken, "appSecret": fakeWAAppSecret, "verifyToken": fakeWAVerify},
				"config":      map[string]any{"phoneNumberId": fakeWAPhone}}, "characters", 4096, "ü"},
		} {
			utok := h.SignUp("limits"+string(rune('a'+i))+"@example.com", "correct horse battery").AccessToken
			o := createGateway(t, h, utok, c.create)
			at := strings.Repeat(c.char, c.max)
			if r := h.Do(apiSend(utok, o.ID, at)); r.Status != http.StatusConflict {
				t.Errorf("%s: text at the limit answered %d %s", c.create["type"], r.Status, r.Raw)
			}
			r := h.Do(apiSend(utok, o.ID, at+c.char))
			want := "is " + strconv.Itoa(c.max+1) + " " + c.unit + " long; " + c.create["type"].(string) + " allows at most " + strconv.Itoa(c.max)
			if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" || !strings.Contains(r.Body.Error.Message, want) {
				t.Errorf("%s: text over the limit answered %d %.300s, want %q", c.create["type"], r.Status, r.Raw, want)
			}
		}

		// A built-in reply that renders too long fails its execution with
		// the same reason, and nothing is cut and sent.
		inst := install(t, h, tok, map[string]any{"plugin": "auto-reply", "gatewayIds": []string{g.ID}, "config": map[string]any{"rules": []any{
			map[string]any{"keyword": "essay", "reply": strings.Repeat("😀", 2100)}}}})
		deliverTelegram(t, h, f, g, tgMessage(7001, "ann", "essay please"))
		es := waitExecutions(t, h, tok, inst, 1)
		if es[0].Status != "FAILED" || !strings.Contains(es[0].Error, "text: is 4200 UTF-16 code units long; TELEGRAM allows at most 4096") {
			t.Fatalf("too-long reply: %+v", es[0])
		}
		if n := len(f.Sent()); n != 1 {
			t.Fatalf("provider received %d messages, want only the first", n)
		}
	})
}

func apiSend(tok, gatewayID, text string) apptest.Request {
	return apptest.Request{Method: "POST", Path: "/api/v1/gateways/" + gatewayID + "/send", Token: tok,
		Body: map[string]string{"chatId": "555", "text": text}}
}
