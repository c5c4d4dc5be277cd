package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func TestOps_MetricsOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	h := apptest.Start(t, dbtest.SQLite().URL(t), func(c *config.Config) { c.MetricsAddr = "127.0.0.1:0" })
	h.Call(http.StatusUnauthorized, "GET", "/api/v1/me", "", nil)

	// The public listener no longer answers /metrics, nor lists it.
	if code, body := httpGet(t, h.URL+"/metrics"); code != http.StatusNotFound || strings.Contains(body, "go_goroutines") {
		t.Errorf("/metrics on the main listener: %d %.200s", code, body)
	}
	if _, doc := httpGet(t, h.URL+"/api/v1/openapi.json"); strings.Contains(doc, `"/metrics"`) {
		t.Error("the OpenAPI document still lists /metrics")
	}

	m := httptest.NewServer(h.App.HTTP.MetricsHandler())
	defer m.Close()
	code, text := httpGet(t, m.URL+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics on its listener: %d", code)
	}
	// It still counts what the main listener served.
	for _, want := range []string{`switchboard_http_requests_total{route="GET /api/v1/me",status="401"} 1`, "go_goroutines"} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// Nothing else is served there.
	for _, p := range []string{"/healthz", "/api/v1/me"} {
		if code, _ := httpGet(t, m.URL+p); code != http.StatusNotFound {
			t.Errorf("%s on the metrics listener: %d", p, code)
		}
	}
}
