package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

// A sandboxed plugin granted "gateway.send" queues messages through the
// installation's gateways and nowhere else; granted "http", it reaches
// public addresses only, whatever the operator's --outbound-allow says.
func TestPluginWasmHost_GatewaySendAndHTTP(t *testing.T) {
	t.Parallel()
	mod := wasmtest.Build(t, "./internal/plugin/wasm/testdata/hostcalls")
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, f, tok, g := telegramEventNode(t, url, "hostcalls@example.com")
		dev := developer(t, h, "hostcalls-dev@example.com")
		manifest := map[string]any{"slug": "hostcalls", "name": "Host calls", "version": "1.0.0",
			"permissions": []string{"http", "gateway.send"}, "allowedHosts": []string{"localhost"}}
		// Hosts are names only: an address is refused at submission.
		bad := map[string]any{"slug": "hostcalls", "name": "Host calls", "version": "1.0.0",
			"permissions": []string{"http"}, "allowedHosts": []string{"127.0.0.1"}}
		if r := h.Do(apptest.Request{Method: "POST", Path: "/api/v1/marketplace/submissions", Token: dev.AccessToken,
			Body: map[string]any{"manifest": bad, "wasm": gzipB64(t, mod)}}); r.Status != http.StatusBadRequest ||
			!strings.Contains(string(r.Raw), "manifest.allowedHosts") {
			t.Fatalf("address in allowedHosts: %d %s", r.Status, r.Raw)
		}
		var v version
		h.Call(http.StatusCreated, "POST", "/api/v1/marketplace/submissions", dev.AccessToken,
			map[string]any{"manifest": manifest, "wasm": gzipB64(t, mod)}).Data(t, &v)
		h.Call(http.StatusOK, "POST", "/api/v1/admin/marketplace/versions/"+v.ID+"/approve", h.Admin().AccessToken, nil)
		// The installer sees what the plugin may reach before granting it.
		var entry struct{ AllowedHosts []string }
		h.Call(http.StatusOK, "GET", "/api/v1/plugins/hostcalls", tok, nil).Data(t, &entry)
		if len(entry.AllowedHosts) != 1 || entry.AllowedHosts[0] != "localhost" {
			t.Fatalf("catalog allowedHosts: %v", entry.AllowedHosts)
		}
		inst := install(t, h, tok, map[string]any{"plugin": "hostcalls", "grants": []string{"http", "gateway.send"},
			"gatewayIds": []string{g.ID}})

		run := func(input map[string]any, async bool) execution {
			t.Helper()
			var e execution
			if !async {
				h.Call(http.StatusOK, "POST", "/api/v1/installations/"+inst+"/execute", tok, map[string]any{"input": input}).Data(t, &e)
				return e
			}
			h.Call(http.StatusAccepted, "POST", "/api/v1/installations/"+inst+"/execute", tok,
				map[string]any{"input": input, "async": true}).Data(t, &e)
			for deadline := time.Now().Add(30 * time.Second); e.Status != "SUCCEEDED" && e.Status != "FAILED"; {
				if time.Now().After(deadline) {
					t.Fatalf("execution %s still %s", e.ID, e.Status)
				}
				time.Sleep(20 * time.Millisecond)
				h.Call(http.StatusOK, "GET", "/api/v1/installations/"+inst+"/executions/"+e.ID, tok, nil).Data(t, &e)
			}
			return e
		}
		sendDoc := func(gatewayID, text string) string {
			b, _ := json.Marshal(map[string]string{"gatewayId": gatewayID, "chatId": "555", "text": text})
			return string(b)
		}

		e := run(map[string]any{"send": []string{sendDoc(g.ID, "hello from a sandbox")}}, false)
		if e.Status != "SUCCEEDED" || !strings.Contains(string(e.Output), `"sent":1`) || e.Metrics.APICalls != 1 {
			t.Fatalf("send: %+v %s", e, e.Output)
		}
		if sent := waitSent(t, f, 1); sent[0].Text != "hello from a sandbox" || sent[0].ChatID != "555" {
			t.Fatalf("provider received %+v", sent)
		}

		other := ids.New(ids.Gateway)
		if e := run(map[string]any{"send": []string{sendDoc(other, "x")}}, false); e.Status != "FAILED" ||
			!strings.Contains(e.Error, `gateway "`+other+`" is not one of this installation's gateways`) {
			t.Fatalf("unsubscribed gateway: %+v", e)
		}
		// A queued standalone run acts as the system: it may not send.
		if e := run(map[string]any{"send": []string{sendDoc(g.ID, "x")}}, true); e.Status != "FAILED" ||
			!strings.Contains(e.Error, "a standalone run sends only when run synchronously") {
			t.Fatalf("queued standalone send: %+v", e)
		}
		// The Telegram fake is on the operator's allow-list, yet a plugin
		// cannot reach it: loopback is not public.
		port := f.Host()[strings.LastIndex(f.Host(), ":")+1:]
		req, _ := json.Marshal(map[string]string{"url": "http://localhost:" + port + "/"})
		if e := run(map[string]any{"http": []string{string(req)}}, false); e.Status != "FAILED" || !strings.Contains(e.Error, "not a public address") {
			t.Fatalf("loopback request: %+v", e)
		}
		if n := len(f.Sent()); n != 1 {
			t.Errorf("provider has %d messages, want 1", n)
		}
	})
}
