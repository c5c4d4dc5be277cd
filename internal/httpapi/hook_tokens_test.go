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
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/secret"
	"github.com/switchboard/switchboard/internal/workflow"
)

// hookRotation is the answer of a gateway's hook rotation.
type hookRotation struct {
	gw
	Registered bool
	NextStep   string
}

// hookWorkflow is a webhook workflow as the API returns it.
type hookWorkflow struct{ ID, HookURL string }

func lastSegment(u string) string { return u[strings.LastIndex(u, "/")+1:] }

// assertDumpHides fails when any stored column of the row holds token, and
// checks the token is stored sealed.
func assertDumpHides(t *testing.T, h *apptest.Harness, table, id, token string) {
	t.Helper()
	ctx := context.Background()
	rows, err := h.App.DB.Read().QueryContext(ctx, `SELECT * FROM `+table+` WHERE id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	if !rows.Next() {
		t.Fatalf("%s %s not stored", table, id)
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		t.Fatal(err)
	}
	for i, c := range cols {
		v := vals[i]
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		s := fmt.Sprint(v)
		if strings.Contains(s, token) {
			t.Errorf("%s.%s holds the hook token in clear: %q", table, c, s)
		}
		if c == "hook_token_enc" && !strings.HasPrefix(s, "sb1:") {
			t.Errorf("%s.hook_token_enc = %q, want a sealed value", table, s)
		}
	}
}

func auditCount(t *testing.T, h *apptest.Harness, action, resourceID string) int {
	t.Helper()
	var n int
	if err := h.App.DB.Read().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM audit_logs WHERE action = $1 AND resource_id = $2`,
		action, resourceID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func telegramUpdate(t *testing.T, path, secret string, n int) apptest.Request {
	body := jsonBody(t, map[string]any{"update_id": 9000 + n, "message": map[string]any{"message_id": n,
		"from": map[string]any{"id": 7, "username": "ann"}, "chat": map[string]any{"id": 555, "type": "private"}, "text": "hello"}})
	return apptest.Request{Method: "POST", Path: path, Body: body, Headers: map[string]string{"X-Telegram-Bot-Api-Secret-Token": secret}}
}

func pathOf(u string) string { return u[strings.Index(u, "/hooks/"):] }

// Inbound and webhook tokens are stored sealed (a dump of the row does not
// reveal them), the owner still reads the whole URL, and rotating gives a
// new URL, re-registered with Telegram, while the old one answers 404.
func TestHookTokens_SealedAtRestAndRotatable(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		f := gatewaytest.NewTelegram(t, fakeTelegramToken)
		h := gatewayNode(t, url, []string{f.Host()}, func(c *config.Config) { c.Gateway.TelegramAPIURL = f.URL })
		tok := h.SignUp("hooks@example.com", "correct horse battery").AccessToken

		g := createGateway(t, h, tok, map[string]any{"type": "TELEGRAM", "name": "tg", "credentials": map[string]string{"botToken": fakeTelegramToken}})
		g = connectGateway(t, h, tok, g.ID)
		old := lastSegment(g.InboundURL)
		if len(old) < 32 || g.Status != "CONNECTED" {
			t.Fatalf("connected gateway: %+v", g)
		}
		assertDumpHides(t, h, "gateways", g.ID, old)
		if got := getGateway(t, h, tok, g.ID); got.InboundURL != g.InboundURL {
			t.Fatalf("owner reads %q, want %q", got.InboundURL, g.InboundURL)
		}
		registered, sec := f.Hook()
		if registered != g.InboundURL {
			t.Fatalf("telegram registered %q, want %q", registered, g.InboundURL)
		}
		if r := h.Do(telegramUpdate(t, pathOf(g.InboundURL), sec, 1)); r.Status != http.StatusOK {
			t.Fatalf("delivery to the sealed token's URL: %d %s", r.Status, r.Raw)
		}

		var rotated hookRotation
		h.Call(http.StatusOK, "POST", "/api/v1/gateways/"+g.ID+"/hook/rotate", tok, nil).Data(t, &rotated)
		if rotated.InboundURL == g.InboundURL || !strings.HasPrefix(rotated.InboundURL, "https://switchboard.test/hooks/gateways/"+g.ID+"/") ||
			rotated.Status != "CONNECTED" || !rotated.Registered || rotated.NextStep != "" {
			t.Fatalf("rotated: %+v (was %s)", rotated, g.InboundURL)
		}
		if registered, _ := f.Hook(); registered != rotated.InboundURL {
			t.Errorf("telegram still delivers to %q after rotation, want %q", registered, rotated.InboundURL)
		}
		assertDumpHides(t, h, "gateways", g.ID, lastSegment(rotated.InboundURL))
		if r := h.Do(telegramUpdate(t, pathOf(g.InboundURL), sec, 2)); r.Status != http.StatusNotFound || r.Code() != "NOT_FOUND" {
			t.Errorf("old inbound URL after rotation: %d %s", r.Status, r.Raw)
		}
		if r := h.Do(telegramUpdate(t, pathOf(rotated.InboundURL), sec, 3)); r.Status != http.StatusOK {
			t.Errorf("new inbound URL: %d %s", r.Status, r.Raw)
		}
		if got := getGateway(t, h, tok, g.ID); got.InboundURL != rotated.InboundURL {
			t.Errorf("owner reads %q after rotation, want %q", got.InboundURL, rotated.InboundURL)
		}
		if n := auditCount(t, h, "gateway.hook_rotated", g.ID); n != 1 {
			t.Errorf("%d gateway.hook_rotated audit entries, want 1", n)
		}
		// A rotation Telegram refuses leaves the gateway in ERROR, saying why.
		f.Revoke()
		h.Call(http.StatusOK, "POST", "/api/v1/gateways/"+g.ID+"/hook/rotate", tok, nil).Data(t, &rotated)
		if rotated.Status != "ERROR" || !strings.Contains(rotated.LastError, "register new inbound URL") || rotated.Registered ||
			!strings.Contains(rotated.NextStep, "connect the gateway to retry") {
			t.Errorf("rotation refused by the provider: %+v", rotated)
		}
		// Slack takes the URL only in its console: the answer says so.
		slackTok := h.SignUp("slack-hooks@example.com", "correct horse battery").AccessToken
		sl := createGateway(t, h, slackTok, map[string]any{"type": "SLACK", "name": "sl",
			"credentials": map[string]string{"botToken": fakeSlackToken, "signingSecret": fakeSlackSigning}})
		h.Call(http.StatusOK, "POST", "/api/v1/gateways/"+sl.ID+"/hook/rotate", slackTok, nil).Data(t, &rotated)
		if rotated.InboundURL == sl.InboundURL || rotated.Registered || !strings.Contains(rotated.NextStep, "Slack app's Event Subscriptions") {
			t.Errorf("rotated Slack gateway: %+v", rotated)
		}

		var wf hookWorkflow
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, map[string]any{"name": "hook", "definition": map[string]any{
			"trigger": map[string]any{"type": "webhook"}, "startStepId": "a",
			"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}}}}).Data(t, &wf)
		assertDumpHides(t, h, "workflows", wf.ID, lastSegment(wf.HookURL))
		if r := h.Do(apptest.Request{Method: "POST", Path: pathOf(wf.HookURL), Body: `{}`}); r.Status != http.StatusAccepted {
			t.Fatalf("webhook with the sealed token: %d %s", r.Status, r.Raw)
		}
		var wf2 hookWorkflow
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+wf.ID+"/webhook/rotate", tok, nil).Data(t, &wf2)
		if wf2.HookURL == wf.HookURL || !strings.HasPrefix(wf2.HookURL, "https://switchboard.test/hooks/workflows/"+wf.ID+"/") {
			t.Fatalf("rotated webhook: %q (was %q)", wf2.HookURL, wf.HookURL)
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: pathOf(wf.HookURL), Body: `{}`}); r.Status != http.StatusNotFound {
			t.Errorf("old webhook URL after rotation: %d %s", r.Status, r.Raw)
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: pathOf(wf2.HookURL), Body: `{}`}); r.Status != http.StatusAccepted {
			t.Errorf("new webhook URL: %d %s", r.Status, r.Raw)
		}
		if n := auditCount(t, h, "workflow.webhook_rotated", wf.ID); n != 1 {
			t.Errorf("%d workflow.webhook_rotated audit entries, want 1", n)
		}
		var man hookWorkflow
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, map[string]any{"name": "manual", "definition": map[string]any{
			"trigger": map[string]any{"type": "manual"}, "startStepId": "a",
			"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}}}}).Data(t, &man)
		if r := h.Call(http.StatusConflict, "POST", "/api/v1/workflows/"+man.ID+"/webhook/rotate", tok, nil); r.Code() != "CONFLICT" {
			t.Errorf("rotating a manual workflow's webhook: %s", r.Raw)
		}

		// Another workspace can rotate neither.
		other := h.SignUp("other-hooks@example.com", "correct horse battery").AccessToken
		h.Call(http.StatusNotFound, "POST", "/api/v1/gateways/"+g.ID+"/hook/rotate", other, nil)
		h.Call(http.StatusNotFound, "POST", "/api/v1/workflows/"+wf.ID+"/webhook/rotate", other, nil)
	})
}

// An upgrade from a version that kept hook tokens in clear: rows written
// then are still served, the next node to start seals them, and the URLs
// registered at the provider keep working on every node.
func TestHookTokens_UpgradeSealsPlaintextRowsAndKeepsURLs(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		key, err := secret.GenerateKey()
		if err != nil {
			t.Fatal(err)
		}
		f := gatewaytest.NewTelegram(t, fakeTelegramToken)
		opt := func(c *config.Config) { c.Gateway.TelegramAPIURL, c.SecretKey = f.URL, key.Encode() }
		h1 := gatewayNode(t, url, []string{f.Host()}, opt)
		tok := h1.SignUp("upgrade@example.com", "correct horse battery").AccessToken
		g := createGateway(t, h1, tok, map[string]any{"type": "TELEGRAM", "name": "tg", "credentials": map[string]string{"botToken": fakeTelegramToken}})
		g = connectGateway(t, h1, tok, g.ID)
		var wf hookWorkflow
		h1.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, map[string]any{"name": "hook", "definition": map[string]any{
			"trigger": map[string]any{"type": "webhook"}, "startStepId": "a",
			"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}}}}).Data(t, &wf)

		// Rewrite both rows as the earlier version stored them.
		ctx := context.Background()
		for _, row := range [][2]string{{"gateways", g.ID}, {"workflows", wf.ID}} {
			token := lastSegment(g.InboundURL)
			if row[0] == "workflows" {
				token = lastSegment(wf.HookURL)
			}
			if _, err := h1.App.DB.SQL().ExecContext(ctx, `UPDATE `+row[0]+` SET hook_token = $1, hook_token_enc = '', hook_token_key_id = ''
				WHERE id = $2`, token, row[1]); err != nil {
				t.Fatal(err)
			}
		}
		registered, sec := f.Hook()
		if r := h1.Do(telegramUpdate(t, pathOf(registered), sec, 1)); r.Status != http.StatusOK {
			t.Fatalf("plaintext row before sealing: %d %s", r.Status, r.Raw)
		}

		// The next nodes to start seal them (the second finds nothing left).
		h2 := gatewayNode(t, url, []string{f.Host()}, opt)
		h3 := gatewayNode(t, url, []string{f.Host()}, opt)
		assertDumpHides(t, h2, "gateways", g.ID, lastSegment(g.InboundURL))
		assertDumpHides(t, h2, "workflows", wf.ID, lastSegment(wf.HookURL))
		for i, h := range []*apptest.Harness{h1, h2, h3} {
			if r := h.Do(telegramUpdate(t, pathOf(registered), sec, 10+i)); r.Status != http.StatusOK {
				t.Errorf("node %d: the URL registered at Telegram before the upgrade: %d %s", i+1, r.Status, r.Raw)
			}
			if r := h.Do(apptest.Request{Method: "POST", Path: pathOf(wf.HookURL), Body: `{}`}); r.Status != http.StatusAccepted {
				t.Errorf("node %d: the webhook URL handed out before the upgrade: %d %s", i+1, r.Status, r.Raw)
			}
		}
		if got := getGateway(t, h1, tok, g.ID); got.InboundURL != g.InboundURL {
			t.Errorf("inbound URL after sealing %q, want %q", got.InboundURL, g.InboundURL)
		}
	})
}

// Key rotation (`switchboard keys rotate`) re-seals hook tokens with the
// other sealed values; the URLs stay the same and keep working once the
// old key is gone.
func TestHookTokens_KeyRotationResealsThem(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		ctx := context.Background()
		f := gatewaytest.NewTelegram(t, fakeTelegramToken)
		h := gatewayNode(t, url, []string{f.Host()}, func(c *config.Config) { c.Gateway.TelegramAPIURL = f.URL })
		tok := h.SignUp("hook-keys@example.com", "correct horse battery").AccessToken
		g := connectGateway(t, h, tok, createGateway(t, h, tok, map[string]any{"type": "TELEGRAM", "name": "tg",
			"credentials": map[string]string{"botToken": fakeTelegramToken}}).ID)
		var wf hookWorkflow
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, map[string]any{"name": "hook", "definition": map[string]any{
			"trigger": map[string]any{"type": "webhook"}, "startStepId": "a",
			"steps": []any{map[string]any{"id": "a", "type": "transform", "config": map[string]any{"expression": "`1`"}}}}}).Data(t, &wf)

		kr := h.App.Secrets
		stores := []secret.Store{gateway.HookTokenStore(h.App.DB), workflow.HookTokenStore(h.App.DB)}
		old := kr.PrimaryID()
		for _, s := range stores {
			if c, err := s.CountByKey(ctx); err != nil || c[old] != 1 || len(c) != 1 {
				t.Fatalf("%s before rotation: %v %v", s.Name(), c, err)
			}
		}
		k, err := secret.AddPrimaryToFile(h.App.Config.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for kr.PrimaryID() != k.ID {
			if time.Now().After(deadline) {
				t.Fatalf("the keyring never reloaded %s", k.ID)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The gateway's credentials are re-sealed too: the old key goes.
		if n, err := secret.Reseal(ctx, kr, secret.RotateOptions{Batch: 10}, append(stores, h.App.Gateways.SecretStore())...); err != nil || n != 3 {
			t.Fatalf("reseal: %d %v", n, err)
		}
		for _, s := range stores {
			if c, err := s.CountByKey(ctx); err != nil || c[k.ID] != 1 || len(c) != 1 {
				t.Fatalf("%s after rotation: %v %v", s.Name(), c, err)
			}
		}
		if err := secret.RemoveFromFile(h.App.Config.DataDir, old); err != nil {
			t.Fatal(err)
		}
		deadline = time.Now().Add(10 * time.Second)
		for kr.PrimaryID() != "" && kr.Has(old) { // PrimaryID re-reads the key file
			if time.Now().After(deadline) {
				t.Fatal("the pruned key stayed")
			}
			time.Sleep(20 * time.Millisecond)
		}
		_, sec := f.Hook()
		if r := h.Do(telegramUpdate(t, pathOf(g.InboundURL), sec, 1)); r.Status != http.StatusOK {
			t.Errorf("inbound URL after key rotation: %d %s", r.Status, r.Raw)
		}
		if r := h.Do(apptest.Request{Method: "POST", Path: pathOf(wf.HookURL), Body: `{}`}); r.Status != http.StatusAccepted {
			t.Errorf("webhook URL after key rotation: %d %s", r.Status, r.Raw)
		}
		if got := getGateway(t, h, tok, g.ID); got.InboundURL != g.InboundURL {
			t.Errorf("inbound URL changed by key rotation: %q → %q", g.InboundURL, got.InboundURL)
		}
	})
}
