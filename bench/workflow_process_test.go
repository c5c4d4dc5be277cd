package bench

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/app/proctest"
)

// BenchmarkWorkflowWebhookProcess is the design's side-by-side scenario
// as an operator would see it: the real binary (`switchboard serve` on
// embedded SQLite, every run recorded) loaded with the sync webhook
// workflow by 8 keep-alive clients. It reports runs/s, p50/p99 and the
// process's peak resident memory (VmHWM) under the load.
func BenchmarkWorkflowWebhookProcess(b *testing.B) {
	n, url, body := startHookProcess(b, nil)
	b.ResetTimer()
	loadHook(b, url, body, http.StatusOK, 4) // 8 clients on 2 cores
	b.StopTimer()
	b.ReportMetric(float64(procStatusKB(b, n.Pid(), "VmHWM:"))/1024, "peak-rss-MB")
}

// startHookProcess starts the real binary with settings (on SQLite in a
// fresh data dir unless they name a database), signs up a user on the
// ENTERPRISE plan (no daily quota in the way) and creates the sync
// webhook workflow. It returns the node, the webhook's URL and a body.
func startHookProcess(b *testing.B, settings map[string]string) (*proctest.Node, string, []byte) {
	bin := proctest.Build(b)
	const adminEmail, adminPassword = "root@bench.test", "root-password-for-benchmarks"
	env := map[string]string{"SWITCHBOARD_DATA_DIR": b.TempDir(),
		"SWITCHBOARD_ADMIN_EMAIL": adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword, "SWITCHBOARD_LOG_LEVEL": "warn"}
	for k, v := range settings {
		env[k] = v
	}
	n := proctest.Start(b, "bench", bin, env)
	call := func(method, path, token string, body any, out any) {
		var rd io.Reader
		if body != nil {
			raw, _ := json.Marshal(body)
			rd = bytes.NewReader(raw)
		}
		req, _ := http.NewRequest(method, n.URL+path, rd)
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		defer res.Body.Close()
		var env struct {
			Data json.RawMessage
		}
		if err := json.NewDecoder(res.Body).Decode(&env); err != nil || res.StatusCode >= 300 {
			b.Fatalf("%s %s: %d %v", method, path, res.StatusCode, err)
		}
		if out != nil {
			_ = json.Unmarshal(env.Data, out)
		}
	}
	var u struct{ ID string }
	call("POST", "/api/v1/auth/signup", "", map[string]string{"email": "bench@example.com", "password": "correct horse battery", "name": "Bench"}, &u)
	var admin, tok struct{ AccessToken string }
	call("POST", "/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}, &admin)
	call("PATCH", "/api/v1/admin/users/"+u.ID, admin.AccessToken, map[string]any{"plan": "ENTERPRISE"}, nil)
	call("POST", "/api/v1/auth/login", "", map[string]string{"email": "bench@example.com", "password": "correct horse battery"}, &tok)
	var wf struct{ HookURL string }
	call("POST", "/api/v1/workflows", tok.AccessToken, map[string]any{"name": "bench", "definition": webhookWorkflow("sync")}, &wf)
	url := n.URL + wf.HookURL[strings.Index(wf.HookURL, "/hooks/"):]
	return n, url, []byte(`{"id":"ord_1","items":[{"price":40},{"price":75},{"price":12}]}`)
}

// procStatusKB reads one kB field of /proc/<pid>/status.
func procStatusKB(b *testing.B, pid int, field string) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	b.Fatalf("no %s", field)
	return 0
}
