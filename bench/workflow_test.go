package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// webhookWorkflow is the DESIGN's comparison workflow: a webhook, a
// compute step, a condition and a response built from both.
func webhookWorkflow(mode string) map[string]any {
	return map[string]any{
		"trigger":     map[string]any{"type": "webhook", "mode": mode},
		"startStepId": "compute",
		"steps": []any{
			map[string]any{"id": "compute", "type": "transform", "nextStepId": "check",
				"config": map[string]any{"expression": "{total: sum(trigger.body.items[*].price), count: length(trigger.body.items)}"}},
			map[string]any{"id": "check", "type": "condition", "conditionalNext": map[string]any{"true": "big", "false": "small"},
				"config": map[string]any{"expression": "steps.compute.output.total > 100"}},
			map[string]any{"id": "big", "type": "transform", "config": map[string]any{"expression": "{order: trigger.body.id, tier: 'big', total: steps.compute.output.total}"}},
			map[string]any{"id": "small", "type": "transform", "config": map[string]any{"expression": "{order: trigger.body.id, tier: 'small', total: steps.compute.output.total}"}},
		},
	}
}

// BenchmarkWorkflowWebhook drives webhook → transform → condition →
// respond with parallel keep-alive clients, every run recorded. It reports
// runs/s and the p50/p99 latency of the webhook call.
func BenchmarkWorkflowWebhook(b *testing.B) {
	for _, e := range dbtest.Engines() {
		for _, mode := range []string{"sync", "async"} {
			b.Run(e.Name+"/"+mode, func(b *testing.B) {
				h := apptest.Start(b, e.URL(b), quiet)
				s := h.SignUp("bench@example.com", "correct horse battery")
				// Unlimited executions: the benchmark measures the engine,
				// not the FREE plan's daily quota.
				if err := h.App.DB.Tx(context.Background(), func(tx *db.Tx) error {
					_, err := tx.ExecContext(context.Background(), `UPDATE users SET plan = 'ENTERPRISE'`)
					return err
				}); err != nil {
					b.Fatal(err)
				}
				var wf struct{ HookURL string }
				h.Call(http.StatusCreated, "POST", "/api/v1/workflows", s.AccessToken,
					map[string]any{"name": "bench", "definition": webhookWorkflow(mode)}).Data(b, &wf)
				url := h.URL + wf.HookURL[strings.Index(wf.HookURL, "/hooks/"):]
				body := []byte(`{"id":"ord_1","items":[{"price":40},{"price":75},{"price":12}]}`)
				want := http.StatusOK
				if mode == "async" {
					want = http.StatusAccepted
				}
				b.ResetTimer()
				loadHook(b, url, body, want, 8)
				b.StopTimer()
				checkRecorded(b, h, s.AccessToken, mode)
			})
		}
	}
}

// loadHook posts body to a workflow webhook b.N times from parallelism
// goroutines per core, each expecting status want, and reports runs/s and
// the p50/p99 latency of the calls.
func loadHook(b *testing.B, url string, body []byte, want, parallelism int) {
	var mu sync.Mutex
	lat := make([]time.Duration, 0, b.N)
	start, cpu := time.Now(), cpuTime()
	b.SetParallelism(parallelism)
	b.RunParallel(func(pb *testing.PB) {
		local := make([]time.Duration, 0, 1024)
		for pb.Next() {
			t0 := time.Now()
			res, err := client.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			got, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != want {
				b.Errorf("status %d: %.300s", res.StatusCode, got)
				return
			}
			local = append(local, time.Since(t0))
		}
		mu.Lock()
		lat = append(lat, local...)
		mu.Unlock()
	})
	elapsed, cpu := time.Since(start), cpuTime()-cpu
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "runs/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	// The process's CPU time per run (server and load generator together:
	// on SQLite, everything but the kernel's work for the file): steadier
	// than runs/s on a shared machine.
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(lat)), "cpu-us/run")
}

// checkRecorded makes sure the runs were real: the newest one is stored
// with its three steps.
func checkRecorded(b *testing.B, h *apptest.Harness, token, mode string) {
	var page struct {
		Items []struct{ ID, Status string }
	}
	h.Call(http.StatusOK, "GET", "/api/v1/runs?limit=1", token, nil).Data(b, &page)
	if len(page.Items) != 1 {
		b.Fatalf("%s: no run recorded", mode)
	}
	var run struct {
		Status string
		Steps  []json.RawMessage
	}
	h.Call(http.StatusOK, "GET", "/api/v1/runs/"+page.Items[0].ID, token, nil).Data(b, &run)
	if run.Status != "completed" || len(run.Steps) != 3 {
		b.Fatalf("%s: newest run %s with %d steps", mode, run.Status, len(run.Steps))
	}
}
