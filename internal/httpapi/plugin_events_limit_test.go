package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

type executionsUsage struct {
	WorkspaceID string
	Items       []struct {
		Metric  string
		Used    *int64
		Overage int64
	}
}

// executionsUsed reads today's executions counter and overage.
func executionsUsed(t *testing.T, h *apptest.Harness, tok string) (ws string, used, overage int64) {
	t.Helper()
	var u executionsUsage
	h.Call(http.StatusOK, "GET", "/api/v1/usage", tok, nil).Data(t, &u)
	for _, it := range u.Items {
		if it.Metric == "executions" && it.Used != nil {
			return u.WorkspaceID, *it.Used, it.Overage
		}
	}
	t.Fatalf("no executions in the usage report %+v", u)
	return "", 0, 0
}

// Event-triggered executions count against the plan's executionsPerDay.
// Beyond it the event is still accepted and stored (the provider must not
// retry), and each subscribed installation records a SKIPPED execution
// saying why, with no job: nothing runs and nothing is counted — not even
// an overage the workspace cannot pay for. With credits, overage runs it.
func TestPluginEvents_SkippedOverTheDailyLimit(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, f, tok, g := telegramEventNode(t, url, "limited@example.com")
		inst := install(t, h, tok, map[string]any{"plugin": "analytics", "gatewayIds": []string{g.ID}})

		deliverTelegram(t, h, f, g, tgChatMessage(9101, 7, "ann", 555, "first"))
		waitExecutions(t, h, tok, inst, 1)
		ws, used, _ := executionsUsed(t, h, tok)
		if used != 1 {
			t.Fatalf("an event execution counted %d executions, want 1", used)
		}
		// FREE allows 100 a day; bring today's count to the limit (the
		// node first gives back the block of it that it leased).
		h.App.Limits.GiveBackLeases(context.Background())
		day := time.Now().UTC().Format("2006-01-02")
		if _, err := h.App.DB.SQL().ExecContext(context.Background(),
			`UPDATE usage_counters SET used = 100 WHERE workspace_id = $1 AND metric = 'executions' AND period = $2`, ws, day); err != nil {
			t.Fatal(err)
		}

		skipped := func(update int, when string) {
			t.Helper()
			deliverTelegram(t, h, f, g, tgChatMessage(update, 7, "ann", 555, "over the limit")) // answers 200
			es := executions(t, h, tok, inst)
			e := es[0] // newest first
			if e.Status != "SKIPPED" || e.Trigger != "event" || !strings.Contains(e.Error, "daily execution limit of the FREE plan (100 executions a day) was reached") ||
				len(e.Output) != 0 {
				t.Errorf("%s: execution %+v", when, e)
			}
			if _, used, over := executionsUsed(t, h, tok); used != 100 || over != 0 {
				t.Errorf("%s: a skipped execution counted: used %d, overage %d", when, used, over)
			}
		}
		skipped(9102, "over the limit")
		// Overage on, but no credits to pay for it: skipped all the same,
		// and the overage the attempt counted is undone.
		h.Call(http.StatusOK, "PUT", "/api/v1/credits/settings", tok, map[string]any{"overageEnabled": true})
		skipped(9103, "overage without credits")

		evs := waitProcessed(t, h, tok, g.ID)
		if len(evs) != 3 {
			t.Errorf("every event is stored, skipped or not: %+v", evs)
		}
		// SKIPPED is final: no job picks it up.
		es := executions(t, h, tok, inst)
		if len(es) != 3 || es[0].Status != "SKIPPED" || es[1].Status != "SKIPPED" || es[2].Status != "SUCCEEDED" {
			t.Errorf("history %+v", es)
		}
		if r := analyticsOf(t, h, tok, inst, ""); r.Totals.Messages != 1 {
			t.Errorf("skipped messages were counted: %+v", r.Totals)
		}

		// With credits, overage pays for the execution and it runs.
		h.Call(http.StatusCreated, "POST", "/api/v1/admin/workspaces/"+ws+"/credits", h.Admin().AccessToken,
			map[string]any{"amount": 1000, "type": "bonus", "reason": "overage test"})
		deliverTelegram(t, h, f, g, tgChatMessage(9104, 7, "ann", 555, "paid for"))
		es = waitExecutions(t, h, tok, inst, 4)
		if last := es[len(es)-1]; last.Status != "SUCCEEDED" || !strings.Contains(string(last.Output), `"counted":true`) {
			t.Errorf("paid execution %+v %s", last, last.Output)
		}
		if _, used, over := executionsUsed(t, h, tok); used != 101 || over != 1 {
			t.Errorf("paid overage: used %d, overage %d", used, over)
		}
	})
}
