package crashtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/proctest"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// client speaks the API of child nodes.
type client struct {
	t    testing.TB
	http *http.Client
}

func newClient(t testing.TB) *client {
	return &client{t: t, http: &http.Client{Timeout: time.Duration(15*proctest.Slowdown) * time.Second}}
}

type envelope struct {
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *struct{ Code, Message string }
}

// do sends one request; err is a transport error (the node died or is
// starting), never a status.
func (c *client) do(method, url, token string, body any) (int, envelope, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatalf("encode: %v", err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return 0, envelope{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return 0, envelope{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, envelope{}, err
	}
	var env envelope
	if err := json.Unmarshal(raw, &env); err != nil {
		return res.StatusCode, envelope{}, fmt.Errorf("status %d, not an envelope: %.300s", res.StatusCode, raw)
	}
	return res.StatusCode, env, nil
}

// call is do for a node that is up: anything but status want fails the
// test. out, if set, receives the data.
func (c *client) call(want int, method, url, token string, body, out any) {
	c.t.Helper()
	st, env, err := c.do(method, url, token, body)
	if err != nil || st != want {
		c.t.Fatalf("%s %s: %d %v %+v (want %d)", method, url, st, err, env.Error, want)
	}
	if out != nil {
		if err := json.Unmarshal(env.Data, out); err != nil {
			c.t.Fatalf("%s %s: decode %s: %v", method, url, env.Data, err)
		}
	}
}

// signUpUser makes an account on an ENTERPRISE plan (no daily quota in the
// way of hundreds of runs) and returns its access token. The node must
// have been started with adminEmail/adminPassword.
func (c *client) signUpUser(base, email string) string {
	c.t.Helper()
	pw := "correct horse battery"
	var u struct{ ID string }
	c.call(http.StatusCreated, "POST", base+"/api/v1/auth/signup", "", map[string]string{"email": email, "password": pw, "name": "Crash"}, &u)
	var admin struct{ AccessToken string }
	c.call(http.StatusOK, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": adminEmail, "password": adminPassword}, &admin)
	c.call(http.StatusOK, "PATCH", base+"/api/v1/admin/users/"+u.ID, admin.AccessToken, map[string]any{"plan": "ENTERPRISE"}, nil)
	var tok struct{ AccessToken string }
	c.call(http.StatusOK, "POST", base+"/api/v1/auth/login", "", map[string]string{"email": email, "password": pw}, &tok)
	return tok.AccessToken
}

const (
	adminEmail    = "root@crash.test"
	adminPassword = "root-password-for-crash-tests"
)

// crashRuns is how many runs the crash test drives: 200 as the issue asks;
// fewer under the race detector, which slows the child severalfold (the
// kills, restarts and assertions are the same).
func crashRuns() int {
	if proctest.RaceEnabled {
		return 60
	}
	return 200
}

// effects counts what the local receivers were sent, per run.
type effects struct {
	mu sync.Mutex
	// calls: run → Idempotency-Key → deliveries (the plugin step).
	calls map[string]map[string]int
	// sends: run → webhook-id → deliveries (the gateway step).
	sends map[string]map[string]int
	bad   []string
}

func newEffects() *effects {
	return &effects{calls: map[string]map[string]int{}, sends: map[string]map[string]int{}}
}

func (e *effects) note(m map[string]map[string]int, run, key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m[run] == nil {
		m[run] = map[string]int{}
	}
	m[run][key]++
}

func (e *effects) fail(format string, args ...any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.bad = append(e.bad, fmt.Sprintf(format, args...))
}

// plugin receives the http-request step: {"run": id} with Idempotency-Key.
func (e *effects) plugin(w http.ResponseWriter, r *http.Request) {
	var body struct{ Run string }
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Run == "" || r.Header.Get("Idempotency-Key") == "" {
		e.fail("plugin call without run or Idempotency-Key: %v %q", err, r.Header.Get("Idempotency-Key"))
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	e.note(e.calls, body.Run, r.Header.Get("Idempotency-Key"))
	// A remote API takes its time: kills land mid-call.
	time.Sleep(time.Duration(mrand.IntN(300)) * time.Millisecond)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
}

// gateway receives the webhook gateway's messages (Standard Webhooks): the
// text is the run id, webhook-id the send id.
func (e *effects) gateway(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Data struct{ ID, Text string }
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Data.Text == "" || r.Header.Get("webhook-id") == "" ||
		r.Header.Get("webhook-id") != body.Data.ID {
		e.fail("gateway message without run or webhook-id: %v %q %+v", err, r.Header.Get("webhook-id"), body)
		http.Error(w, "bad", http.StatusBadRequest)
		return
	}
	e.note(e.sends, body.Data.Text, r.Header.Get("webhook-id"))
	time.Sleep(time.Duration(mrand.IntN(200)) * time.Millisecond)
	w.WriteHeader(http.StatusNoContent)
}

func hostOf(t *testing.T, raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// TestWorkflowCrash_KillNineDuringRuns is the crash test: runs of
// plugin (http-request) → delay 1 s → gateway (webhook) → transform, on
// embedded SQLite, while the only node is killed with SIGKILL at random
// moments and restarted on the same data dir. Every run must complete,
// and every step's side effect must have happened exactly once: one
// Idempotency-Key per run at the plugin's target (re-deliveries of the
// same key are what that header is for), one webhook-id per run at the
// gateway's target, and one gateway_sends row per run.
func TestWorkflowCrash_KillNineDuringRuns(t *testing.T) {
	t.Parallel()
	bin := proctest.Build(t)
	began := time.Now()
	n := crashRuns()

	fx := newEffects()
	pluginSrv := httptest.NewServer(http.HandlerFunc(fx.plugin))
	t.Cleanup(pluginSrv.Close)
	gatewaySrv := httptest.NewServer(http.HandlerFunc(fx.gateway))
	t.Cleanup(gatewaySrv.Close)

	dataDir := t.TempDir()
	node := proctest.Start(t, "crash", bin, map[string]string{
		"SWITCHBOARD_DATA_DIR": dataDir,
		// The operator allow-list lets outbound HTTP reach the two local
		// receivers, as a private deployment would allow its own services.
		"SWITCHBOARD_OUTBOUND_ALLOW": hostOf(t, pluginSrv.URL) + "," + hostOf(t, gatewaySrv.URL),
		"SWITCHBOARD_ADMIN_EMAIL":    adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword,
		"SWITCHBOARD_LOG_LEVEL": "info", "SWITCHBOARD_SHUTDOWN_TIMEOUT": "5s",
	})
	c := newClient(t)
	api := node.URL + "/api/v1"
	tok := c.signUpUser(node.URL, "crash@example.com")

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	var gw struct{ ID, Status string }
	c.call(http.StatusCreated, "POST", api+"/gateways", tok, map[string]any{"type": "WEBHOOK", "name": "receiver",
		"credentials": map[string]string{"signingSecret": "whsec_" + base64.StdEncoding.EncodeToString(secret)},
		"config":      map[string]any{"url": gatewaySrv.URL + "/messages"}}, &gw)
	c.call(http.StatusOK, "POST", api+"/gateways/"+gw.ID+"/connect", tok, nil, &gw)
	if gw.Status != "CONNECTED" {
		t.Fatalf("gateway %+v", gw)
	}
	def := map[string]any{
		"trigger":     map[string]any{"type": "manual"},
		"startStepId": "call",
		"steps": []any{
			map[string]any{"id": "call", "type": "plugin", "nextStepId": "wait", "config": map[string]any{"plugin": "http-request",
				"input": map[string]any{"url": pluginSrv.URL + "/charge", "method": "POST", "body": map[string]any{"run": "{{ run.id }}"}}}},
			map[string]any{"id": "wait", "type": "delay", "nextStepId": "notify", "config": map[string]any{"seconds": 1}},
			map[string]any{"id": "notify", "type": "gateway", "nextStepId": "done", "config": map[string]any{"gatewayId": gw.ID, "text": "{{ run.id }}"}},
			map[string]any{"id": "done", "type": "transform", "config": map[string]any{"expression": "{run: run.id, sent: steps.notify.output.sendId}"}},
		},
	}
	var wf struct{ ID string }
	c.call(http.StatusCreated, "POST", api+"/workflows", tok, map[string]any{"name": "crash", "definition": def}, &wf)

	// Start the runs from a few clients, spread over some seconds, each
	// with an idempotency key so that a start cut off by a kill is simply
	// sent again.
	deadline := time.Now().Add(time.Duration(100*proctest.Slowdown) * time.Second)
	runIDs := make([]string, n)
	var started atomic.Int32
	var startErr atomic.Value
	var wg sync.WaitGroup
	next := atomic.Int32{}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				for {
					st, env, err := c.do("POST", api+"/workflows/"+wf.ID+"/runs", tok, map[string]any{"idempotencyKey": fmt.Sprintf("crash-%d", i)})
					if err == nil && (st == http.StatusCreated || st == http.StatusOK) {
						var r struct{ ID string }
						if json.Unmarshal(env.Data, &r) == nil && r.ID != "" {
							runIDs[i] = r.ID
							started.Add(1)
							break
						}
					}
					if err == nil && st < 500 && st != http.StatusCreated && st != http.StatusOK {
						startErr.Store(fmt.Sprintf("start run %d: %d %+v", i, st, env.Error))
						return
					}
					if time.Now().After(deadline) {
						startErr.Store(fmt.Sprintf("start run %d: no answer before the deadline (%d %v)", i, st, err))
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				time.Sleep(time.Duration(40+mrand.IntN(120)) * time.Millisecond)
			}
		}()
	}
	startsDone := make(chan struct{})
	go func() { wg.Wait(); close(startsDone) }()

	// running reports how many of the workflow's runs are not finished,
	// or -1 if the node did not answer.
	running := func() int {
		st, env, err := c.do("GET", api+"/runs?status=running&limit=100&workflowId="+wf.ID, tok, nil)
		if err != nil || st != http.StatusOK {
			return -1
		}
		var page struct{ Items []json.RawMessage }
		if json.Unmarshal(env.Data, &page) != nil {
			return -1
		}
		return len(page.Items)
	}
	finished := func() bool {
		select {
		case <-startsDone:
		default:
			return false
		}
		return running() == 0
	}

	// Kill -9 every 0.3–1.5 s (at random points of the runs: mid plugin
	// call, mid commit, during a delay, mid delivery…) and restart at once,
	// until the runs are done or the kill window ends.
	kills := 0
	killWindow := time.Duration(25*proctest.Slowdown) * time.Second
	for time.Since(began) < killWindow && kills < 60 {
		time.Sleep(time.Duration(300+mrand.IntN(1200)) * time.Millisecond)
		if finished() {
			break
		}
		node.Kill()
		kills++
		node.Restart()
	}
	<-startsDone
	if msg := startErr.Load(); msg != nil {
		t.Fatal(msg)
	}
	for !finished() {
		if time.Now().After(deadline) {
			t.Fatalf("%d runs still running at the deadline (after %d kills)", running(), kills)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Every run completed, with one record per step: a step redone after a
	// kill left no trace of its first try.
	seen := map[string]bool{}
	sendOf := map[string]string{}
	for i, id := range runIDs {
		if id == "" || seen[id] {
			t.Fatalf("run %d: id %q missing or repeated", i, id)
		}
		seen[id] = true
		var run struct {
			Status, Error string
			Steps         []struct {
				StepID, Status string
				Output         json.RawMessage
			}
		}
		c.call(http.StatusOK, "GET", api+"/runs/"+id, tok, nil, &run)
		var steps []string
		for _, s := range run.Steps {
			steps = append(steps, s.StepID+":"+s.Status)
			if s.StepID == "notify" {
				var out struct{ SendID string }
				_ = json.Unmarshal(s.Output, &out)
				sendOf[id] = out.SendID
			}
		}
		if run.Status != "completed" || strings.Join(steps, " ") != "call:succeeded wait:succeeded notify:succeeded done:succeeded" {
			t.Errorf("run %s: %s %q, steps %v", id, run.Status, run.Error, steps)
		}
	}
	// Messages leave through their own jobs after the step that queued
	// them: wait until every one is marked sent.
	d, err := db.Open(context.Background(), filepath.Join(dataDir, "switchboard.db"), db.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for {
		var unsent int
		if err := d.Read().QueryRowContext(context.Background(), `SELECT count(*) FROM gateway_sends WHERE status <> 'SENT'`).Scan(&unsent); err != nil {
			t.Fatal(err)
		}
		if unsent == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d messages not sent at the deadline", unsent)
		}
		time.Sleep(100 * time.Millisecond)
	}
	node.Stop(time.Duration(10*proctest.Slowdown) * time.Second)

	fx.mu.Lock()
	defer fx.mu.Unlock()
	for _, b := range fx.bad {
		t.Error(b)
	}
	callDeliveries, sendDeliveries := oneKeyPerRun(t, runIDs, fx.calls, "call"), 0
	for _, id := range runIDs {
		ids := fx.sends[id]
		if len(ids) != 1 {
			t.Errorf("run %s: the gateway's target saw %d distinct webhook-ids, want 1: %v", id, len(ids), ids)
		}
		for wid, times := range ids {
			sendDeliveries += times
			if wid != sendOf[id] {
				t.Errorf("run %s: webhook-id %s, but the step recorded send %s", id, wid, sendOf[id])
			}
		}
	}
	if len(fx.calls) != n || len(fx.sends) != n {
		t.Errorf("effects for %d and %d runs, want %d", len(fx.calls), len(fx.sends), n)
	}

	// The database: the runs, and exactly one queued message per run, sent.
	var runs int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT count(*) FROM workflow_runs WHERE workflow_id = $1`, wf.ID).Scan(&runs); err != nil {
		t.Fatal(err)
	}
	if runs != n {
		t.Errorf("%d runs stored, want %d", runs, n)
	}
	rows, err := d.Read().QueryContext(context.Background(), `SELECT text, count(*), min(status), max(status) FROM gateway_sends GROUP BY text`)
	if err != nil {
		t.Fatal(err)
	}
	sends := 0
	for rows.Next() {
		var text, lo, hi string
		var cnt int
		if err := rows.Scan(&text, &cnt, &lo, &hi); err != nil {
			t.Fatal(err)
		}
		sends += cnt
		if !seen[text] || cnt != 1 || lo != "SENT" || hi != "SENT" {
			t.Errorf("gateway_sends for %q: %d rows, status %s…%s; want one SENT row per run", text, cnt, lo, hi)
		}
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if sends != n {
		t.Errorf("%d gateway_sends rows, want %d", sends, n)
	}
	recovered := strings.Count(node.Logs(), "jobs left running by a process that died are available again")
	t.Logf("%d runs, %d kills (%d starts; %d found orphaned jobs to recover) in %s; plugin calls %d (%d re-deliveries of a key), webhook deliveries %d (%d re-deliveries)",
		n, kills, node.Starts(), recovered, time.Since(began).Round(time.Millisecond), callDeliveries, callDeliveries-n, sendDeliveries, sendDeliveries-n)
}

// oneKeyPerRun checks that a receiver saw each run's step under exactly
// one idempotency key (<run>/<step>/…) and returns how many deliveries it
// saw in all (re-deliveries of a key included).
func oneKeyPerRun(t *testing.T, runIDs []string, calls map[string]map[string]int, step string) int {
	t.Helper()
	deliveries := 0
	for _, id := range runIDs {
		keys := calls[id]
		if len(keys) != 1 {
			t.Errorf("run %s: the receiver saw %d distinct idempotency keys, want 1: %v", id, len(keys), keys)
		}
		for k, times := range keys {
			deliveries += times
			if !strings.HasPrefix(k, id+"/"+step+"/") {
				t.Errorf("run %s: idempotency key %q", id, k)
			}
		}
	}
	return deliveries
}

// postgres returns the PostgreSQL engine of the suite, or skips the test.
func postgres(t *testing.T) dbtest.Engine {
	t.Helper()
	for _, e := range dbtest.Engines() {
		if e.Name == "postgres" {
			return e
		}
	}
	t.Skip("needs PostgreSQL: set " + dbtest.EnvURL)
	return dbtest.Engine{}
}
