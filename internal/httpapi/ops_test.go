package httpapi_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func TestOps_HealthReadyAndMetrics(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h := apptest.Start(t, url)
		h.Call(http.StatusOK, "GET", "/healthz", "", nil)
		r := h.Call(http.StatusOK, "GET", "/readyz", "", nil)
		if !strings.Contains(string(r.Raw), `"ready"`) {
			t.Fatalf("readyz body %s", r.Raw)
		}
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/me", "", nil)
		h.Call(http.StatusUnauthorized, "GET", "/api/v1/me", "", nil)

		res, err := http.Get(h.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		text := string(body)
		for _, want := range []string{
			`switchboard_http_requests_total{route="GET /api/v1/me",status="401"} 2`,
			`switchboard_http_request_duration_seconds_bucket{route="GET /readyz",le="+Inf"} 1`,
			`go_goroutines`,
		} {
			if !strings.Contains(text, want) {
				t.Errorf("metrics lack %q", want)
			}
		}
	})
}

func TestOps_RequestIDIsHonouredOrMade(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, dbtest.SQLite().URL(t))
	r := h.Do(apptest.Request{Method: "GET", Path: "/healthz", Headers: map[string]string{"X-Request-Id": "client-trace-42"}})
	if got := r.Header.Get("X-Request-Id"); got != "client-trace-42" {
		t.Errorf("request id %q, want the client's", got)
	}
	r = h.Do(apptest.Request{Method: "GET", Path: "/healthz", Headers: map[string]string{"X-Request-Id": "bad id with spaces;<script>"}})
	if got := r.Header.Get("X-Request-Id"); !strings.HasPrefix(got, "req_") {
		t.Errorf("unsafe client id not replaced: %q", got)
	}
	r = h.Do(apptest.Request{Method: "GET", Path: "/healthz"})
	if got := r.Header.Get("X-Request-Id"); !strings.HasPrefix(got, "req_") {
		t.Errorf("no generated id: %q", got)
	}
	if !strings.Contains(h.Logs(), r.Header.Get("X-Request-Id")) {
		t.Errorf("request id not in logs")
	}
}

func TestOps_SecurityHeadersAndEnvelopeFor404(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, dbtest.SQLite().URL(t))
	r := h.Do(apptest.Request{Method: "GET", Path: "/api/v1/no-such-thing"})
	if r.Status != http.StatusNotFound || r.Code() != "NOT_FOUND" {
		t.Fatalf("unknown route: %d %s", r.Status, r.Raw)
	}
	for k, v := range map[string]string{
		"X-Content-Type-Options": "nosniff", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
		"Referrer-Policy": "no-referrer",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	r = h.Do(apptest.Request{Method: "DELETE", Path: "/api/v1/auth/login"})
	if r.Status != http.StatusMethodNotAllowed && r.Status != http.StatusNotFound {
		t.Errorf("wrong method answered %d", r.Status)
	}
}
