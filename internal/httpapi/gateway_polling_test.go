package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/secret"
)

// pollingNode is a node with no public https URL (a laptop), whose
// Telegram adapter talks to the fake and whose pollers look for work often.
func pollingNode(t *testing.T, url string, f *gatewaytest.Fake, key string) *apptest.Harness {
	t.Helper()
	appOpt := apptest.FastHashing
	appOpt.Gateway = gateway.Options{RetryBase: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
		PollTimeout: 5 * time.Second, PollScan: 50 * time.Millisecond}
	return apptest.StartWith(t, url, appOpt, func(c *config.Config) {
		c.Gateway.OutboundAllow = []string{f.Host()}
		c.Gateway.TelegramAPIURL = f.URL
		c.PublicURL = "http://127.0.0.1:8080"
		c.SecretKey = key // the nodes of one database share it
	})
}

// waitEvents polls a gateway's events until there are n.
func waitEvents(t *testing.T, h *apptest.Harness, tok, id string, n int) []eventItem {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		evs := listEvents(t, h, tok, id)
		if len(evs) >= n || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pollLogs is what a node logged about polling, for failures.
func pollLogs(h *apptest.Harness) string {
	var out []string
	for _, l := range strings.Split(h.Logs(), "\n") {
		if strings.Contains(l, "poll") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// Local development: a Telegram gateway on a node without a public https
// URL receives by long polling. Polled updates are stored and routed like
// webhook deliveries; the offset survives the poller's node going away (a
// node started later asks from it and nothing is served twice); with two
// nodes polling the same database one polls at a time (the fake ends a
// getUpdates that another one overlaps, and counts it).
func TestGatewayTelegram_LongPolling(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		f := gatewaytest.NewTelegram(t, fakeTelegramToken)
		key, err := secret.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		a := pollingNode(t, url, f, key.Encode())
		tok := a.SignUp("poll@example.com", "correct horse battery").AccessToken

		bad := a.Call(http.StatusBadRequest, "POST", "/api/v1/gateways", tok, map[string]any{"type": "TELEGRAM", "name": "tg",
			"credentials": map[string]string{"botToken": fakeTelegramToken}, "config": map[string]any{"receive": "pigeon"}})
		if bad.Code() != "VALIDATION_ERROR" || !strings.Contains(string(bad.Raw), "config.receive") {
			t.Fatalf("bad receive: %s", bad.Raw)
		}
		var g struct {
			gw
			Receive string
		}
		a.Call(http.StatusCreated, "POST", "/api/v1/gateways", tok, map[string]any{"type": "TELEGRAM", "name": "tg",
			"credentials": map[string]string{"botToken": fakeTelegramToken}}).Data(t, &g)
		if g.Receive != "polling" {
			t.Fatalf("receive without a public https URL: %q", g.Receive)
		}
		// A webhook left from an earlier setup would make getUpdates fail
		// with 409: connecting a polling gateway removes it.
		res, err := http.Post(f.URL+"/bot"+fakeTelegramToken+"/setWebhook", "application/json", strings.NewReader(`{"url":"https://old.example/hook"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if hook, _ := f.Hook(); hook == "" {
			t.Fatal("no webhook set beforehand")
		}
		a.Call(http.StatusOK, "POST", "/api/v1/gateways/"+g.ID+"/connect", tok, nil).Data(t, &g)
		if hook, _ := f.Hook(); g.Status != "CONNECTED" || g.Receive != "polling" || hook != "" || f.Calls("setWebhook") != 1 || f.Calls("deleteWebhook") != 1 {
			t.Fatalf("connect: %+v, hook %q, setWebhook %d", g, hook, f.Calls("setWebhook"))
		}

		first := f.PushUpdate(tgMessage(0, "ann", "hello by polling"))
		evs := waitEvents(t, a, tok, g.ID, 1)
		if len(evs) != 1 || evs[0].Type != "gateway.message" || evs[0].Payload.Text != "hello by polling" || evs[0].Payload.ChatID != "555" {
			t.Fatalf("polled event: %+v", evs)
		}
		if evs = waitProcessed(t, a, tok, g.ID); len(evs) != 1 {
			t.Fatalf("processed: %+v", evs)
		}

		// The node stops polling (as it would shutting down); updates sent
		// meanwhile wait at Telegram. A second node takes over from the
		// saved offset: only the new updates, each served once.
		// The offset after the update is saved (a transient failure before
		// saving would have the update read once more, and de-duplicated).
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			var saved int64
			if err := a.App.DB.Read().QueryRowContext(context.Background(), `SELECT update_offset FROM gateway_pollers WHERE gateway_id = $1`, g.ID).Scan(&saved); err == nil && saved == first+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("offset not saved\n%s", pollLogs(a))
			}
		}
		a.App.Gateways.StopPolling()
		for deadline := time.Now().Add(10 * time.Second); f.PollWaiting() > 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the stopped node's getUpdates is still waiting")
			}
		}
		f.PushUpdate(tgMessage(0, "ann", "while nobody polls"))
		f.PushUpdate(tgMessage(0, "bob", "/start now"))
		before := len(f.PollOffsets())
		pollingNode(t, url, f, key.Encode())
		if evs = waitEvents(t, a, tok, g.ID, 3); len(evs) != 3 {
			t.Fatalf("after the takeover: %+v", evs)
		}
		// The new node asks from after the stored update.
		offsets := f.PollOffsets()
		for _, o := range offsets[before:] {
			if o <= first {
				t.Fatalf("getUpdates asked again for a stored update: offsets %v (first update %d)\n%s", offsets, first, pollLogs(a))
			}
		}

		// Both nodes polling: still one getUpdates at a time.
		a.App.Gateways.StartPolling(context.Background())
		for i := range 4 {
			f.PushUpdate(tgMessage(0, "cy", "burst "+string(rune('a'+i))))
		}
		if evs = waitEvents(t, a, tok, g.ID, 7); len(evs) != 7 {
			t.Fatalf("with two nodes: %d events", len(evs))
		}
		for id, n := range f.Served() {
			if n != 1 {
				t.Errorf("update %d served %d times (getUpdates offsets %v)", id, n, f.PollOffsets())
			}
		}
		if c := f.PollConflicts(); c != 0 {
			t.Errorf("%d overlapping getUpdates", c)
		}
		var holders int
		if err := a.App.DB.Read().QueryRowContext(context.Background(), `SELECT count(*) FROM gateway_pollers WHERE holder IS NOT NULL`).Scan(&holders); err != nil || holders != 1 {
			t.Errorf("lease holders: %d %v", holders, err)
		}
	})
}
