// Package telemetry holds the domain metrics a node exports on /metrics:
// runs, steps, jobs, channels, credits and the plugin sandbox, named
// switchboard_*. One Metrics is made per node and handed to the services
// that count; a nil *Metrics counts nothing, so a service built without one
// (a CLI command, a unit test) needs no special case.
package telemetry

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/otel/trace"
)

// Metrics is one node's registry and its domain collectors.
type Metrics struct {
	// Registry is what /metrics serves; the HTTP server adds its own
	// request collectors to it.
	Registry *prometheus.Registry

	runsStarted  *prometheus.CounterVec
	runsFinished *prometheus.CounterVec
	stepDuration *prometheus.HistogramVec
	jobWait      *prometheus.HistogramVec
	jobRun       *prometheus.HistogramVec
	jobErrors    *prometheus.CounterVec
	inbound      *prometheus.CounterVec
	sends        *prometheus.CounterVec
	credits      *prometheus.CounterVec
	sandboxRuns  *prometheus.CounterVec
	sandboxTime  prometheus.Histogram
	sandboxMem   prometheus.Histogram

	tracer trace.Tracer // see trace.go
}

// Durations from a millisecond (a pure step, a job picked at once) to
// minutes (a plugin at its timeout, a backed-up queue).
var durationBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300}

// New returns a registry with the domain collectors and Go's runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		runsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_runs_started_total",
			Help: "Workflow runs started, by trigger (manual, webhook, schedule, event, …).",
		}, []string{"trigger"}),
		runsFinished: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_runs_finished_total",
			Help: "Workflow runs that ended, by trigger and final status (completed, failed, cancelled).",
		}, []string{"trigger", "status"}),
		stepDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_step_duration_seconds",
			Help:    "Time one attempt of a workflow step took, by step type and outcome (succeeded, failed).",
			Buckets: durationBuckets,
		}, []string{"type", "status"}),
		jobWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_job_wait_seconds",
			Help:    "Time a job waited between becoming due and a worker taking it, by queue.",
			Buckets: durationBuckets,
		}, []string{"queue"}),
		jobRun: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "switchboard_job_duration_seconds",
			Help:    "Time a worker spent on one attempt of a job, by queue and kind.",
			Buckets: durationBuckets,
		}, []string{"queue", "kind"}),
		jobErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_job_errors_total",
			Help: "Job attempts that returned an error (retried or given up), by queue and kind.",
		}, []string{"queue", "kind"}),
		inbound: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_inbound_events_total",
			Help: "Deliveries received from messaging platforms, by channel and outcome (accepted, duplicate, rejected).",
		}, []string{"channel", "outcome"}),
		sends: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_outbound_sends_total",
			Help: "Messages sent to messaging platforms, by channel and outcome (sent, failed, retry).",
		}, []string{"channel", "outcome"}),
		credits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_credits_charged_total",
			Help: "Credits deducted from wallets, by ledger type (usage, refund).",
		}, []string{"type"}),
		sandboxRuns: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "switchboard_sandbox_executions_total",
			Help: "WebAssembly plugin executions, by outcome (ok, error, timeout, memory).",
		}, []string{"outcome"}),
		sandboxTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_sandbox_execution_seconds",
			Help:    "Wall time of one WebAssembly plugin execution.",
			Buckets: durationBuckets,
		}),
		sandboxMem: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "switchboard_sandbox_memory_bytes",
			Help:    "Linear memory a WebAssembly plugin execution ended with.",
			Buckets: prometheus.ExponentialBuckets(64<<10, 4, 10), // 64 KiB … 16 GiB
		}),
	}
	m.Registry.MustRegister(m.runsStarted, m.runsFinished, m.stepDuration, m.jobWait, m.jobRun, m.jobErrors,
		m.inbound, m.sends, m.credits, m.sandboxRuns, m.sandboxTime, m.sandboxMem,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// RunStarted counts a new run.
func (m *Metrics) RunStarted(trigger string) {
	if m != nil {
		m.runsStarted.WithLabelValues(trigger).Inc()
	}
}

// RunFinished counts a run that reached a final status.
func (m *Metrics) RunFinished(trigger, status string) {
	if m != nil {
		m.runsFinished.WithLabelValues(trigger, status).Inc()
	}
}

// Step records one attempt of a step.
func (m *Metrics) Step(stepType, status string, d time.Duration) {
	if m != nil {
		m.stepDuration.WithLabelValues(stepType, status).Observe(d.Seconds())
	}
}

// Job records one attempt of a job: how long it waited since it was due,
// how long it ran and whether it failed.
func (m *Metrics) Job(queue, kind string, wait, run time.Duration, failed bool) {
	if m == nil {
		return
	}
	m.jobWait.WithLabelValues(queue).Observe(max(wait, 0).Seconds())
	m.jobRun.WithLabelValues(queue, kind).Observe(run.Seconds())
	if failed {
		m.jobErrors.WithLabelValues(queue, kind).Inc()
	}
}

// Inbound counts a delivery from a platform.
func (m *Metrics) Inbound(channel, outcome string) {
	if m != nil {
		m.inbound.WithLabelValues(channel, outcome).Inc()
	}
}

// Send counts an attempt to deliver a message to a platform.
func (m *Metrics) Send(channel, outcome string) {
	if m != nil {
		m.sends.WithLabelValues(channel, outcome).Inc()
	}
}

// Credits counts credits deducted.
func (m *Metrics) Credits(ledgerType string, amount int64) {
	if m != nil && amount > 0 {
		m.credits.WithLabelValues(ledgerType).Add(float64(amount))
	}
}

// Sandbox records one plugin execution.
func (m *Metrics) Sandbox(outcome string, d time.Duration, memoryBytes int64) {
	if m == nil {
		return
	}
	m.sandboxRuns.WithLabelValues(outcome).Inc()
	m.sandboxTime.Observe(d.Seconds())
	if memoryBytes > 0 {
		m.sandboxMem.Observe(float64(memoryBytes))
	}
}

// QueueDepth is how many jobs of a queue wait: due now (available) and
// due later (scheduled or waiting to be retried).
type QueueDepth struct {
	Queue              string
	Available, Waiting int64
}

// WatchQueues makes every scrape read the job queues' depth through read
// (one grouped count over the job table; a scrape every 15 s is cheap).
// A failed read is logged and the gauge left out of that scrape.
func (m *Metrics) WatchQueues(read func(context.Context) ([]QueueDepth, error), log *slog.Logger) {
	if m != nil {
		m.Registry.MustRegister(&queueCollector{read: read, log: log})
	}
}

// WatchGroupCommit exports how SQLite's group commit batches writes:
// read returns the shared transactions committed and the calls they held,
// so rate(calls)/rate(commits) is the mean batch.
func (m *Metrics) WatchGroupCommit(read func() (commits, calls uint64)) {
	if m == nil {
		return
	}
	m.Registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "switchboard_db_group_commits_total",
			Help: "Transactions committed by SQLite's group commit, or PostgreSQL statements writing the runs that arrived together (each holds one or more callers' writes).",
		}, func() float64 { c, _ := read(); return float64(c) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "switchboard_db_group_commit_calls_total",
			Help: "Callers whose writes group commits held; divided by switchboard_db_group_commits_total, the mean batch.",
		}, func() float64 { _, n := read(); return float64(n) }),
	)
}

var queueDepthDesc = prometheus.NewDesc("switchboard_job_queue_depth",
	"Jobs waiting in a queue, by queue and state (available: due now; waiting: scheduled or to be retried).",
	[]string{"queue", "state"}, nil)

type queueCollector struct {
	read func(context.Context) ([]QueueDepth, error)
	log  *slog.Logger
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- queueDepthDesc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	qs, err := c.read(ctx)
	if err != nil {
		c.log.Warn("metrics: read job queue depth", "error", err)
		return
	}
	for _, q := range qs {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(q.Available), q.Queue, "available")
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(q.Waiting), q.Queue, "waiting")
	}
}
