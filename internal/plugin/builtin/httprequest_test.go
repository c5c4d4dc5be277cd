package builtin

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/safehttp"
)

func httpReqFixture(t *testing.T) (plugin.Builtin, *httptest.Server, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]any{"method": r.Method, "body": string(b), "type": r.Header.Get("Content-Type"),
				"key": r.Header.Get("X-Key"), "q": r.URL.Query().Get("q")})
		case "/missing":
			http.Error(w, "nope", http.StatusNotFound)
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", 2<<10)))
		case "/binary":
			_, _ = w.Write([]byte{0xff, 0xfe, 0x00})
		}
	}))
	t.Cleanup(srv.Close)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("secret")) }))
	t.Cleanup(other.Close)
	u, _ := url.Parse(srv.URL)
	client, err := safehttp.New(safehttp.Options{Allow: []string{u.Host}, MaxResponseBytes: 1 << 10})
	if err != nil {
		t.Fatal(err)
	}
	return NewHTTPRequest(client), srv, other
}

func TestHTTPRequest_AllowListedServer(t *testing.T) {
	t.Parallel()
	b, srv, _ := httpReqFixture(t)
	in, _ := json.Marshal(map[string]any{"url": srv.URL + "/echo?q=1", "method": "POST", "body": map[string]int{"n": 1},
		"headers": map[string]string{"x-key": "k1"}})
	res := runReply(t, b, `{}`, in)
	var out struct {
		Status       int
		BodyEncoding string
		JSON         struct{ Method, Body, Type, Key, Q string }
	}
	if err := json.Unmarshal(res.Output, &out); err != nil || !res.Success {
		t.Fatalf("%+v %v", res, err)
	}
	if out.Status != 200 || out.BodyEncoding != "text" || out.JSON.Method != "POST" || out.JSON.Body != `{"n":1}` ||
		out.JSON.Type != "application/json" || out.JSON.Key != "k1" || out.JSON.Q != "1" || res.Metrics.APICalls != 1 {
		t.Errorf("echo: %s", res.Output)
	}

	// Config supplies the URL and headers; input overrides them.
	cfg := `{"url":"` + srv.URL + `/echo","headers":{"X-Key":"from-config"}}`
	res = runReply(t, b, cfg, json.RawMessage(`{"body":"plain"}`))
	if !res.Success || !strings.Contains(string(res.Output), `"key":"from-config"`) || !strings.Contains(string(res.Output), `text/plain`) {
		t.Errorf("configured request: %+v %s", res, res.Output)
	}

	// Error statuses fail unless allowed; binary bodies come back base64.
	if res := runReply(t, b, `{}`, json.RawMessage(`{"url":"`+srv.URL+`/missing"}`)); res.Success || !strings.Contains(res.Error, "404") {
		t.Errorf("404: %+v", res)
	}
	if res := runReply(t, b, `{"allowErrorStatus":true}`, json.RawMessage(`{"url":"`+srv.URL+`/missing"}`)); !res.Success ||
		!strings.Contains(string(res.Output), `"status":404`) {
		t.Errorf("allowed 404: %+v", res)
	}
	if res := runReply(t, b, `{}`, json.RawMessage(`{"url":"`+srv.URL+`/binary"}`)); !res.Success ||
		!strings.Contains(string(res.Output), `"body":"//4A","bodyEncoding":"base64"`) {
		t.Errorf("binary: %+v %s", res, res.Output)
	}
	if res := runReply(t, b, `{}`, json.RawMessage(`{"url":"`+srv.URL+`/big"}`)); res.Success || !strings.Contains(res.Error, "larger than the limit") {
		t.Errorf("oversized response: %+v", res)
	}
}

func TestHTTPRequest_RefusesWhatSafeHTTPRefuses(t *testing.T) {
	t.Parallel()
	b, _, other := httpReqFixture(t)
	for _, target := range []string{other.URL, "http://169.254.169.254/latest/meta-data/", "http://10.0.0.1/", "file:///etc/passwd",
		"http://user:pw@example.com/"} {
		in, _ := json.Marshal(map[string]string{"url": target})
		res := runReply(t, b, `{}`, in)
		if res.Success || !(strings.Contains(res.Error, "not allowed") || strings.Contains(res.Error, "not a public address")) {
			t.Errorf("%s: %+v", target, res)
		}
	}
	for _, bad := range []string{`{"url":"http://127.0.0.1:1/"}`, `{"headers":{"Host":"x"}}`, `{"method":"TRACE"}`, `{"timeoutMs":1}`, `{"other":1}`} {
		if err := plugin.CheckConfig(b.Runner, json.RawMessage(bad)); err == nil {
			t.Errorf("config %s accepted", bad)
		}
	}
	if res := runReply(t, b, `{}`, json.RawMessage(`{}`)); res.Success || !strings.Contains(res.Error, "no url") {
		t.Errorf("no url: %+v", res)
	}
	if res := runReply(t, b, `{}`, json.RawMessage(`{"url":"`+other.URL+`","headers":{"content-length":"1"}}`)); res.Success {
		t.Errorf("forbidden header: %+v", res)
	}
}

// TestHTTPRequest_SendsIdempotencyKey: the execution's idempotency key goes
// out as Idempotency-Key (so a repeated execution is deduplicated by APIs
// that honour it); an explicit header wins; no key, no header.
func TestHTTPRequest_SendsIdempotencyKey(t *testing.T) {
	t.Parallel()
	got := make(chan []string, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Values("Idempotency-Key")
	}))
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	client, err := safehttp.New(safehttp.Options{Allow: []string{u.Host}})
	if err != nil {
		t.Fatal(err)
	}
	b := NewHTTPRequest(client)
	run := func(key, headers string) []string {
		t.Helper()
		in := json.RawMessage(`{"url":"` + srv.URL + `","method":"POST","body":{"n":1}` + headers + `}`)
		res := plugin.Run(context.Background(), b.Runner, plugin.ExecutionContext{Trigger: plugin.TriggerWorkflowStep,
			Config: json.RawMessage(`{}`), IdempotencyKey: key}, in)
		if !res.Success {
			t.Fatalf("request failed: %+v", res)
		}
		return <-got
	}
	if h := run("run_1/call/0/1", ""); len(h) != 1 || h[0] != "run_1/call/0/1" {
		t.Errorf("Idempotency-Key %q, want the execution's key", h)
	}
	if h := run("run_1/call/0/1", `,"headers":{"idempotency-key":"mine"}`); len(h) != 1 || h[0] != "mine" {
		t.Errorf("Idempotency-Key %q, want the explicit one", h)
	}
	if h := run("", ""); len(h) != 0 {
		t.Errorf("Idempotency-Key %q without an idempotency key", h)
	}
}
