package workflow_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A webhook's calls see every change to its workflow, its owner's plan and
// its workspace from the next call on, made through the API or (as another
// node would) straight in the database — whatever the serving node keeps
// from the calls before (it keeps what it read, and each run's INSERT
// checks it again). A call that finds what was kept out of
// date counts one execution, not two, and at the limit the last one runs.
func TestWebhookTrigger_ChangesHoldFromTheNextCall(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		me := h.Login("wf@example.com", pw)
		w := create(t, h, tok, "hook", def(obj{"type": "webhook", "mode": "sync"}, transform("a", "`1`", "")))
		call := func(want int, wantBody string) http.Header {
			t.Helper()
			code, hdr, body := hookCall(t, h, "POST", hookPath(w), `{}`, nil)
			if code != want || (wantBody != "" && body != wantBody) {
				t.Fatalf("webhook: %d %s, want %d %s", code, body, want, wantBody)
			}
			return hdr
		}
		call(http.StatusOK, "1")
		call(http.StatusOK, "1")

		// A new version runs from the next call on, which counts one
		// execution (what the node leased and did not spend is given back
		// before each count, so the count is what the runs spent; the
		// call before the change leases, the one after spends from it).
		ctx := context.Background()
		h.App.Limits.GiveBackLeases(ctx)
		before := usedExecutions(t, h, tok)
		call(http.StatusOK, "1")
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+w.ID, tok, obj{"definition": def(obj{"type": "webhook", "mode": "sync"}, transform("a", "`2`", ""))})
		call(http.StatusOK, "2")
		h.App.Limits.GiveBackLeases(ctx)
		if n := usedExecutions(t, h, tok); n[0] != before[0]+2 {
			t.Fatalf("two calls, one after a change, counted %d executions", n[0]-before[0])
		}

		// A plan changed by an admin is the next run's plan.
		h.Call(http.StatusOK, "PATCH", "/api/v1/admin/users/"+me.UserID, h.Admin().AccessToken, obj{"plan": "STARTER"})
		id := call(http.StatusOK, "2").Get("X-Switchboard-Run-Id")
		var plan string
		if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT plan FROM workflow_runs WHERE id = $1`, id).Scan(&plan); err != nil || plan != "STARTER" {
			t.Fatalf("run after the plan changed: plan %q, %v", plan, err)
		}

		// Changes another node makes, in the database.
		exec(t, h, `UPDATE workflows SET enabled = $1 WHERE id = $2`, false, w.ID)
		call(http.StatusConflict, "")
		exec(t, h, `UPDATE workflows SET enabled = $1 WHERE id = $2`, true, w.ID)
		call(http.StatusOK, "2")
		exec(t, h, `INSERT INTO workspace_pauses (workspace_id, reason, paused_at) VALUES ($1, 'test', $2)`, me.UserID, db.Now())
		call(http.StatusNotFound, "")
		exec(t, h, `DELETE FROM workspace_pauses WHERE workspace_id = $1`, me.UserID)
		call(http.StatusOK, "2")

		// At the limit: a call after a change runs if one execution is
		// left, and the next is refused.
		limit := actor.PlanLimits[actor.Starter].ExecutionsPerDay
		used := usedExecutions(t, h, tok)
		fillExecutions(t, h, actor.Actor{UserID: me.UserID, Plan: actor.Starter}, limit-used[0]-1)
		h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+w.ID, tok, obj{"definition": def(obj{"type": "webhook", "mode": "sync"}, transform("a", "`3`", ""))})
		call(http.StatusOK, "3")
		if r := h.Do(apptest.Request{Method: "POST", Path: hookPath(w), Body: `{}`}); r.Status != http.StatusPaymentRequired {
			t.Fatalf("webhook over the limit: %d %s", r.Status, r.Raw)
		}
		if n := usedExecutions(t, h, tok); n[0] != limit {
			t.Fatalf("used %d executions, want %d", n[0], limit)
		}
	})
}
