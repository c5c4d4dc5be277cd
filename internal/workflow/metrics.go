package workflow

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// observed returns what counts, once the run's commit is done, what that
// commit did: the
// run's start (insert), the steps it recorded and its end; and records
// each step as a span of ctx's trace (the request or the job that ran it),
// with the step's own start and end.
func (s *Service) observed(ctx context.Context, x *exec, status string, insert bool) func() {
	m := s.Metrics
	if m == nil {
		return func() {}
	}
	run, trigger := x.run.ID, string(x.run.Trigger)
	recs := append([]StepRecord(nil), x.records...)
	return func() {
		if insert {
			m.RunStarted(trigger)
		}
		for _, rec := range recs {
			d := time.Duration(rec.DurationUs) * time.Microsecond
			m.Step(string(rec.Type), rec.Status, d)
			_, span := m.Tracer().Start(ctx, "step "+string(rec.Type), trace.WithTimestamp(rec.StartedAt),
				trace.WithAttributes(attribute.String("workflow.run_id", run), attribute.String("workflow.step_id", rec.StepID),
					attribute.Int("workflow.step_attempt", rec.Attempt), attribute.String("workflow.step_status", rec.Status)))
			if rec.Status == StepFailed {
				span.SetStatus(codes.Error, rec.Error)
			}
			span.End(trace.WithTimestamp(rec.FinishedAt))
		}
		if status != StatusRunning {
			m.RunFinished(trigger, status)
		}
	}
}
