package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

const appOrigin = "https://app.example.com"

var corsHeaders = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
	"Access-Control-Max-Age", "Access-Control-Expose-Headers", "Access-Control-Allow-Credentials"}

func noCORS(t *testing.T, what string, r *apptest.Response) {
	t.Helper()
	for _, k := range corsHeaders {
		if v := r.Header.Get(k); v != "" {
			t.Errorf("%s: %s = %q, want none", what, k, v)
		}
	}
}

func hasAll(t *testing.T, what, header string, want ...string) {
	t.Helper()
	have := map[string]bool{}
	for _, v := range strings.Split(header, ",") {
		have[strings.ToLower(strings.TrimSpace(v))] = true
	}
	for _, w := range want {
		if !have[strings.ToLower(w)] {
			t.Errorf("%s %q lacks %s", what, header, w)
		}
	}
}

func preflight(h *apptest.Harness, path, origin string) *apptest.Response {
	return h.Do(apptest.Request{Method: "OPTIONS", Path: path, Headers: map[string]string{
		"Origin": origin, "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
	}})
}

func TestCORS_AllowedOriginCallsTheAPIFromTheBrowser(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, dbtest.SQLite().URL(t), func(c *config.Config) {
		c.CORSOrigins = []string{appOrigin, "http://localhost:5173"}
	})
	r := preflight(h, "/api/v1/workflows", appOrigin)
	if r.Status != http.StatusNoContent {
		t.Fatalf("preflight: %d %s", r.Status, r.Raw)
	}
	if got := r.Header.Get("Access-Control-Allow-Origin"); got != appOrigin {
		t.Errorf("preflight Allow-Origin %q, want the exact origin", got)
	}
	hasAll(t, "Allow-Methods", r.Header.Get("Access-Control-Allow-Methods"), "GET", "POST", "PUT", "PATCH", "DELETE")
	hasAll(t, "Allow-Headers", r.Header.Get("Access-Control-Allow-Headers"), "Authorization", "Content-Type", "Idempotency-Key")
	if r.Header.Get("Access-Control-Max-Age") == "" {
		t.Error("preflight without Max-Age")
	}
	hasAll(t, "Vary", strings.Join(r.Header.Values("Vary"), ","), "Origin")

	// The call itself: readable by the app, with the headers it needs.
	s := h.SignUp("cors@example.com", "correct horse battery")
	r = h.Do(apptest.Request{Method: "GET", Path: "/api/v1/me", Token: s.AccessToken, Headers: map[string]string{"Origin": appOrigin}})
	if r.Status != http.StatusOK || r.Header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Fatalf("GET /me from the app: %d, Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
	hasAll(t, "Expose-Headers", r.Header.Get("Access-Control-Expose-Headers"),
		"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "Retry-After", "X-Request-Id")
	hasAll(t, "Vary", strings.Join(r.Header.Values("Vary"), ","), "Origin")
	if r.Header.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("bearer-token API offers credentials mode")
	}
	// Errors are readable too: the app can show the envelope.
	r = h.Do(apptest.Request{Method: "GET", Path: "/api/v1/me", Headers: map[string]string{"Origin": "http://localhost:5173"}})
	if r.Status != http.StatusUnauthorized || r.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" {
		t.Errorf("401 from the second origin: %d, Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}

	// Refused bytes are refused readably: the app sees the envelope.
	r = h.Do(apptest.Request{Method: "GET", Path: "/api/v1/me?q=%00", Token: s.AccessToken, Headers: map[string]string{"Origin": appOrigin}})
	if r.Status != http.StatusBadRequest || r.Header.Get("Access-Control-Allow-Origin") != appOrigin {
		t.Errorf("hostile bytes from the app: %d, Allow-Origin %q", r.Status, r.Header.Get("Access-Control-Allow-Origin"))
	}
	// A preflight to the admin API is an admin request like any other: audited.
	if r = preflight(h, "/api/v1/admin/users", appOrigin); r.Status != http.StatusNoContent {
		t.Fatalf("admin preflight: %d", r.Status)
	}
	audit := h.Call(http.StatusOK, "GET", "/api/v1/admin/audit?action=admin.request&limit=200", h.Admin().AccessToken, nil)
	if !strings.Contains(string(audit.Raw), `"OPTIONS"`) {
		t.Errorf("the admin preflight was not audited: %.1000s", audit.Raw)
	}

	// Another origin, or a look-alike, gets nothing: the browser keeps it out.
	for _, o := range []string{"https://evil.example", "https://app.example.com.evil.example", "http://app.example.com", "null"} {
		r = preflight(h, "/api/v1/workflows", o)
		noCORS(t, "preflight from "+o, r)
		if r.Status == http.StatusNoContent {
			t.Errorf("preflight from %s answered 204", o)
		}
		noCORS(t, "GET from "+o, h.Do(apptest.Request{Method: "GET", Path: "/api/v1/me", Token: s.AccessToken, Headers: map[string]string{"Origin": o}}))
	}
	// Inbound webhooks and operations are for servers, not browsers.
	for _, p := range []string{"/hooks/workflows/wf_x/token", "/hooks/stripe", "/healthz", "/metrics"} {
		noCORS(t, "preflight to "+p, preflight(h, p, appOrigin))
		noCORS(t, "GET "+p, h.Do(apptest.Request{Method: "GET", Path: p, Headers: map[string]string{"Origin": appOrigin}}))
	}
}

func TestCORS_OffByDefault(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, dbtest.SQLite().URL(t))
	r := preflight(h, "/api/v1/auth/login", appOrigin)
	noCORS(t, "preflight", r)
	if r.Status == http.StatusNoContent {
		t.Errorf("preflight answered 204 without --cors-origins")
	}
	noCORS(t, "GET", h.Do(apptest.Request{Method: "GET", Path: "/healthz", Headers: map[string]string{"Origin": appOrigin}}))
	noCORS(t, "GET", h.Do(apptest.Request{Method: "GET", Path: "/api/v1/me", Headers: map[string]string{"Origin": appOrigin}}))
}
