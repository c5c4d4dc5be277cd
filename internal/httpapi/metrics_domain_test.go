package httpapi_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// scrape reads /metrics with Prometheus' own parser.
func scrape(t *testing.T, h *apptest.Harness) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(h.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// sample sums the samples of a family whose labels include want (counters
// and gauges their value, histograms their count).
func sample(fams map[string]*dto.MetricFamily, name string, want map[string]string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
	var sum float64
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if have[k] != v {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// The domain metrics count what the node did: a run and its steps, the
// jobs behind them, a platform's deliveries in and the message out, and the
// credits charged.
func TestMetrics_DomainCounters(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		h, f, tok, g := telegramEventNode(t, url, "metrics@example.com")
		deliverTelegram(t, h, f, g, tgMessage(7001, "ann", "hello"))
		deliverTelegram(t, h, f, g, tgMessage(7001, "ann", "hello")) // the platform retried

		steps := []map[string]any{
			{"id": "shape", "type": "transform", "config": map[string]any{"expression": "trigger.who"}, "nextStepId": "tell"},
			{"id": "tell", "type": "gateway", "config": map[string]any{"gatewayId": g.ID, "chatId": "555", "text": "hi {{ previous }}"}},
		}
		var w struct{ ID string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, map[string]any{"name": "greet",
			"definition": map[string]any{"trigger": map[string]any{"type": "manual"}, "startStepId": "shape", "steps": steps}}).Data(t, &w)
		var r struct{ Status string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows/"+w.ID+"/runs", tok,
			map[string]any{"input": map[string]any{"who": "ann"}, "wait": true}).Data(t, &r)
		if r.Status != "completed" {
			t.Fatalf("run: %+v", r)
		}
		waitSent(t, f, 1)

		var me struct{ ID string }
		h.Call(http.StatusOK, "GET", "/api/v1/me", tok, nil).Data(t, &me)
		ctx := context.Background()
		if _, err := h.App.Credits.AddCredits(ctx, actor.Actor{System: true}, me.ID, credit.Change{Type: credit.Grant, Amount: 100, Key: "seed"}); err != nil {
			t.Fatal(err)
		}
		a := actor.Actor{System: true, UserID: me.ID, Plan: actor.Free}
		if _, err := h.App.Credits.DeductCredits(ctx, a, credit.Change{Type: credit.Usage, Amount: 30}); err != nil {
			t.Fatal(err)
		}

		checks := []struct {
			name   string
			labels map[string]string
			want   float64
		}{
			{"switchboard_runs_started_total", map[string]string{"trigger": "manual"}, 1},
			{"switchboard_runs_finished_total", map[string]string{"trigger": "manual", "status": "completed"}, 1},
			{"switchboard_step_duration_seconds", map[string]string{"type": "transform", "status": "succeeded"}, 1},
			{"switchboard_step_duration_seconds", map[string]string{"type": "gateway", "status": "succeeded"}, 1},
			{"switchboard_inbound_events_total", map[string]string{"channel": "TELEGRAM", "outcome": "accepted"}, 1},
			{"switchboard_inbound_events_total", map[string]string{"channel": "TELEGRAM", "outcome": "duplicate"}, 1},
			{"switchboard_outbound_sends_total", map[string]string{"channel": "TELEGRAM", "outcome": "sent"}, 1},
			{"switchboard_credits_charged_total", map[string]string{"type": "usage"}, 30},
		}
		// Counters move after the commits they count; the send's job may
		// finish a moment after the provider saw the message.
		deadline := time.Now().Add(10 * time.Second)
		for {
			fams := scrape(t, h)
			var bad []string
			for _, c := range checks {
				if got := sample(fams, c.name, c.labels); got != c.want {
					bad = append(bad, c.name+": got "+ftoa(got)+", want "+ftoa(c.want))
				}
			}
			// The gateway step's send and the inbound events ran as jobs.
			if sample(fams, "switchboard_job_duration_seconds", map[string]string{"kind": "gateway.send"}) < 1 {
				bad = append(bad, "no gateway.send job timed")
			}
			if sample(fams, "switchboard_job_wait_seconds", nil) < 1 {
				bad = append(bad, "no job wait observed")
			}
			if fams["switchboard_job_queue_depth"] == nil {
				bad = append(bad, "no queue depth gauge")
			}
			// On SQLite the run's start was a group commit.
			if h.App.DB.Dialect == db.SQLite && (sample(fams, "switchboard_db_group_commit_calls_total", nil) < 1 ||
				sample(fams, "switchboard_db_group_commits_total", nil) < 1) {
				bad = append(bad, "no group commit counted")
			}
			if len(bad) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics:\n%s", strings.Join(bad, "\n"))
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
