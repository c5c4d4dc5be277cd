package httpapi_test

import (
	"encoding/json"
	"net/http"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
)

// eventExecution is an execution as the history lists it.
type eventExecution struct {
	ID, Status, Error, Trigger, IdempotencyKey string
	Input, Output                              json.RawMessage
}

// telegramEventNode starts a node wired to a Telegram fake and returns a
// connected gateway of a fresh user.
func telegramEventNode(t *testing.T, url, email string) (*apptest.Harness, *gatewaytest.Fake, string, gw) {
	t.Helper()
	f := gatewaytest.NewTelegram(t, fakeTelegramToken)
	h := gatewayNode(t, url, []string{f.Host()}, func(c *config.Config) { c.Gateway.TelegramAPIURL = f.URL })
	tok := h.SignUp(email, "correct horse battery").AccessToken
	g := createGateway(t, h, tok, map[string]any{"type": "TELEGRAM", "name": "tg", "credentials": map[string]string{"botToken": fakeTelegramToken}})
	if g = connectGateway(t, h, tok, g.ID); g.Status != "CONNECTED" {
		t.Fatalf("connect: %+v", g)
	}
	return h, f, tok, g
}

// deliverTelegram posts one update to the gateway's inbound URL.
func deliverTelegram(t *testing.T, h *apptest.Harness, f *gatewaytest.Fake, g gw, update map[string]any) {
	t.Helper()
	_, sec := f.Hook()
	r := h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: jsonBody(t, update),
		Headers: map[string]string{"X-Telegram-Bot-Api-Secret-Token": sec}})
	if r.Status != http.StatusOK {
		t.Fatalf("delivery answered %d %s", r.Status, r.Raw)
	}
}

func tgMessage(updateID int, username, text string) map[string]any {
	return map[string]any{"update_id": updateID, "message": map[string]any{"message_id": updateID,
		"from": map[string]any{"id": 7, "username": username}, "chat": map[string]any{"id": 555, "type": "group"}, "text": text}}
}

func install(t *testing.T, h *apptest.Harness, tok string, body map[string]any) string {
	t.Helper()
	var in struct{ ID string }
	h.Call(http.StatusCreated, "POST", "/api/v1/installations", tok, body).Data(t, &in)
	return in.ID
}

func executions(t *testing.T, h *apptest.Harness, tok, inst string) []eventExecution {
	t.Helper()
	var p struct{ Items []eventExecution }
	h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst+"/executions", tok, nil).Data(t, &p)
	return p.Items
}

// waitExecutions polls until the installation has n finished executions,
// oldest first.
func waitExecutions(t *testing.T, h *apptest.Harness, tok, inst string, n int) []eventExecution {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		es := executions(t, h, tok, inst)
		done := len(es) >= n
		for _, e := range es {
			done = done && (e.Status == "SUCCEEDED" || e.Status == "FAILED" || e.Status == "SKIPPED")
		}
		if done {
			sort.Slice(es, func(i, j int) bool { return es[i].ID < es[j].ID })
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("installation %s: want %d finished executions, have %+v", inst, n, es)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitSent polls until the provider fake has accepted n messages.
func waitSent(t *testing.T, f *gatewaytest.Fake, n int) []gatewaytest.Message {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if s := f.Sent(); len(s) >= n {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("provider received %d messages, want %d: %+v", len(f.Sent()), n, f.Sent())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An installation subscribed to a gateway gets each new inbound event of
// it once, as an event-triggered execution with the event as input;
// installations not subscribed, or disabled, get nothing.
func TestPluginEvents_Subscription(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, f, tok, g := telegramEventNode(t, url, "subs@example.com")
		rules := map[string]any{"rules": []any{map[string]any{"keyword": "never-said-here", "reply": "x"}}}
		sub := install(t, h, tok, map[string]any{"plugin": "auto-reply", "config": rules, "gatewayIds": []string{g.ID}})
		other := install(t, h, tok, map[string]any{"plugin": "welcome"})
		off := install(t, h, tok, map[string]any{"plugin": "template", "gatewayIds": []string{g.ID}})
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+off+"/disable", tok, nil)

		first := tgMessage(7001, "ann", "hello there")
		for i := 0; i < 3; i++ { // a redelivery is not a new event
			deliverTelegram(t, h, f, g, first)
		}
		evs := waitProcessed(t, h, tok, g.ID)
		if len(evs) != 1 {
			t.Fatalf("events %+v", evs)
		}
		es := waitExecutions(t, h, tok, sub, 1)
		if len(es) != 1 {
			t.Fatalf("executions after one event delivered 3 times: %+v", es)
		}
		e := es[0]
		var input struct {
			ID, Type, WorkspaceID string
			Payload               struct{ GatewayID, ChatID, Text, Username string }
		}
		if err := json.Unmarshal(e.Input, &input); err != nil {
			t.Fatal(err)
		}
		if e.Trigger != "event" || e.Status != "SUCCEEDED" || e.IdempotencyKey != "event:"+evs[0].ID || string(e.Output) != `{"matched":false}` ||
			input.ID != evs[0].ID || input.Type != "gateway.message" || input.Payload.GatewayID != g.ID || input.Payload.ChatID != "555" ||
			input.Payload.Text != "hello there" || input.Payload.Username != "ann" || input.WorkspaceID == "" {
			t.Fatalf("event execution %+v input %s", e, e.Input)
		}
		if es := executions(t, h, tok, other); len(es) != 0 {
			t.Errorf("unsubscribed installation ran: %+v", es)
		}
		if es := executions(t, h, tok, off); len(es) != 0 {
			t.Errorf("disabled installation ran: %+v", es)
		}
		if n := len(f.Sent()); n != 0 {
			t.Errorf("nothing should have been sent, provider has %d", n)
		}

		// Unsubscribing (clearing gatewayIds) stops further executions.
		h.Call(http.StatusOK, "PATCH", "/api/v1/installations/"+sub, tok, map[string]any{"gatewayIds": []string{}})
		deliverTelegram(t, h, f, g, tgMessage(7002, "ann", "again"))
		waitProcessed(t, h, tok, g.ID)
		if es := executions(t, h, tok, sub); len(es) != 1 {
			t.Errorf("unsubscribed installation still runs: %+v", es)
		}
	})
}

// auto-reply and welcome, end to end through the Telegram fake: inbound
// updates become executions, whose replies leave through the gateway's
// send jobs and arrive at the fake's sendMessage.
func TestPluginEvents_AutoReplyAndWelcome(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, f, tok, g := telegramEventNode(t, url, "replies@example.com")

		// Bad configs are refused with the reason.
		for _, bad := range []map[string]any{
			{"rules": []any{}},
			{"rules": []any{map[string]any{"regex": "(unclosed", "reply": "x"}}},
			{"rules": []any{map[string]any{"keyword": "a", "regex": "b", "reply": "x"}}},
			{"rules": []any{map[string]any{"keyword": "a", "reply": "{{.name"}}},
		} {
			h.Call(http.StatusBadRequest, "POST", "/api/v1/installations", tok, map[string]any{"plugin": "auto-reply", "config": bad})
		}
		h.Call(http.StatusBadRequest, "POST", "/api/v1/installations", tok, map[string]any{"plugin": "welcome", "config": map[string]any{"template": "{{"}})

		ar := install(t, h, tok, map[string]any{"plugin": "auto-reply", "gatewayIds": []string{g.ID}, "config": map[string]any{"rules": []any{
			map[string]any{"keyword": "price", "reply": "Plans start at 5 EUR, {{.name}}."},
			map[string]any{"regex": `^/help\b`, "reply": "Try /price."},
		}}})
		wel := install(t, h, tok, map[string]any{"plugin": "welcome", "gatewayIds": []string{g.ID},
			"config": map[string]any{"template": "Hi {{.name}}, welcome to the chat!"}})

		deliverTelegram(t, h, f, g, tgMessage(8001, "ann", "What is the PRICE?"))
		sent := waitSent(t, f, 1)
		if sent[0].ChatID != "555" || sent[0].Text != "Plans start at 5 EUR, ann." {
			t.Fatalf("auto-reply sent %+v", sent)
		}
		deliverTelegram(t, h, f, g, tgMessage(8002, "ann", "nothing to see"))
		deliverTelegram(t, h, f, g, tgMessage(8003, "ann", "/help please"))
		sent = waitSent(t, f, 2)
		if sent[1].ChatID != "555" || sent[1].Text != "Try /price." {
			t.Fatalf("auto-reply to a command sent %+v", sent)
		}
		deliverTelegram(t, h, f, g, map[string]any{"update_id": 8004, "message": map[string]any{"message_id": 8004,
			"chat": map[string]any{"id": 555, "type": "group"}, "new_chat_members": []any{map[string]any{"id": 9, "username": "bob"}}}})
		sent = waitSent(t, f, 3)
		if sent[2].ChatID != "555" || sent[2].Text != "Hi bob, welcome to the chat!" {
			t.Fatalf("welcome sent %+v", sent)
		}

		// Every event reached both installations; each output says what
		// the plugin did.
		arOut := waitExecutions(t, h, tok, ar, 4)
		wantAR := []string{`"matched":true,"reply":"Plans start at 5 EUR, ann.","rule":0`, `{"matched":false}`, `"rule":1`, `{"matched":false}`}
		for i, e := range arOut {
			if e.Status != "SUCCEEDED" || e.Trigger != "event" || !strings.Contains(string(e.Output), wantAR[i]) {
				t.Errorf("auto-reply execution %d: %+v %s", i, e, e.Output)
			}
		}
		welOut := waitExecutions(t, h, tok, wel, 4)
		for i, e := range welOut {
			want := `{"greeted":false}`
			if i == 3 {
				want = `"greeted":true`
			}
			if e.Status != "SUCCEEDED" || !strings.Contains(string(e.Output), want) {
				t.Errorf("welcome execution %d: %+v %s", i, e, e.Output)
			}
		}
		if n := len(f.Sent()); n != 3 {
			t.Errorf("provider received %d messages, want 3: %+v", n, f.Sent())
		}

		// A standalone run replies through the gateway named in the input.
		var e eventExecution
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+ar+"/execute", tok, map[string]any{"input": map[string]any{
			"type": "gateway.message", "payload": map[string]any{"gatewayId": g.ID, "chatId": "556", "text": "price?"}}}).Data(t, &e)
		if e.Status != "SUCCEEDED" {
			t.Fatalf("standalone auto-reply %+v", e)
		}
		sent = waitSent(t, f, 4)
		if sent[3].ChatID != "556" || sent[3].Text != "Plans start at 5 EUR, there." {
			t.Errorf("standalone auto-reply sent %+v", sent[3])
		}
	})
}
