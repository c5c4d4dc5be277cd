package httpapi_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/secret"
)

// A long poll under way when the owner is deactivated (or the gateway
// disconnected) stores nothing it brings back: the updates stay at
// Telegram, as a webhook delivery answered 404 would be retried, and are
// received once the owner is active again.
func TestGatewayTelegram_PollingPausesWithTheWorkspace(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		f := gatewaytest.NewTelegram(t, fakeTelegramToken)
		key, err := secret.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		h := pollingNode(t, url, f, key.Encode())
		s := h.SignUp("poll-paused@example.com", pw)
		admin := h.Admin().AccessToken
		var g struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/gateways", s.AccessToken, map[string]any{"type": "TELEGRAM", "name": "tg",
			"credentials": map[string]string{"botToken": fakeTelegramToken}}).Data(t, &g)
		h.Call(http.StatusOK, "POST", "/api/v1/gateways/"+g.ID+"/connect", s.AccessToken, nil)
		events := func() int {
			return lcCount(t, h, `SELECT COUNT(*) FROM gateway_events WHERE gateway_id = $1`, g.ID)
		}
		f.PushUpdate(tgMessage(0, "ann", "before"))
		pollUntil(t, "the first update is stored", func() bool { return events() == 1 })
		pollUntil(t, "a getUpdates waits", func() bool { return f.PollWaiting() > 0 })

		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+s.UserID, admin, map[string]any{"isActive": false})
		during := f.PushUpdate(tgMessage(0, "ann", "while paused"))
		pollUntil(t, "the waiting getUpdates brings the update back", func() bool { return f.Served()[during] > 0 })
		pollUntil(t, "the poller stops", func() bool {
			return lcCount(t, h, `SELECT COUNT(*) FROM gateway_pollers WHERE gateway_id = $1 AND holder IS NOT NULL`, g.ID) == 0
		})
		if n := events(); n != 1 {
			t.Fatalf("a paused workspace's poll stored %d events, want only the one before", n)
		}
		time.Sleep(150 * time.Millisecond) // three poll scans: a paused workspace is not polled
		if n := f.Served()[during]; n != 1 || events() != 1 {
			t.Fatalf("polled again while paused: served %d, %d events", n, events())
		}

		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+s.UserID, admin, map[string]any{"isActive": true})
		pollUntil(t, "the update kept at Telegram is received after the reactivation", func() bool { return events() == 2 })
	})
}
