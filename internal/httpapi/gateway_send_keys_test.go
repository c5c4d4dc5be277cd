package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/jobs"
	pluginstall "github.com/switchboard/switchboard/internal/plugin/install"
)

// A send with an idempotency key queues one message however often it is
// asked for; an auto-reply whose execution runs again (its node died after
// replying, before recording the result) does not reply twice.
func TestGatewaySendIdempotencyKeys(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, f, tok, g := telegramEventNode(t, url, "keys@example.com")
		send := func(body map[string]any) string {
			t.Helper()
			var s struct{ ID string }
			h.Call(http.StatusAccepted, "POST", "/api/v1/gateways/"+g.ID+"/send", tok, body).Data(t, &s)
			return s.ID
		}
		long := strings.Repeat("k", 500)
		a1 := send(map[string]any{"chatId": "555", "text": "once", "idempotencyKey": "order-1"})
		a2 := send(map[string]any{"chatId": "555", "text": "once", "idempotencyKey": "order-1"})
		b1 := send(map[string]any{"chatId": "555", "text": "long", "idempotencyKey": long})
		b2 := send(map[string]any{"chatId": "555", "text": "long", "idempotencyKey": long})
		c := send(map[string]any{"chatId": "555", "text": "another", "idempotencyKey": "order-2"})
		if a1 != a2 || b1 != b2 || a1 == b1 || c == a1 {
			t.Fatalf("send ids: %s %s / %s %s / %s", a1, a2, b1, b2, c)
		}
		waitSent(t, f, 3)

		inst := install(t, h, tok, map[string]any{"plugin": "auto-reply", "gatewayIds": []string{g.ID}, "config": map[string]any{"rules": []any{
			map[string]any{"keyword": "price", "reply": "Plans start at 5 EUR."}}}})
		deliverTelegram(t, h, f, g, tgMessage(9001, "ann", "price?"))
		waitSent(t, f, 4)
		es := waitExecutions(t, h, tok, inst, 1)
		var input struct{ WorkspaceID, UserID string }
		if err := json.Unmarshal(es[0].Input, &input); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := h.App.DB.Tx(ctx, func(tx *db.Tx) error {
			if _, err := tx.ExecContext(ctx, `UPDATE plugin_executions SET status = 'RUNNING', output = NULL, finished_at = NULL WHERE id = $1`, es[0].ID); err != nil {
				return err
			}
			_, err := h.App.Jobs.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: input.WorkspaceID, Plan: actor.Free},
				pluginstall.ExecuteArgs{ExecutionID: es[0].ID, WorkspaceID: input.WorkspaceID, UserID: input.UserID, Plan: actor.Free}, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		again := waitExecutionUntil(t, h, tok, inst, es[0].ID, func(e eventExecution) bool { return e.Status == "SUCCEEDED" })
		var first, second struct{ SendID string }
		_ = json.Unmarshal(es[0].Output, &first)
		_ = json.Unmarshal(again.Output, &second)
		if first.SendID == "" || first.SendID != second.SendID {
			t.Fatalf("the re-run replied with a new message: %s then %s", es[0].Output, again.Output)
		}
		time.Sleep(500 * time.Millisecond)
		if n := len(f.Sent()); n != 4 {
			t.Fatalf("provider received %d messages, want 4: %+v", n, f.Sent())
		}
	})
}
