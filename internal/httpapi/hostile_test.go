package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway/gatewaytest"
	"github.com/switchboard/switchboard/internal/gateway/webhook"
)

// hostileEscaped are path and query values, percent-encoded: a NUL, bytes
// that are not UTF-8, and both inside otherwise ordinary text.
var hostileEscaped = []string{"%00", "a%00b", "%FF", "x%C3%28y"}

// hostileJSON are JSON string literals the body walker puts in every string
// field: an escaped NUL, a raw NUL-free invalid UTF-8 sequence, and a raw
// 0xff byte.
var hostileJSON = []string{`"a\u0000b"`, "\"x\xc3\x28y\"", "\"\xff\""}

var pathParamRE = regexp.MustCompile(`\{[a-zA-Z]+\}`)

// TestHostileBytes_EveryRouteAnswers4xx walks every operation of the OpenAPI
// document with NUL and invalid UTF-8 in each path parameter, in every
// documented query parameter and in every string of the request body, as
// the platform's super admin (so permission checks let it reach the
// handlers). Nothing may answer 5xx; path and query values are refused with
// 400 VALIDATION_ERROR before any route runs, and JSON bodies by the decoder.
func TestHostileBytes_EveryRouteAnswers4xx(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		admin := h.Admin()
		doc := h.App.HTTP.OpenAPI()
		paths := doc["paths"].(map[string]any)
		components := doc["components"].(map[string]any)["schemas"].(map[string]any)
		keys := make([]string, 0, len(paths))
		for p := range paths {
			keys = append(keys, p)
		}
		sort.Strings(keys)
		calls := 0
		for _, p := range keys {
			ops := paths[p].(map[string]any)
			for method, raw := range ops {
				method = strings.ToUpper(method)
				op := raw.(map[string]any)
				var query []string
				params, _ := op["parameters"].([]any)
				for _, pa := range params {
					if m := pa.(map[string]any); m["in"] == "query" {
						query = append(query, m["name"].(string))
					}
				}
				query = append(query, "unexpected")
				for _, bad := range hostileEscaped {
					// Every path parameter hostile.
					if pathParamRE.MatchString(p) {
						target := pathParamRE.ReplaceAllString(p, bad)
						expect400(t, h, admin.AccessToken, method, target, nil)
						calls++
					}
					// Every query parameter hostile, one at a time.
					base := pathParamRE.ReplaceAllString(p, "none")
					for _, q := range query {
						expect400(t, h, admin.AccessToken, method, base+"?"+q+"="+bad, nil)
						calls++
					}
				}
				body, _ := op["requestBody"].(map[string]any)
				if body == nil {
					continue
				}
				jsonBody, _ := body["content"].(map[string]any)["application/json"].(map[string]any)
				if jsonBody == nil {
					continue // a webhook's raw body: checkRawBody, tested with the webhooks
				}
				schema := jsonBody["schema"].(map[string]any)
				base := pathParamRE.ReplaceAllString(p, "none")
				for _, bad := range hostileJSON {
					raw := hostileBody(components, schema, bad)
					r := h.Do(apptest.Request{Method: method, Path: base, Token: admin.AccessToken, Body: raw})
					calls++
					if r.Status >= 500 {
						t.Errorf("%s %s with body %q: %d %s", method, base, raw, r.Status, r.Raw)
					}
				}
			}
		}
		if calls < 500 {
			t.Fatalf("walked only %d requests; is the OpenAPI document empty?", calls)
		}
		// A body with a hostile string is refused by the decoder itself,
		// whatever the route would have done with it.
		for _, bad := range hostileJSON {
			r := h.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/me", Token: admin.AccessToken, Body: []byte(`{"name":` + bad + `}`)})
			if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" || !strings.Contains(string(r.Raw), "UTF-8") {
				t.Errorf("PATCH /api/v1/me with name %q: %d %s", bad, r.Status, r.Raw)
			}
		}
		// A User-Agent (kept on sessions and audit rows) that is not UTF-8,
		// or that the 512-byte cap would cut inside a character, signs in.
		for _, ua := range []string{"agent \xff\xfe", "x" + strings.Repeat("é", 400)} {
			r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/auth/login", Headers: map[string]string{"User-Agent": ua},
				Body: map[string]string{"email": apptest.AdminEmail, "password": apptest.AdminPassword}})
			if r.Status != http.StatusOK {
				t.Errorf("login with User-Agent %.20q: %d %s", ua, r.Status, r.Raw)
			}
		}
		// An escaped backslash followed by "u0000" is ordinary text.
		r := h.Do(apptest.Request{Method: "PATCH", Path: "/api/v1/me", Token: admin.AccessToken, Body: []byte(`{"name":"C:\\u0000"}`)})
		if r.Status != http.StatusOK {
			t.Errorf(`name "C:\\u0000" refused: %d %s`, r.Status, r.Raw)
		}
	})
}

func expect400(t *testing.T, h *apptest.Harness, token, method, target string, body any) {
	t.Helper()
	r := h.Do(apptest.Request{Method: method, Path: target, Token: token, Body: body})
	if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" {
		t.Errorf("%s %s: %d %s, want 400 VALIDATION_ERROR", method, target, r.Status, r.Raw)
	}
}

// hostileBody is a JSON document shaped like schema whose every string is
// the raw JSON literal bad.
func hostileBody(components, schema map[string]any, bad string) []byte {
	raw, _ := json.Marshal(fill(components, schema, 0))
	return bytes.ReplaceAll(raw, []byte(`"\u0001HOSTILE\u0001"`), []byte(bad))
}

// fill builds a value of the schema, resolving its references to the
// document's components, with the mark in every string.
func fill(components map[string]any, v any, depth int) any {
	const mark = "\x01HOSTILE\x01"
	schema, ok := v.(map[string]any)
	if !ok || depth > 6 {
		return mark
	}
	if ref, ok := schema["$ref"].(string); ok {
		return fill(components, components[strings.TrimPrefix(ref, "#/components/schemas/")], depth+1)
	}
	typ, _ := schema["type"].(string)
	if types, ok := schema["type"].([]any); ok && len(types) > 0 {
		typ, _ = types[0].(string) // a nullable type: its non-null one
	}
	if typ == "" {
		if alts, ok := schema["anyOf"].([]any); ok && len(alts) > 0 {
			return fill(components, alts[0], depth+1)
		}
		if alts, ok := schema["oneOf"].([]any); ok && len(alts) > 0 {
			return fill(components, alts[0], depth+1)
		}
	}
	switch typ {
	case "object":
		out := map[string]any{}
		if props, ok := schema["properties"].(map[string]any); ok {
			for name, ps := range props {
				out[name] = fill(components, ps, depth+1)
			}
		}
		if ap, ok := schema["additionalProperties"]; ok && ap != false {
			out[mark] = fill(components, ap, depth+1)
		}
		return out
	case "array":
		return []any{fill(components, schema["items"], depth+1)}
	case "integer", "number":
		return 1
	case "boolean":
		return true
	}
	return mark
}

// TestHostileBytes_SignedInboundWebhooksAnswer400 delivers correctly signed
// bodies holding NUL or invalid UTF-8 to a WEBHOOK gateway and to the Stripe
// webhook, and a hostile body to a workflow's webhook: each answers 400 and
// stores nothing; unsigned hostile bodies get the same 400, so they learn
// nothing about the hook.
func TestHostileBytes_SignedInboundWebhooksAnswer400(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, dbURL string) {
		sec := newWebhookSecret(t)
		recv := gatewaytest.NewWebhookReceiver(t, sec)
		h := apptest.Start(t, dbURL, func(c *config.Config) {
			c.Gateway.OutboundAllow = []string{recv.Host()}
			c.Stripe = config.StripeConfig{SecretKey: testStripeKey, WebhookSecret: testWebhookSecret, APIURL: "http://127.0.0.1:1",
				PlanPrices: map[string]string{"STARTER": "price_starter", "PRO": "price_pro"}}
		})
		u := h.SignUp("hooks@example.com", pw)
		g := createGateway(t, h, u.AccessToken, map[string]any{"type": "WEBHOOK", "name": "wh",
			"credentials": map[string]string{"signingSecret": sec}, "config": map[string]any{"url": recv.URL + "/in"}})
		g = connectGateway(t, h, u.AccessToken, g.ID)
		key, _ := webhook.DecodeSecret(sec)
		bodies := [][]byte{[]byte("{\"text\":\"a\x00b\"}"), []byte("{\"text\":\"\xff\"}"), []byte(`{"text":"a\u0000b"}`)}
		for i, body := range bodies {
			id := "msg_" + strconv.Itoa(i)
			ts := time.Now().Unix()
			r := h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: body, Headers: map[string]string{
				"webhook-id": id, "webhook-timestamp": strconv.FormatInt(ts, 10), "webhook-signature": webhook.Sign(key, id, ts, body)}})
			if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" {
				t.Errorf("signed gateway delivery %q: %d %s", body, r.Status, r.Raw)
			}
			r = h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: body})
			if r.Status != http.StatusBadRequest {
				t.Errorf("unsigned gateway delivery %q: %d %s", body, r.Status, r.Raw)
			}
			sig := billing.Sign(body, testWebhookSecret, time.Now())
			r = h.Do(apptest.Request{Method: "POST", Path: "/hooks/stripe", Body: body, Headers: map[string]string{"Stripe-Signature": sig}})
			if r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" {
				t.Errorf("signed Stripe delivery %q: %d %s", body, r.Status, r.Raw)
			}
		}
		// A webhook id (a header, which may carry any byte above 0x7f) that
		// is not UTF-8 is refused too, not stored.
		good := []byte(`{"text":"hi"}`)
		badID := "msg_\xff"
		ts := time.Now().Unix()
		r := h.Do(apptest.Request{Method: "POST", Path: hookPath(g), Body: good, Headers: map[string]string{
			"webhook-id": badID, "webhook-timestamp": strconv.FormatInt(ts, 10), "webhook-signature": webhook.Sign(key, badID, ts, good)}})
		if r.Status != http.StatusBadRequest {
			t.Errorf("delivery with a non-UTF-8 webhook id: %d %s", r.Status, r.Raw)
		}
		if evs := listEvents(t, h, u.AccessToken, g.ID); len(evs) != 0 {
			t.Errorf("hostile deliveries stored: %+v", evs)
		}

		// A workflow's webhook, authenticated by its path token.
		def := map[string]any{"trigger": map[string]any{"type": "webhook", "mode": "async"}, "startStepId": "t",
			"steps": []any{map[string]any{"id": "t", "type": "transform", "config": map[string]any{"expression": "trigger.body"}}}}
		var wf struct{ ID, HookURL string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", u.AccessToken, map[string]any{"name": "hostile", "definition": def}).Data(t, &wf)
		path := wf.HookURL[strings.Index(wf.HookURL, "/hooks/"):]
		form := url.Values{"a": {"x\x00y"}}.Encode()
		for _, req := range []apptest.Request{
			{Method: "POST", Path: path, Body: bodies[0]},
			{Method: "POST", Path: path, Body: bodies[1]},
			{Method: "POST", Path: path, Body: bodies[2]},
			{Method: "POST", Path: path, Body: []byte(form), Headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}},
			{Method: "POST", Path: path, Body: []byte("plain \xfe text"), Headers: map[string]string{"Content-Type": "text/plain"}},
		} {
			if r := h.Do(req); r.Status != http.StatusBadRequest || r.Code() != "VALIDATION_ERROR" {
				t.Errorf("workflow hook with %q: %d %s", req.Body, r.Status, r.Raw)
			}
		}
		var runs struct{ Items []json.RawMessage }
		h.Call(http.StatusOK, "GET", "/api/v1/runs?workflowId="+wf.ID, u.AccessToken, nil).Data(t, &runs)
		if len(runs.Items) != 0 {
			t.Errorf("hostile hook calls started runs: %s", runs.Items)
		}
	})
}

// TestAdminAudit_RefusedRequestsAreRecorded sends requests under
// /api/v1/admin that are refused before any handler runs — an unknown
// route, a path with a NUL, a query that is not UTF-8 — and ones refused by
// a handler (validation), and finds an admin.request row for each, naming
// the caller when its credential is good.
func TestAdminAudit_RefusedRequestsAreRecorded(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		u := h.SignUp("prober@example.com", pw)
		admin := h.Admin()
		cases := []struct {
			method, path, token string
			status              int
			wantUser            string
			wantPath, wantRoute string
		}{
			{"GET", "/api/v1/admin/no-such-thing", u.AccessToken, 404, u.UserID, "/api/v1/admin/no-such-thing", ""},
			{"DELETE", "/api/v1/admin", "", 404, "", "/api/v1/admin", ""},
			{"GET", "/api/v1/admin/users/usr_%00", u.AccessToken, 400, u.UserID, "/api/v1/admin/users/usr_%00", ""},
			{"GET", "/api/v1/admin/users?q=%FF", admin.AccessToken, 400, admin.UserID, "/api/v1/admin/users", ""},
			{"GET", "/api/v1/admin/users?limit=0", admin.AccessToken, 400, admin.UserID, "/api/v1/admin/users", "GET /api/v1/admin/users"},
			{"GET", "/api/v1/admin/flags", u.AccessToken, 403, u.UserID, "/api/v1/admin/flags", "GET /api/v1/admin/flags"},
		}
		for _, c := range cases {
			if r := h.Do(apptest.Request{Method: c.method, Path: c.path, Token: c.token}); r.Status != c.status {
				t.Fatalf("%s %s: %d %s, want %d", c.method, c.path, r.Status, r.Raw, c.status)
			}
		}
		var page struct {
			Items []struct {
				UserID   string         `json:"userId"`
				Status   string         `json:"status"`
				Metadata map[string]any `json:"metadata"`
			} `json:"items"`
		}
		h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?action=admin.request&status=failure&limit=200", admin.AccessToken, nil).Data(t, &page)
		for _, c := range cases {
			found := false
			for _, it := range page.Items {
				m := it.Metadata
				if m["method"] == c.method && m["path"] == c.wantPath && m["status"] == float64(c.status) &&
					it.UserID == c.wantUser && it.Status == "failure" && m["route"] == c.wantRoute {
					found = true
				}
			}
			if !found {
				t.Errorf("no admin.request row for %s %s (%d by %q): %+v", c.method, c.path, c.status, c.wantUser, page.Items)
			}
		}
		var verify struct{ OK bool }
		h.Call(http.StatusOK, "GET", "/api/v1/admin/audit/verify", admin.AccessToken, nil).Data(t, &verify)
		if !verify.OK {
			t.Error("audit chain broken after recording hostile requests")
		}
	})
}
