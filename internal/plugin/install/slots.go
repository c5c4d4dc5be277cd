package install

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// Concurrency slots. A workspace runs at most its plan's cpuCores plugin
// executions at once — synchronous, asynchronous, event-triggered and
// workflow steps alike. A slot is a RUNNING row of plugin_executions, taken
// under the workspace lock (so two nodes cannot both take the last one) and
// held as a lease: until the result is recorded, or at the latest until
// lease_until, the end of the execution's time limit plus leaseMargin. A
// worker that dies, or loses the database, before recording the result
// therefore frees its slot when the lease ends; the reaper then finishes
// the row so history shows no execution RUNNING forever.

// ErrBusy is the answer for an execution that would take its workspace
// over its plan's concurrent executions (cpuCores): try again shortly.
var ErrBusy = errors.New("workspace at its concurrency limit")

const (
	// leaseMargin is the time past an execution's limit that its slot stays
	// taken, for the plugin to notice its deadline and the result to be
	// written.
	leaseMargin = 5 * time.Second
	// legacyStaleAfter bounds a RUNNING row written without a lease (by a
	// node of an older version, during a rolling upgrade).
	legacyStaleAfter = 10 * time.Minute
	// DefaultSlotWait is how long a synchronous execution waits for a slot
	// before it is answered RATE_LIMITED.
	DefaultSlotWait = 10 * time.Second
	// slotPoll is how often a waiting execution looks again for a slot
	// freed on another node (one freed on this node wakes it at once).
	slotPoll = 250 * time.Millisecond
	// busyRetryAfter is the Retry-After of a RATE_LIMITED answer.
	busyRetryAfter = 1
	// ReapEvery is how often the reaper finishes executions whose lease
	// ended.
	ReapEvery = 30 * time.Second
)

// interruptedMessage is the error of an execution whose lease ended before
// its result was recorded.
const interruptedMessage = "the execution was interrupted (its worker stopped or lost the database) and did not finish within its time limit"

// SetSlotWait sets how long a synchronous execution waits for a free slot
// (DefaultSlotWait if d <= 0).
func (s *Service) SetSlotWait(d time.Duration) { s.slotWait.Store(int64(d)) }

func (s *Service) waitForSlot() time.Duration {
	if d := time.Duration(s.slotWait.Load()); d > 0 {
		return d
	}
	return DefaultSlotWait
}

// execLimit is the longest a standalone or event-triggered execution runs:
// the sandbox's limit and a minute for built-ins (the plugin.execute job's
// timeout is the same).
func (s *Service) execLimit() time.Duration {
	return s.market.Engine().Options().Timeout + time.Minute
}

// leaseFor is the lease of an execution that starts now and is bound by
// ctx's deadline, or by execLimit without one.
func (s *Service) leaseFor(ctx context.Context) time.Time {
	end := db.Now().Add(s.execLimit())
	if dl, ok := ctx.Deadline(); ok {
		end = dl.UTC()
	}
	return end.Add(leaseMargin).Truncate(time.Microsecond)
}

// slotSignal wakes the executions of this node waiting for a slot when one
// is freed here.
type slotSignal struct {
	mu sync.Mutex
	ch chan struct{}
}

func (w *slotSignal) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch == nil {
		w.ch = make(chan struct{})
	}
	return w.ch
}

func (w *slotSignal) freed() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.ch != nil {
		close(w.ch)
		w.ch = nil
	}
}

// checkConcurrency fails with ErrBusy when the workspace already runs as
// many executions as its plan's cpuCores allow (besides self). The caller
// holds the workspace lock.
func checkConcurrency(ctx context.Context, tx *db.Tx, ws string, plan actor.Plan, self string) error {
	now := db.Now()
	var running int64
	if err := db.Scope(tx, ws).QueryRowContext(ctx, `SELECT COUNT(*) FROM plugin_executions
		WHERE workspace_id = $1 AND status = 'RUNNING' AND id <> $2
		AND (lease_until > $3 OR (lease_until IS NULL AND started_at > $4))`,
		self, now, now.Add(-legacyStaleAfter)).Scan(&running); err != nil {
		return fmt.Errorf("count running executions: %w", err)
	}
	if running >= slotLimit(plan) {
		return ErrBusy
	}
	return nil
}

func slotLimit(plan actor.Plan) int64 {
	if limit := actor.PlanLimits[plan].CPUCores; limit > 0 {
		return limit
	}
	return 1
}

// claimWaiting runs take — which writes the RUNNING row — in a transaction
// holding the workspace lock once a slot is free, waiting for one up to the
// slot wait. Still busy then, it answers RATE_LIMITED with a Retry-After.
func (s *Service) claimWaiting(ctx context.Context, ws string, plan actor.Plan, self string, take func(tx *db.Tx) error) error {
	deadline := time.Now().Add(s.waitForSlot())
	for {
		freed := s.slots.wait()
		err := s.db.Tx(ctx, func(tx *db.Tx) error {
			if err := db.LockWorkspace(ctx, tx, ws); err != nil {
				return err
			}
			if err := checkConcurrency(ctx, tx, ws, plan, self); err != nil {
				return err
			}
			return take(tx)
		})
		if !errors.Is(err, ErrBusy) {
			return err
		}
		left := time.Until(deadline)
		if left <= 0 {
			limit := slotLimit(plan)
			return apperr.New(apperr.RateLimited, "the workspace already runs %d plugin execution(s) at once, the most its plan allows (cpuCores); retry shortly", limit).
				WithDetails(map[string]any{"retryAfterSeconds": busyRetryAfter, "limit": limit})
		}
		t := time.NewTimer(min(left, slotPoll))
		select {
		case <-freed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// record writes an execution's end (fn) and frees its slot. The result
// exists only in memory until then, so a transient database fault is
// retried — even if ctx ended: the plugin ran — until the time given,
// normally the end of the execution's lease; given up, the lease frees the
// slot and the reaper finishes the row.
func (s *Service) record(ctx context.Context, id string, until time.Time, fn func(ctx context.Context, tx *db.Tx) error) error {
	ctx = context.WithoutCancel(ctx)
	wait := 50 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err := s.db.Tx(ctx, func(tx *db.Tx) error { return fn(ctx, tx) })
		if err == nil {
			s.slots.freed()
			return nil
		}
		if !db.IsTransient(err) || time.Now().Add(wait).After(until) {
			return err
		}
		s.log.Warn("record plugin execution: retrying", "execution", id, "attempt", attempt, "error", err)
		time.Sleep(wait)
		wait = min(2*wait, time.Second)
	}
}

// recordWithin is how long a synchronous execution, whose caller waits,
// retries recording its result.
const recordWithin = 5 * time.Second

// ReapExpired finishes the RUNNING executions of every workspace whose
// lease ended: FAILED, saying they were interrupted (a workflow step's
// retry takes its row over again). The rows of inline built-in steps,
// which only held a slot, are deleted. It returns how many it finished.
func (s *Service) ReapExpired(ctx context.Context) (int64, error) {
	now := db.Now()
	var n int64
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		// Every workspace's rows: the reaper is the system's.
		res, err := tx.ExecContext(ctx, `DELETE FROM plugin_executions WHERE status = 'RUNNING' AND installation_id = ''
			AND (lease_until < $1 OR (lease_until IS NULL AND started_at < $2))`, now, now.Add(-legacyStaleAfter))
		if err != nil {
			return fmt.Errorf("reap step slots: %w", err)
		}
		d, _ := res.RowsAffected()
		res, err = tx.ExecContext(ctx, `UPDATE plugin_executions SET status = 'FAILED', error = $1, finished_at = $2, lease_until = NULL
			WHERE status = 'RUNNING' AND (lease_until < $2 OR (lease_until IS NULL AND started_at < $3))`,
			interruptedMessage, now, now.Add(-legacyStaleAfter))
		if err != nil {
			return fmt.Errorf("reap executions: %w", err)
		}
		u, _ := res.RowsAffected()
		n = d + u
		return nil
	})
	if err == nil && n > 0 {
		s.slots.freed()
	}
	return n, err
}

// ReapArgs is the periodic job that runs ReapExpired.
type ReapArgs struct{}

// Kind names the job.
func (ReapArgs) Kind() string { return "plugin.reap" }

type reapWorker struct {
	river.WorkerDefaults[ReapArgs]
	s *Service
}

func (w *reapWorker) Work(ctx context.Context, _ *river.Job[ReapArgs]) error {
	n, err := w.s.ReapExpired(ctx)
	if n > 0 {
		w.s.log.Warn("finished plugin executions whose lease ended", "count", n)
	}
	return err
}
