package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// A caller's trace goes on through the request it makes, the run it
// starts and the job that carries the run on after a delay; the request's
// log line names the trace.
func TestTracing_RequestRunAndJobAreOneTrace(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		rec := tracetest.NewSpanRecorder()
		opt := apptest.FastHashing
		opt.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
		h := apptest.StartWith(t, url, opt)
		tok := h.SignUp("traced@example.com", "correct horse battery").AccessToken
		def := map[string]any{"trigger": map[string]any{"type": "webhook", "mode": "async"}, "startStepId": "wait",
			"steps": []any{
				map[string]any{"id": "wait", "type": "delay", "config": map[string]any{"seconds": 1}, "nextStepId": "done"},
				map[string]any{"id": "done", "type": "transform", "config": map[string]any{"expression": "trigger.body"}},
			}}
		var w struct{ ID, HookURL string }
		h.Call(http.StatusCreated, "POST", "/api/v1/workflows", tok, map[string]any{"name": "traced", "definition": def}).Data(t, &w)
		h.Call(http.StatusOK, "POST", "/api/v1/workflows/"+w.ID+"/enable", tok, nil)

		const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
		r := h.Do(apptest.Request{Method: "POST", Path: w.HookURL[strings.Index(w.HookURL, "/hooks/"):], Body: []byte(`{"n":1}`),
			Headers: map[string]string{"Content-Type": "application/json", "traceparent": "00-" + traceID + "-00f067aa0ba902b7-01"}})
		if r.Status != http.StatusAccepted {
			t.Fatalf("webhook: %d %s", r.Status, r.Raw)
		}
		var accepted struct{ RunID string }
		r.Data(t, &accepted)
		var hook, job sdktrace.ReadOnlySpan
		deadline := time.Now().Add(20 * time.Second)
		for job == nil {
			for _, s := range rec.Ended() {
				switch {
				case strings.HasPrefix(s.Name(), "POST /hooks/workflows/"):
					hook = s
				case s.Name() == "job workflow.run" && s.SpanContext().TraceID().String() == traceID:
					job = s
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("no workflow.run job span in the caller's trace; spans: %v", names(rec.Ended()))
			}
			time.Sleep(50 * time.Millisecond)
		}
		if hook == nil || hook.SpanContext().TraceID().String() != traceID {
			t.Fatalf("the webhook's server span is not in the caller's trace: %v", hook)
		}
		if !strings.Contains(h.Logs(), `"trace_id":"`+traceID+`"`) {
			t.Error("no log line names the trace")
		}
		// The run names its trace, and each of its steps is a span of it.
		var run struct{ Status, TraceID string }
		for run.Status != "completed" {
			h.Call(http.StatusOK, "GET", "/api/v1/runs/"+accepted.RunID, tok, nil).Data(t, &run)
			if time.Now().After(deadline) {
				t.Fatalf("run: %+v", run)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if run.TraceID != traceID {
			t.Errorf("the run's traceId is %q, want the caller's %s", run.TraceID, traceID)
		}
		steps := map[string]bool{}
		for _, s := range rec.Ended() {
			if strings.HasPrefix(s.Name(), "step ") && s.SpanContext().TraceID().String() == traceID {
				steps[s.Name()] = true
			}
		}
		if !steps["step delay"] || !steps["step transform"] {
			t.Errorf("step spans in the trace: %v (all: %v)", steps, names(rec.Ended()))
		}
	})
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, s := range spans {
		out = append(out, s.Name()+"@"+s.SpanContext().TraceID().String()[:8])
	}
	return out
}
