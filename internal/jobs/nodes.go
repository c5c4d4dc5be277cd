package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard/switchboard/internal/db"
)

// Node heartbeats: fast failover on PostgreSQL (see orphans.go for the
// whole picture of how a dead node's jobs come back).
//
// Every runner's River client has an id of its own (newNodeID), which River
// records in river_job.attempted_by when the client takes a job. A worker
// node on PostgreSQL writes a row for that id in job_nodes before it starts
// working and refreshes its heartbeat_at every NodeDeadAfter/7 (2 s by
// default); it deletes the row when it stops cleanly. Every worker node also
// sweeps every NodeDeadAfter/3 (5 s): a job still 'running' whose latest
// attempt
//
//   - began more than NodeDeadAfter ago, and
//   - was made by a node with one of our ids (nodeIDPrefix) whose row is
//     missing or has not beaten for NodeDeadAfter,
//
// belongs to a node that died, and is made available again (rescueJobs), on
// whichever node swept first: every node may sweep, as moving a job only
// when it is still 'running' under that same attempt makes the sweep
// idempotent. A job taken by a client without heartbeats (an older version
// during a rolling upgrade, a tool) carries no such id and is left to River's
// rescuer. All times are the database's, so the nodes' clocks do not matter.

// NodeDeadAfterDefault is Config.NodeDeadAfter's default.
const NodeDeadAfterDefault = 15 * time.Second

// nodeIDPrefix starts the River client id of every runner, so a sweep can
// tell jobs taken by a heartbeating node from others.
const nodeIDPrefix = "sbn_"

// nodeGoneAfter is when a node row that stopped beating is deleted: by then
// River's rescuer has retried the node's jobs anyway.
const nodeGoneAfter = time.Hour

// newNodeID returns a River client id unique to this runner: the host (for
// whoever reads attempted_by) and 64 random bits.
func newNodeID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r == '.' || r == '-' || r == ':' || r <= ' ' || r > '~' {
			return '_'
		}
		return r
	}, host)
	if len(host) > 60 {
		host = host[:60]
	}
	if host == "" {
		host = "unknown_host"
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return nodeIDPrefix + host + "_" + hex.EncodeToString(b)
}

// NodeID is this runner's River client id: what river_job.attempted_by
// records for the jobs it takes.
func (r *Runner) NodeID() string { return r.id }

// heartbeats reports whether this runner keeps a job_nodes row: a worker
// node on PostgreSQL.
func (r *Runner) heartbeats() bool { return r.cfg.Work && r.d.Dialect == db.Postgres }

// beat marks this node alive now.
func (r *Runner) beat(ctx context.Context) error {
	_, err := r.d.SQL().ExecContext(ctx, `INSERT INTO job_nodes (id, started_at, heartbeat_at) VALUES ($1, now(), now())
		ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`, r.id)
	if err != nil {
		return fmt.Errorf("job node heartbeat: %w", err)
	}
	return nil
}

// forget deletes this node's row once it has stopped working jobs.
func (r *Runner) forget(ctx context.Context) error {
	if _, err := r.d.SQL().ExecContext(ctx, `DELETE FROM job_nodes WHERE id = $1`, r.id); err != nil {
		return fmt.Errorf("job node heartbeat: %w", err)
	}
	return nil
}

// runHeartbeat beats and sweeps until ctx ends.
func (r *Runner) runHeartbeat(ctx context.Context) {
	every := max(r.cfg.NodeDeadAfter/7, 10*time.Millisecond)
	sweepEvery := max(r.cfg.NodeDeadAfter/3, 10*time.Millisecond)
	beat := time.NewTicker(every)
	defer beat.Stop()
	sweep := time.NewTicker(sweepEvery)
	defer sweep.Stop()
	failing := false
	sweepNow := func() {
		n, err := r.rescueDeadNodes(ctx)
		if err != nil && ctx.Err() == nil {
			r.cfg.Log.Warn("rescue the jobs of dead nodes", "error", err)
		}
		if n > 0 {
			r.cfg.Log.Info("jobs left running by a node that stopped beating are available again", "jobs", n)
		}
	}
	// A node starting may be the first to notice a peer gone.
	sweepNow()
	for {
		select {
		case <-ctx.Done():
			return
		case <-beat.C:
			if err := r.beat(ctx); err != nil {
				if ctx.Err() == nil && !failing {
					r.cfg.Log.Warn("job node heartbeat failed; other nodes retry this node's jobs if it goes on failing",
						"error", err, "after", r.cfg.NodeDeadAfter)
				}
				failing = true
			} else {
				failing = false
			}
		case <-sweep.C:
			sweepNow()
		}
	}
}

// rescueDeadNodes makes the jobs of dead nodes (see the top of this file)
// available again and deletes long-dead nodes' rows. It returns how many
// jobs it moved.
func (r *Runner) rescueDeadNodes(ctx context.Context) (int, error) {
	exec := driver(r.d).GetExecutor()
	deadMs := r.cfg.NodeDeadAfter.Milliseconds()
	total := 0
	var after int64
	for {
		ids, now, err := r.deadNodeJobs(ctx, deadMs, after)
		if err != nil {
			return total, err
		}
		if len(ids) == 0 {
			break
		}
		after = ids[len(ids)-1]
		stuck, err := exec.JobGetByIDMany(ctx, &riverdriver.JobGetByIDManyParams{ID: ids})
		if err != nil {
			return total, fmt.Errorf("load the jobs of dead nodes: %w", err)
		}
		// Only attempts begun before the node could be told dead move; the
		// UPDATE checks it again, so a job taken anew since is left alone.
		horizon := now.Add(-r.cfg.NodeDeadAfter)
		stuck = slices.DeleteFunc(stuck, func(j *rivertype.JobRow) bool { return j.State != rivertype.JobStateRunning })
		if err := rescueJobs(ctx, exec, stuck, horizon, now,
			"the node working this job stopped beating; made available again by node "+r.id); err != nil {
			return total, fmt.Errorf("rescue the jobs of dead nodes: %w", err)
		}
		total += len(stuck)
		if len(ids) < sweepBatch {
			break
		}
	}
	if _, err := r.d.SQL().ExecContext(ctx, `DELETE FROM job_nodes WHERE heartbeat_at < now() - $1::bigint * interval '1 millisecond'`,
		nodeGoneAfter.Milliseconds()); err != nil {
		return total, fmt.Errorf("delete dead job nodes: %w", err)
	}
	return total, nil
}

// sweepBatch is how many jobs one sweep query returns at most.
const sweepBatch = 500

// deadNodeJobs returns the ids (above after, in order) of 'running' jobs
// whose latest attempt began more than deadMs ago on a heartbeating node
// that is now missing or silent for as long, and the database's time.
func (r *Runner) deadNodeJobs(ctx context.Context, deadMs, after int64) ([]int64, time.Time, error) {
	rows, err := r.d.SQL().QueryContext(ctx, `
		SELECT j.id, now()
		FROM river_job j
		LEFT JOIN job_nodes n ON n.id = j.attempted_by[cardinality(j.attempted_by)]
		WHERE j.state = 'running'
		  AND j.id > $3
		  AND j.attempted_at < now() - $1::bigint * interval '1 millisecond'
		  AND starts_with(j.attempted_by[cardinality(j.attempted_by)], $2)
		  AND (n.id IS NULL OR n.heartbeat_at < now() - $1::bigint * interval '1 millisecond')
		ORDER BY j.id
		LIMIT `+fmt.Sprint(sweepBatch), deadMs, nodeIDPrefix, after)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("find the jobs of dead nodes: %w", err)
	}
	defer rows.Close()
	var ids []int64
	var now time.Time
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id, &now); err != nil {
			return nil, time.Time{}, fmt.Errorf("find the jobs of dead nodes: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, fmt.Errorf("find the jobs of dead nodes: %w", err)
	}
	return ids, now.UTC(), nil
}
