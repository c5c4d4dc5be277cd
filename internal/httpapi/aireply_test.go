package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

const (
	fakeOpenAIKey    = "sk-test-openai-0123456789abcdef"
	fakeAnthropicKey = "sk-ant-test-0123456789abcdef"
)

// llmFake speaks the wire shapes of OpenAI Chat Completions
// (POST /v1/chat/completions) and Anthropic Messages (POST /v1/messages),
// including their error bodies, and checks each request body.
type llmFake struct {
	*httptest.Server
	calls   atomic.Int64
	revoked atomic.Bool
	mu      sync.Mutex
	bodies  []map[string]any
	bad     []string
}

func newLLMFake(t *testing.T) *llmFake {
	f := &llmFake{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *llmFake) fail(format string) { f.mu.Lock(); f.bad = append(f.bad, format); f.mu.Unlock() }

func (f *llmFake) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		f.fail("undecodable request to " + r.URL.Path)
		w.WriteHeader(400)
		return
	}
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.mu.Unlock()
	msgs, _ := body["messages"].([]any)
	last := ""
	if len(msgs) > 0 {
		m, _ := msgs[len(msgs)-1].(map[string]any)
		last, _ = m["content"].(string)
		if m["role"] != "user" {
			f.fail("last message is not the user's")
		}
	}
	w.Header().Set("Content-Type", "application/json")
	switch r.URL.Path {
	case "/v1/chat/completions":
		if _, ok := body["max_tokens"].(float64); !ok || body["model"] == nil {
			f.fail("openai body lacks model or max_tokens")
		}
		if r.Header.Get("Authorization") != "Bearer "+fakeOpenAIKey || f.revoked.Load() {
			w.WriteHeader(401)
			// Like the real API, the error echoes the key it was sent.
			_, _ = w.Write([]byte(`{"error":{"message":"Incorrect API key provided: ` + strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") + `. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`))
			return
		}
		if strings.Contains(last, "rate-limit") {
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`{"error":{"message":"Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3.","type":"requests","param":null,"code":"rate_limit_exceeded"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18",
			"choices":[{"index":0,"message":{"role":"assistant","content":"Hello from OpenAI: ` + last + `"},"logprobs":null,"finish_reason":"stop"}],
			"usage":{"prompt_tokens":12,"completion_tokens":30,"total_tokens":42}}`))
	case "/v1/messages":
		if _, ok := body["max_tokens"].(float64); !ok || body["model"] == nil || r.Header.Get("anthropic-version") == "" {
			f.fail("anthropic request lacks model, max_tokens or anthropic-version")
		}
		if r.Header.Get("x-api-key") != fakeAnthropicKey || f.revoked.Load() {
			w.WriteHeader(401)
			_, _ = w.Write([]byte(`{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}`))
			return
		}
		if strings.Contains(last, "rate-limit") {
			w.WriteHeader(429)
			_, _ = w.Write([]byte(`{"type":"error","error":{"type":"rate_limit_error","message":"Number of request tokens has exceeded your per-minute rate limit"}}`))
			return
		}
		_, _ = w.Write([]byte(`{"id":"msg_1","type":"message","role":"assistant","model":"claude-3-5-haiku-20241022",
			"content":[{"type":"text","text":"Hello from Claude"}],"stop_reason":"end_turn","stop_sequence":null,
			"usage":{"input_tokens":20,"output_tokens":15}}`))
	default:
		f.fail("unexpected path " + r.URL.Path)
		w.WriteHeader(404)
	}
}

type aiExecution struct {
	ID, Status, Error string
	Output            struct {
		Text             string
		CostMillicredits int64
		Usage            struct{ TotalTokens int64 }
	}
	Metrics struct{ TokensUsed, APICalls, ChargedMillicredits int64 }
}

func aiTokensUsed(t *testing.T, h *apptest.Harness, token string) int64 {
	t.Helper()
	var rep credit.UsageReport
	h.Call(http.StatusOK, "GET", "/api/v1/usage", token, nil).Data(t, &rep)
	for _, it := range rep.Items {
		if it.Metric == "aiTokens" && it.Used != nil {
			return *it.Used
		}
	}
	return 0
}

func TestAIReply_ChargesSettledTokensAndMetersThem(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		fake := newLLMFake(t)
		h := apptest.Start(t, url, func(c *config.Config) {
			c.Gateway.OutboundAllow = []string{"127.0.0.1"}
			c.AI = config.AIConfig{OpenAIBaseURL: fake.URL + "/v1", OpenAIAPIKey: fakeOpenAIKey,
				AnthropicBaseURL: fake.URL, AnthropicAPIKey: fakeAnthropicKey}
		})
		admin := h.Admin()
		u := h.SignUp("ai@example.com", "correct horse battery")
		h.Call(http.StatusCreated, "POST", "/api/v1/admin/workspaces/"+u.UserID+"/credits", admin.AccessToken,
			map[string]any{"amount": 1000, "type": "grant", "reason": "ai test"})

		// A model's price is not the installation's to name.
		h.Call(http.StatusBadRequest, "POST", "/api/v1/installations", u.AccessToken,
			map[string]any{"plugin": "ai-reply", "config": map[string]any{"provider": "openai", "model": "gpt-4o", "billAs": "ai.gpt-4o-mini"}})
		h.Call(http.StatusBadRequest, "POST", "/api/v1/installations", u.AccessToken,
			map[string]any{"plugin": "ai-reply", "config": map[string]any{"provider": "openai", "model": "gpt-4o-mini", "apiKey": "sk-x"}})
		var inst struct {
			ID     string
			Config map[string]any
		}
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", u.AccessToken, map[string]any{"plugin": "ai-reply",
			"config": map[string]any{"provider": "openai", "model": "gpt-4o-mini", "systemPrompt": "Be brief.", "maxTokens": 100}}).Data(t, &inst)
		exec := func(text string) aiExecution {
			var e aiExecution
			h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst.ID+"/execute", u.AccessToken,
				map[string]any{"input": map[string]any{"text": text}}).Data(t, &e)
			return e
		}

		// OpenAI: 42 tokens of gpt-4o-mini at 200 mc / 1K = 8.4 → 9 mc.
		e := exec("hi there")
		if e.Status != "SUCCEEDED" || e.Output.Text != "Hello from OpenAI: hi there" || e.Metrics.TokensUsed != 42 || e.Metrics.APICalls != 1 || e.Output.CostMillicredits != 9 || e.Metrics.ChargedMillicredits != 9 {
			t.Fatalf("openai run %+v", e)
		}
		b := balanceOf(t, h, u.AccessToken)
		if b.Balance != 991 || b.Reserved != 0 {
			t.Fatalf("after openai: %+v", b)
		}
		fake.mu.Lock()
		first := fake.bodies[0]
		fake.mu.Unlock()
		if msgs := first["messages"].([]any); len(msgs) != 2 || msgs[0].(map[string]any)["role"] != "system" || first["max_tokens"].(float64) != 100 {
			t.Errorf("openai request body %v", first)
		}
		if got := aiTokensUsed(t, h, u.AccessToken); got != 42 {
			t.Errorf("usage after openai: %d", got)
		}

		// 429: failed, nothing charged, the hold released.
		if e := exec("please rate-limit me"); e.Status != "FAILED" || !strings.Contains(e.Error, "429") || !strings.Contains(e.Error, "Rate limit reached") {
			t.Fatalf("429 run %+v", e)
		}
		// 401: failed with a clear reason; the key the provider echoed is not shown.
		fake.revoked.Store(true)
		if e := exec("hi"); e.Status != "FAILED" || !strings.Contains(e.Error, "401") || strings.Contains(e.Error, fakeOpenAIKey) {
			t.Fatalf("401 run %+v", e)
		}
		fake.revoked.Store(false)
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 991 || b.Reserved != 0 {
			t.Fatalf("after failures: %+v", b)
		}

		// A model without a price does not run on the server's key, whatever
		// billAs says (it may with an own key): the provider is not called.
		h.Call(http.StatusOK, "PATCH", "/api/v1/installations/"+inst.ID, u.AccessToken, map[string]any{
			"config": map[string]any{"provider": "openai", "model": "o1-pro", "billAs": "ai.gpt-4o-mini"}})
		fake.mu.Lock()
		sent := len(fake.bodies)
		fake.mu.Unlock()
		if e := exec("expensive"); e.Status != "FAILED" || !strings.Contains(e.Error, `model "o1-pro" has no price on this server's key`) {
			t.Fatalf("unpriced model on the server's key: %+v", e)
		}
		fake.mu.Lock()
		if len(fake.bodies) != sent {
			t.Errorf("the provider was called for an unpriced model")
		}
		fake.mu.Unlock()
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 991 || b.Reserved != 0 {
			t.Fatalf("after the unpriced model: %+v", b)
		}

		// Anthropic: 20 + 15 tokens of Claude Haiku at 400 mc / 1K = 14 mc.
		h.Call(http.StatusOK, "PATCH", "/api/v1/installations/"+inst.ID, u.AccessToken, map[string]any{
			"config": map[string]any{"provider": "anthropic", "model": "claude-3-5-haiku-latest", "systemPrompt": "Be kind.", "temperature": 0.2}})
		e = exec("hello claude")
		if e.Status != "SUCCEEDED" || e.Output.Text != "Hello from Claude" || e.Metrics.TokensUsed != 35 || e.Output.CostMillicredits != 14 {
			t.Fatalf("anthropic run %+v", e)
		}
		fake.mu.Lock()
		last := fake.bodies[len(fake.bodies)-1]
		fake.mu.Unlock()
		if last["system"] != "Be kind." || last["temperature"] != 0.2 || len(last["messages"].([]any)) != 1 {
			t.Errorf("anthropic request body %v", last)
		}
		if e := exec("rate-limit"); e.Status != "FAILED" || !strings.Contains(e.Error, "429") || !strings.Contains(e.Error, "rate limit") {
			t.Fatalf("anthropic 429 %+v", e)
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 977 || b.Reserved != 0 {
			t.Fatalf("after anthropic: %+v", b)
		}
		if got := aiTokensUsed(t, h, u.AccessToken); got != 77 {
			t.Errorf("usage after anthropic: %d", got)
		}

		// An estimate the balance cannot hold: INSUFFICIENT_CREDITS, no call, nothing charged.
		h.Call(http.StatusOK, "PATCH", "/api/v1/installations/"+inst.ID, u.AccessToken, map[string]any{
			"config": map[string]any{"provider": "anthropic", "model": "claude-sonnet-4", "maxTokens": 8192}})
		calls := fake.calls.Load()
		if e := exec("expensive"); e.Status != "FAILED" || !strings.Contains(e.Error, "INSUFFICIENT_CREDITS") || e.Metrics.TokensUsed != 0 {
			t.Fatalf("unaffordable run %+v", e)
		}
		if fake.calls.Load() != calls {
			t.Error("the provider was called without credits")
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 977 || b.Reserved != 0 {
			t.Fatalf("after unaffordable: %+v", b)
		}

		// The month's allowance (FREE: 10,000 tokens) nearly spent: refused
		// before the call with PLAN_LIMIT_EXCEEDED, nothing charged.
		h.Call(http.StatusOK, "PATCH", "/api/v1/installations/"+inst.ID, u.AccessToken, map[string]any{
			"config": map[string]any{"provider": "openai", "model": "gpt-4o-mini", "maxTokens": 100}})
		a := actor.Actor{UserID: u.UserID, Role: actor.Member, Plan: actor.Free}
		if _, err := h.App.Limits.Consume(context.Background(), a, actor.ActionAITokens, 10_000-77-50, ""); err != nil {
			t.Fatal(err)
		}
		if e := exec("over the limit"); e.Status != "FAILED" || !strings.Contains(e.Error, "PLAN_LIMIT_EXCEEDED") {
			t.Fatalf("over-limit run %+v", e)
		}
		if fake.calls.Load() != calls {
			t.Error("the provider was called beyond the plan's tokens")
		}
		if b := balanceOf(t, h, u.AccessToken); b.Balance != 977 || b.Reserved != 0 {
			t.Fatalf("after over-limit: %+v", b)
		}

		// History keeps the metrics; no key anywhere in answers or logs.
		hist := h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst.ID+"/executions", u.AccessToken, nil)
		got := h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst.ID, u.AccessToken, nil)
		for name, s := range map[string]string{"history": string(hist.Raw), "installation": string(got.Raw), "logs": h.Logs()} {
			if strings.Contains(s, fakeOpenAIKey) || strings.Contains(s, fakeAnthropicKey) {
				t.Errorf("an API key leaked into the %s", name)
			}
		}
		if !strings.Contains(string(hist.Raw), `"tokensUsed":42`) {
			t.Errorf("history lacks the token metrics: %.300s", hist.Raw)
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		for _, b := range fake.bad {
			t.Error("fake: " + b)
		}
		ledgerInvariant(t, h)
	})
}
