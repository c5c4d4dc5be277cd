package httpapi_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/gateway/slack"
	"github.com/switchboard/switchboard/internal/gateway/whatsapp"
)

// recorder keeps every response body a test saw.
type recorder struct {
	mu  sync.Mutex
	all strings.Builder
}

func (rc *recorder) do(h *apptest.Harness, req apptest.Request) *apptest.Response {
	r := h.Do(req)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.all.Write(r.Raw)
	for k, vs := range r.Header {
		rc.all.WriteString(k + ": " + strings.Join(vs, ",") + "\n")
	}
	return r
}

// dumpDatabase renders every row of every table as text.
func dumpDatabase(t *testing.T, d *db.DB) string {
	t.Helper()
	ctx := context.Background()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if d.Dialect == db.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()`
	}
	rows, err := d.Read().QueryContext(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	var out strings.Builder
	for _, tb := range tables {
		rs, err := d.Read().QueryContext(ctx, `SELECT * FROM `+tb)
		if err != nil {
			t.Fatalf("dump %s: %v", tb, err)
		}
		cols, _ := rs.Columns()
		for rs.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rs.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			for _, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				fmt.Fprintf(&out, "%v|", v)
			}
			out.WriteString("\n")
		}
		rs.Close()
	}
	if !strings.Contains(out.String(), "sb1:") {
		t.Fatal("dump holds no sealed value: the dump is broken")
	}
	return out.String()
}

// TestGatewayCredentials_NeverInClear drives every gateway type through
// create, connect, inbound, send, test, credential replacement and auth
// failures, then searches the logs, every response and every database row
// for the credentials.
func TestGatewayCredentials_NeverInClear(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		tg := gatewaytest.NewTelegram(t, fakeTelegramToken)
		sl := gatewaytest.NewSlack(t, fakeSlackToken)
		wa := gatewaytest.NewWhatsApp(t, fakeWAToken, fakeWAPhone)
		dc := gatewaytest.NewDiscord(t, fakeDiscordToken)
		whSecret := newWebhookSecret(t)
		wh := gatewaytest.NewWebhookReceiver(t, whSecret)
		h := gatewayNode(t, url, []string{tg.Host(), sl.Host(), wa.Host(), dc.Host(), wh.Host()}, func(c *config.Config) {
			c.Gateway.TelegramAPIURL, c.Gateway.SlackAPIURL, c.Gateway.WhatsAppAPIURL, c.Gateway.DiscordAPIURL = tg.URL, sl.URL, wa.URL, dc.URL
		})
		rc := &recorder{}
		newTG := "987654321:AAReplacementTelegramToken_zyxwvuts"
		secrets := []string{fakeTelegramToken, fakeSlackToken, fakeSlackSigning, fakeWAToken, fakeWAAppSecret, fakeWAVerify,
			fakeDiscordToken, whSecret, strings.TrimPrefix(whSecret, "whsec_"), newTG}
		bodies := []map[string]any{
			{"type": "TELEGRAM", "name": "tg", "credentials": map[string]string{"botToken": fakeTelegramToken}},
			{"type": "SLACK", "name": "sl", "credentials": map[string]string{"botToken": fakeSlackToken, "signingSecret": fakeSlackSigning}},
			{"type": "WHATSAPP", "name": "wa", "credentials": map[string]string{"accessToken": fakeWAToken, "appSecret": fakeWAAppSecret, "verifyToken": fakeWAVerify},
				"config": map[string]any{"phoneNumberId": fakeWAPhone}},
			{"type": "DISCORD", "name": "dc", "credentials": map[string]string{"botToken": fakeDiscordToken}, "config": map[string]any{"publicKey": dc.PublicKeyHex()}},
			{"type": "WEBHOOK", "name": "wh", "credentials": map[string]string{"signingSecret": whSecret}, "config": map[string]any{"url": wh.URL}},
		}
		for i, body := range bodies {
			u := h.SignUp(fmt.Sprintf("secrets-%d@example.com", i), "correct horse battery")
			tok := u.AccessToken
			var g gw
			r := rc.do(h, apptest.Request{Method: "POST", Path: "/api/v1/gateways", Token: tok, Body: body})
			if r.Status != http.StatusCreated {
				t.Fatalf("create %v: %d %s", body["type"], r.Status, r.Raw)
			}
			r.Data(t, &g)
			rc.do(h, apptest.Request{Method: "POST", Path: "/api/v1/gateways/" + g.ID + "/connect", Token: tok})
			rc.do(h, apptest.Request{Method: "GET", Path: "/api/v1/gateways/" + g.ID, Token: tok})
			rc.do(h, apptest.Request{Method: "GET", Path: "/api/v1/gateways", Token: tok})
			rc.do(h, apptest.Request{Method: "POST", Path: "/api/v1/gateways/" + g.ID + "/test", Token: tok, Body: map[string]string{"chatId": "555"}})
			var s sendRec
			rc.do(h, apptest.Request{Method: "POST", Path: "/api/v1/gateways/" + g.ID + "/send", Token: tok, Body: map[string]string{"chatId": "555", "text": "hi"}}).Data(t, &s)
			waitSend(t, h, tok, g.ID, s.ID)
			switch body["type"] {
			case "SLACK":
				b := []byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"message","channel":"C1","user":"U1","text":"x"}}`)
				ts := strconv.FormatInt(time.Now().Unix(), 10)
				rc.do(h, apptest.Request{Method: "POST", Path: hookPath(g), Body: b, Headers: map[string]string{"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": slack.Sign(fakeSlackSigning, ts, b)}})
			case "WHATSAPP":
				rc.do(h, apptest.Request{Method: "GET", Path: hookPath(g) + "?hub.mode=subscribe&hub.verify_token=" + fakeWAVerify + "&hub.challenge=42"})
				b := []byte(`{"object":"whatsapp_business_account","entry":[]}`)
				rc.do(h, apptest.Request{Method: "POST", Path: hookPath(g), Body: b, Headers: map[string]string{"X-Hub-Signature-256": whatsapp.Sign(fakeWAAppSecret, b)}})
			case "TELEGRAM":
				// Replace the token; the new one must not leak either, and the
				// revoked old one makes the next calls fail with 401.
				rc.do(h, apptest.Request{Method: "PATCH", Path: "/api/v1/gateways/" + g.ID, Token: tok, Body: map[string]any{"credentials": map[string]string{"botToken": newTG}}})
				rc.do(h, apptest.Request{Method: "POST", Path: "/api/v1/gateways/" + g.ID + "/connect", Token: tok})
			}
			rc.do(h, apptest.Request{Method: "GET", Path: "/api/v1/audit", Token: tok})
		}
		// Failures echo URLs and provider errors: revoke everything and fail.
		for _, f := range []*gatewaytest.Fake{tg, sl, wa, dc.Fake, wh} {
			f.Revoke()
		}
		dump := dumpDatabase(t, h.App.DB)
		logs := h.Logs()
		for _, sec := range secrets {
			for where, text := range map[string]string{"logs": logs, "responses": rc.all.String(), "database": dump} {
				if strings.Contains(text, sec) {
					t.Errorf("credential %q…%q found in clear in the %s", sec[:4], sec[len(sec)-4:], where)
				}
			}
		}
	})
}

// TestGatewaySSRF_Refused proves that webhook targets on private,
// loopback, link-local and metadata addresses are refused, both when given
// as literals (at create) and when a name or a redirect leads there (at
// dial time) — with a live server behind each refused address.
func TestGatewaySSRF_Refused(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		var hits sync.Map
		victim := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits.Store(r.URL.Path, true)
			w.WriteHeader(http.StatusNoContent)
		}))
		t.Cleanup(victim.Close)
		_, port, _ := net.SplitHostPort(strings.TrimPrefix(victim.URL, "http://"))
		// An allow-listed endpoint that redirects to the victim on loopback.
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, victim.URL+"/via-redirect", http.StatusFound)
		}))
		t.Cleanup(redirector.Close)
		rHost := strings.TrimPrefix(redirector.URL, "http://")
		h := gatewayNode(t, url, []string{rHost})
		u := h.SignUp("ssrf@example.com", "correct horse battery")
		sec := newWebhookSecret(t)
		for _, target := range []string{
			"http://127.0.0.1:" + port + "/literal", "http://[::1]:" + port + "/v6", "http://10.0.0.5/", "http://192.168.1.1/",
			"http://169.254.169.254/latest/meta-data/", "http://100.64.0.1/", "http://[fd00::1]/", "http://[::ffff:127.0.0.1]:" + port + "/mapped",
			"http://0.0.0.0:" + port + "/", "ftp://example.com/", "file:///etc/passwd", "http://user:pw@example.com/",
		} {
			r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/gateways", Token: u.AccessToken, Body: map[string]any{
				"type": "WEBHOOK", "name": "x", "credentials": map[string]string{"signingSecret": sec}, "config": map[string]any{"url": target}}})
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), "config.url") {
				t.Errorf("target %s: %d %s, want 400 naming config.url", target, r.Status, r.Raw)
			}
		}
		// Names are resolved at dial time: localhost and a redirect to
		// loopback are refused when the message is sent.
		for i, target := range []string{"http://localhost:" + port + "/by-name", redirector.URL + "/start"} {
			var g gw
			if i == 0 {
				g = createGateway(t, h, u.AccessToken, map[string]any{"type": "WEBHOOK", "name": "n", "credentials": map[string]string{"signingSecret": sec},
					"config": map[string]any{"url": target}})
			} else {
				var list struct{ Items []gw }
				h.Call(http.StatusOK, "GET", "/api/v1/gateways", u.AccessToken, nil).Data(t, &list)
				g = list.Items[0]
				h.Call(http.StatusOK, "PATCH", "/api/v1/gateways/"+g.ID, u.AccessToken, map[string]any{"config": map[string]any{"url": target}})
			}
			connectGateway(t, h, u.AccessToken, g.ID)
			s := sendMessage(t, h, u.AccessToken, g.ID, "", "probe")
			if s.Status != "FAILED" || !strings.Contains(s.LastError, "not a public address") {
				t.Errorf("send to %s: %+v, want FAILED as not public", target, s)
			}
		}
		hits.Range(func(k, _ any) bool {
			t.Errorf("the loopback victim was reached at %v", k)
			return true
		})
	})
}

// TestGateway_BadInput covers unknown types, credentials of the wrong
// shape, and the plan limit.
func TestGateway_BadInput(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := gatewayNode(t, url, nil)
		u := h.SignUp("bad-input@example.com", "correct horse battery")
		for _, c := range []struct {
			body  map[string]any
			field string
		}{
			{map[string]any{"type": "FAX", "name": "x", "credentials": map[string]string{}}, "type"},
			{map[string]any{"type": "TELEGRAM", "name": "x", "credentials": map[string]string{"botToken": "nope"}}, "credentials.botToken"},
			{map[string]any{"type": "TELEGRAM", "name": "x", "credentials": map[string]string{"botToken": fakeTelegramToken, "extra": "1"}}, "credentials.extra"},
			{map[string]any{"type": "SLACK", "name": "x", "credentials": map[string]string{"botToken": fakeSlackToken}}, "credentials.signingSecret"},
			{map[string]any{"type": "DISCORD", "name": "x", "credentials": map[string]string{"botToken": fakeDiscordToken}, "config": map[string]any{"publicKey": "zz"}}, "config.publicKey"},
			{map[string]any{"type": "WHATSAPP", "name": "x", "credentials": map[string]string{"accessToken": fakeWAToken, "appSecret": fakeWAAppSecret, "verifyToken": fakeWAVerify}}, "config.phoneNumberId"},
			{map[string]any{"type": "WEBHOOK", "name": "x", "credentials": map[string]string{"signingSecret": "short"}}, "credentials.signingSecret"},
			{map[string]any{"type": "WEBHOOK", "name": "", "credentials": map[string]string{"signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}, "name"},
		} {
			r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/gateways", Token: u.AccessToken, Body: c.body})
			if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Body.Error.Details), `"`+c.field+`"`) {
				t.Errorf("%v: %d %s, want 400 naming %s", c.body, r.Status, r.Raw, c.field)
			}
		}
		// FREE allows one gateway; parallel creations cannot both win it.
		var wg sync.WaitGroup
		statuses := make(chan int, 6)
		for i := 0; i < 6; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/gateways", Token: u.AccessToken, Body: map[string]any{
					"type": "WEBHOOK", "name": "race", "credentials": map[string]string{"signingSecret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}}})
				statuses <- r.Status
			}()
		}
		wg.Wait()
		close(statuses)
		got := map[int]int{}
		for s := range statuses {
			got[s]++
		}
		if got[http.StatusCreated] != 1 || got[http.StatusPaymentRequired] != 5 {
			t.Errorf("6 parallel creations on FREE: %v, want 1×201 and 5×402", got)
		}
		// The usage report counts gateways against the plan.
		var rep struct {
			Items []struct {
				Metric string
				Used   *int64
				Limit  int64
			}
		}
		h.Call(http.StatusOK, "GET", "/api/v1/usage", u.AccessToken, nil).Data(t, &rep)
		counted := false
		for _, it := range rep.Items {
			if it.Metric == "gateways" {
				counted = it.Used != nil && *it.Used == 1 && it.Limit == 1
			}
		}
		if !counted {
			t.Errorf("usage does not count the gateway: %+v", rep.Items)
		}
		// Oversized inbound bodies are refused before anything is parsed.
		var list struct{ Items []gw }
		h.Call(http.StatusOK, "GET", "/api/v1/gateways", u.AccessToken, nil).Data(t, &list)
		big := strings.Repeat("x", 2<<20)
		if r := h.Do(apptest.Request{Method: "POST", Path: hookPath(list.Items[0]), Body: big}); r.Status != http.StatusRequestEntityTooLarge {
			t.Errorf("2 MiB inbound body answered %d", r.Status)
		}
	})
}
