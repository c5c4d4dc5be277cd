package crashtest

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/proctest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/webhook"
)

// supportBot is the workflow the issue checks by: someone writes
// "support"; the bot asks for an order number, waits for the reply, looks
// the order up in a code step, words each of its items in a loop and
// answers with the list.
func supportBot(gatewayID string) map[string]any {
	send := func(id, text, next string) map[string]any {
		s := map[string]any{"id": id, "type": "gateway", "config": map[string]any{"gatewayId": gatewayID,
			"chatId": "{{ trigger.payload.chatId }}", "text": text}}
		if next != "" {
			s["nextStepId"] = next
		}
		return s
	}
	return map[string]any{
		"trigger":     map[string]any{"type": "event", "gatewayIds": []string{gatewayID}, "filter": `event.payload.text == "support"`},
		"startStepId": "ask",
		"settings":    map[string]any{"timeoutSeconds": 7200},
		"variables": map[string]any{"orders": map[string]any{
			"ord-1": map[string]any{"items": []any{map[string]any{"name": "Tea", "qty": 2}, map[string]any{"name": "Cake", "qty": 1}}},
			"ord-2": map[string]any{"items": []any{map[string]any{"name": "Coffee", "qty": 3}}},
		}},
		"steps": []any{
			send("ask", "Your order number, {{ trigger.payload.chatId }}?", "order"),
			map[string]any{"id": "order", "type": "waitForReply", "config": map[string]any{"chat": "trigger.payload.chatId",
				"pattern": "^ord-[0-9]+$", "timeoutSeconds": 3600}, "conditionalNext": map[string]any{"reply": "lookup", "timeout": "late"}},
			map[string]any{"id": "lookup", "type": "code", "nextStepId": "lines", "config": map[string]any{"language": "javascript",
				"source": "const o = vars.orders[steps.order.output.text];\nif (!o) throw new Error('no order ' + steps.order.output.text);\nreturn o;"}},
			map[string]any{"id": "lines", "type": "forEach", "nextStepId": "answer", "config": map[string]any{
				"items": "steps.lookup.output.items", "concurrency": 2, "bodyStartStepId": "line"}},
			map[string]any{"id": "line", "type": "code", "config": map[string]any{"language": "javascript",
				"source": "return item.name + ' x' + item.qty;"}},
			send("answer", "{{ trigger.payload.chatId }}: {{ steps.order.output.text }} is {{ join(steps.lines.output, ', ') }}", ""),
			send("late", "{{ trigger.payload.chatId }}: no answer", ""),
		},
	}
}

// TestSupportBot_KillNineMidConversation builds the support bot over HTTP
// and holds conversations with it while its only node is killed with
// SIGKILL: once while every conversation waits for its order number, then
// again and again while the numbers arrive and the bot looks them up and
// answers. Each chat must get exactly one question and one right answer.
func TestSupportBot_KillNineMidConversation(t *testing.T) {
	t.Parallel()
	bin := proctest.Build(t)
	for _, e := range dbtest.Engines() {
		t.Run(e.Name, func(t *testing.T) {
			t.Parallel()
			settings := map[string]string{"SWITCHBOARD_DATA_DIR": t.TempDir()}
			if e.Name == "postgres" {
				// Jobs a killed node held come back to the next one soon.
				settings["SWITCHBOARD_DATABASE_URL"] = e.URL(t)
				settings["SWITCHBOARD_NODE_DEAD_AFTER"] = "3s"
			}
			supportBotCrash(t, bin, settings)
		})
	}
}

func supportBotCrash(t *testing.T, bin string, settings map[string]string) {
	fx := newEffects()
	target := httptest.NewServer(http.HandlerFunc(fx.gateway))
	t.Cleanup(target.Close)
	settings["SWITCHBOARD_OUTBOUND_ALLOW"] = hostOf(t, target.URL)
	settings["SWITCHBOARD_ADMIN_EMAIL"], settings["SWITCHBOARD_ADMIN_PASSWORD"] = adminEmail, adminPassword
	settings["SWITCHBOARD_LOG_LEVEL"], settings["SWITCHBOARD_SHUTDOWN_TIMEOUT"] = "info", "5s"
	node := proctest.Start(t, "support", bin, settings)
	c := newClient(t)
	api := node.URL + "/api/v1"
	tok := c.signUpUser(node.URL, "support@example.com")

	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	var gw struct{ ID, InboundURL string }
	c.call(http.StatusCreated, "POST", api+"/gateways", tok, map[string]any{"type": "WEBHOOK", "name": "chat",
		"credentials": map[string]string{"signingSecret": secret}, "config": map[string]any{"url": target.URL + "/messages"}}, &gw)
	c.call(http.StatusOK, "POST", api+"/gateways/"+gw.ID+"/connect", tok, nil, &gw)
	var wf struct{ ID string }
	c.call(http.StatusCreated, "POST", api+"/workflows", tok, map[string]any{"name": "support", "definition": supportBot(gw.ID)}, &wf)
	c.call(http.StatusOK, "POST", api+"/workflows/"+wf.ID+"/enable", tok, nil, nil)

	deadline := time.Now().Add(time.Duration(120*proctest.Slowdown) * time.Second)
	key, _ := webhook.DecodeSecret(secret)
	path := gw.InboundURL[strings.Index(gw.InboundURL, "/hooks/"):]
	say := func(id, chat, text string) error {
		return deliverSigned(c, node.URL+path, key, id, map[string]any{"chatId": chat, "text": text}, deadline)
	}
	n := 6
	if proctest.RaceEnabled {
		n = 4
	}
	chat := func(i int) string { return fmt.Sprint("chat-", i) }
	order := func(i int) string { return fmt.Sprint("ord-", 1+i%2) }
	for i := range n {
		if err := say(fmt.Sprint("hello-", i), chat(i), "support"); err != nil {
			t.Fatal(err)
		}
	}
	// Every conversation has asked and waits for its number.
	for {
		fx.mu.Lock()
		asked := 0
		for i := range n {
			if len(fx.sends[fmt.Sprintf("Your order number, %s?", chat(i))]) > 0 {
				asked++
			}
		}
		fx.mu.Unlock()
		if asked == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d conversations asked for their order number", asked, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	node.Kill() // mid-conversation
	node.Restart()

	done := make(chan error, 1)
	go func() {
		for i := range n {
			if err := say(fmt.Sprint("reply-", i), chat(i), order(i)); err != nil {
				done <- err
				return
			}
			time.Sleep(time.Duration(50+mrand.IntN(150)) * time.Millisecond)
		}
		done <- nil
	}()
	kills := 1
	for delivered := false; !delivered; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			delivered = true
		case <-time.After(time.Duration(200+mrand.IntN(400)) * time.Millisecond):
			if kills < 5 {
				node.Kill()
				kills++
				node.Restart()
			}
		}
	}
	want := map[string]string{"ord-1": "Tea x2, Cake x1", "ord-2": "Coffee x3"}
	for {
		fx.mu.Lock()
		answered := 0
		for i := range n {
			if len(fx.sends[fmt.Sprintf("%s: %s is %s", chat(i), order(i), want[order(i)])]) > 0 {
				answered++
			}
		}
		fx.mu.Unlock()
		if answered == n {
			break
		}
		if time.Now().After(deadline) {
			fx.mu.Lock()
			t.Fatalf("%d of %d conversations answered; sent: %v", answered, n, fx.sends)
		}
		time.Sleep(50 * time.Millisecond)
	}
	node.Stop(time.Duration(10*proctest.Slowdown) * time.Second)

	fx.mu.Lock()
	defer fx.mu.Unlock()
	for _, b := range fx.bad {
		t.Error(b)
	}
	if len(fx.sends) != 2*n {
		t.Errorf("%d distinct messages sent, want %d (one question and one answer per chat): %v", len(fx.sends), 2*n, fx.sends)
	}
	for text, deliveries := range fx.sends {
		if len(deliveries) != 1 {
			t.Errorf("%q was sent as %d messages, want 1", text, len(deliveries))
		}
	}
	t.Logf("%d conversations across %d kills (%d starts)", n, kills, node.Starts())
}

// deliverSigned posts one message to a WEBHOOK gateway's inbound URL as
// the platform would (Standard Webhooks), again until the node takes it:
// it may be down or restarting.
func deliverSigned(c *client, url string, key []byte, id string, msg any, deadline time.Time) error {
	body, _ := json.Marshal(msg)
	for {
		ts := time.Now().Unix()
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("webhook-id", id)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", webhook.Sign(key, id, ts, body))
		res, err := c.http.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
			if res.StatusCode < 500 {
				return fmt.Errorf("delivery %s answered %d", id, res.StatusCode)
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("delivery %s: no answer before the deadline (%v)", id, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
