package workflow_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
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

// Webhook runs that arrive together are written together (on PostgreSQL
// one statement of many rows, on SQLite one commit): each is recorded and
// counted once, in its own workspace, and a call whose workflow changed
// meanwhile is answered as it would be alone while the runs beside it in
// the same batch are written.
func TestWebhookTrigger_RunsArrivingTogether(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tokA := node(t, url)
		tokB := h.SignUp("other@example.com", pw).AccessToken
		exec(t, h, `UPDATE users SET plan = $1`, "BUSINESS")
		a := create(t, h, tokA, "a", def(obj{"type": "webhook", "mode": "sync"}, transform("a", "`1`", "")))
		b := create(t, h, tokB, "b", def(obj{"type": "webhook", "mode": "sync"}, transform("b", "`2`", "")))
		burst := func(n, wantB int) {
			t.Helper()
			type answer struct {
				w          string
				code       int
				body, want string
			}
			answers := make(chan answer, 2*n)
			var wg sync.WaitGroup
			for range n {
				for _, c := range []struct {
					w    wf
					want string
				}{{a, "1"}, {b, "2"}} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						res, err := http.Post(h.URL+hookPath(c.w), "application/json", strings.NewReader(`{}`))
						if err != nil {
							answers <- answer{w: c.w.ID, body: err.Error()}
							return
						}
						raw, _ := io.ReadAll(res.Body)
						res.Body.Close()
						answers <- answer{c.w.ID, res.StatusCode, strings.TrimSpace(string(raw)), c.want}
					}()
				}
			}
			wg.Wait()
			close(answers)
			for an := range answers {
				want := http.StatusOK
				if an.w == b.ID {
					want = wantB
				}
				if an.code != want || (want == http.StatusOK && an.body != an.want) {
					t.Fatalf("webhook of %s: %d %s, want %d %s", an.w, an.code, an.body, want, an.want)
				}
			}
		}
		burst(2, http.StatusOK) // the node caches both webhooks
		burst(40, http.StatusOK)
		exec(t, h, `UPDATE workflows SET enabled = $1 WHERE id = $2`, false, b.ID)
		burst(40, http.StatusConflict)

		// On PostgreSQL the runs from the cache were written by batch
		// statements (hookalone.go), not one transaction each.
		if statements, runs := h.App.Workflows.BatchedRuns(); h.App.DB.Dialect == db.Postgres && (statements == 0 || runs < statements || runs > 82+42) {
			t.Fatalf("batch statements: %d holding %d runs", statements, runs)
		}
		ctx := context.Background()
		for _, c := range []struct {
			w    wf
			tok  string
			want int64
		}{{a, tokA, 82}, {b, tokB, 42}} {
			var n int64
			if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM workflow_runs WHERE workflow_id = $1 AND status = 'completed'`,
				c.w.ID).Scan(&n); err != nil || n != c.want {
				t.Fatalf("runs of %s: %d completed (%v), want %d", c.w.ID, n, err, c.want)
			}
			h.App.Limits.GiveBackLeases(ctx)
			if used := usedExecutions(t, h, c.tok); used[0] != c.want {
				t.Fatalf("executions counted for %s: %d, want %d", c.w.ID, used[0], c.want)
			}
		}
	})
}
