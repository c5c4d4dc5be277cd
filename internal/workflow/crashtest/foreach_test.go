package crashtest

import (
	"context"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/proctest"
	"github.com/switchboard/switchboard/internal/db"
)

// TestWorkflowCrash_KillNineDuringForEach is the for-each crash
// test: one run loops over 500 items (maxSteps raised for it), each
// iteration a plugin call to a local receiver, ten at a time, while the
// only node is killed with SIGKILL and restarted. The run must complete
// with every iteration's output in item order, each item must have been
// run by exactly one iteration (a finished iteration is never run again:
// the receiver sees one idempotency key per item) and the database must
// hold exactly one completed iteration per item.
//
// On PostgreSQL the restarted node takes the killed one's running jobs back
// after its missed heartbeats (SWITCHBOARD_NODE_DEAD_AFTER, set to its
// minimum of 3 s), so that variant kills twice.
func TestWorkflowCrash_KillNineDuringForEach(t *testing.T) {
	t.Parallel()
	bin := proctest.Build(t)
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dataDir := t.TempDir()
		forEachCrash(t, bin, map[string]string{"SWITCHBOARD_DATA_DIR": dataDir}, 6, func() (*db.DB, error) {
			return db.Open(context.Background(), filepath.Join(dataDir, "switchboard.db"), db.Options{})
		})
	})
	t.Run("postgres", func(t *testing.T) {
		if testing.Short() {
			t.Skip("starts a server process")
		}
		t.Parallel()
		url := postgres(t).URL(t)
		forEachCrash(t, bin, map[string]string{"SWITCHBOARD_DATA_DIR": t.TempDir(), "SWITCHBOARD_DATABASE_URL": url,
			"SWITCHBOARD_WORKERS": "true", "SWITCHBOARD_NODE_DEAD_AFTER": "3s",
			"SWITCHBOARD_TOKEN_KEY": randomKey(t), "SWITCHBOARD_SECRET_KEY": randomKey(t)}, 2, func() (*db.DB, error) {
			return db.Open(context.Background(), url, db.Options{MaxConns: 2})
		})
	})
}

func forEachCrash(t *testing.T, bin string, env map[string]string, maxKills int, open func() (*db.DB, error)) {
	began := time.Now()
	const n = 500

	var mu sync.Mutex
	keys := map[int]map[string]int{}
	var bad []string
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct{ Index *int }
		key := r.Header.Get("Idempotency-Key")
		mu.Lock()
		defer mu.Unlock()
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Index == nil || key == "" {
			bad = append(bad, fmt.Sprintf("call without index or key: %v %q", err, key))
			http.Error(w, "bad", http.StatusBadRequest)
			return
		}
		if keys[*body.Index] == nil {
			keys[*body.Index] = map[string]int{}
		}
		keys[*body.Index][key]++
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"seen":%d}`, *body.Index)
	}))
	t.Cleanup(recv.Close)

	settings := map[string]string{
		"SWITCHBOARD_OUTBOUND_ALLOW": hostOf(t, recv.URL),
		"SWITCHBOARD_ADMIN_EMAIL":    adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword,
		"SWITCHBOARD_LOG_LEVEL": "info", "SWITCHBOARD_SHUTDOWN_TIMEOUT": "5s",
	}
	for k, v := range env {
		settings[k] = v
	}
	node := proctest.Start(t, "foreach", bin, settings)
	c := newClient(t)
	api := node.URL + "/api/v1"
	tok := c.signUpUser(node.URL, "loop@example.com")
	def := map[string]any{
		"trigger": map[string]any{"type": "manual"}, "startStepId": "loop",
		"settings": map[string]any{"maxSteps": 2 * n},
		"steps": []any{
			map[string]any{"id": "loop", "type": "forEach", "nextStepId": "count",
				"config": map[string]any{"items": "trigger.items", "concurrency": 10, "bodyStartStepId": "call"}},
			map[string]any{"id": "call", "type": "plugin", "config": map[string]any{"plugin": "http-request",
				"input": map[string]any{"url": recv.URL + "/item", "method": "POST", "body": map[string]any{"index": "{{ index }}"}}}},
			map[string]any{"id": "count", "type": "transform", "config": map[string]any{"expression": "length(steps.loop.output)"}},
		},
	}
	var wf struct{ ID string }
	c.call(http.StatusCreated, "POST", api+"/workflows", tok, map[string]any{"name": "loop", "definition": def}, &wf)
	items := make([]int, n)
	for i := range items {
		items[i] = i
	}
	var run struct{ ID string }
	c.call(http.StatusCreated, "POST", api+"/workflows/"+wf.ID+"/runs", tok, map[string]any{"input": map[string]any{"items": items}}, &run)

	status := func() string {
		st, env, err := c.do("GET", api+"/runs/"+run.ID, tok, nil)
		if err != nil || st != http.StatusOK {
			return ""
		}
		var r struct{ Status string }
		_ = json.Unmarshal(env.Data, &r)
		return r.Status
	}
	calls := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(keys)
	}
	// Kill -9 at random moments while the loop is under way.
	deadline := time.Now().Add(time.Duration(120*proctest.Slowdown) * time.Second)
	kills := 0
	for kills < maxKills && status() != "completed" && calls() < n {
		time.Sleep(time.Duration(400+mrand.IntN(1200)) * time.Millisecond)
		node.Kill()
		kills++
		node.Restart()
	}
	for st := status(); st != "completed"; st = status() {
		if st == "failed" || st == "cancelled" || time.Now().After(deadline) {
			t.Fatalf("run %s is %q after %d kills (%d items called)", run.ID, st, kills, calls())
		}
		time.Sleep(100 * time.Millisecond)
	}
	var r struct {
		Output json.RawMessage
		Steps  []struct {
			StepID, Status string
			Output         json.RawMessage
		}
		Children struct{ Total, Completed int }
	}
	c.call(http.StatusOK, "GET", api+"/runs/"+run.ID, tok, nil, &r)
	node.Stop(time.Duration(10*proctest.Slowdown) * time.Second)
	if string(r.Output) != fmt.Sprint(n) || len(r.Steps) != 2 || r.Steps[0].StepID != "loop" || r.Children.Total != n || r.Children.Completed != n {
		t.Fatalf("run: output %s, steps %+v, children %+v", r.Output, r.Steps, r.Children)
	}
	var outs []struct {
		Status int
		JSON   struct{ Seen int } `json:"json"`
	}
	if err := json.Unmarshal(r.Steps[0].Output, &outs); err != nil || len(outs) != n {
		t.Fatalf("loop output (%d): %v", len(outs), err)
	}
	for i, o := range outs {
		if o.JSON.Seen != i {
			t.Fatalf("output %d is item %d's", i, o.JSON.Seen)
		}
	}

	mu.Lock()
	defer mu.Unlock()
	for _, b := range bad {
		t.Error(b)
	}
	deliveries := 0
	for i := range n {
		if len(keys[i]) != 1 {
			t.Errorf("item %d: the receiver saw %d idempotency keys, want 1: %v", i, len(keys[i]), keys[i])
		}
		for _, times := range keys[i] {
			deliveries += times
		}
	}
	d, err := open()
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var iterations, distinct int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT count(*), count(DISTINCT child_index) FROM workflow_runs
		WHERE parent_run_id = $1 AND kind = 'iteration' AND status = 'completed'`, run.ID).Scan(&iterations, &distinct); err != nil {
		t.Fatal(err)
	}
	if iterations != n || distinct != n {
		t.Errorf("%d completed iterations over %d items, want %d", iterations, distinct, n)
	}
	t.Logf("%d iterations, %d kills (%d starts) in %s; %d calls (%d re-deliveries of a key)",
		n, kills, node.Starts(), time.Since(began).Round(time.Millisecond), deliveries, deliveries-n)
}
