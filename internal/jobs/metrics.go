package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/switchboard/switchboard/internal/telemetry"
)

// SetMetrics makes the runner record every job attempt it works (wait,
// duration, errors) and the queues' depth in m. Call before Open.
func (r *Runner) SetMetrics(m *telemetry.Metrics) {
	r.metrics = m
	m.WatchQueues(NewSystemStatus(r.d).QueueDepths, r.cfg.Log)
}

// metricsMiddleware times each attempt. A snooze (a workflow run waiting
// for its workspace's concurrency) is not an error.
type metricsMiddleware struct {
	river.MiddlewareDefaults
	m *telemetry.Metrics
}

func (mw *metricsMiddleware) Work(ctx context.Context, job *rivertype.JobRow, doInner func(context.Context) error) error {
	// The job continues the trace of the work that inserted it.
	var meta struct {
		Trace map[string]string `json:"trace"`
	}
	if len(job.Metadata) > 0 && json.Unmarshal(job.Metadata, &meta) == nil && meta.Trace != nil {
		ctx = telemetry.Extract(ctx, meta.Trace)
	}
	ctx, span := mw.m.Start(ctx, "job "+job.Kind, trace.SpanKindConsumer, attribute.String("job.kind", job.Kind),
		attribute.String("job.queue", job.Queue), attribute.Int64("job.id", job.ID), attribute.Int("job.attempt", job.Attempt))
	defer span.End()
	start := time.Now()
	var wait time.Duration
	if job.AttemptedAt != nil {
		wait = job.AttemptedAt.Sub(job.ScheduledAt)
	}
	err := doInner(ctx)
	var snooze *river.JobSnoozeError
	failed := err != nil && !errors.As(err, &snooze)
	if failed {
		span.SetStatus(codes.Error, err.Error())
	}
	mw.m.Job(job.Queue, job.Kind, wait, time.Since(start), failed)
	return err
}

// withTrace adds ctx's trace context to a job's metadata (next to what the
// caller put there), so the worker's span joins the inserting request's
// trace. Without a span in ctx the options are left as they are.
func withTrace(ctx context.Context, opts *river.InsertOpts) *river.InsertOpts {
	carrier := map[string]string{}
	telemetry.Inject(ctx, carrier)
	if len(carrier) == 0 {
		return opts
	}
	o := river.InsertOpts{}
	if opts != nil {
		o = *opts
	}
	meta := map[string]any{}
	if len(o.Metadata) > 0 {
		_ = json.Unmarshal(o.Metadata, &meta)
	}
	meta["trace"] = carrier
	if raw, err := json.Marshal(meta); err == nil {
		o.Metadata = raw
	}
	return &o
}

// QueueDepths counts the jobs each queue has waiting, for the
// switchboard_job_queue_depth gauge; every queue this build works is
// listed, empty ones with zeros, so a dashboard's series do not vanish.
func (s *SystemStatus) QueueDepths(ctx context.Context) ([]telemetry.QueueDepth, error) {
	rows, err := s.d.Read().QueryContext(ctx, `SELECT queue,
		COALESCE(SUM(CASE WHEN state = 'available' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN state IN ('scheduled', 'retryable', 'pending') THEN 1 ELSE 0 END), 0)
		FROM river_job WHERE state IN ('available', 'scheduled', 'retryable', 'pending') GROUP BY queue ORDER BY queue`)
	if err != nil {
		return nil, fmt.Errorf("count waiting jobs: %w", err)
	}
	defer rows.Close()
	byQueue := map[string]telemetry.QueueDepth{}
	for q := range queueWorkers {
		byQueue[q] = telemetry.QueueDepth{Queue: q}
	}
	for rows.Next() {
		var q telemetry.QueueDepth
		if err := rows.Scan(&q.Queue, &q.Available, &q.Waiting); err != nil {
			return nil, fmt.Errorf("scan waiting jobs: %w", err)
		}
		byQueue[q.Queue] = q
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make([]telemetry.QueueDepth, 0, len(byQueue))
	for _, q := range byQueue {
		out = append(out, q)
	}
	slices.SortFunc(out, func(a, b telemetry.QueueDepth) int { return strings.Compare(a.Queue, b.Queue) })
	return out, nil
}
