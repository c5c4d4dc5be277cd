package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// Forty parallel AI calls near the end of the month's tokens: each call
// holds its estimate before calling, so the calls that are made are the
// ones that were reserved, every one of them is charged, none that failed
// is, and the tokens counted are the tokens charged.
func TestAIReply_ParallelCallsChargeExactlyWhatTheyCount(t *testing.T) {
	t.Parallel()
	const usedBefore = 9_700
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake, u, inst := aiHarness(t, url)
		// FREE allows 10,000 tokens a month; leave room for 300. A call
		// is estimated at 125 tokens (prompt estimate + maxTokens 100) and
		// uses 42: the first call always fits, and some 2 to 5 do, far
		// fewer than the calls that get one of the plan's concurrency
		// slots within their wait even on a slow machine (the others are
		// answered 429), so both outcomes occur.
		a := actor.Actor{UserID: u.UserID, Role: actor.Member, Plan: actor.Free}
		if _, err := h.App.Limits.Consume(context.Background(), a, actor.ActionAITokens, usedBefore, ""); err != nil {
			t.Fatal(err)
		}
		before := balanceOf(t, h, u.AccessToken)
		var wg sync.WaitGroup
		start := make(chan struct{})
		res := make([]aiExecution, 40)
		codes := make([]int, 40)
		for i := range res {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/installations/" + inst + "/execute", Token: u.AccessToken,
					Body: map[string]any{"input": map[string]any{"text": "hello"}}})
				codes[i] = r.Status
				if r.Status == http.StatusOK {
					r.Data(t, &res[i])
				}
			}()
		}
		close(start)
		wg.Wait()

		var succeeded, failed, tokens, cost int64
		for i, e := range res {
			switch {
			case codes[i] != http.StatusOK:
				// A busy workspace may be told to come back (429): no
				// execution, nothing reserved.
				if codes[i] != http.StatusTooManyRequests {
					t.Fatalf("call %d: status %d", i, codes[i])
				}
			case e.Status == "SUCCEEDED":
				succeeded++
				tokens += e.Metrics.TokensUsed
				cost += e.Output.CostMillicredits
			case e.Status == "FAILED":
				failed++
				if !strings.Contains(e.Error, "PLAN_LIMIT_EXCEEDED") || e.Metrics.TokensUsed != 0 || e.Metrics.APICalls != 0 {
					t.Errorf("failed call %d: %+v", i, e)
				}
			default:
				t.Fatalf("call %d: %+v", i, e)
			}
		}
		if succeeded == 0 || failed == 0 {
			t.Fatalf("%d succeeded, %d failed: the test needs both", succeeded, failed)
		}
		if got := fake.calls.Load(); got != succeeded {
			t.Errorf("%d provider calls for %d successful executions", got, succeeded)
		}
		var settled, open int64
		if err := h.App.DB.Read().QueryRowContext(context.Background(), `SELECT
			COALESCE(SUM(CASE WHEN status = 'settled' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = 'open' THEN 1 ELSE 0 END), 0)
			FROM credit_reservations WHERE workspace_id = $1`, u.UserID).Scan(&settled, &open); err != nil {
			t.Fatal(err)
		}
		if settled != fake.calls.Load() || open != 0 {
			t.Errorf("%d reservations settled and %d open for %d provider calls", settled, open, fake.calls.Load())
		}
		if got := aiTokensUsed(t, h, u.AccessToken) - usedBefore; got != tokens {
			t.Errorf("%d tokens counted, %d reported by successful executions", got, tokens)
		}
		// One charge per successful execution (the grant is the other row),
		// and the balance fell by what they report.
		if got := usageCharges(t, h, u.AccessToken); int64(got) != succeeded {
			t.Errorf("%d charges for %d successful executions", got, succeeded)
		}
		after := balanceOf(t, h, u.AccessToken)
		if before.Balance-after.Balance != cost || after.Reserved != 0 {
			t.Errorf("charged %d (reserved %d), successful executions report %d", before.Balance-after.Balance, after.Reserved, cost)
		}
		ledgerInvariant(t, h)
	})
}
