package workflow

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard/switchboard/internal/db"
)

// observe counts, once tx has committed, what a commit of the run did: the
// run's start (insert), the steps it recorded and its end; and records
// each step as a span of ctx's trace (the request or the job that ran it),
// with the step's own start and end.
func (s *Service) observe(ctx context.Context, tx *db.Tx, x *exec, status string, insert bool) {
	m := s.Metrics
	if m == nil {
		return
	}
	run, trigger := x.run.ID, string(x.run.Trigger)
	recs := append([]StepRecord(nil), x.records...)
	tx.AfterCommit(func() {
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
	})
}
