package crashtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/proctest"
	"github.com/switchboard/switchboard/internal/db"
)

func randomKey(t *testing.T) string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// TestWorkflowSchedule_TwoProcessesOnPostgresFireOnce is the issue's
// "schedules firing once with two processes on PostgreSQL": two `serve`
// processes, both running workers and so both sweeping schedules every
// second, on one PostgreSQL database. Each time a schedule's tick is made
// due, exactly one run starts for it.
func TestWorkflowSchedule_TwoProcessesOnPostgresFireOnce(t *testing.T) {
	t.Parallel()
	pg := postgres(t)
	bin := proctest.Build(t)
	url := pg.URL(t)
	ctx := context.Background()
	// Every node of a cluster shares the keys.
	tokenKey, secretKey := randomKey(t), randomKey(t)
	settings := func() map[string]string {
		return map[string]string{"SWITCHBOARD_DATA_DIR": t.TempDir(), "SWITCHBOARD_DATABASE_URL": url, "SWITCHBOARD_WORKERS": "true",
			"SWITCHBOARD_TOKEN_KEY": tokenKey, "SWITCHBOARD_SECRET_KEY": secretKey,
			"SWITCHBOARD_ADMIN_EMAIL": adminEmail, "SWITCHBOARD_ADMIN_PASSWORD": adminPassword, "SWITCHBOARD_LOG_LEVEL": "info"}
	}
	a := proctest.Start(t, "a", bin, settings())
	b := proctest.Start(t, "b", bin, settings())
	c := newClient(t)
	tok := c.signUpUser(a.URL, "schedule@example.com")
	var wf struct {
		ID        string
		NextRunAt *time.Time
	}
	c.call(http.StatusCreated, "POST", b.URL+"/api/v1/workflows", tok, map[string]any{"name": "every minute", "definition": map[string]any{
		"trigger":     map[string]any{"type": "schedule", "cron": "* * * * *"},
		"startStepId": "note",
		"steps":       []any{map[string]any{"id": "note", "type": "transform", "config": map[string]any{"expression": "{tick: trigger.scheduledAt}"}}},
	}}, &wf)
	if wf.NextRunAt == nil {
		t.Fatalf("schedule not set: %+v", wf)
	}

	d, err := db.Open(ctx, url, db.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	deadline := func() time.Time { return time.Now().Add(time.Duration(15*proctest.Slowdown) * time.Second) }
	runsFor := func(key string) (n int, status string) {
		t.Helper()
		err := d.Read().QueryRowContext(ctx, `SELECT count(*), COALESCE(min(status), '') FROM workflow_runs WHERE workflow_id = $1 AND idempotency_key = $2`,
			wf.ID, key).Scan(&n, &status)
		if err != nil {
			t.Fatal(err)
		}
		return n, status
	}

	// Ticks in the past, one minute apart: each made due in turn by moving
	// next_fire_at there, as a tick coming round (or nodes coming back
	// after missing one) does.
	base := time.Now().UTC().Truncate(time.Minute).Add(-30 * time.Minute)
	const ticks = 5
	for i := range ticks {
		tick := base.Add(time.Duration(i) * time.Minute)
		key := "schedule:" + tick.Format(time.RFC3339)
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE workflow_schedules SET next_fire_at = $1 WHERE workflow_id = $2`, tick, wf.ID)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		until := deadline()
		for {
			var next time.Time
			err := d.Read().QueryRowContext(ctx, `SELECT next_fire_at FROM workflow_schedules WHERE workflow_id = $1`, wf.ID).Scan(&next)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				t.Fatal(err)
			}
			if n, status := runsFor(key); n > 0 && next.After(time.Now()) && status == "completed" {
				break
			}
			if time.Now().After(until) {
				n, status := runsFor(key)
				t.Fatalf("tick %s: %d runs (%s), next fire at %s", tick, n, status, next)
			}
			time.Sleep(50 * time.Millisecond)
		}
		// Both nodes sweep again (every second) before the count.
		time.Sleep(2500 * time.Millisecond)
		if n, _ := runsFor(key); n != 1 {
			t.Fatalf("tick %s started %d runs, want 1", tick, n)
		}
	}

	// No run without its own tick: every key once, every run completed
	// (a natural tick of the cron may have fired meanwhile, once).
	var runs, keys, done int
	if err := d.Read().QueryRowContext(ctx, `SELECT count(*), count(DISTINCT idempotency_key), count(*) FILTER (WHERE status = 'completed')
		FROM workflow_runs WHERE workflow_id = $1`, wf.ID).Scan(&runs, &keys, &done); err != nil {
		t.Fatal(err)
	}
	if runs != keys || runs < ticks || runs > ticks+2 {
		t.Errorf("%d runs for %d distinct ticks, want one per tick (%d made due)", runs, keys, ticks)
	}
	for _, n := range []*proctest.Node{a, b} {
		logs := n.Logs()
		if !strings.Contains(logs, "River client started") {
			t.Errorf("node %s did not start its workers", n.Name)
		}
		// A second start of a claimed tick would have hit the runs'
		// unique key and been logged.
		if strings.Contains(logs, `msg="workflow schedule`) {
			t.Errorf("node %s logged schedule trouble:\n%s", n.Name, logs)
		}
	}
	t.Logf("%d ticks made due, %d runs (%d completed) across two processes", ticks, runs, done)
}
