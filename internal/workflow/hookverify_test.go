package workflow_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func apptestRequest(method, path, tok string, body any) apptest.Request {
	return apptest.Request{Method: method, Path: path, Token: tok, Body: body}
}

// githubSign signs a body as GitHub documents it: "sha256=" and the hex
// HMAC-SHA256 of the body under the webhook's secret.
func githubSign(secret, body string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(body))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verified webhooks in: each scheme accepts a signed call and refuses an
// unsigned one, a badly signed one, an altered body and (Standard
// Webhooks) a replay outside the tolerance — with 401 and no run. The
// secret is set through the API, shown once, and kept out of the
// definition and the runs.
func TestWebhookVerify_Schemes(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, tok := node(t, url)
		ctx := context.Background()
		echo := transform("echo", "{body: trigger.body, headers: trigger.headers}", "")
		mk := func(name string, verify obj) wf {
			return create(t, h, tok, name, def(obj{"type": "webhook", "mode": "sync", "verify": verify}, echo))
		}
		setSecret := func(w wf, body any) string {
			t.Helper()
			var s struct{ WorkflowID, Secret string }
			h.Call(http.StatusOK, "PUT", "/api/v1/workflows/"+w.ID+"/webhook-secret", tok, body).Data(t, &s)
			if s.WorkflowID != w.ID || s.Secret == "" {
				t.Fatalf("set secret: %+v", s)
			}
			return s.Secret
		}
		refused := func(what string, w wf, body string, headers map[string]string) {
			t.Helper()
			code, _, raw := hookCall(t, h, "POST", hookPath(w), body, headers)
			if code != http.StatusUnauthorized || !strings.Contains(raw, `"code":"UNAUTHORIZED"`) || !strings.Contains(raw, `"success":false`) {
				t.Errorf("%s: %d %s, want 401 UNAUTHORIZED", what, code, raw)
			}
		}
		accepted := func(what string, w wf, body string, headers map[string]string) string {
			t.Helper()
			code, _, raw := hookCall(t, h, "POST", hookPath(w), body, headers)
			if code != http.StatusOK {
				t.Errorf("%s: %d %s, want 200", what, code, raw)
			}
			return raw
		}
		runsOf := func(w wf) int { return len(listRuns(t, h, tok, "workflowId="+w.ID)) }

		// A secret in the definition is refused: definitions are readable.
		r := h.Do(apptestRequest("POST", "/api/v1/workflows", tok, obj{"name": "leaky", "definition": def(obj{"type": "webhook",
			"verify": obj{"scheme": "github", "secret": "in-the-definition"}}, echo)}))
		if r.Status != http.StatusBadRequest || !strings.Contains(string(r.Raw), "definition.trigger.verify.secret") {
			t.Fatalf("secret in the definition: %d %s", r.Status, r.Raw)
		}
		for _, bad := range []obj{{"scheme": "hmac"}, {"scheme": "header"}, {"scheme": "github", "header": "X-Sig"}} {
			r := h.Do(apptestRequest("POST", "/api/v1/workflows", tok, obj{"name": "bad", "definition": def(obj{"type": "webhook", "verify": bad}, echo)}))
			if r.Status != http.StatusBadRequest {
				t.Errorf("verify %v: %d %s", bad, r.Status, r.Raw)
			}
		}

		// Standard Webhooks, signed with the scheme's reference library.
		std := mk("std", obj{"scheme": "standard-webhooks"})
		body := `{"order":42}`
		sign := func(secret, id string, at time.Time, body string) map[string]string {
			t.Helper()
			wh, err := standardwebhooks.NewWebhook(secret)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := wh.Sign(id, at, []byte(body))
			if err != nil {
				t.Fatal(err)
			}
			return map[string]string{"webhook-id": id, "webhook-timestamp": fmt.Sprint(at.Unix()), "webhook-signature": sig}
		}
		refused("standard-webhooks before a secret is set", std, body, sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_1", time.Now(), body))
		stdSecret := setSecret(std, nil)
		if !strings.HasPrefix(stdSecret, "whsec_") {
			t.Fatalf("generated secret %q", stdSecret)
		}
		signed := sign(stdSecret, "msg_1", time.Now(), body)
		if out := accepted("standard-webhooks signed", std, body, signed); !strings.Contains(out, `"order":42`) {
			t.Errorf("run output %s", out)
		}
		// The same signed message again (captured, or the sender's retry)
		// answers with the first run and starts none.
		replayed := func(what string, w wf, body string, headers map[string]string) {
			t.Helper()
			code, hdr, raw := hookCall(t, h, "POST", hookPath(w), body, headers)
			if code != http.StatusOK || hdr.Get("Idempotent-Replayed") != "true" {
				t.Errorf("%s: %d %s (replayed %q), want 200 with the first run", what, code, raw, hdr.Get("Idempotent-Replayed"))
			}
		}
		replayed("standard-webhooks sent again", std, body, signed)
		replayed("standard-webhooks retried with a new timestamp", std, body, sign(stdSecret, "msg_1", time.Now().Add(time.Second), body))
		refused("standard-webhooks unsigned", std, body, nil)
		refused("standard-webhooks body altered", std, `{"order":43}`, signed)
		refused("standard-webhooks other secret", std, body, sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_2", time.Now(), body))
		refused("standard-webhooks replayed after 10 minutes", std, body, sign(stdSecret, "msg_3", time.Now().Add(-10*time.Minute), body))
		refused("standard-webhooks dated 10 minutes ahead", std, body, sign(stdSecret, "msg_4", time.Now().Add(10*time.Minute), body))
		if n := runsOf(std); n != 1 {
			t.Errorf("standard-webhooks runs = %d, want 1 (refused calls start none)", n)
		}

		// GitHub: X-Hub-Signature-256 over the body with a chosen secret.
		gh := mk("github", obj{"scheme": "github"})
		const ghSecret = "It's a Secret to Everybody"
		if got := setSecret(gh, obj{"secret": ghSecret}); got != ghSecret {
			t.Fatalf("secret answered %q", got)
		}
		accepted("github signed", gh, body, map[string]string{"X-Hub-Signature-256": githubSign(ghSecret, body), "X-GitHub-Delivery": "d-1"})
		// GitHub signs only the body: a replay with a new delivery id is
		// still the same signed body.
		replayed("github replayed with another delivery id", gh, body,
			map[string]string{"X-Hub-Signature-256": githubSign(ghSecret, body), "X-GitHub-Delivery": "d-2"})
		accepted("github, another body", gh, `{"order":44}`, map[string]string{"X-Hub-Signature-256": githubSign(ghSecret, `{"order":44}`)})
		refused("github unsigned", gh, body, nil)
		refused("github body altered", gh, `{"order":43}`, map[string]string{"X-Hub-Signature-256": githubSign(ghSecret, body)})
		refused("github wrong secret", gh, body, map[string]string{"X-Hub-Signature-256": githubSign("another secret entirely", body)})
		refused("github not sha256=", gh, body, map[string]string{"X-Hub-Signature-256": "sha1=" + strings.TrimPrefix(githubSign(ghSecret, body), "sha256=")})
		if n := runsOf(gh); n != 2 {
			t.Errorf("github runs = %d, want 2 (one per body)", n)
		}

		// A shared header: compared as is, and never shown to the run.
		hd := mk("header", obj{"scheme": "header", "header": "X-Hook-Secret"})
		const hdSecret = "a shared secret of enough length"
		setSecret(hd, obj{"secret": hdSecret})
		out := accepted("header right", hd, body, map[string]string{"X-Hook-Secret": hdSecret})
		if strings.Contains(out, hdSecret) || strings.Contains(strings.ToLower(out), "x-hook-secret") {
			t.Errorf("the run saw the secret header: %s", out)
		}
		refused("header missing", hd, body, nil)
		refused("header wrong", hd, body, map[string]string{"X-Hook-Secret": hdSecret + "x"})
		if n := runsOf(hd); n != 1 {
			t.Errorf("header runs = %d, want 1", n)
		}

		// Secrets are sealed at rest and absent from definitions.
		for _, s := range []string{stdSecret, ghSecret, hdSecret} {
			var n int
			if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM workflow_hook_secrets
				WHERE secret_sealed LIKE $1 OR secret_sealed NOT LIKE 'sb1:%'`, "%"+s+"%").Scan(&n); err != nil || n != 0 {
				t.Errorf("secret stored in clear (%d rows, %v)", n, err)
			}
		}
		got := h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+gh.ID, tok, nil)
		if strings.Contains(string(got.Raw), ghSecret) {
			t.Errorf("the workflow shows its secret: %s", got.Raw)
		}

		// Another workspace cannot set it; removing it refuses every call.
		other := h.SignUp("other@example.com", pw).AccessToken
		if r := h.Do(apptestRequest("PUT", "/api/v1/workflows/"+gh.ID+"/webhook-secret", other, obj{})); r.Status != http.StatusNotFound {
			t.Errorf("another workspace set the secret: %d %s", r.Status, r.Raw)
		}
		h.Call(http.StatusOK, "DELETE", "/api/v1/workflows/"+gh.ID+"/webhook-secret", tok, nil)
		refused("github after the secret was removed", gh, body, map[string]string{"X-Hub-Signature-256": githubSign(ghSecret, body)})
		for action, want := range map[string]int{"workflow.webhook_secret_set": 1, "workflow.webhook_secret_deleted": 1} {
			var n int
			if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_logs WHERE action = $1 AND resource_id = $2`,
				action, gh.ID).Scan(&n); err != nil || n != want {
				t.Errorf("audit %s: %d %v", action, n, err)
			}
		}
		var audits int
		if err := h.App.DB.Read().QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_logs WHERE CAST(metadata AS TEXT) LIKE $1`, "%"+ghSecret+"%").Scan(&audits); err != nil || audits != 0 {
			t.Errorf("the audit log holds the secret: %d %v", audits, err)
		}
	})
}
