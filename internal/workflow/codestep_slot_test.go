package workflow_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A code step takes one of its workspace's cpuCores slots, the ones its
// plugin executions take on every node: while a FREE workspace's one slot
// is held elsewhere (a RUNNING execution row with a live lease, as another
// node writes it) its code step waits, the run staying running, and runs
// once the slot is free. Its own slot is given back when it ends.
func TestCodeStep_TakesTheWorkspacesConcurrencySlot(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		var me struct{ ID string }
		h.Call(http.StatusOK, "GET", "/api/v1/me", tok, nil).Data(t, &me)
		ctx := context.Background()
		now := db.Now()
		if _, err := h.App.DB.SQL().ExecContext(ctx, `INSERT INTO plugin_executions (workspace_id, id, installation_id, plugin_slug, version,
			trigger_kind, status, input, logs, duration_ms, tokens_used, api_calls, created_at, started_at, lease_until)
			VALUES ($1, 'pex_elsewhere', '', 'template', '', 'WORKFLOW_STEP', 'RUNNING', '{}', '[]', 0, 0, 0, $2, $2, $3)`,
			me.ID, now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		w := create(t, h, tok, "code", def(manual, code("c", "return 41 + 1", "")))
		r := start(t, h, tok, w.ID, nil)
		time.Sleep(1500 * time.Millisecond)
		if got := getRun(t, h, tok, r.ID); got.Status != "running" {
			t.Fatalf("with the workspace's one slot held elsewhere the code step ran: %+v", got)
		}
		if _, err := h.App.DB.SQL().ExecContext(ctx, `DELETE FROM plugin_executions WHERE id = 'pex_elsewhere'`); err != nil {
			t.Fatal(err)
		}
		if got := waitRun(t, h, tok, r.ID, nil); got.Status != "completed" {
			t.Fatalf("after the slot was freed: %+v", got)
		}
		var left int
		if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM plugin_executions WHERE workspace_id = $1`, me.ID).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left != 0 {
			t.Fatalf("%d slot rows left after the code step", left)
		}
	})
}
