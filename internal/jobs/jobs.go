// Package jobs runs Switchboard's background work on River: durable jobs in
// the same database as everything else, inserted in the transaction of the
// change that causes them, so work and its follow-up commit or roll back
// together. The same code runs on SQLite (riversqlite) and on a PostgreSQL
// cluster (riverdatabasesql with a pgx listener for LISTEN/NOTIFY).
//
// Both drivers speak database/sql transactions (*sql.Tx), which is what
// db.Tx wraps; that is why PostgreSQL uses riverdatabasesql rather than
// riverpgxv5: a job can then join any service transaction.
package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/telemetry"
)

// Queues, one per plan tier plus a paid priority lane. Routing picks the
// queue from the workspace's plan, so a flood on the free tier never sits in
// front of a paying workspace's job.
const (
	QueueDefault  = river.QueueDefault
	QueuePriority = "priority"
)

// QueueFor returns the queue for work of a workspace on plan p.
func QueueFor(p actor.Plan) string {
	switch p {
	case actor.Starter:
		return "starter"
	case actor.Pro:
		return "pro"
	case actor.Business:
		return "business"
	case actor.Enterprise:
		return "enterprise"
	}
	return "free"
}

// queueWorkers is each queue's share of one node's worker slots.
var queueWorkers = map[string]int{
	QueueDefault: 10, "free": 10, "starter": 10, "pro": 15, "business": 20, "enterprise": 20, QueuePriority: 15,
}

func driver(d *db.DB) riverdriver.Driver[*sql.Tx] {
	if d.Dialect == db.Postgres {
		return riverdatabasesql.NewWithPgxListener(d.SQL(), d.Pool)
	}
	return riversqlite.New(d.SQL())
}

// Migrate applies River's own migrations.
func Migrate(ctx context.Context, d *db.DB) error {
	m, err := rivermigrate.New(driver(d), nil)
	if err != nil {
		return fmt.Errorf("job migrations: %w", err)
	}
	if _, err := m.Migrate(db.WithoutTimeout(ctx), rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("job migrations: %w", err)
	}
	return nil
}

// Config tunes the runner.
type Config struct {
	// Work makes this node run jobs; an API-only node only inserts them.
	Work bool
	Log  *slog.Logger
	// FetchPollInterval is how often idle workers look for jobs where no
	// notification arrives (SQLite always; PostgreSQL when LISTEN drops).
	// Default 500 ms: every queue polls the single SQLite writer, so a
	// shorter interval costs idle CPU and write-lock time.
	FetchPollInterval time.Duration
	// NodeDeadAfter is, on PostgreSQL, how long a worker node may go
	// without a heartbeat before the other nodes take it for dead and
	// retry the jobs it was running (nodes.go). Default 15 s: a node
	// beats every NodeDeadAfter/7, so a live one is not taken for dead
	// over a few slow writes. Jobs must be idempotent anyway; a longer
	// setting only trades failover time for fewer double runs of jobs on
	// a node stalled (not dead) that long.
	NodeDeadAfter time.Duration
}

// Runner owns the River client of one node. Build it with NewRunner, let
// every domain service register its workers on Workers(), then Open it.
type Runner struct {
	Client   *river.Client[*sql.Tx]
	d        *db.DB
	cfg      Config
	workers  *river.Workers
	periodic []*river.PeriodicJob
	charge   PriorityCharger
	backlog  *backlogMiddleware
	metrics  *telemetry.Metrics
	stopBg   context.CancelFunc
	bgDone   chan struct{}
	lock     *workerLock // SQLite: this process's claim to work jobs (orphans.go)
	id       string      // the River client id, unique to this runner (nodes.go)
	// stopBeat ends the PostgreSQL heartbeat (nodes.go), beatDone closes
	// when it has.
	stopBeat context.CancelFunc
	beatDone chan struct{}
	// mu orders a standby node's late start against Stop.
	mu       sync.Mutex
	stopping bool
}

// AddPeriodic schedules a job kind to be enqueued on an interval (by the
// elected leader only, so once per cluster). Call before Open.
func (r *Runner) AddPeriodic(every time.Duration, args func() river.JobArgs) {
	r.periodic = append(r.periodic, river.NewPeriodicJob(river.PeriodicInterval(every),
		func() (river.JobArgs, *river.InsertOpts) { return args(), &river.InsertOpts{Queue: QueueDefault} },
		&river.PeriodicJobOpts{RunOnStart: true}))
}

// NewRunner returns a runner whose client is not built yet.
func NewRunner(d *db.DB, cfg Config) *Runner {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.FetchPollInterval <= 0 {
		cfg.FetchPollInterval = 500 * time.Millisecond
	}
	if cfg.NodeDeadAfter <= 0 {
		cfg.NodeDeadAfter = NodeDeadAfterDefault
	}
	r := &Runner{d: d, cfg: cfg, id: newNodeID(), workers: river.NewWorkers(), backlog: &backlogMiddleware{d: d, pending: map[string]int64{}}}
	river.AddWorker(r.workers, &backlogSweepWorker{d: d})
	r.AddPeriodic(10*time.Minute, func() river.JobArgs { return backlogSweepArgs{} })
	return r
}

// Workers is the registry domain packages add their workers to
// (river.AddWorker) before Open.
func (r *Runner) Workers() *river.Workers { return r.workers }

// Open builds the River client with every registered worker.
func (r *Runner) Open() error {
	poll := r.cfg.FetchPollInterval
	rc := &river.Config{
		// attempted_by names the node that took a job (nodes.go).
		ID:                r.id,
		Logger:            r.cfg.Log,
		FetchCooldown:     poll / 2,
		FetchPollInterval: poll,
		JobTimeout:        5 * time.Minute,
		Middleware:        []rivertype.Middleware{r.backlog},
		// Completed jobs are history we do not need; failed ones stay a
		// week for inspection.
		CompletedJobRetentionPeriod: time.Hour,
		DiscardedJobRetentionPeriod: 7 * 24 * time.Hour,

		// How a dead node's jobs come back: orphans.go.
		RescueStuckJobsAfter: RescueStuckAfter,
	}
	if r.cfg.Work {
		rc.Workers = r.workers
		rc.PeriodicJobs = r.periodic
		rc.Queues = map[string]river.QueueConfig{}
		for q, n := range queueWorkers {
			rc.Queues[q] = river.QueueConfig{MaxWorkers: n}
		}
	}
	if r.metrics != nil {
		rc.Middleware = append(rc.Middleware, &metricsMiddleware{m: r.metrics})
	}
	c, err := river.NewClient(driver(r.d), rc)
	if err != nil {
		return fmt.Errorf("job client: %w", err)
	}
	r.Client = c
	return nil
}

// Start begins working jobs (no-op on an insert-only node).
func (r *Runner) Start(ctx context.Context) error {
	if !r.cfg.Work {
		return nil
	}
	// On SQLite: one worker process per file, and its dead predecessor's
	// jobs back at once (orphans.go).
	ok, err := r.claimWorkers(ctx)
	if err != nil {
		return err
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.stopBg, r.bgDone = cancel, make(chan struct{})
	if !ok {
		// Another process works this SQLite file: stand by and take over
		// when its lock is released (it stopped or died).
		go func() {
			defer close(r.bgDone)
			if r.standby(bg) {
				r.backlog.run(bg, 200*time.Millisecond)
			}
		}()
		return nil
	}
	// On PostgreSQL: alive before taking any job, so no job of this node
	// ever looks like a dead one's (nodes.go).
	if r.heartbeats() {
		if err := r.beat(ctx); err != nil {
			cancel()
			close(r.bgDone)
			r.stopBg = nil
			return err
		}
	}
	if err := r.Client.Start(context.WithoutCancel(ctx)); err != nil {
		cancel()
		close(r.bgDone)
		r.stopBg = nil
		r.releaseWorkers(nil)
		if r.heartbeats() {
			_ = r.forget(context.WithoutCancel(ctx))
		}
		return err
	}
	if r.heartbeats() {
		hb, stop := context.WithCancel(context.WithoutCancel(ctx))
		r.stopBeat, r.beatDone = stop, make(chan struct{})
		go func() {
			defer close(r.beatDone)
			r.runHeartbeat(hb)
		}()
	}
	go func() {
		defer close(r.bgDone)
		r.backlog.run(bg, 200*time.Millisecond)
	}()
	return nil
}

// standbyEvery is how often a standby SQLite node tries the worker lock.
const standbyEvery = time.Second

// standby waits for the worker lock and starts working once it has it. It
// reports whether it started.
func (r *Runner) standby(ctx context.Context) bool {
	t := time.NewTicker(standbyEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		ok, err := r.tryClaimWorkers(ctx)
		if err != nil {
			r.cfg.Log.Warn("job worker lock", "error", err)
			continue
		}
		if !ok {
			continue
		}
		r.mu.Lock()
		if r.stopping {
			r.mu.Unlock()
			r.releaseWorkers(nil)
			return false
		}
		err = r.Client.Start(context.WithoutCancel(ctx))
		r.mu.Unlock()
		if err != nil {
			r.cfg.Log.Error("start job workers", "error", err)
			r.releaseWorkers(nil)
			return false
		}
		r.cfg.Log.Info("took over the job workers of this SQLite database")
		return true
	}
}

// Stop lets running jobs finish for half of ctx's remaining time (5 s
// without a deadline), then cancels what is left; a cancelled job is
// retried later, on this node or another.
func (r *Runner) Stop(ctx context.Context) error {
	if !r.cfg.Work || r.Client == nil {
		return nil
	}
	r.mu.Lock()
	r.stopping = true
	r.mu.Unlock()
	// Drain first: a job cancelled mid-way (a message delivered but not
	// yet marked sent) would be done again after the restart. Whatever is
	// still running at half the remaining time is cancelled.
	soft := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		soft = time.Until(dl) / 2
	}
	sctx, cancel := context.WithTimeout(ctx, soft)
	err := r.Client.Stop(sctx)
	cancel()
	if err != nil && ctx.Err() == nil {
		err = r.Client.StopAndCancel(ctx)
	}
	if r.stopBg != nil {
		r.stopBg()
		<-r.bgDone
		r.stopBg = nil
	}
	r.releaseWorkers(err)
	r.stopHeartbeat(ctx, err)
	return err
}

// stopHeartbeat ends the heartbeat once the workers have stopped and
// deletes this node's row. If they did not stop (stopErr), jobs may still
// be running in this process: it goes on beating until the process exits,
// so that no other node takes them for a dead node's.
func (r *Runner) stopHeartbeat(ctx context.Context, stopErr error) {
	if r.stopBeat == nil || stopErr != nil {
		return
	}
	r.stopBeat()
	<-r.beatDone
	r.stopBeat = nil
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := r.forget(fctx); err != nil {
		r.cfg.Log.Warn("job node heartbeat", "error", err)
	}
}

// InsertTx enqueues a job in the caller's transaction: it exists only if
// the transaction commits.
func (r *Runner) InsertTx(ctx context.Context, tx *db.Tx, args river.JobArgs, opts *river.InsertOpts) (*rivertype.JobInsertResult, error) {
	opts = withTrace(ctx, opts)
	res, err := r.Client.InsertTx(tx.Ctx(ctx), tx.Tx, args, opts)
	if err != nil {
		return nil, fmt.Errorf("enqueue %s: %w", args.Kind(), err)
	}
	return res, nil
}
