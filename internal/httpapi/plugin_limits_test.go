package httpapi_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Standalone plugin runs count against the plan's executions per day:
// beyond the limit they are refused with 402 and nothing runs.
func TestExecutions_CountAgainstTheDailyLimit(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		u := h.SignUp("runner@example.com", pw)
		var inst struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", u.AccessToken,
			map[string]any{"plugin": "template", "config": map[string]any{"template": "Hello, {{.name}}!"}}).Data(t, &inst)
		run := func(async bool) *apptest.Response {
			return h.Do(apptest.Request{Method: "POST", Path: "/api/v1/installations/" + inst.ID + "/execute", Token: u.AccessToken,
				Body: map[string]any{"input": map[string]any{"data": map[string]string{"name": "Ann"}}, "async": async}})
		}
		if r := run(false); r.Status != http.StatusOK && r.Status != http.StatusCreated {
			t.Fatalf("first run: %d %s", r.Status, r.Raw)
		}
		// FREE allows 100 a day; bring today's count to the limit (the
		// node first gives back the block of it that it leased).
		h.App.Limits.GiveBackLeases(context.Background())
		day := time.Now().UTC().Format("2006-01-02")
		if _, err := h.App.DB.SQL().ExecContext(context.Background(),
			`UPDATE usage_counters SET used = 100 WHERE workspace_id = $1 AND metric = 'executions' AND period = $2`, u.UserID, day); err != nil {
			t.Fatal(err)
		}
		var before struct{ Items []struct{ ID string } }
		h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst.ID+"/executions", u.AccessToken, nil).Data(t, &before)
		for _, async := range []bool{false, true} {
			r := run(async)
			if r.Status != http.StatusPaymentRequired || r.Code() != "PLAN_LIMIT_EXCEEDED" {
				t.Errorf("run over the limit (async=%v): %d %s", async, r.Status, r.Raw)
			}
		}
		var after struct{ Items []struct{ ID string } }
		h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst.ID+"/executions", u.AccessToken, nil).Data(t, &after)
		if len(after.Items) != len(before.Items) || len(before.Items) != 1 {
			t.Errorf("refused runs were recorded: %d executions before, %d after", len(before.Items), len(after.Items))
		}
	})
}
