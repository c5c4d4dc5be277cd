package crashtest

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/proctest"
	"github.com/switchboard/switchboard/internal/db"
)

// slowReceiver is the plugin step's target: a remote API that takes 2 s to
// answer, so a kill lands while calls are in flight. It counts, per run,
// the Idempotency-Keys it was sent.
type slowReceiver struct {
	mu       sync.Mutex
	calls    map[string]map[string]int
	bad      []string
	inFlight atomic.Int32
}

func (s *slowReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	var body struct{ Run string }
	key := r.Header.Get("Idempotency-Key")
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Run == "" || key == "" {
		s.mu.Lock()
		s.bad = append(s.bad, fmt.Sprintf("plugin call without run or Idempotency-Key: %v %q", err, key))
		s.mu.Unlock()
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.calls[body.Run] == nil {
		s.calls[body.Run] = map[string]int{}
	}
	s.calls[body.Run][key]++
	s.mu.Unlock()
	select {
	case <-time.After(2 * time.Second):
	case <-r.Context().Done():
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
}

var clientIDRe = regexp.MustCompile(`River client started"? client_id=(\S+)`)

// nodeIDOf is the River client id a node logged when it started working
// (which may come just after it answers as ready).
func nodeIDOf(t *testing.T, n *proctest.Node) string {
	t.Helper()
	deadline := time.Now().Add(time.Duration(10*proctest.Slowdown) * time.Second)
	for {
		if m := clientIDRe.FindAllStringSubmatch(n.Logs(), -1); len(m) > 0 {
			return m[len(m)-1][1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s logged no River client id", n.Name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestWorkflowFailover_KillNineOneOfTwoPostgresNodes: two `serve` nodes
// work one PostgreSQL database; runs of plugin (http-request to a receiver
// that takes 2 s) → transform are spread over both, and one node is killed
// with SIGKILL while its calls are in flight. The other node must notice
// the dead node's silence and finish every run well within River's own
// rescue delay (10 min), each run's call seen at the receiver under exactly
// one Idempotency-Key.
func TestWorkflowFailover_KillNineOneOfTwoPostgresNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	t.Parallel()
	pg := postgres(t)
	bin := proctest.Build(t)
	url := pg.URL(t)
	ctx := context.Background()
	const n = 20

	rx := &slowReceiver{calls: map[string]map[string]int{}}
	srv := httptest.NewServer(rx)
	t.Cleanup(srv.Close)

	tokenKey, secretKey := randomKey(t), randomKey(t)
	settings := func() map[string]string {
		return map[string]string{"SWITCHBOARD_DATA_DIR": t.TempDir(), "SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_WORKERS": "true",
			"SWITCHBOARD_TOKEN_KEY": tokenKey, "SWITCHBOARD_SECRET_KEY": secretKey,
			"SWITCHBOARD_OUTBOUND_ALLOW": hostOf(t, srv.URL),
			"SWITCHBOARD_ADMIN_EMAIL":    adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword,
			"SWITCHBOARD_LOG_LEVEL": "info", "SWITCHBOARD_SHUTDOWN_TIMEOUT": "5s"}
	}
	nodes := []*proctest.Node{proctest.Start(t, "a", bin, settings()), proctest.Start(t, "b", bin, settings())}
	ids := []string{nodeIDOf(t, nodes[0]), nodeIDOf(t, nodes[1])}
	if ids[0] == ids[1] {
		t.Fatalf("both nodes have River client id %s", ids[0])
	}

	c := newClient(t)
	tok := c.signUpUser(nodes[0].URL, "failover@example.com")
	def := map[string]any{
		"trigger":     map[string]any{"type": "manual"},
		"startStepId": "call",
		"steps": []any{
			map[string]any{"id": "call", "type": "plugin", "nextStepId": "done", "config": map[string]any{"plugin": "http-request",
				"input": map[string]any{"url": srv.URL + "/charge", "method": "POST", "body": map[string]any{"run": "{{ run.id }}"}}}},
			map[string]any{"id": "done", "type": "transform", "config": map[string]any{"expression": "{run: run.id}"}},
		},
	}
	var wf struct{ ID string }
	c.call(http.StatusCreated, "POST", nodes[1].URL+"/api/v1/workflows", tok, map[string]any{"name": "failover", "definition": def}, &wf)

	// Start the runs through both nodes; both nodes' workers take them.
	runIDs := make([]string, n)
	for i := range n {
		var r struct{ ID string }
		c.call(http.StatusCreated, "POST", nodes[i%2].URL+"/api/v1/workflows/"+wf.ID+"/runs", tok,
			map[string]any{"idempotencyKey": fmt.Sprintf("failover-%d", i)}, &r)
		runIDs[i] = r.ID
	}

	// Kill the node with the most jobs running once calls are in flight.
	d, err := db.Open(ctx, url, db.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	runningOn := func(id string) int {
		var k int
		if err := d.Read().QueryRowContext(ctx, `SELECT count(*) FROM river_job
			WHERE state = 'running' AND attempted_by[cardinality(attempted_by)] = $1`, id).Scan(&k); err != nil {
			t.Fatal(err)
		}
		return k
	}
	victim, onVictim := -1, 0
	until := time.Now().Add(time.Duration(20*proctest.Slowdown) * time.Second)
	for victim < 0 {
		if rx.inFlight.Load() > 0 {
			for i, id := range ids {
				if k := runningOn(id); k > onVictim {
					victim, onVictim = i, k
				}
			}
		}
		if time.Now().After(until) {
			t.Fatalf("no node had a job running with a call in flight (in flight %d)", rx.inFlight.Load())
		}
		if victim < 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	nodes[victim].Kill()
	killed := time.Now()
	survivor := nodes[1-victim]
	t.Logf("killed node %s (%s) with %d jobs running; %d calls in flight", nodes[victim].Name, ids[victim], onVictim, rx.inFlight.Load())

	// The survivor finishes every run, the dead node's included, long
	// before River's rescuer would have retried them.
	api := survivor.URL + "/api/v1"
	deadline := killed.Add(time.Duration(90*proctest.Slowdown) * time.Second)
	for {
		st, env, err := c.do("GET", api+"/runs?status=running&limit=100&workflowId="+wf.ID, tok, nil)
		if err == nil && st == http.StatusOK {
			var page struct{ Items []json.RawMessage }
			if json.Unmarshal(env.Data, &page) == nil && len(page.Items) == 0 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs still running %s after the kill (%d jobs of the dead node still running)",
				time.Since(killed).Round(time.Second), runningOn(ids[victim]))
		}
		time.Sleep(100 * time.Millisecond)
	}
	took := time.Since(killed)
	if k := runningOn(ids[victim]); k != 0 {
		t.Errorf("%d jobs still running on the dead node", k)
	}
	for _, id := range runIDs {
		var run struct {
			Status, Error string
			Steps         []struct{ StepID, Status string }
		}
		c.call(http.StatusOK, "GET", api+"/runs/"+id, tok, nil, &run)
		var steps []string
		for _, s := range run.Steps {
			steps = append(steps, s.StepID+":"+s.Status)
		}
		if run.Status != "completed" || strings.Join(steps, " ") != "call:succeeded done:succeeded" {
			t.Errorf("run %s: %s %q, steps %v", id, run.Status, run.Error, steps)
		}
	}
	if !strings.Contains(survivor.Logs(), "jobs left running by a node that stopped beating are available again") {
		t.Error("the survivor did not log rescuing the dead node's jobs")
	}

	rx.mu.Lock()
	defer rx.mu.Unlock()
	for _, b := range rx.bad {
		t.Error(b)
	}
	deliveries := oneKeyPerRun(t, runIDs, rx.calls, "call")
	t.Logf("%d runs done %s after killing a node that had %d running; %d calls (%d re-deliveries of a key)",
		n, took.Round(time.Millisecond), onVictim, deliveries, deliveries-n)
}
