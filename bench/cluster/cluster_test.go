// Package cluster proves a PostgreSQL-backed cluster behind a real load
// balancer: N `switchboard serve` nodes behind HAProxy (Debian's package)
// with /readyz health checks, loaded with webhook runs through a rolling
// restart of every node and a kill -9 of one. Run it as documented in
// docs/deployment.md:
//
//	SWITCHBOARD_TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test -run '^$' -bench Cluster -benchtime 1x ./bench/cluster/
package cluster

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard/switchboard/internal/app/proctest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

const (
	adminEmail, adminPassword = "root@cluster.test", "root-password-for-the-cluster"
	clients                   = 16
	// drainDelay outlasts HAProxy's check interval (500 ms) × fall (3).
	drainDelay = "2s"
)

// BenchmarkCluster reports the webhook rate through HAProxy with 1, 2 and
// 3 nodes, then the failed requests and lost runs of a rolling restart
// and of a kill -9 under load. Goals: 0 failed requests during the rolling
// restart, 0 lost runs in all.
func BenchmarkCluster(b *testing.B) {
	haproxy, err := exec.LookPath("haproxy")
	if err != nil {
		b.Skip("haproxy is not installed (apt-get install haproxy)")
	}
	if os.Getenv(dbtest.EnvURL) == "" {
		b.Skip("the cluster needs PostgreSQL: set " + dbtest.EnvURL)
	}
	dbURL := dbtest.Engines()[1].URL(b)
	bin := proctest.Build(b)
	key := func() string { k := make([]byte, 32); _, _ = rand.Read(k); return hex.EncodeToString(k) }
	// Every node shares the database and the keys; each has its own data
	// dir (nothing of a PostgreSQL node's state lives there).
	shared := map[string]string{"SWITCHBOARD_DATABASE_URL": dbURL, "SWITCHBOARD_TOKEN_KEY": key(), "SWITCHBOARD_SECRET_KEY": key(),
		"SWITCHBOARD_ADMIN_EMAIL": adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword, "SWITCHBOARD_LOG_LEVEL": "warn",
		"SWITCHBOARD_DRAIN_DELAY": drainDelay, "SWITCHBOARD_SHUTDOWN_TIMEOUT": "20s", "SWITCHBOARD_TRUST_PROXY": "true"}
	var nodes []*proctest.Node
	for i := range 3 {
		set := map[string]string{"SWITCHBOARD_DATA_DIR": b.TempDir()}
		for k, v := range shared {
			set[k] = v
		}
		nodes = append(nodes, proctest.Start(b, fmt.Sprintf("node%d", i+1), bin, set))
	}

	lb := startHAProxy(b, haproxy, nodes)
	tok := setUp(b, lb.url)
	syncHook := createWorkflow(b, lb.url, tok, "sync", false)
	asyncHook := createWorkflow(b, lb.url, tok, "async", true)

	// Rates at 1, 2 and 3 nodes: the others are put in maintenance.
	for k := 1; k <= 3; k++ {
		for i, n := range nodes {
			lb.setState(b, n.Name, i < k)
		}
		l := startLoad(lb.url+syncHook, http.StatusOK)
		time.Sleep(5 * time.Second)
		s := l.stop()
		b.ReportMetric(float64(s.ok)/s.elapsed.Seconds(), fmt.Sprintf("runs/s-%d-nodes", k))
		if s.failed > 0 {
			b.Logf("%d nodes: %d failed requests (%s)", k, s.failed, s.firstError)
		}
	}

	// Rolling restart under load: each node drains, stops, starts again
	// and is back in rotation before the next one goes.
	l := startLoad(lb.url+asyncHook, http.StatusAccepted)
	time.Sleep(2 * time.Second)
	for _, n := range nodes {
		n.Stop(30 * time.Second)
		n.Restart()
		lb.waitUp(b, n.Name)
	}
	time.Sleep(2 * time.Second)
	rolling := l.stop()
	b.ReportMetric(float64(rolling.failed), "failed-requests-rolling-restart")
	if rolling.failed > 0 {
		b.Errorf("rolling restart: %d of %d requests failed (first: %s)", rolling.failed, rolling.ok+rolling.failed, rolling.firstError)
	}

	// kill -9 of one node under load: requests in flight on it may fail
	// (reported), accepted runs must not be lost.
	l = startLoad(lb.url+asyncHook, http.StatusAccepted)
	time.Sleep(2 * time.Second)
	nodes[1].Kill()
	time.Sleep(3 * time.Second)
	nodes[1].Restart()
	lb.waitUp(b, nodes[1].Name)
	time.Sleep(time.Second)
	killed := l.stop()
	b.ReportMetric(float64(killed.failed), "failed-requests-kill-9")
	if killed.failed > 0 {
		b.Logf("kill -9: %d of %d requests failed (first: %s)", killed.failed, killed.ok+killed.failed, killed.firstError)
	}

	accepted := append(rolling.runs, killed.runs...)
	lost := waitRuns(b, dbURL, accepted, 2*time.Minute)
	b.ReportMetric(float64(len(accepted)), "runs-accepted")
	b.ReportMetric(float64(lost), "runs-lost")
	if lost > 0 {
		b.Errorf("%d of %d accepted runs were lost or never completed", lost, len(accepted))
	}
}

// lb is a running HAProxy with a runtime API socket.
type lb struct {
	url, sock string
}

func startHAProxy(b *testing.B, bin string, nodes []*proctest.Node) *lb {
	dir := b.TempDir()
	addr := proctest.FreeAddr(b)
	l := &lb{url: "http://" + addr, sock: filepath.Join(dir, "admin.sock")}
	var servers strings.Builder
	for _, n := range nodes {
		fmt.Fprintf(&servers, "    server %s %s check inter 500ms fall 3 rise 2\n", n.Name, n.Addr)
	}
	cfg := fmt.Sprintf(haproxyConfig, l.sock, addr, servers.String())
	path := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if b.Failed() {
			b.Logf("haproxy:\n%s", out.String())
		}
	})
	for _, n := range nodes {
		l.waitUp(b, n.Name)
	}
	return l
}

// haproxyConfig is docs/deployment.md's example with the test's addresses
// and a faster health check.
const haproxyConfig = `global
    stats socket %s mode 600 level admin
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout check 2s
    retries 3
    option redispatch
    retry-on conn-failure empty-response response-timeout
frontend switchboard
    bind %s
    default_backend nodes
backend nodes
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    option forwardfor
%s`

// admin sends one command to HAProxy's runtime API and returns its answer.
func (l *lb) admin(cmd string) (string, error) {
	c, err := net.Dial("unix", l.sock)
	if err != nil {
		return "", fmt.Errorf("HAProxy's admin socket: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, cmd+"\n"); err != nil {
		return "", err
	}
	out, err := io.ReadAll(c)
	return string(out), err
}

// setState puts a server in or out of rotation.
func (l *lb) setState(b *testing.B, name string, on bool) {
	state := "maint"
	if on {
		state = "ready"
	}
	if _, err := l.admin("set server nodes/" + name + " state " + state); err != nil {
		b.Fatal(err)
	}
	if on {
		l.waitUp(b, name)
	}
}

// waitUp waits until HAProxy (starting, maybe) sees the server up.
func (l *lb) waitUp(b *testing.B, name string) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		state, err := l.admin("show servers state nodes")
		if err != nil && time.Now().After(deadline) {
			b.Fatal(err)
		}
		for _, line := range strings.Split(state, "\n") {
			f := strings.Fields(line)
			// be_id be_name srv_id srv_name srv_addr srv_op_state (2 = running) …
			if len(f) > 5 && f[3] == name && f[5] == "2" {
				return
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("HAProxy does not see %s up", name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 30 * time.Second}

func call(b *testing.B, method, url, token string, body, out any) {
	raw, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, url, bytes.NewReader(raw))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := client.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var env struct{ Data json.RawMessage }
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil || res.StatusCode >= 300 {
		b.Fatalf("%s %s: %d %v", method, url, res.StatusCode, err)
	}
	if out != nil {
		_ = json.Unmarshal(env.Data, out)
	}
}

// setUp signs up a user on the ENTERPRISE plan (no daily execution cap)
// and returns its access token.
func setUp(b *testing.B, base string) string {
	var u struct{ ID string }
	call(b, "POST", base+"/api/v1/auth/signup", "", map[string]string{"email": "cluster@example.com", "password": "correct horse battery", "name": "Cluster"}, &u)
	var admin, tok struct{ AccessToken string }
	call(b, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}, &admin)
	call(b, "PATCH", base+"/api/v1/admin/users/"+u.ID, admin.AccessToken, map[string]any{"plan": "ENTERPRISE"}, nil)
	call(b, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": "cluster@example.com", "password": "correct horse battery"}, &tok)
	return tok.AccessToken
}

// createWorkflow creates the README's webhook workflow; withDelay adds a
// one-second delay before the answer, so every run also goes through the
// job queue (and is in flight when a node dies).
func createWorkflow(b *testing.B, base, tok, mode string, withDelay bool) string {
	steps := []any{
		map[string]any{"id": "compute", "type": "transform", "nextStepId": "check",
			"config": map[string]any{"expression": "{total: sum(trigger.body.items[*].price), count: length(trigger.body.items)}"}},
		map[string]any{"id": "check", "type": "condition", "conditionalNext": map[string]any{"true": "big", "false": "small"},
			"config": map[string]any{"expression": "steps.compute.output.total > 100"}},
		map[string]any{"id": "big", "type": "transform", "config": map[string]any{"expression": "{order: trigger.body.id, tier: 'big'}"}},
		map[string]any{"id": "small", "type": "transform", "config": map[string]any{"expression": "{order: trigger.body.id, tier: 'small'}"}},
	}
	start := "compute"
	if withDelay {
		steps = append(steps, map[string]any{"id": "wait", "type": "delay", "config": map[string]any{"seconds": 1}, "nextStepId": "compute"})
		start = "wait"
	}
	def := map[string]any{"trigger": map[string]any{"type": "webhook", "mode": mode}, "startStepId": start, "steps": steps}
	var wf struct{ ID, HookURL string }
	call(b, "POST", base+"/api/v1/workflows", tok, map[string]any{"name": "cluster-" + mode, "definition": def}, &wf)
	call(b, "POST", base+"/api/v1/workflows/"+wf.ID+"/enable", tok, nil, nil)
	return wf.HookURL[strings.Index(wf.HookURL, "/hooks/"):]
}

// load is clients posting to one URL until stopped.
type load struct {
	stopc   chan struct{}
	wg      sync.WaitGroup
	started time.Time
	ok      atomic.Int64
	failed  atomic.Int64
	mu      sync.Mutex
	runs    []string
	first   string
}

type loadStats struct {
	ok, failed int64
	elapsed    time.Duration
	runs       []string
	firstError string
}

func startLoad(url string, want int) *load {
	l := &load{stopc: make(chan struct{}), started: time.Now()}
	body := []byte(`{"id":"ord_1","items":[{"price":40},{"price":75},{"price":12}]}`)
	for range clients {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stopc:
					return
				default:
				}
				res, err := client.Post(url, "application/json", bytes.NewReader(body))
				if err != nil {
					l.fail(err.Error())
					continue
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != want {
					l.fail(fmt.Sprintf("%d %.200s", res.StatusCode, raw))
					continue
				}
				l.ok.Add(1)
				if want == http.StatusAccepted {
					var env struct{ Data struct{ RunID string } }
					if json.Unmarshal(raw, &env) == nil && env.Data.RunID != "" {
						l.mu.Lock()
						l.runs = append(l.runs, env.Data.RunID)
						l.mu.Unlock()
					}
				}
			}
		}()
	}
	return l
}

func (l *load) fail(msg string) {
	l.failed.Add(1)
	l.mu.Lock()
	if l.first == "" {
		l.first = msg
	}
	l.mu.Unlock()
}

func (l *load) stop() loadStats {
	close(l.stopc)
	l.wg.Wait()
	return loadStats{ok: l.ok.Load(), failed: l.failed.Load(), elapsed: time.Since(l.started), runs: l.runs, firstError: l.first}
}

// waitRuns waits for every accepted run to complete and returns how many
// did not: missing from the database, or not completed within d.
func waitRuns(b *testing.B, dbURL string, ids []string, d time.Duration) int {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	deadline := time.Now().Add(d)
	for {
		var done int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM workflow_runs WHERE id = ANY($1) AND status = 'completed'`, ids).Scan(&done); err != nil {
			b.Fatal(err)
		}
		if done == len(ids) || time.Now().After(deadline) {
			return len(ids) - done
		}
		time.Sleep(500 * time.Millisecond)
	}
}
