package crashtest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/proctest"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/webhook"
)

// TestWorkflowCrash_KillNineDuringWaitForReply: runs wait at a
// waitForReply step (each on its own chat of a WEBHOOK gateway) while the
// only SQLite node is killed with SIGKILL, then their replies are
// delivered while it is killed again and again (a delivery cut off is
// sent again, as providers do). Every run must resume once: one reply
// record, one message queued and delivered per run.
func TestWorkflowCrash_KillNineDuringWaitForReply(t *testing.T) {
	t.Parallel()
	bin := proctest.Build(t)
	n := 20
	if proctest.RaceEnabled {
		n = 8
	}
	fx := newEffects()
	gatewaySrv := httptest.NewServer(http.HandlerFunc(fx.gateway))
	t.Cleanup(gatewaySrv.Close)
	dataDir := t.TempDir()
	node := proctest.Start(t, "reply", bin, map[string]string{
		"SWITCHBOARD_DATA_DIR":       dataDir,
		"SWITCHBOARD_OUTBOUND_ALLOW": hostOf(t, gatewaySrv.URL),
		"SWITCHBOARD_ADMIN_EMAIL":    adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword,
		"SWITCHBOARD_LOG_LEVEL": "info", "SWITCHBOARD_SHUTDOWN_TIMEOUT": "5s",
	})
	c := newClient(t)
	api := node.URL + "/api/v1"
	tok := c.signUpUser(node.URL, "reply@example.com")

	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	var gw struct{ ID, Status, InboundURL string }
	c.call(http.StatusCreated, "POST", api+"/gateways", tok, map[string]any{"type": "WEBHOOK", "name": "chat",
		"credentials": map[string]string{"signingSecret": secret}, "config": map[string]any{"url": gatewaySrv.URL + "/messages"}}, &gw)
	c.call(http.StatusOK, "POST", api+"/gateways/"+gw.ID+"/connect", tok, nil, &gw)
	def := map[string]any{
		"trigger":     map[string]any{"type": "manual"},
		"startStepId": "wait",
		"settings":    map[string]any{"timeoutSeconds": 7200},
		"steps": []any{
			map[string]any{"id": "wait", "type": "waitForReply", "config": map[string]any{"chat": "trigger.chat", "gatewayId": gw.ID,
				"timeoutSeconds": 3600}, "conditionalNext": map[string]any{"reply": "notify", "timeout": "late"}},
			map[string]any{"id": "notify", "type": "gateway", "config": map[string]any{"gatewayId": gw.ID, "chatId": "{{ trigger.chat }}", "text": "{{ run.id }}"}},
			map[string]any{"id": "late", "type": "transform", "config": map[string]any{"expression": "@"}},
		},
	}
	var wf struct{ ID string }
	c.call(http.StatusCreated, "POST", api+"/workflows", tok, map[string]any{"name": "ask", "definition": def}, &wf)

	runIDs := make([]string, n)
	for i := range n {
		var r struct{ ID string }
		c.call(http.StatusCreated, "POST", api+"/workflows/"+wf.ID+"/runs", tok, map[string]any{"input": map[string]any{"chat": fmt.Sprint("chat-", i)}}, &r)
		runIDs[i] = r.ID
	}
	deadline := time.Now().Add(time.Duration(90*proctest.Slowdown) * time.Second)
	// waitFor polls a run until ok holds (transport errors: the node is
	// restarting).
	waitFor := func(id string, ok func(status, current string, wake *time.Time) bool) {
		for {
			var r struct {
				Status, CurrentStepID string
				WakeAt                *time.Time
			}
			st, env, err := c.do("GET", api+"/runs/"+id, tok, nil)
			if err == nil && st == http.StatusOK && json.Unmarshal(env.Data, &r) == nil && ok(r.Status, r.CurrentStepID, r.WakeAt) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s: %d %v %+v", id, st, err, r)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, id := range runIDs {
		waitFor(id, func(status, cur string, wake *time.Time) bool {
			return status == "running" && cur == "wait" && wake != nil
		})
	}
	node.Kill() // during the wait
	node.Restart()

	// Deliver the replies while the node is killed at random moments.
	key, _ := webhook.DecodeSecret(secret)
	path := gw.InboundURL[strings.Index(gw.InboundURL, "/hooks/"):]
	done := make(chan string, 1)
	go func() {
		for i := range n {
			id := fmt.Sprint("reply-", i)
			if err := deliverSigned(c, node.URL+path, key, id, map[string]any{"chatId": fmt.Sprint("chat-", i), "text": fmt.Sprint("answer-", i)}, deadline); err != nil {
				done <- err.Error()
				return
			}
			time.Sleep(time.Duration(50+mrand.IntN(100)) * time.Millisecond)
		}
		done <- ""
	}()
	kills := 1
	for delivered := false; !delivered; {
		select {
		case msg := <-done:
			if msg != "" {
				t.Fatal(msg)
			}
			delivered = true
		case <-time.After(time.Duration(150+mrand.IntN(350)) * time.Millisecond):
			if kills < 8 {
				node.Kill()
				kills++
				node.Restart()
			}
		}
	}
	for _, id := range runIDs {
		waitFor(id, func(status, _ string, _ *time.Time) bool { return status != "running" })
	}

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
	for i, id := range runIDs {
		var r struct {
			Status string
			Steps  []struct {
				StepID, Status, Branch string
				Output                 json.RawMessage
			}
		}
		c.call(http.StatusOK, "GET", api+"/runs/"+id, tok, nil, &r)
		var steps []string
		for _, s := range r.Steps {
			steps = append(steps, s.StepID+":"+s.Branch)
		}
		var reply struct{ Text string }
		if len(r.Steps) > 0 {
			_ = json.Unmarshal(r.Steps[0].Output, &reply)
		}
		if r.Status != "completed" || strings.Join(steps, " ") != "wait:reply notify:" || reply.Text != fmt.Sprint("answer-", i) {
			t.Errorf("run %s: %s steps %v reply %q", id, r.Status, steps, reply.Text)
		}
	}
	node.Stop(time.Duration(10*proctest.Slowdown) * time.Second)
	fx.mu.Lock()
	defer fx.mu.Unlock()
	for _, b := range fx.bad {
		t.Error(b)
	}
	for _, id := range runIDs {
		if len(fx.sends[id]) != 1 {
			t.Errorf("run %s: the gateway's target saw %d distinct messages, want 1", id, len(fx.sends[id]))
		}
	}
	var sends, events int
	if err := d.Read().QueryRowContext(context.Background(), `SELECT count(*) FROM gateway_sends`).Scan(&sends); err != nil {
		t.Fatal(err)
	}
	if err := d.Read().QueryRowContext(context.Background(), `SELECT count(*) FROM gateway_events WHERE status = 'PROCESSED'`).Scan(&events); err != nil {
		t.Fatal(err)
	}
	if sends != n || events != n {
		t.Errorf("%d messages queued and %d replies stored, want %d each", sends, events, n)
	}
	t.Logf("%d runs resumed by their replies across %d kills (%d starts)", n, kills, node.Starts())
}
