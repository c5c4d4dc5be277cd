package httpapi_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/gateway/slack"
	"github.com/switchboard/switchboard/internal/gateway/webhook"
	"github.com/switchboard/switchboard/internal/gateway/whatsapp"
)

// adapterSpec drives one provider through the whole gateway life cycle
// against its local fake.
type adapterSpec struct {
	name string
	// setup starts the fake and returns the create body and a chat id.
	setup func(t *testing.T) (f *gatewaytest.Fake, create map[string]any, chat string, x *specState)
	// deliver builds inbound delivery n (same n, same provider id) signed
	// at ts; forge breaks its authentication.
	deliver func(t *testing.T, x *specState, g gw, n int, ts time.Time, forge bool) apptest.Request
	// handshake checks the provider's endpoint verification, if any.
	handshake func(t *testing.T, h *apptest.Harness, x *specState, g gw)
	// afterConnect checks what connect registered at the provider.
	afterConnect func(t *testing.T, x *specState, g gw)
	stale        bool
	wantType     string
	retryAfter   float64
	// retriesInCall: the adapter waits out a 429 itself (Slack), so the
	// send succeeds on its first attempt.
	retriesInCall bool
}

// specState carries what a spec's closures share (fakes, secrets).
type specState struct {
	fake    *gatewaytest.Fake
	discord *gatewaytest.Discord
	secret  string
}

func jsonBody(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newWebhookSecret(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return "whsec_" + base64.StdEncoding.EncodeToString(b)
}

const (
	fakeTelegramToken = "123456789:AAFakeTelegramTokenForTests_abcdefgh"
	fakeDiscordToken  = "MTIzNDU2Nzg5.fake-discord-bot-token.abcdefgh"
	fakeSlackToken    = "xoxb-1234-5678-fakeSlackBotToken"
	fakeSlackSigning  = "8f742231b10e8888abcd99yyyzzz85a5"
	fakeWAToken       = "EAAGfakeWhatsAppAccessToken123"
	fakeWAAppSecret   = "fake-whatsapp-app-secret-42"
	fakeWAVerify      = "fake-verify-token-77"
	fakeWAPhone       = "106540352242922"
)

func adapterSpecs() []adapterSpec {
	return []adapterSpec{
		{
			name: "telegram", wantType: "gateway.message", retryAfter: 1,
			setup: func(t *testing.T) (*gatewaytest.Fake, map[string]any, string, *specState) {
				f := gatewaytest.NewTelegram(t, fakeTelegramToken)
				return f, map[string]any{"type": "TELEGRAM", "name": "tg", "credentials": map[string]string{"botToken": fakeTelegramToken}}, "555", &specState{fake: f}
			},
			afterConnect: func(t *testing.T, x *specState, g gw) {
				u, sec := x.fake.Hook()
				if u != g.InboundURL || len(sec) < 32 {
					t.Errorf("setWebhook got url %q secret %d chars; want %q and a generated secret", u, len(sec), g.InboundURL)
				}
				// Member events come from chat_member updates, delivered
				// only when asked for.
				if upd := strings.Join(x.fake.HookUpdates(), ","); upd != "message,chat_member" {
					t.Errorf("setWebhook allowed_updates %q", upd)
				}
			},
			deliver: func(t *testing.T, x *specState, g gw, n int, _ time.Time, forge bool) apptest.Request {
				_, sec := x.fake.Hook()
				if forge {
					sec = "forged-secret-token"
				}
				body := jsonBody(t, map[string]any{"update_id": 9000 + n, "message": map[string]any{"message_id": n,
					"from": map[string]any{"id": 7, "username": "ann"}, "chat": map[string]any{"id": 555, "type": "private"}, "text": "hello"}})
				return apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: map[string]string{"X-Telegram-Bot-Api-Secret-Token": sec}}
			},
		},
		{
			name: "discord", wantType: "gateway.command", retryAfter: 0.2, stale: true,
			setup: func(t *testing.T) (*gatewaytest.Fake, map[string]any, string, *specState) {
				d := gatewaytest.NewDiscord(t, fakeDiscordToken)
				return d.Fake, map[string]any{"type": "DISCORD", "name": "dc", "credentials": map[string]string{"botToken": fakeDiscordToken},
					"config": map[string]any{"publicKey": d.PublicKeyHex()}}, "1122334455", &specState{fake: d.Fake, discord: d}
			},
			afterConnect: func(t *testing.T, x *specState, g gw) {
				if u, _ := x.fake.Hook(); u != g.InboundURL {
					t.Errorf("interactions endpoint %q, want %q", u, g.InboundURL)
				}
			},
			handshake: func(t *testing.T, h *apptest.Harness, x *specState, g gw) {
				body := []byte(`{"id":"ping-1","type":1,"application_id":"1"}`)
				r := h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: x.discord.Sign(body, time.Now())})
				if r.Status != http.StatusOK || strings.TrimSpace(string(r.Raw)) != `{"type":1}` {
					t.Errorf("PING answered %d %s", r.Status, r.Raw)
				}
				bad := x.discord.Sign([]byte(`{"other":true}`), time.Now())
				if r := h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: bad}); r.Status != http.StatusUnauthorized {
					t.Errorf("PING with a bad signature answered %d, want 401", r.Status)
				}
			},
			deliver: func(t *testing.T, x *specState, g gw, n int, ts time.Time, forge bool) apptest.Request {
				body := jsonBody(t, map[string]any{"id": fmt.Sprintf("interaction-%d", n), "type": 2, "channel_id": "1122334455",
					"data":   map[string]any{"name": "hello", "options": []any{map[string]any{"name": "who", "value": "world"}}},
					"member": map[string]any{"user": map[string]any{"id": "U7", "username": "ann"}}})
				hdr := x.discord.Sign(body, ts)
				if forge {
					hdr = x.discord.Sign(append([]byte(" "), body...), ts)
				}
				return apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: hdr}
			},
		},
		{
			name: "slack", wantType: "gateway.message", retryAfter: 1, stale: true, retriesInCall: true,
			setup: func(t *testing.T) (*gatewaytest.Fake, map[string]any, string, *specState) {
				f := gatewaytest.NewSlack(t, fakeSlackToken)
				return f, map[string]any{"type": "SLACK", "name": "sl", "credentials": map[string]string{"botToken": fakeSlackToken, "signingSecret": fakeSlackSigning}},
					"C0123", &specState{fake: f}
			},
			handshake: func(t *testing.T, h *apptest.Harness, x *specState, g gw) {
				body := []byte(`{"token":"x","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				r := h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: map[string]string{
					"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": slack.Sign(fakeSlackSigning, ts, body)}})
				if r.Status != http.StatusOK || !strings.Contains(string(r.Raw), "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P") {
					t.Errorf("url_verification answered %d %s", r.Status, r.Raw)
				}
			},
			deliver: func(t *testing.T, x *specState, g gw, n int, ts time.Time, forge bool) apptest.Request {
				body := jsonBody(t, map[string]any{"type": "event_callback", "event_id": fmt.Sprintf("Ev%04d", n), "team_id": "T1",
					"event": map[string]any{"type": "message", "channel": "C0123", "user": "U7", "text": "hello", "ts": fmt.Sprintf("1700000000.%06d", n)}})
				stamp := strconv.FormatInt(ts.Unix(), 10)
				secret := fakeSlackSigning
				if forge {
					secret = "not-the-signing-secret"
				}
				return apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: map[string]string{
					"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": slack.Sign(secret, stamp, body)}}
			},
		},
		{
			name: "whatsapp", wantType: "gateway.message", retryAfter: 1,
			setup: func(t *testing.T) (*gatewaytest.Fake, map[string]any, string, *specState) {
				f := gatewaytest.NewWhatsApp(t, fakeWAToken, fakeWAPhone)
				return f, map[string]any{"type": "WHATSAPP", "name": "wa",
					"credentials": map[string]string{"accessToken": fakeWAToken, "appSecret": fakeWAAppSecret, "verifyToken": fakeWAVerify},
					"config":      map[string]any{"phoneNumberId": fakeWAPhone}}, "15550001", &specState{fake: f}
			},
			handshake: func(t *testing.T, h *apptest.Harness, x *specState, g gw) {
				r := h.Do(apptest.Request{Method: "GET", Path: hookPath(g) + "?hub.mode=subscribe&hub.verify_token=" + fakeWAVerify + "&hub.challenge=1158201444"})
				if r.Status != http.StatusOK || string(r.Raw) != "1158201444" {
					t.Errorf("hub.challenge answered %d %q", r.Status, r.Raw)
				}
				r = h.Do(apptest.Request{Method: "GET", Path: hookPath(g) + "?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1"})
				if r.Status != http.StatusUnauthorized {
					t.Errorf("wrong verify token answered %d", r.Status)
				}
			},
			deliver: func(t *testing.T, x *specState, g gw, n int, _ time.Time, forge bool) apptest.Request {
				body := jsonBody(t, map[string]any{"object": "whatsapp_business_account", "entry": []any{map[string]any{"id": "1",
					"changes": []any{map[string]any{"field": "messages", "value": map[string]any{"messaging_product": "whatsapp",
						"metadata": map[string]any{"display_phone_number": "15550100", "phone_number_id": fakeWAPhone},
						"contacts": []any{map[string]any{"wa_id": "15550001", "profile": map[string]any{"name": "Ann"}}},
						"messages": []any{map[string]any{"from": "15550001", "id": fmt.Sprintf("wamid.in%d", n), "timestamp": "1700000000",
							"type": "text", "text": map[string]any{"body": "hello"}}}}}}}}})
				secret := fakeWAAppSecret
				if forge {
					secret = "wrong-app-secret"
				}
				return apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: map[string]string{"X-Hub-Signature-256": whatsapp.Sign(secret, body)}}
			},
		},
		{
			name: "webhook", wantType: "gateway.webhook", retryAfter: 1, stale: true,
			setup: func(t *testing.T) (*gatewaytest.Fake, map[string]any, string, *specState) {
				sec := newWebhookSecret(t)
				f := gatewaytest.NewWebhookReceiver(t, sec)
				return f, map[string]any{"type": "WEBHOOK", "name": "wh", "credentials": map[string]string{"signingSecret": sec},
					"config": map[string]any{"url": f.URL + "/hooks/in"}}, "", &specState{fake: f, secret: sec}
			},
			deliver: func(t *testing.T, x *specState, g gw, n int, ts time.Time, forge bool) apptest.Request {
				body := jsonBody(t, map[string]any{"text": "hello", "chatId": "c1", "n": n})
				key, _ := webhook.DecodeSecret(x.secret)
				id := fmt.Sprintf("msg_%d", n)
				sig := webhook.Sign(key, id, ts.Unix(), body)
				if forge {
					sig = webhook.Sign([]byte("wrong key wrong key wrong key!!"), id, ts.Unix(), body)
				}
				return apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: map[string]string{
					"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts.Unix(), 10), "webhook-signature": "v1,bm90IGl0 " + sig}}
			},
		},
	}
}

// TestGatewayAdapters_EndToEnd connects each gateway type to its fake,
// delivers signed, duplicated, forged and stale inbound updates, and sends
// through a 429, a 503 and finally revoked credentials.
func TestGatewayAdapters_EndToEnd(t *testing.T) {
	t.Parallel()
	for _, spec := range adapterSpecs() {
		t.Run(spec.name, func(t *testing.T) {
			t.Parallel()
			dbtest.EachURL(t, func(t *testing.T, url string) { runAdapter(t, url, spec) })
		})
	}
}

func runAdapter(t *testing.T, url string, spec adapterSpec) {
	f, create, chat, x := spec.setup(t)
	h := gatewayNode(t, url, []string{f.Host()}, func(c *config.Config) {
		c.Gateway.TelegramAPIURL, c.Gateway.DiscordAPIURL, c.Gateway.SlackAPIURL, c.Gateway.WhatsAppAPIURL = f.URL, f.URL, f.URL, f.URL
	})
	u := h.SignUp("gw-"+spec.name+"@example.com", "correct horse battery")
	tok := u.AccessToken

	g := createGateway(t, h, tok, create)
	if g.Status != "DISCONNECTED" || !strings.HasPrefix(g.ID, "gw_") || !strings.Contains(g.InboundURL, "/hooks/gateways/"+g.ID+"/") {
		t.Fatalf("created %+v", g)
	}
	g = connectGateway(t, h, tok, g.ID)
	if g.Status != "CONNECTED" || g.LastError != "" {
		t.Fatalf("connect: %+v", g)
	}
	if spec.afterConnect != nil {
		spec.afterConnect(t, x, g)
	}
	if spec.handshake != nil {
		spec.handshake(t, h, x, g)
	}

	// Inbound: stored once, however often it is delivered.
	now := time.Now()
	first := spec.deliver(t, x, g, 1, now, false)
	for i := 0; i < 3; i++ {
		if r := h.Do(first); r.Status != http.StatusOK {
			t.Fatalf("delivery %d answered %d %s", i, r.Status, r.Raw)
		}
	}
	if r := h.Do(spec.deliver(t, x, g, 2, now, true)); r.Status != http.StatusUnauthorized || r.Code() != "UNAUTHORIZED" {
		t.Errorf("forged delivery answered %d %s", r.Status, r.Raw)
	}
	if spec.stale {
		if r := h.Do(spec.deliver(t, x, g, 3, now.Add(-10*time.Minute), false)); r.Status != http.StatusBadRequest {
			t.Errorf("stale delivery answered %d %s", r.Status, r.Raw)
		}
	}
	wrong := first
	wrong.Path = hookPath(g)[:strings.LastIndex(hookPath(g), "/")] + "/not-the-token"
	if r := h.Do(wrong); r.Status != http.StatusNotFound {
		t.Errorf("wrong path token answered %d", r.Status)
	}
	evs := waitProcessed(t, h, tok, g.ID)
	if len(evs) != 1 || evs[0].Type != spec.wantType || evs[0].Payload.GatewayID != g.ID || evs[0].Payload.ProviderEventID == "" ||
		evs[0].WorkspaceID != u.UserID {
		t.Fatalf("events after 3 deliveries + forged + stale: %+v", evs)
	}

	// Outbound: a 429 is honoured, then delivered.
	f.FailSends(gatewaytest.Failure{Status: http.StatusTooManyRequests, RetryAfter: spec.retryAfter})
	s := sendMessage(t, h, tok, g.ID, chat, "first reply")
	if want := map[bool]int{false: 2, true: 1}[spec.retriesInCall]; s.Status != "SENT" || s.Attempts != want {
		t.Errorf("send after 429: %+v", s)
	}
	// A provider outage is retried.
	f.FailSends(gatewaytest.Failure{Status: http.StatusServiceUnavailable})
	s = sendMessage(t, h, tok, g.ID, chat, "second reply")
	if s.Status != "SENT" || s.Attempts != 2 {
		t.Errorf("send after 503: %+v", s)
	}
	sent := f.Sent()
	if len(sent) != 2 || sent[0].Text != "first reply" || sent[1].Text != "second reply" || sent[0].ChatID != chat {
		t.Errorf("provider received %+v", sent)
	}
	g = getGateway(t, h, tok, g.ID)
	if g.Status != "CONNECTED" || g.LastError == "" || g.LastErrorAt == nil {
		t.Errorf("after retried sends the gateway should stay CONNECTED with lastError recorded: %+v", g)
	}

	// Revoked credentials: repeated auth failures put the gateway in ERROR.
	f.Revoke()
	s = sendMessage(t, h, tok, g.ID, chat, "into the void")
	if s.Status != "FAILED" || s.LastError == "" {
		t.Errorf("send with revoked credentials: %+v", s)
	}
	g = getGateway(t, h, tok, g.ID)
	if g.Status != "ERROR" || g.LastError == "" {
		t.Errorf("gateway after auth failures: %+v", g)
	}
	if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/gateways/" + g.ID + "/send", Token: tok, Body: map[string]string{"chatId": chat, "text": "x"}}); r.Status != http.StatusConflict {
		t.Errorf("send on an ERROR gateway answered %d", r.Status)
	}
	// Connecting with revoked credentials fails the same way, with lastError
	// (a webhook has no provider to verify credentials with).
	if spec.name != "webhook" {
		if g = connectGateway(t, h, tok, g.ID); g.Status != "ERROR" || g.LastError == "" {
			t.Errorf("connect with revoked credentials: %+v", g)
		}
	}
	var audit struct {
		Items []struct{ Action, Status string }
	}
	h.Call(http.StatusOK, "GET", "/api/v1/audit?limit=200", tok, nil).Data(t, &audit)
	seen := map[string]bool{}
	for _, it := range audit.Items {
		seen[it.Action] = true
	}
	for _, want := range []string{"gateway.created", "gateway.connected", "gateway.errored"} {
		if !seen[want] {
			t.Errorf("audit lacks %s: %+v", want, audit.Items)
		}
	}
}
