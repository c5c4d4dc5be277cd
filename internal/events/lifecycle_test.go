package events_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/events"
)

// A deactivated owner's workspace sends no events while paused; a deleted
// owner's (or organization's) subscriptions are disabled and its pending
// deliveries failed with the reason, in the delete's transaction: nothing
// reaches the receiver afterwards, no new event is queued, and a restore
// does not bring the subscriptions back.
func TestEventSubscriptions_OwnerPausedAndEnded(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		rc := newReceiver(t)
		opt := apptest.FastHashing
		// A failed attempt is retried an hour later: a delivery stays pending.
		opt.Events = events.Options{Schedule: []time.Duration{time.Hour}}
		h := apptest.StartWith(t, url, opt, func(c *config.Config) {
			c.Gateway.OutboundAllow = []string{strings.TrimPrefix(rc.srv.URL, "http://")}
		})
		ctx := context.Background()
		admin := h.Admin().AccessToken
		count := func(q string, args ...any) int {
			t.Helper()
			var n int
			if err := h.App.DB.Read().QueryRowContext(ctx, q, args...).Scan(&n); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
			return n
		}
		emit := func(ws string) {
			t.Helper()
			if err := h.App.DB.Tx(ctx, func(tx *db.Tx) error {
				return h.App.Events.EmitTx(ctx, tx, ws, events.CreditsLow, obj{"workspaceId": ws})
			}); err != nil {
				t.Fatalf("emit: %v", err)
			}
		}
		subscribe := func(tok string) subscription {
			t.Helper()
			var sub subscription
			h.Call(http.StatusCreated, "POST", "/api/v1/event-subscriptions", tok, obj{"url": rc.srv.URL + "/hook",
				"events": []string{"credits.low"}}).Data(t, &sub)
			return sub
		}
		waitJobs := func(what, q string, args ...any) {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for count(q, args...) == 0 {
				if time.Now().After(deadline) {
					t.Fatalf("waited for %s", what)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}

		// Paused: the delivery waits, unsent.
		paused := h.SignUp("paused-events@example.com", pw)
		rc.setSecret(t, subscribe(paused.AccessToken).Secret)
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+paused.UserID, admin, obj{"isActive": false})
		emit(paused.UserID)

		// Ended: a delivery waiting for its retry is failed, the
		// subscription disabled, and the next event queues nothing.
		gone := h.SignUp("gone-events@example.com", pw)
		sub := subscribe(gone.AccessToken)
		rc.setSecret(t, sub.Secret)
		rc.failNext(events.CreditsLow, 1)
		emit(gone.UserID)
		waitJobs("the first attempt to fail", `SELECT COUNT(*) FROM event_deliveries WHERE workspace_id = $1 AND status = 'pending' AND attempts = 1`, gone.UserID)

		for _, u := range []apptest.Session{paused, gone} {
			h.Call(http.StatusOK, "DELETE", "/api/v1/admin/users/"+u.UserID, admin, nil)
			if n := count(`SELECT COUNT(*) FROM event_subscriptions WHERE workspace_id = $1 AND enabled = $2`, u.UserID, true); n != 0 {
				t.Errorf("%s: %d subscriptions still enabled after the delete", u.Email, n)
			}
			if n := count(`SELECT COUNT(*) FROM event_deliveries WHERE workspace_id = $1 AND (status <> 'failed' OR last_error <> $2)`,
				u.UserID, "the owner's account was deleted"); n != 0 {
				t.Errorf("%s: %d deliveries not failed with the reason", u.Email, n)
			}
			before := count(`SELECT COUNT(*) FROM event_deliveries WHERE workspace_id = $1`, u.UserID)
			emit(u.UserID)
			if n := count(`SELECT COUNT(*) FROM event_deliveries WHERE workspace_id = $1`, u.UserID); n != before {
				t.Errorf("%s: an event after the delete queued %d deliveries", u.Email, n-before)
			}
		}
		if acts := count(`SELECT COUNT(*) FROM audit_logs WHERE action = 'workspace.ended' AND resource_id = $1
			AND CAST(metadata AS TEXT) LIKE '%subscriptionsDisabled%'`, gone.UserID); acts != 1 {
			t.Errorf("the workspace.ended audit row does not count the disabled subscriptions")
		}

		// A restore brings the account back, not its subscriptions.
		h.Call(http.StatusOK, "POST", "/api/v1/admin/users/"+gone.UserID+"/restore", admin, nil)
		if n := count(`SELECT COUNT(*) FROM event_subscriptions WHERE workspace_id = $1 AND enabled = $2`, gone.UserID, true); n != 0 {
			t.Errorf("restore enabled %d subscriptions", n)
		}
		if n := count(`SELECT COUNT(*) FROM event_deliveries WHERE workspace_id = $1 AND attempts > 0`, paused.UserID); n != 0 {
			t.Errorf("a delivery of the paused workspace was attempted")
		}
		rc.mu.Lock()
		got := len(rc.got)
		rc.mu.Unlock()
		if got != 0 {
			t.Errorf("the receiver got %d deliveries of paused or ended workspaces", got)
		}
	})
}
