package telemetry_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/telemetry"
)

// Every series the Grafana dashboard in docs/ queries is one a node exports,
// so a renamed metric cannot leave a panel silently empty.
func TestGrafanaDashboard_QueriesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("../../docs/grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("the dashboard is not JSON: %v", err)
	}
	// A vector is gathered once it has a sample: count one of each.
	m := telemetry.New()
	m.RunStarted("manual")
	m.RunFinished("manual", "completed")
	m.Step("transform", "succeeded", time.Millisecond)
	m.Job("default", "mail.send", time.Millisecond, time.Millisecond, true)
	m.Inbound("TELEGRAM", "accepted")
	m.Send("TELEGRAM", "sent")
	m.Credits("usage", 1)
	m.Sandbox("ok", time.Millisecond, 1<<20)
	m.WatchQueues(func(context.Context) ([]telemetry.QueueDepth, error) {
		return []telemetry.QueueDepth{{Queue: "default"}}, nil
	}, slog.Default())
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{
		// The HTTP server registers these next to the domain metrics.
		"switchboard_http_requests_total": true, "switchboard_http_request_duration_seconds": true,
	}
	for _, f := range fams {
		known[f.GetName()] = true
	}
	name := regexp.MustCompile(`switchboard_[a-z_]+`)
	seen := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			for _, n := range name.FindAllString(tg.Expr, -1) {
				seen++
				base := n
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(n, suf); ok && known[b] {
						base = b
					}
				}
				if !known[base] {
					t.Errorf("panel %q queries %s, which no node exports", p.Title, n)
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("the dashboard queries only %d switchboard series", seen)
	}
}
