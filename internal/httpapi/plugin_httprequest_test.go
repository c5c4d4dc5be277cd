package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// http-request reaches a local server only because the operator's
// allow-list names it; another local server stays out of reach.
func TestPluginHTTPRequest_AllowList(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, dbURL string) {
		api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(`{"pong":"` + r.URL.Query().Get("v") + `"}`))
		}))
		t.Cleanup(api.Close)
		internal := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("internal")) }))
		t.Cleanup(internal.Close)
		u, _ := url.Parse(api.URL)
		h := gatewayNode(t, dbURL, []string{u.Host})
		tok := h.SignUp("http@example.com", "correct horse battery").AccessToken

		h.Call(http.StatusBadRequest, "POST", "/api/v1/installations", tok, map[string]any{"plugin": "http-request",
			"config": map[string]any{"url": internal.URL}})
		inst := install(t, h, tok, map[string]any{"plugin": "http-request", "config": map[string]any{"url": api.URL + "/ping?v=1"}})

		var e eventExecution
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst+"/execute", tok, map[string]any{}).Data(t, &e)
		if e.Status != "SUCCEEDED" || !strings.Contains(string(e.Output), `"json":{"pong":"1"}`) || !strings.Contains(string(e.Output), `"status":200`) {
			t.Fatalf("allowed request: %+v %s", e, e.Output)
		}
		h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst+"/execute", tok, map[string]any{"input": map[string]any{"url": internal.URL}}).Data(t, &e)
		if e.Status != "FAILED" || !strings.Contains(e.Error, "not a public address") {
			t.Fatalf("internal request: %+v", e)
		}
		h.Call(http.StatusAccepted, "POST", "/api/v1/installations/"+inst+"/execute", tok, map[string]any{"async": true,
			"input": map[string]any{"url": api.URL + "/ping?v=2"}}).Data(t, &e)
		if got := waitExecution(t, h, tok, inst, e.ID); got.Status != "SUCCEEDED" || !strings.Contains(string(got.Output), `"pong":"2"`) {
			t.Fatalf("async request: %+v %s", got, got.Output)
		}
	})
}
