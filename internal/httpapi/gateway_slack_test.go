package httpapi_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/gateway/slack"
)

// An app subscribed to both app_mention and message gets one user message
// as two events; it is stored once and answered once.
func TestGatewaySlack_MentionAndMessageAnsweredOnce(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		f := gatewaytest.NewSlack(t, fakeSlackToken)
		h := gatewayNode(t, url, []string{f.Host()}, func(c *config.Config) { c.Gateway.SlackAPIURL = f.URL })
		tok := h.SignUp("slack-once@example.com", "correct horse battery").AccessToken
		g := createGateway(t, h, tok, map[string]any{"type": "SLACK", "name": "sl",
			"credentials": map[string]string{"botToken": fakeSlackToken, "signingSecret": fakeSlackSigning}})
		if g = connectGateway(t, h, tok, g.ID); g.Status != "CONNECTED" {
			t.Fatalf("connect: %+v", g)
		}
		inst := install(t, h, tok, map[string]any{"plugin": "auto-reply", "gatewayIds": []string{g.ID}, "config": map[string]any{"rules": []any{
			map[string]any{"keyword": "price", "reply": "Plans start at 5 EUR."}}}})
		post := func(eventID, typ, ts string) {
			t.Helper()
			body := jsonBody(t, map[string]any{"type": "event_callback", "event_id": eventID, "team_id": "T1", "api_app_id": "A1",
				"event": map[string]any{"type": typ, "channel": "C0123", "channel_type": "channel", "user": "U7",
					"text": "<@U1> what is the price?", "ts": ts, "event_ts": ts}})
			stamp := strconv.FormatInt(time.Now().Unix(), 10)
			r := h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: map[string]string{
				"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": slack.Sign(fakeSlackSigning, stamp, body)}})
			if r.Status != http.StatusOK {
				t.Fatalf("event answered %d %s", r.Status, r.Raw)
			}
		}
		post("Ev01MENTION", "app_mention", "1700000001.000100")
		post("Ev01MESSAGE", "message", "1700000001.000100")
		post("Ev02MESSAGE", "message", "1700000002.000200")
		evs := waitProcessed(t, h, tok, g.ID)
		if len(evs) != 2 {
			t.Fatalf("events: %+v", evs)
		}
		// Executions are queued with the events they answer, so two
		// events mean two executions, and each replies once.
		if es := waitExecutions(t, h, tok, inst, 2); len(es) != 2 || es[0].Status != "SUCCEEDED" || es[1].Status != "SUCCEEDED" {
			t.Fatalf("executions: %+v", es)
		}
		if sent := waitSent(t, f, 2); len(sent) != 2 || sent[0].ChatID != "C0123" {
			t.Fatalf("replies: %+v", sent)
		}
	})
}
