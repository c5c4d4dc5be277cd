package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard/switchboard/internal/db"
)

// Recovering the jobs of a node that died.
//
// A worker marks a job 'running' when it takes it. If its process dies
// (crash, OOM kill, kill -9), the job stays 'running' until someone makes
// it available again:
//
//   - On PostgreSQL, where many nodes work the same queue, the other nodes
//     notice that the dead node stopped beating (nodes.go): every worker
//     node keeps a heartbeat row in job_nodes under its River client id,
//     which River records as the job's attempted_by, and every worker node
//     sweeps every few seconds for 'running' jobs whose node has been
//     silent for Config.NodeDeadAfter (15 s) and makes them available again
//     (rescueJobs, below). Jobs taken by a client without heartbeats (an
//     older version mid-upgrade) are left to River's rescuer on the elected
//     leader: every 30 s it retries the jobs that have been running longer
//     than both RescueStuckAfter and their worker's own Timeout.
//   - On SQLite there is exactly one worker process per database file: Start
//     takes an exclusive flock on <database>.workers.lock first, and a second
//     process that finds it held stands by: it serves the API and queues
//     jobs, the lock holder works them, and it tries the lock every second
//     so it takes over when the holder stops or dies (a rolling restart). Holding the lock proves that
//     no other process works this file, so every job still 'running' at that
//     moment belongs to a process that died — the kernel releases a flock
//     when its holder dies, even by kill -9 — and Start makes them available
//     at once, instead of minutes later. It also clears the dead process's
//     River leadership, so scheduled jobs (delays, retries) move again at
//     once instead of after the lease expires.
//
// Either way a job may run again after doing part or all of its work (and
// on PostgreSQL, a node stalled rather than dead for NodeDeadAfter may still
// be working a job another node has taken up): jobs must be idempotent (the workflow engine's checkpoints, the gateway's send
// records and the plugins' idempotency keys are how ours are).

// RescueStuckAfter is River's RescueStuckJobsAfter: how long a job may stay
// 'running' before the leader's rescuer retries it as abandoned by a dead
// node. River also waits out the job's own Timeout, so this only has to be
// at least the client's JobTimeout (5 min); it is set above the longest
// worker Timeout (workflow.run: the 5-minute plugin limit plus a minute) so
// that a job whose worker overruns its timeout is not run twice at once. On
// SQLite, start-up recovery (above), and on PostgreSQL the heartbeats
// (nodes.go), make it a last resort.
const RescueStuckAfter = 10 * time.Minute

// workerLock is the exclusive lock of a SQLite node's workers.
type workerLock struct {
	f *os.File
}

// lockPath is where a SQLite database's worker lock lives.
func lockPath(d *db.DB) string { return d.Path + ".workers.lock" }

// claimWorkers prepares a worker node to start: on SQLite it takes the
// worker lock and recovers the jobs orphaned by a dead process. It reports
// false when another process holds the lock; this node then queues jobs
// and stands by (Start) until the lock is free.
func (r *Runner) claimWorkers(ctx context.Context) (bool, error) {
	ok, err := r.tryClaimWorkers(ctx)
	if err == nil && !ok {
		r.cfg.Log.Warn("another process works this SQLite database's jobs; this node queues them and takes over when that process stops (run one worker process per SQLite file, or use PostgreSQL)",
			"lock", lockPath(r.d))
	}
	return ok, err
}

// tryClaimWorkers takes the worker lock if it is free (see claimWorkers).
func (r *Runner) tryClaimWorkers(ctx context.Context) (bool, error) {
	if r.d.Dialect != db.SQLite || r.d.Path == "" {
		return true, nil
	}
	path := lockPath(r.d)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false, fmt.Errorf("job worker lock: %w", err)
	}
	ok, err := tryLock(f)
	if err != nil {
		f.Close()
		return false, fmt.Errorf("job worker lock %s: %w", path, err)
	}
	if !ok {
		f.Close()
		return false, nil
	}
	if !canLock {
		// No exclusive lock on this platform: leave abandoned jobs to
		// River's rescuer, which cannot mistake a live job for one.
		r.lock = &workerLock{f: f}
		return true, nil
	}
	n, err := recoverOrphans(ctx, r.d)
	if err != nil {
		unlock(f)
		f.Close()
		return false, err
	}
	if n > 0 {
		r.cfg.Log.Info("jobs left running by a process that died are available again", "jobs", n)
	}
	r.lock = &workerLock{f: f}
	return true, nil
}

// releaseWorkers drops the worker lock once the workers have stopped. If
// they did not stop (stopErr), jobs may still be running in this process:
// the lock is kept until the process exits so that no other node in it
// takes them for orphans.
func (r *Runner) releaseWorkers(stopErr error) {
	if r.lock == nil || stopErr != nil {
		return
	}
	unlock(r.lock.f)
	r.lock.f.Close()
	r.lock = nil
}

// orphanHorizon is later than any job could have been taken: holding the
// lock, every running job is an orphan, whatever its clock said.
const orphanHorizon = 100 * 365 * 24 * time.Hour

// recoverOrphans makes every job in state 'running' available now (or
// discarded or cancelled, as rescueJobs does), and removes a stale leader.
// It returns how many jobs it moved. Only the holder of the worker lock may
// call it.
func recoverOrphans(ctx context.Context, d *db.DB) (int, error) {
	exec := driver(d).GetExecutor()
	now := time.Now().UTC()
	horizon := now.Add(orphanHorizon)
	total := 0
	var after int64
	for {
		stuck, err := exec.JobGetStuck(ctx, &riverdriver.JobGetStuckParams{AfterID: after, Max: 500, StuckHorizon: horizon})
		if err != nil {
			return total, fmt.Errorf("find orphaned jobs: %w", err)
		}
		if len(stuck) == 0 {
			break
		}
		after = stuck[len(stuck)-1].ID
		if err := rescueJobs(ctx, exec, stuck, horizon, now,
			"the process working this job died; made available again when the next worker process started"); err != nil {
			return total, fmt.Errorf("recover orphaned jobs: %w", err)
		}
		total += len(stuck)
	}
	// The dead process may have been River's leader; its lease would keep
	// this node from scheduling due jobs until it expired.
	if _, err := exec.LeaderDeleteExpired(ctx, &riverdriver.LeaderDeleteExpiredParams{Now: &horizon}); err != nil {
		return total, fmt.Errorf("clear the dead leader: %w", err)
	}
	return total, nil
}

// rescueJobs does for jobs abandoned by a dead worker what River's rescuer
// does: each becomes available now, or discarded if that was its last
// attempt, or cancelled if its cancellation was asked for; reason is
// recorded as the attempt's error. Only jobs still 'running' and attempted
// before horizon move, so a job that finished or was taken again since it
// was found is left alone: running it twice over (two nodes sweeping at
// once) is harmless. now is the time recorded (and when retries are due).
func rescueJobs(ctx context.Context, exec riverdriver.Executor, stuck []*rivertype.JobRow, horizon, now time.Time, reason string) error {
	p := riverdriver.JobRescueManyParams{StuckHorizon: horizon}
	for _, j := range stuck {
		var meta struct {
			CancelAttemptedAt time.Time `json:"cancel_attempted_at"`
		}
		_ = json.Unmarshal(j.Metadata, &meta)
		state, finalized, at := rivertype.JobStateAvailable, (*time.Time)(nil), now
		switch {
		case !meta.CancelAttemptedAt.IsZero():
			state, finalized, at = rivertype.JobStateCancelled, &now, j.ScheduledAt
		case j.Attempt >= j.MaxAttempts:
			state, finalized, at = rivertype.JobStateDiscarded, &now, j.ScheduledAt
		}
		e, err := json.Marshal(rivertype.AttemptError{At: now, Attempt: max(j.Attempt, 0), Error: reason})
		if err != nil {
			return err
		}
		p.ID = append(p.ID, j.ID)
		p.Error = append(p.Error, e)
		p.FinalizedAt = append(p.FinalizedAt, finalized)
		p.ScheduledAt = append(p.ScheduledAt, at)
		p.State = append(p.State, string(state))
	}
	if len(p.ID) == 0 {
		return nil
	}
	_, err := exec.JobRescueMany(ctx, &p)
	return err
}
