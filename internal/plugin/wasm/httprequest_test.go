package wasm_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
	"github.com/switchboard/switchboard/internal/safehttp"
)

const hostcallsManifest = `{"slug":"hostcalls","name":"Host calls","version":"1.0.0",
	"permissions":["http","gateway.send"],"allowedHosts":["localhost","*.example.com"]}`

// hostcallsRunner runs testdata/hostcalls on an engine with opt. The time
// limit is generous: these tests are about refusals, not clocks.
func hostcallsRunner(t *testing.T, opt wasm.Options) *wasm.Runner {
	t.Helper()
	opt.Timeout = time.Minute
	e := newEngine(t, opt)
	mod := wasmtest.Build(t, "./internal/plugin/wasm/testdata/hostcalls")
	m := manifest(t, hostcallsManifest)
	checkOnce(t, e, mod, m.Permissions)
	wasm.KeepCompiled(t, mod)
	return e.NewRunner(m, mod)
}

// apiServer is a local API reached as http://localhost:<port>.
func apiServer(t *testing.T) (base, port string) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo":
			b, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "application/json")
			w.Header().Add("Set-Cookie", "s=1")
			_ = json.NewEncoder(w).Encode(map[string]string{"method": r.Method, "body": string(b), "key": r.Header.Get("X-Key"),
				"agent": r.Header.Get("User-Agent"), "q": r.URL.Query().Get("q")})
		case "/binary":
			_, _ = w.Write([]byte{0xff, 0xfe, 0x00})
		case "/big":
			_, _ = w.Write([]byte(strings.Repeat("x", wasm.MaxHTTPBodyBytes+1)))
		case "/redirect-in":
			http.Redirect(w, r, "/echo?q=moved", http.StatusFound)
		case "/redirect-out":
			http.Redirect(w, r, "http://elsewhere.test/", http.StatusFound)
		case "/missing":
			http.Error(w, "nope", http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return "http://localhost:" + u.Port(), u.Port()
}

// localClient is the SSRF-safe client with the operator's allow-list
// naming local test servers, as gateway and http-request tests do.
func localClient(t *testing.T, allow ...string) *safehttp.Client {
	t.Helper()
	c, err := safehttp.New(safehttp.Options{Allow: allow, MaxResponseBytes: wasm.MaxHTTPBodyBytes})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// closedPort is a local port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}

func doc(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func runHostcalls(r *wasm.Runner, c plugin.ExecutionContext, httpDocs, sendDocs []string) plugin.ExecutionResult {
	in, _ := json.Marshal(map[string]any{"http": httpDocs, "send": sendDocs})
	return plugin.Run(context.Background(), r, c, in)
}

type answer struct {
	Status       int
	Headers      map[string]string
	Body         string
	BodyEncoding string
	Error        string
}

func TestHTTPRequest_ReachesAllowListedHosts(t *testing.T) {
	t.Parallel()
	base, port := apiServer(t)
	closed := closedPort(t)
	r := hostcallsRunner(t, wasm.Options{HTTP: localClient(t, "localhost:"+port, "localhost:"+closed)})
	res := runHostcalls(r, ec(actor.Free, wasm.CapHTTP), []string{
		doc(t, map[string]any{"method": "POST", "url": base + "/echo?q=1", "headers": map[string]string{"x-key": "k1"}, "body": "hello"}),
		doc(t, map[string]any{"url": base + "/binary"}),
		doc(t, map[string]any{"method": "PUT", "url": base + "/echo", "bodyBase64": "aGk="}),
		doc(t, map[string]any{"url": base + "/redirect-in"}),
		doc(t, map[string]any{"method": "DELETE", "url": base + "/missing"}),
		doc(t, map[string]any{"url": "http://localhost:" + closed + "/"}),
	}, nil)
	if !res.Success {
		t.Fatalf("run failed: %s", res.Error)
	}
	var out struct{ Responses []answer }
	if err := json.Unmarshal(res.Output, &out); err != nil || len(out.Responses) != 6 {
		t.Fatalf("output %s: %v", res.Output, err)
	}
	echo := func(a answer) map[string]string {
		t.Helper()
		var m map[string]string
		if err := json.Unmarshal([]byte(a.Body), &m); err != nil {
			t.Fatalf("echo body %q: %v", a.Body, err)
		}
		return m
	}
	a := out.Responses
	if e := echo(a[0]); a[0].Status != 200 || a[0].BodyEncoding != "text" || e["method"] != "POST" || e["body"] != "hello" ||
		e["key"] != "k1" || e["q"] != "1" || e["agent"] != "Switchboard-plugin/1.0" ||
		a[0].Headers["Content-Type"] != "application/json" || a[0].Headers["Set-Cookie"] != "" {
		t.Errorf("echo: %+v", a[0])
	}
	if a[1].Status != 200 || a[1].BodyEncoding != "base64" || a[1].Body != "//4A" {
		t.Errorf("binary: %+v", a[1])
	}
	if e := echo(a[2]); e["method"] != "PUT" || e["body"] != "hi" {
		t.Errorf("base64 body: %+v", a[2])
	}
	if e := echo(a[3]); a[3].Status != 200 || e["q"] != "moved" {
		t.Errorf("redirect on the same host: %+v", a[3])
	}
	if a[4].Status != 404 || a[4].Error != "" {
		t.Errorf("error status is an answer: %+v", a[4])
	}
	if a[5].Status != 0 || a[5].Error == "" {
		t.Errorf("no answer: %+v", a[5])
	}
	if res.Metrics.APICalls != 6 {
		t.Errorf("apiCalls %d, want 6", res.Metrics.APICalls)
	}
}

func TestHTTPRequest_RefusesWhatThePluginMayNotDo(t *testing.T) {
	t.Parallel()
	base, port := apiServer(t)
	allowLocal := localClient(t, "localhost:"+port)
	publicOnly := localClient(t)
	get := func(path string) string { return doc(t, map[string]any{"url": base + path}) }
	many := make([]string, wasm.MaxHTTPCalls+1)
	for i := range many {
		many[i] = get("/echo")
	}
	for _, tc := range []struct {
		name   string
		client *safehttp.Client
		grants []string
		docs   []string
		want   string
	}{
		{"not granted", allowLocal, []string{wasm.CapGatewaySend}, []string{get("/echo")},
			`switchboard.http_request needs permission "http", which this installation was not granted`},
		{"host not listed", allowLocal, nil, []string{doc(t, map[string]any{"url": "https://api.other.org/x"})},
			"api.other.org is not on the manifest's allowedHosts"},
		{"wildcard needs a subdomain", allowLocal, nil, []string{doc(t, map[string]any{"url": "https://example.com/"})},
			"example.com is not on the manifest's allowedHosts"},
		{"ip literal", allowLocal, nil, []string{doc(t, map[string]any{"url": "http://127.0.0.1:" + port + "/echo"})},
			"127.0.0.1 is not on the manifest's allowedHosts"},
		{"private address at dial time", publicOnly, nil, []string{get("/echo")},
			"is not a public address"},
		{"redirect off the list", allowLocal, nil, []string{get("/redirect-out")},
			"localhost redirected to elsewhere.test, which is not on the manifest's allowedHosts"},
		{"oversized response", allowLocal, nil, []string{get("/big")},
			"the response body from localhost exceeds the limit of 1048576 bytes"},
		{"too many calls", allowLocal, nil, many,
			"at most 20 calls per execution"},
		{"malformed json", allowLocal, nil, []string{`{"url":`},
			"http_request: malformed request: not the JSON document expected"},
		{"unknown field", allowLocal, nil, []string{`{"url":"` + base + `/echo","verb":"GET"}`},
			`malformed request: not the JSON document expected: json: unknown field "verb"`},
		{"two documents", allowLocal, nil, []string{`{"url":"` + base + `/echo"} {}`},
			"data after the object"},
		{"method", allowLocal, nil, []string{doc(t, map[string]any{"method": "TRACE", "url": base + "/echo"})},
			`method "TRACE" is not one of GET, POST, PUT, PATCH, DELETE`},
		{"scheme", allowLocal, nil, []string{doc(t, map[string]any{"url": "ftp://localhost/x"})},
			"is not an absolute http or https URL"},
		{"host header", allowLocal, nil, []string{doc(t, map[string]any{"url": base + "/echo", "headers": map[string]string{"host": "evil"}})},
			"header host is set by the host"},
		{"header injection", allowLocal, nil, []string{doc(t, map[string]any{"url": base + "/echo", "headers": map[string]string{"X-A": "1\r\nX-B: 2"}})},
			"has control characters"},
		{"body too large", allowLocal, nil, []string{doc(t, map[string]any{"method": "POST", "url": base + "/echo",
			"body": strings.Repeat("b", wasm.MaxHTTPBodyBytes+1)})},
			"the request body is 1048577 bytes; the limit is 1048576"},
		{"both bodies", allowLocal, nil, []string{doc(t, map[string]any{"url": base + "/echo", "body": "a", "bodyBase64": "YQ=="})},
			"body and bodyBase64 are exclusive"},
		{"no client on this node", nil, nil, []string{get("/echo")},
			"this node makes no outbound HTTP requests for plugins"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := hostcallsRunner(t, wasm.Options{HTTP: tc.client})
			grants := tc.grants
			if grants == nil {
				grants = []string{wasm.CapHTTP}
			}
			res := runHostcalls(r, ec(actor.Free, grants...), tc.docs, nil)
			if res.Success || !strings.Contains(res.Error, tc.want) {
				t.Fatalf("want a failure containing %q, got success=%v error=%q", tc.want, res.Success, res.Error)
			}
		})
	}
}
