package workflow_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A stream read as it arrives: each run event with when it came.
type liveEvent struct {
	run studioRun
	at  time.Time
}

func openStream(t testing.TB, base, tok, runID string) <-chan liveEvent {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/api/v1/runs/"+runID+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", res.StatusCode)
	}
	t.Cleanup(func() { res.Body.Close() })
	out := make(chan liveEvent, 16)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(res.Body)
		sc.Buffer(make([]byte, 1<<20), 8<<20)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var ev liveEvent
				if json.Unmarshal([]byte(line), &ev.run) == nil {
					ev.at = time.Now()
					out <- ev
				}
			}
		}
	}()
	return out
}

// A checkpoint committed on one node reaches a stream served by another
// within a second: on PostgreSQL by the commit's notice (the stream's own
// poll is then FollowPollListening; TestRunCheckpointNotices shows the
// notices themselves), on SQLite (one node) by its FollowPoll.
func TestRunStreamAcrossNodes(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		a, tok := node(t, url)
		b, tokB := a, tok
		if a.App.DB.Dialect == db.Postgres {
			b = apptest.Start(t, url, func(c *config.Config) { c.Workers = false })
			tokB = b.Login("wf@example.com", pw).AccessToken
			for deadline := time.Now().Add(5 * time.Second); !b.App.Workflows.Listening(); {
				if time.Now().After(deadline) {
					t.Fatal("node b never listened for checkpoints")
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		w := create(t, a, tok, "waits", def(manual, delay("d", 600, "")))
		// Two runs, so a poll that happens to fall just after a commit
		// cannot pass for a notice twice.
		for i := 0; i < 2; i++ {
			r := start(t, a, tok, w.ID, nil)
			r = waitRun(t, a, tok, r.ID, func(r run) bool { return len(r.Steps) == 1 })
			events := openStream(t, b.URL, tokB, r.ID)
			first := <-events
			if first.run.ID != r.ID || first.run.Status != "running" {
				t.Fatalf("first event: %+v", first.run)
			}
			// The cancel's answer comes after its commit.
			a.Call(http.StatusOK, "POST", "/api/v1/runs/"+r.ID+"/cancel", tok, nil)
			committed := time.Now()
			select {
			case ev := <-events:
				if ev.run.Status != "cancelled" {
					t.Fatalf("next event: %+v", ev.run)
				}
				if d := ev.at.Sub(committed); d > time.Second {
					t.Fatalf("the checkpoint reached the other node's stream after %v", d)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the cancel never reached the other node's stream")
			}
		}
	})
}

// BenchmarkRunStreamAcrossNodes measures the delay from a checkpoint's commit
// (a cancel, from its request's sending) to its event at a stream's client, served by
// another node on PostgreSQL (the commit's notice) and by the same node
// on SQLite (its poll). Reported as ms-mean and ms-max per engine.
func BenchmarkRunStreamAcrossNodes(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			url := e.URL(b)
			a := apptest.Start(b, url)
			tok := a.SignUp("bench@example.com", pw).AccessToken
			srv, stok := a, tok
			if a.App.DB.Dialect == db.Postgres {
				srv = apptest.Start(b, url, func(c *config.Config) { c.Workers = false })
				stok = srv.Login("bench@example.com", pw).AccessToken
				for !srv.App.Workflows.Listening() {
					time.Sleep(10 * time.Millisecond)
				}
			}
			var w wf
			a.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, obj{"name": "waits", "definition": def(manual, delay("d", 600, ""))}).Data(b, &w)
			var total, worst time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var r run
				a.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+w.ID+"/runs", tok, nil).Data(b, &r)
				for len(r.Steps) == 0 {
					time.Sleep(5 * time.Millisecond)
					a.Call(http.StatusOK, "GET", "/api/v1/runs/"+r.ID, tok, nil).Data(b, &r)
				}
				events := openStream(b, srv.URL, stok, r.ID)
				<-events
				b.StartTimer()
				// From the cancel's sending: an upper bound of the delay
				// from its commit (the event may beat the cancel's answer).
				committed := time.Now()
				a.Call(http.StatusOK, "POST", "/api/v1/runs/"+r.ID+"/cancel", tok, nil)
				ev, ok := <-events
				if !ok || ev.run.Status != "cancelled" {
					b.Fatalf("no cancelled event: %+v", ev.run)
				}
				d := ev.at.Sub(committed)
				total += d
				worst = max(worst, d)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N)/1000, "ms-mean")
			b.ReportMetric(float64(worst.Microseconds())/1000, "ms-max")
		})
	}
}

// On PostgreSQL a commit that moves a run's checkpoint sends a notice only
// while some stream follows the run (run_watches): an unfollowed run's
// commits take no notification lock.
func TestRunCheckpointNotices(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		a, tok := node(t, url)
		if a.App.DB.Dialect != db.Postgres {
			t.Skip("notices are PostgreSQL's")
		}
		ctx := context.Background()
		conn, err := a.App.DB.Pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pc := conn.Hijack()
		t.Cleanup(func() { _ = pc.Close(context.Background()) })
		if _, err := pc.Exec(ctx, "LISTEN switchboard_run_checkpoint"); err != nil {
			t.Fatal(err)
		}
		w := create(t, a, tok, "waits", def(manual, delay("d", 600, "")))
		followed := start(t, a, tok, w.ID, nil)
		alone := start(t, a, tok, w.ID, nil)
		for _, id := range []string{followed.ID, alone.ID} {
			waitRun(t, a, tok, id, func(r run) bool { return len(r.Steps) == 1 })
		}
		if _, err := a.App.DB.SQL().ExecContext(ctx, `INSERT INTO run_watches (run_id, expires_at) VALUES ($1, now() + interval '1 minute')`, followed.ID); err != nil {
			t.Fatal(err)
		}
		a.Call(http.StatusOK, "POST", "/api/v1/runs/"+alone.ID+"/cancel", tok, nil)
		a.Call(http.StatusOK, "POST", "/api/v1/runs/"+followed.ID+"/cancel", tok, nil)
		wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		n, err := pc.WaitForNotification(wctx)
		if err != nil {
			t.Fatalf("no notice for the followed run: %v", err)
		}
		if n.Payload != followed.ID {
			t.Fatalf("first notice names %s; want the followed run %s (the other is %s)", n.Payload, followed.ID, alone.ID)
		}
	})
}
