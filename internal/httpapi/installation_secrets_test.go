package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/secret"
)

const (
	operatorOpenAIKey = "sk-operator-openai-fedcba9876543210"
	userOtherSecret   = "user-other-secret-value-5f5f5f5f"
)

type installationView struct {
	ID          string
	SecretNames []string
	Config      map[string]any
}

func aiNode(t *testing.T, url string, fake *llmFake, allowLoopback bool) *apptest.Harness {
	return apptest.Start(t, url, func(c *config.Config) {
		if allowLoopback {
			c.Gateway.OutboundAllow = []string{"127.0.0.1"}
		}
		// The operator's keys are not the ones the fake accepts: a call that
		// succeeds used the installation's own key.
		c.AI = config.AIConfig{OpenAIBaseURL: fake.URL + "/v1", OpenAIAPIKey: operatorOpenAIKey,
			AnthropicBaseURL: fake.URL, AnthropicAPIKey: "sk-ant-operator-0000"}
	})
}

func execAI(t *testing.T, h *apptest.Harness, rc *recorder, token, id, text string) aiExecution {
	t.Helper()
	var e aiExecution
	r := rc.do(h, apptest.Request{Method: "POST", Path: "/api/v1/installations/" + id + "/execute", Token: token,
		Body: map[string]any{"input": map[string]any{"text": text}}})
	if r.Status != http.StatusOK {
		t.Fatalf("execute: %d %s", r.Status, r.Raw)
	}
	r.Data(t, &e)
	return e
}

// TestInstallationSecrets_NeverInClear installs ai-reply with the user's
// own keys, lists, reads, updates, deletes and uses them, then searches
// every response, the audit, the logs and every database row for them.
func TestInstallationSecrets_NeverInClear(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		fake := newLLMFake(t)
		h := aiNode(t, url, fake, true)
		rc := &recorder{}
		u := h.SignUp("byok@example.com", "correct horse battery")
		tok := u.AccessToken
		cfg := map[string]any{"provider": "openai", "model": "gpt-4o-mini", "baseUrl": fake.URL + "/v1", "maxTokens": 100}

		// Bad secrets are refused before anything is stored.
		many := map[string]any{}
		for i := 0; i < 21; i++ {
			many[fmt.Sprintf("s%d", i)] = "v"
		}
		for name, secrets := range map[string]any{
			"bad name":  map[string]any{"Api-Key": "x"},
			"too big":   map[string]any{"apiKey": strings.Repeat("k", 4097)},
			"empty":     map[string]any{"apiKey": ""},
			"null":      map[string]any{"apiKey": nil},
			"not text":  map[string]any{"apiKey": 42},
			"too many":  many,
			"not a map": []string{"apiKey"},
		} {
			r := rc.do(h, apptest.Request{Method: "POST", Path: "/api/v1/installations", Token: tok,
				Body: map[string]any{"plugin": "ai-reply", "config": cfg, "secrets": secrets}})
			if r.Status != http.StatusBadRequest {
				t.Errorf("%s: %d %s", name, r.Status, r.Raw)
			}
		}

		var inst installationView
		r := rc.do(h, apptest.Request{Method: "POST", Path: "/api/v1/installations", Token: tok, Body: map[string]any{
			"plugin": "ai-reply", "config": cfg, "secrets": map[string]any{"apiKey": fakeOpenAIKey, "other": userOtherSecret}}})
		if r.Status != http.StatusCreated {
			t.Fatalf("install: %d %s", r.Status, r.Raw)
		}
		r.Data(t, &inst)
		if strings.Join(inst.SecretNames, ",") != "apiKey,other" {
			t.Fatalf("secretNames %v", inst.SecretNames)
		}

		// The user's key, on the user's base URL: no credits needed or
		// charged, nothing counted toward the plan's aiTokensPerMonth.
		e := execAI(t, h, rc, tok, inst.ID, "hi there")
		if e.Status != "SUCCEEDED" || e.Output.Text != "Hello from OpenAI: hi there" || e.Output.CostMillicredits != 0 || e.Metrics.TokensUsed != 42 {
			t.Fatalf("own-key run %+v", e)
		}
		if b := balanceOf(t, h, tok); b.Balance != 0 || b.Reserved != 0 {
			t.Errorf("own key charged credits: %+v", b)
		}
		if got := aiTokensUsed(t, h, tok); got != 0 {
			t.Errorf("own-key tokens counted toward the plan: %d", got)
		}
		// The provider refuses the key: the echoed key is redacted.
		fake.revoked.Store(true)
		if e := execAI(t, h, rc, tok, inst.ID, "hi"); e.Status != "FAILED" || !strings.Contains(e.Error, "refused the installation's API key") {
			t.Fatalf("revoked own key %+v", e)
		}
		fake.revoked.Store(false)

		// Update: a null deletes one name, others stay; values never return.
		var up installationView
		r = rc.do(h, apptest.Request{Method: "PATCH", Path: "/api/v1/installations/" + inst.ID, Token: tok,
			Body: map[string]any{"secrets": map[string]any{"other": nil}}})
		if r.Status != http.StatusOK {
			t.Fatalf("delete secret: %d %s", r.Status, r.Raw)
		}
		r.Data(t, &up)
		if strings.Join(up.SecretNames, ",") != "apiKey" {
			t.Fatalf("after delete: %v", up.SecretNames)
		}
		if e := execAI(t, h, rc, tok, inst.ID, "still mine"); e.Status != "SUCCEEDED" {
			t.Fatalf("after deleting another secret %+v", e)
		}
		// A wrong key replaces the right one; the provider's echo of it is redacted.
		wrong := "sk-user-wrong-key-00112233445566"
		rc.do(h, apptest.Request{Method: "PATCH", Path: "/api/v1/installations/" + inst.ID, Token: tok,
			Body: map[string]any{"secrets": map[string]any{"apiKey": wrong}}})
		if e := execAI(t, h, rc, tok, inst.ID, "hi"); e.Status != "FAILED" || !strings.Contains(e.Error, "401") {
			t.Fatalf("wrong own key %+v", e)
		}
		// Anthropic with the user's own key.
		r = rc.do(h, apptest.Request{Method: "PATCH", Path: "/api/v1/installations/" + inst.ID, Token: tok, Body: map[string]any{
			"config":  map[string]any{"provider": "anthropic", "model": "claude-3-5-haiku-latest", "baseUrl": fake.URL},
			"secrets": map[string]any{"apiKey": fakeAnthropicKey}}})
		if r.Status != http.StatusOK {
			t.Fatalf("switch to anthropic: %d %s", r.Status, r.Raw)
		}
		if e := execAI(t, h, rc, tok, inst.ID, "hello claude"); e.Status != "SUCCEEDED" || e.Output.Text != "Hello from Claude" || e.Output.CostMillicredits != 0 {
			t.Fatalf("anthropic own key %+v", e)
		}
		// Another workspace can neither see nor change them.
		other := h.SignUp("intruder@example.com", "correct horse battery")
		if r := rc.do(h, apptest.Request{Method: "PATCH", Path: "/api/v1/installations/" + inst.ID, Token: other.AccessToken,
			Body: map[string]any{"secrets": map[string]any{"apiKey": "sk-intruder"}}}); r.Status != http.StatusNotFound {
			t.Errorf("cross-workspace update: %d", r.Status)
		}
		rc.do(h, apptest.Request{Method: "GET", Path: "/api/v1/installations/" + inst.ID, Token: tok})
		rc.do(h, apptest.Request{Method: "GET", Path: "/api/v1/installations", Token: tok})
		rc.do(h, apptest.Request{Method: "GET", Path: "/api/v1/installations/" + inst.ID + "/executions", Token: tok})
		audit := rc.do(h, apptest.Request{Method: "GET", Path: "/api/v1/audit", Token: tok})
		if !strings.Contains(string(audit.Raw), "sealedNames") {
			t.Errorf("the audit does not name the secrets set: %.500s", audit.Raw)
		}

		dump := dumpDatabase(t, h.App.DB)
		logs := h.Logs()
		for _, sec := range []string{fakeOpenAIKey, fakeAnthropicKey, userOtherSecret, wrong} {
			for where, text := range map[string]string{"logs": logs, "responses": rc.all.String(), "database": dump} {
				if strings.Contains(text, sec) {
					t.Errorf("secret %q…%q found in clear in the %s", sec[:4], sec[len(sec)-4:], where)
				}
			}
		}
		fake.mu.Lock()
		defer fake.mu.Unlock()
		for _, b := range fake.bad {
			t.Error("fake: " + b)
		}
	})
}

// TestAIReply_OwnBaseURLRefusals: a baseUrl needs the installation's own
// key (the operator's key never goes to a user's server), and private or
// loopback addresses are refused unless the operator allows them.
func TestAIReply_OwnBaseURLRefusals(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		fake := newLLMFake(t)
		h := aiNode(t, url, fake, false) // no --outbound-allow
		u := h.SignUp("ssrf@example.com", "correct horse battery")
		tok := u.AccessToken
		rc := &recorder{}
		for _, bad := range []string{"ftp://example.com", "not a url", "https://user:pw@example.com/v1", "https://example.com/v1?x=1"} {
			h.Call(http.StatusBadRequest, "POST", "/api/v1/installations", tok, map[string]any{"plugin": "ai-reply",
				"config": map[string]any{"provider": "openai", "model": "gpt-4o-mini", "baseUrl": bad}})
		}
		var inst installationView
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", tok, map[string]any{"plugin": "ai-reply",
			"config": map[string]any{"provider": "openai", "model": "gpt-4o-mini", "baseUrl": fake.URL + "/v1"}}).Data(t, &inst)
		// Without its own key the installation may not pick the endpoint.
		if e := execAI(t, h, rc, tok, inst.ID, "hi"); e.Status != "FAILED" || !strings.Contains(e.Error, "needs the installation's own apiKey") {
			t.Fatalf("baseUrl without own key %+v", e)
		}
		// With it, loopback and metadata addresses are refused at dial time.
		h.Call(http.StatusOK, "PATCH", "/api/v1/installations/"+inst.ID, tok, map[string]any{"secrets": map[string]any{"apiKey": fakeOpenAIKey}})
		for _, base := range []string{fake.URL + "/v1", "http://169.254.169.254/v1", "http://10.0.0.1:8080/v1"} {
			h.Call(http.StatusOK, "PATCH", "/api/v1/installations/"+inst.ID, tok, map[string]any{
				"config": map[string]any{"provider": "openai", "model": "gpt-4o-mini", "baseUrl": base}})
			if e := execAI(t, h, rc, tok, inst.ID, "hi"); e.Status != "FAILED" || !strings.Contains(e.Error, "unreachable") {
				t.Fatalf("private baseUrl %s: %+v", base, e)
			}
		}
		if n := fake.calls.Load(); n != 0 {
			t.Fatalf("the fake on a loopback address was called %d times", n)
		}
		for where, text := range map[string]string{"logs": h.Logs(), "responses": rc.all.String()} {
			if strings.Contains(text, fakeOpenAIKey) || strings.Contains(text, operatorOpenAIKey) {
				t.Errorf("a key leaked into the %s", where)
			}
		}
	})
}

// TestInstallationSecrets_Rotation: `keys rotate` re-seals installation
// secrets under the new primary key, they still open afterwards, and the
// old key can then be pruned.
func TestInstallationSecrets_Rotation(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		fake := newLLMFake(t)
		h := aiNode(t, url, fake, true)
		u := h.SignUp("rotate@example.com", "correct horse battery")
		var inst installationView
		h.Call(http.StatusCreated, "POST", "/api/v1/installations", u.AccessToken, map[string]any{"plugin": "ai-reply",
			"config":  map[string]any{"provider": "openai", "model": "gpt-4o-mini", "baseUrl": fake.URL + "/v1"},
			"secrets": map[string]any{"apiKey": fakeOpenAIKey}}).Data(t, &inst)
		kr, store := h.App.Secrets, h.App.Installs.SecretStore()
		old := kr.PrimaryID()
		if c, err := store.CountByKey(ctx); err != nil || c[old] != 1 || len(c) != 1 {
			t.Fatalf("before rotation: %v %v", c, err)
		}
		k, err := secret.AddPrimaryToFile(h.App.Config.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		waitPrimary := func(id string) {
			deadline := time.Now().Add(10 * time.Second)
			for kr.PrimaryID() != id {
				if time.Now().After(deadline) {
					t.Fatalf("the keyring never reloaded %s", id)
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		waitPrimary(k.ID)
		n, err := secret.Reseal(ctx, kr, secret.RotateOptions{Batch: 10}, store)
		if err != nil || n != 1 {
			t.Fatalf("reseal: %d %v", n, err)
		}
		if c, err := store.CountByKey(ctx); err != nil || c[k.ID] != 1 || len(c) != 1 {
			t.Fatalf("after rotation: %v %v", c, err)
		}
		if err := secret.RemoveFromFile(h.App.Config.DataDir, old); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for kr.PrimaryID() != "" && kr.Has(old) { // PrimaryID re-reads the key file
			if time.Now().After(deadline) {
				t.Fatal("the pruned key stayed")
			}
			time.Sleep(20 * time.Millisecond)
		}
		rc := &recorder{}
		if e := execAI(t, h, rc, u.AccessToken, inst.ID, "after rotation"); e.Status != "SUCCEEDED" {
			t.Fatalf("after rotation %+v", e)
		}
	})
}
