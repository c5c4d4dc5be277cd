package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// aiHarness starts a node whose AI providers are the fake, with a user
// holding credits and an ai-reply installation.
func aiHarness(t *testing.T, url string) (h *apptest.Harness, fake *llmFake, u apptest.Session, instID string) {
	t.Helper()
	fake = newLLMFake(t)
	h = apptest.Start(t, url, func(c *config.Config) {
		c.Gateway.OutboundAllow = []string{"127.0.0.1"}
		c.AI = config.AIConfig{OpenAIBaseURL: fake.URL + "/v1", OpenAIAPIKey: fakeOpenAIKey,
			AnthropicBaseURL: fake.URL, AnthropicAPIKey: fakeAnthropicKey}
	})
	admin := h.Admin()
	u = h.SignUp("idem@example.com", "correct horse battery")
	h.Call(http.StatusCreated, "POST", "/api/v1/admin/workspaces/"+u.UserID+"/credits", admin.AccessToken,
		map[string]any{"amount": 100_000, "type": "grant", "reason": "ai test"})
	var inst struct{ ID string }
	h.Call(http.StatusCreated, "POST", "/api/v1/installations", u.AccessToken, map[string]any{"plugin": "ai-reply",
		"config": map[string]any{"provider": "openai", "model": "gpt-4o-mini", "maxTokens": 100}}).Data(t, &inst)
	return h, fake, u, inst.ID
}

// usageCharges counts the workspace's usage rows in the ledger.
func usageCharges(t *testing.T, h *apptest.Harness, token string) int {
	t.Helper()
	var page struct{ Items []struct{ Type string } }
	h.Call(http.StatusOK, "GET", "/api/v1/credits/transactions?limit=200", token, nil).Data(t, &page)
	n := 0
	for _, tx := range page.Items {
		if tx.Type == "usage" {
			n++
		}
	}
	return n
}

func TestIdempotencyKey_TwentyParallelExecutionsRunOnce(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, fake, u, inst := aiHarness(t, url)
		cases := []struct {
			name   string
			async  bool
			header bool // the key in the header, else in the body field
		}{
			{"sync header", false, true},
			{"async header", true, true},
			{"sync body field", false, false},
		}
		for i, c := range cases {
			key := "retry-me-" + c.name
			body := map[string]any{"input": map[string]any{"text": "hello"}, "async": c.async}
			hdr := map[string]string{}
			if c.header {
				hdr["Idempotency-Key"] = key
			} else {
				body["idempotencyKey"] = key
			}
			calls := fake.calls.Load()
			var wg sync.WaitGroup
			start := make(chan struct{})
			res := make([]*apptest.Response, 20)
			for j := range res {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					res[j] = h.Do(apptest.Request{Method: "POST", Path: "/api/v1/installations/" + inst + "/execute",
						Token: u.AccessToken, Body: body, Headers: hdr})
				}()
			}
			close(start)
			wg.Wait()
			want := http.StatusOK
			if c.async {
				want = http.StatusAccepted
			}
			var id string
			replayed := 0
			for _, r := range res {
				var e struct{ ID string }
				if r.Status != want {
					t.Fatalf("%s: status %d, want %d: %s", c.name, r.Status, want, r.Raw)
				}
				r.Data(t, &e)
				if id == "" {
					id = e.ID
				}
				if e.ID != id {
					t.Fatalf("%s: two executions %s and %s for one key", c.name, id, e.ID)
				}
				if r.Header.Get("Idempotent-Replayed") == "true" {
					replayed++
				}
			}
			if replayed != 19 {
				t.Errorf("%s: %d answers replayed, want 19", c.name, replayed)
			}
			// An async execution runs in a job: wait for it to end.
			deadline := time.Now().Add(30 * time.Second)
			for {
				var e struct{ Status string }
				h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst+"/executions/"+id, u.AccessToken, nil).Data(t, &e)
				if e.Status == "SUCCEEDED" {
					break
				}
				if e.Status == "FAILED" || time.Now().After(deadline) {
					t.Fatalf("%s: execution %s is %s", c.name, id, e.Status)
				}
				time.Sleep(20 * time.Millisecond)
			}
			if got := fake.calls.Load() - calls; got != 1 {
				t.Errorf("%s: %d provider calls, want 1", c.name, got)
			}
			var page struct{ Items []json.RawMessage }
			h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst+"/executions", u.AccessToken, nil).Data(t, &page)
			if len(page.Items) != i+1 {
				t.Errorf("%s: %d executions recorded, want %d", c.name, len(page.Items), i+1)
			}
			if got := usageCharges(t, h, u.AccessToken); got != i+1 {
				t.Errorf("%s: %d charges, want %d", c.name, got, i+1)
			}
		}

		// The same key with another body: 409 IDEMPOTENCY_CONFLICT; with the
		// same body again: the stored answer.
		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/installations/" + inst + "/execute", Token: u.AccessToken,
			Body: map[string]any{"input": map[string]any{"text": "something else"}}, Headers: map[string]string{"Idempotency-Key": "retry-me-sync header"}})
		if r.Status != http.StatusConflict || r.Code() != "IDEMPOTENCY_CONFLICT" {
			t.Fatalf("reused key, other body: %d %s", r.Status, r.Raw)
		}
		// Header and body field disagreeing: 400.
		r = h.Do(apptest.Request{Method: "POST", Path: "/api/v1/installations/" + inst + "/execute", Token: u.AccessToken,
			Body: map[string]any{"idempotencyKey": "a"}, Headers: map[string]string{"Idempotency-Key": "b"}})
		if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" {
			t.Fatalf("two keys: %d %s", r.Status, r.Raw)
		}
		ledgerInvariant(t, h)
	})
}

func TestIdempotencyKey_FourXXAnswersAreStoredAndReplayed(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		u := h.SignUp("idem4xx@example.com", "correct horse battery")
		// A workflow that does not exist: 404, stored and replayed even
		// after the cause is gone.
		send := func() *apptest.Response {
			return h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/wf_01jzzzzzzzzzzzzzzzzzzzzzzz/runs", Token: u.AccessToken,
				Body: map[string]any{"input": map[string]any{}}, Headers: map[string]string{"Idempotency-Key": "k404"}})
		}
		first, second := send(), send()
		if first.Status != http.StatusNotFound || second.Status != http.StatusNotFound || second.Header.Get("Idempotent-Replayed") != "true" ||
			string(first.Raw) != string(second.Raw) {
			t.Fatalf("4xx replay: %d %s / %d %v %s", first.Status, first.Raw, second.Status, second.Header, second.Raw)
		}
		// Without a key nothing is stored.
		r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/wf_01jzzzzzzzzzzzzzzzzzzzzzzz/runs", Token: u.AccessToken})
		if r.Header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("keyless request replayed: %v", r.Header)
		}
		// A bad key is refused.
		r = h.Do(apptest.Request{Method: "POST", Path: "/api/v1/workflows/wf_01jzzzzzzzzzzzzzzzzzzzzzzz/runs", Token: u.AccessToken,
			Headers: map[string]string{"Idempotency-Key": ""}})
		if r.Status != http.StatusBadRequest {
			t.Fatalf("empty key: %d %s", r.Status, r.Raw)
		}
	})
}

// parallelSame sends n copies of one request at once and returns the answers.
func parallelSame(h *apptest.Harness, n int, req apptest.Request) []*apptest.Response {
	out := make([]*apptest.Response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			out[i] = h.Do(req)
		}()
	}
	close(start)
	wg.Wait()
	return out
}

func TestIdempotencyKey_ManualRunsAndCreditGrants(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		admin := h.Admin()
		u := h.SignUp("idemruns@example.com", "correct horse battery")
		var wf struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", u.AccessToken, map[string]any{"name": "w", "definition": map[string]any{
			"trigger": map[string]any{"type": "manual"}, "startStepId": "a",
			"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "trigger"}}}}}).Data(t, &wf)

		runs := parallelSame(h, 20, apptest.Request{Method: "POST", Path: "/api/v1/workflows/" + wf.ID + "/runs", Token: u.AccessToken,
			Body: map[string]any{"input": map[string]any{"n": 1}}, Headers: map[string]string{"Idempotency-Key": "run-once"}})
		ids := map[string]bool{}
		for _, r := range runs {
			var run struct{ ID string }
			if r.Status != http.StatusCreated {
				t.Fatalf("manual run: %d %s", r.Status, r.Raw)
			}
			r.Data(t, &run)
			ids[run.ID] = true
		}
		var page struct{ Items []json.RawMessage }
		h.Call(http.StatusOK, "GET", "/api/v1/runs?workflowId="+wf.ID, u.AccessToken, nil).Data(t, &page)
		if len(ids) != 1 || len(page.Items) != 1 {
			t.Fatalf("%d run ids answered, %d runs stored; want 1 and 1", len(ids), len(page.Items))
		}

		grants := parallelSame(h, 20, apptest.Request{Method: "POST", Path: "/api/v1/admin/workspaces/" + u.UserID + "/credits", Token: admin.AccessToken,
			Body: map[string]any{"amount": 500, "type": "grant", "reason": "once"}, Headers: map[string]string{"Idempotency-Key": "grant-once"}})
		for _, r := range grants {
			if r.Status != http.StatusCreated {
				t.Fatalf("grant: %d %s", r.Status, r.Raw)
			}
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 500 {
			t.Fatalf("balance %d after 20 copies of one 500 grant", b.Balance)
		}

		// The OpenAPI document names the header on these routes.
		doc := h.Call(http.StatusOK, "GET", "/api/v1/openapi.json", "", nil)
		if !strings.Contains(string(doc.Raw), `"Idempotency-Key"`) || !strings.Contains(string(doc.Raw), "IDEMPOTENCY_CONFLICT") {
			t.Error("openapi.json does not document Idempotency-Key")
		}
	})
}
