package workflow_test

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
)

const tgToken = "123456789:AAFakeTelegramTokenForWorkflowTests_x"

// tgUpdate is a Telegram text message from user ann in chat 555.
func tgUpdate(id int, text string) obj {
	return obj{"update_id": id, "message": obj{"message_id": id, "from": obj{"id": 7, "username": "ann"},
		"chat": obj{"id": 555, "type": "private"}, "text": text}}
}

// deliverTG posts one update to a Telegram gateway's inbound URL, signed
// with the secret the gateway registered with the fake.
func deliverTG(t *testing.T, h *apptest.Harness, f *gatewaytest.Fake, g gw, update obj) {
	t.Helper()
	_, sec := f.Hook()
	raw, _ := json.Marshal(update)
	r := h.Do(apptest.Request{Method: "POST", Path: g.InboundURL[strings.Index(g.InboundURL, "/hooks/"):], Body: raw,
		Headers: map[string]string{"X-Telegram-Bot-Api-Secret-Token": sec}})
	if r.Status != http.StatusOK {
		t.Fatalf("delivery answered %d %s", r.Status, r.Raw)
	}
}

// count runs a count query on the node's database.
func count(t *testing.T, h *apptest.Harness, q string, args ...any) int {
	t.Helper()
	var n int
	if err := h.App.DB.Read().QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// waiting reports whether a run waits at its waitForReply step "wait"
// (the wait is committed once wakeAt is set).
func waiting(r run) bool {
	return r.Status == "running" && r.CurrentStepID == "wait" && r.WakeAt != nil
}

func replyStep(chat, gatewayID, pattern string, timeout int, onReply, onTimeout string) obj {
	cfg := obj{"chat": chat, "timeoutSeconds": timeout}
	if gatewayID != "" {
		cfg["gatewayId"] = gatewayID
	}
	if pattern != "" {
		cfg["pattern"] = pattern
	}
	return obj{"id": "wait", "type": "waitForReply", "config": cfg, "conditionalNext": obj{"reply": onReply, "timeout": onTimeout}}
}

func sendStep(id, gatewayID, text, next string) obj {
	s := obj{"id": id, "type": "gateway", "config": obj{"gatewayId": gatewayID, "chatId": "{{ trigger.payload.chatId }}", "text": text}}
	if next != "" {
		s["nextStepId"] = next
	}
	return s
}

// A conversation through the Telegram fake: an event-triggered workflow
// asks a question, waits for the reply (a message that does not match
// the pattern is not one), and confirms with the reply's text. The reply
// is the waiting run's alone: no event-triggered workflow and no plugin
// installation sees it.
func TestWaitForReply_Conversation(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		f := gatewaytest.NewTelegram(t, tgToken)
		h, tok := node(t, url, func(c *config.Config) {
			c.Gateway.OutboundAllow = []string{f.Host()}
			c.Gateway.TelegramAPIURL = f.URL
		})
		var g gw
		h.Call(http.StatusCreated, "POST", "/api/v1/gateways", tok, obj{"type": "TELEGRAM", "name": "tg",
			"credentials": obj{"botToken": tgToken}}).Data(t, &g)
		h.Call(http.StatusOK, "POST", "/api/v1/gateways/"+g.ID+"/connect", tok, nil).Data(t, &g)

		ask := create(t, h, tok, "ask", def(obj{"type": "event", "gatewayIds": []string{g.ID}, "filter": `event.payload.text == "order"`},
			sendStep("ask", g.ID, "Your email?", "wait"),
			replyStep("trigger.payload.chatId", "", "@", 600, "confirm", "late"),
			sendStep("confirm", g.ID, "Thanks, {{ steps.wait.output.text }}", ""),
			sendStep("late", g.ID, "Too late", "")))
		listener := create(t, h, tok, "listener", def(obj{"type": "event"}, transform("t", "trigger.payload.text", "")))
		var inst struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", tok, obj{"plugin": "auto-reply", "gatewayIds": []string{g.ID},
			"config": obj{"rules": []any{obj{"keyword": "example.com", "reply": "an installation saw the reply"}}}}).Data(t, &inst)

		deliverTG(t, h, f, g, tgUpdate(9001, "order"))
		runs := listRuns(t, h, tok, "workflowId="+ask.ID)
		if len(runs) != 1 {
			t.Fatalf("ask runs: %+v", runs)
		}
		r := waitRun(t, h, tok, runs[0].ID, waiting)
		if sent := waitSent(t, f, 1); sent[0].ChatID != "555" || sent[0].Text != "Your email?" {
			t.Fatalf("question: %+v", sent)
		}
		deliverTG(t, h, f, g, tgUpdate(9002, "no idea")) // no "@": not the reply
		deliverTG(t, h, f, g, tgUpdate(9003, "ann@example.com"))
		deliverTG(t, h, f, g, tgUpdate(9003, "ann@example.com")) // a redelivery
		r = waitRun(t, h, tok, r.ID, nil)
		if r.Status != "completed" || stepIDs(r) != "ask,wait,confirm" {
			t.Fatalf("conversation run: %v", r)
		}
		var out struct {
			Text, ChatID, GatewayID, Username, UserID, EventID string
			Event                                              struct{ Type string }
		}
		if err := json.Unmarshal(r.Steps[1].Output, &out); err != nil {
			t.Fatal(err)
		}
		if r.Steps[1].Branch != "reply" || out.Text != "ann@example.com" || out.ChatID != "555" || out.GatewayID != g.ID ||
			out.Username != "ann" || out.UserID != "7" || out.EventID == "" || out.Event.Type != "gateway.message" {
			t.Fatalf("reply record %+v: %s", r.Steps[1], r.Steps[1].Output)
		}
		sent := waitSent(t, f, 2)
		if len(sent) != 2 || sent[1].ChatID != "555" || sent[1].Text != "Thanks, ann@example.com" {
			t.Fatalf("confirmation: %+v", sent)
		}

		// Event triggers and installations saw the other messages only
		// (both are started in the transaction that stores the event).
		var texts []string
		for _, lr := range listRuns(t, h, tok, "workflowId="+listener.ID) {
			lr = waitRun(t, h, tok, lr.ID, nil)
			texts = append(texts, string(lr.Output))
		}
		sort.Strings(texts)
		if len(texts) != 2 || texts[0] != `"no idea"` || texts[1] != `"order"` {
			t.Fatalf("the event-triggered workflow saw %d events: %v", len(texts), texts)
		}
		var ex struct {
			Items []struct{ Input json.RawMessage }
		}
		h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst.ID+"/executions", tok, nil).Data(t, &ex)
		if len(ex.Items) != 2 {
			t.Fatalf("installation executions: %d", len(ex.Items))
		}
		for _, e := range ex.Items {
			if strings.Contains(string(e.Input), "example.com") {
				t.Fatalf("the installation got the reply: %s", e.Input)
			}
		}
		if n := count(t, h, `SELECT count(*) FROM gateway_events WHERE id = $1 AND status = 'PROCESSED'`, out.EventID); n != 1 {
			t.Fatalf("the claimed event is not stored as processed")
		}
		if n := count(t, h, `SELECT count(*) FROM workflow_reply_waiters`); n != 0 {
			t.Fatalf("%d waiters left", n)
		}

		// The examples of docs/workflows.md run as written: the
		// conversation saves; the error workflow alerts through the fake
		// when the workflow using it fails.
		examples := docExamples(t, g.ID)
		if len(examples) != 3 {
			t.Fatalf("doc examples: %d", len(examples))
		}
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/validate", tok, examples[0])
		var alert, user wf
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, obj{"name": "alert", "definition": examples[1]}).Data(t, &alert)
		uses := strings.ReplaceAll(string(examples[2]), "wf_…", alert.ID)
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, obj{"name": "uses", "definition": json.RawMessage(uses)}).Data(t, &user)
		failed := start(t, h, tok, user.ID, obj{"input": obj{"amount": "ten"}})
		sent = waitSent(t, f, 3)
		if failed.Status != "failed" || sent[2].ChatID != "ops" || !strings.HasPrefix(sent[2].Text, "Run "+failed.ID+" of "+user.ID+" v1 failed at check: step \"check\" failed: ") {
			t.Fatalf("error workflow alert: %v %+v", failed, sent[2])
		}
	})
}

// docExamples returns the workflow definitions of the last two sections of
// docs/workflows.md, with gw_… replaced by gatewayID.
func docExamples(t *testing.T, gatewayID string) []json.RawMessage {
	t.Helper()
	raw, err := os.ReadFile("../../docs/workflows.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	doc = doc[strings.Index(doc, "## Conversations: `waitForReply`"):]
	// The conversation's section and the error workflows' after it.
	if end := strings.Index(doc, "\n## Error workflows"); end >= 0 {
		if next := strings.Index(doc[end+1:], "\n## "); next >= 0 {
			doc = doc[:end+1+next]
		}
	}
	var out []json.RawMessage
	for _, block := range strings.Split(doc, "```json\n")[1:] {
		block = block[:strings.Index(block, "```")]
		if !strings.Contains(block, `"trigger"`) {
			continue
		}
		block = strings.ReplaceAll(block, "gw_…", gatewayID)
		if !json.Valid([]byte(block)) {
			t.Fatalf("not JSON: %s", block)
		}
		out = append(out, json.RawMessage(block))
	}
	return out
}

// Timeouts, a newer waiter preempting an older one on the same chat,
// cancelling a waiting run, and what a save refuses.
func TestWaitForReply_TimeoutPreemptCancel(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok, recv := gatewayNode(t, url)
		g := connectedGateway(t, h, tok, "hook", recv)
		flow := func(name string, timeout int) wf {
			return create(t, h, tok, name, def(manual,
				replyStep("trigger.chat", g.ID, "", timeout, "got", "gone"),
				transform("got", "{reply: steps.wait.output.text}", ""),
				transform("gone", "{timeout: steps.wait.output}", "")))
		}
		fast, slow := flow("fast", 1), flow("slow", 600)

		// Nobody answers within a second: the timeout branch.
		r := start(t, h, tok, fast.ID, obj{"input": obj{"chat": "t1"}})
		r = waitRun(t, h, tok, r.ID, nil)
		var gone struct {
			Timeout struct {
				TimedOut  bool
				Preempted bool
			}
		}
		_ = json.Unmarshal(r.Output, &gone)
		if r.Status != "completed" || stepIDs(r) != "wait,gone" || r.Steps[0].Branch != "timeout" || !gone.Timeout.TimedOut {
			t.Fatalf("timed out run: %v", r)
		}

		// A newer run waiting on the chat sends the older down its timeout
		// branch; the reply goes to the newer.
		older := waitRun(t, h, tok, start(t, h, tok, slow.ID, obj{"input": obj{"chat": "p"}}).ID, waiting)
		newer := waitRun(t, h, tok, start(t, h, tok, slow.ID, obj{"input": obj{"chat": "p"}}).ID, waiting)
		older = waitRun(t, h, tok, older.ID, nil)
		_ = json.Unmarshal(older.Output, &gone)
		if older.Status != "completed" || stepIDs(older) != "wait,gone" || !gone.Timeout.Preempted || gone.Timeout.TimedOut {
			t.Fatalf("preempted run: %v", older)
		}
		deliver(t, h, g, "msg-p", obj{"chatId": "p", "text": "hi"})
		newer = waitRun(t, h, tok, newer.ID, nil)
		if newer.Status != "completed" || string(newer.Output) != `{"reply":"hi"}` {
			t.Fatalf("newer run: %v", newer)
		}

		// A question and the wait for its answer commit together: an
		// answer right after the start, before any job ran, is the run's.
		quick := create(t, h, tok, "quick", def(manual,
			obj{"id": "ask", "type": "gateway", "nextStepId": "wait", "config": obj{"gatewayId": g.ID, "chatId": "{{ trigger.chat }}", "text": "Yes?"}},
			replyStep("trigger.chat", g.ID, "", 600, "got", "gone"),
			transform("got", "{reply: steps.wait.output.text}", ""),
			transform("gone", "{timeout: steps.wait.output}", "")))
		q := start(t, h, tok, quick.ID, obj{"input": obj{"chat": "q"}})
		deliver(t, h, g, "msg-q", obj{"chatId": "q", "text": "at once"})
		if q = waitRun(t, h, tok, q.ID, nil); q.Status != "completed" || string(q.Output) != `{"reply":"at once"}` {
			t.Fatalf("quick answer: %v", q)
		}

		// Cancelling a waiting run ends its wait.
		c := waitRun(t, h, tok, start(t, h, tok, slow.ID, obj{"input": obj{"chat": "c"}}).ID, waiting)
		if n := count(t, h, `SELECT count(*) FROM workflow_reply_waiters WHERE run_id = $1`, c.ID); n != 1 {
			t.Fatalf("waiter rows of a waiting run: %d", n)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/runs/"+c.ID+"/cancel", tok, nil)
		if n := count(t, h, `SELECT count(*) FROM workflow_reply_waiters`); n != 0 {
			t.Fatalf("%d waiters left after cancel", n)
		}

		// Saves check the step.
		other := h.SignUp("other@example.com", pw).AccessToken
		var og gw
		h.Call(http.StatusCreated, "POST", "/api/v1/gateways", other, obj{"type": "WEBHOOK", "name": "x",
			"credentials": obj{"signingSecret": hookSecret}, "config": obj{"url": recv.URL}}).Data(t, &og)
		bad := def(manual,
			obj{"id": "wait", "type": "waitForReply", "nextStepId": "x", "config": obj{"chat": "trigger.", "gatewayId": og.ID, "pattern": "(", "timeoutSeconds": 0},
				"conditionalNext": obj{"reply": "x", "maybe": "x"}},
			obj{"id": "w2", "type": "waitForReply", "config": obj{"chat": "trigger.chat", "timeoutSeconds": 7200}, "conditionalNext": obj{"reply": "x", "timeout": "x"}},
			transform("x", "@", ""))
		errs := fields(t, h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/validate", Token: tok, Body: bad}))
		for _, want := range [][2]string{
			{"definition.steps[0].config.chat", ""},
			{"definition.steps[0].config.gatewayId", "names no gateway of this workspace"},
			{"definition.steps[0].config.pattern", "RE2"},
			{"definition.steps[0].config.timeoutSeconds", "must be from 1"},
			{"definition.steps[0].nextStepId", "conditionalNext.reply / .timeout"},
			{"definition.steps[0].conditionalNext", `not "maybe"`},
			{"definition.steps[0].conditionalNext.timeout", "is required"},
			{"definition.steps[1].config.gatewayId", "is required unless"},
			{"definition.steps[1].config.timeoutSeconds", "must not exceed the run's timeout"},
		} {
			if !hasField(errs, want[0], want[1]) {
				t.Errorf("no %s %q in %+v", want[0], want[1], errs)
			}
		}
	})
}
