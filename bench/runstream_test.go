package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// BenchmarkRunStreamDelay measures how late the run inspector sees each
// checkpoint: a run of five plugin steps (each its own commit, run by a
// job) is followed through GET /runs/{id}/stream, and each event's
// arrival is compared with the run's updatedAt (set just before the
// commit). It reports the mean and the worst delay; the goal is ≤ 1 s.
func BenchmarkRunStreamDelay(b *testing.B) {
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			h := apptest.Start(b, e.URL(b), quiet)
			s := h.SignUp("bench@example.com", "correct horse battery")
			if err := h.App.DB.Tx(context.Background(), func(tx *db.Tx) error {
				_, err := tx.ExecContext(context.Background(), `UPDATE users SET plan = 'ENTERPRISE'`)
				return err
			}); err != nil {
				b.Fatal(err)
			}
			var steps []any
			for i := range 5 {
				st := map[string]any{"id": "s" + string(rune('0'+i)), "type": "plugin",
					"config": map[string]any{"plugin": "template", "input": map[string]any{"template": "step", "data": map[string]any{"n": i}}}}
				if i < 4 {
					st["nextStepId"] = "s" + string(rune('1'+i))
				}
				steps = append(steps, st)
			}
			var wf struct{ ID string }
			h.Call(http.StatusCreated, "POST", "/api/v1/workflows", s.AccessToken, map[string]any{"name": "followed",
				"definition": map[string]any{"trigger": map[string]any{"type": "manual"}, "startStepId": "s0", "steps": steps}}).Data(b, &wf)
			var delays []time.Duration
			b.ResetTimer()
			for range b.N {
				var run struct{ ID string }
				h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+wf.ID+"/runs", s.AccessToken, nil).Data(b, &run)
				delays = append(delays, follow(b, h, s.AccessToken, run.ID)...)
			}
			b.StopTimer()
			if len(delays) == 0 {
				b.Fatal("no events")
			}
			var sum time.Duration
			for _, d := range delays {
				sum += d
			}
			b.ReportMetric(float64(sum.Milliseconds())/float64(len(delays)), "mean-delay-ms")
			b.ReportMetric(float64(slices.Max(delays).Milliseconds()), "max-delay-ms")
		})
	}
}

// follow reads a run's stream to its end and returns, for each event
// after the first, how long after the commit it arrived.
func follow(b *testing.B, h *apptest.Harness, tok, id string) []time.Duration {
	req, _ := http.NewRequest("GET", h.URL+"/api/v1/runs/"+id+"/stream", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	var out []time.Duration
	first, status := true, ""
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 1<<20), 8<<20)
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		at := time.Now()
		var r struct {
			Status    string
			UpdatedAt time.Time
		}
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			b.Fatal(err)
		}
		// The first event is the state when the stream opened, not a
		// commit it waited for.
		if !first {
			out = append(out, at.Sub(r.UpdatedAt))
		}
		first, status = false, r.Status
	}
	if status != "completed" {
		b.Fatalf("run %s ended %q", id, status)
	}
	return out
}
