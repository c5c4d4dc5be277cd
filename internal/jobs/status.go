package jobs

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// SystemStatus reads what an operator needs to see of the cluster: the
// nodes' heartbeats, the job queues and the latest failures. It never reads
// job args: they may be sealed or hold what a workspace sent.
type SystemStatus struct {
	d *db.DB
}

// NewSystemStatus returns the reader over d.
func NewSystemStatus(d *db.DB) *SystemStatus { return &SystemStatus{d: d} }

// Node is one node's heartbeat row.
type Node struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"startedAt"`
	LastSeen  time.Time `json:"lastSeen"`
	// Alive is whether it beat within the time after which it counts as
	// dead (15 s for both kinds of node).
	Alive bool `json:"alive"`
}

// QueueDepth counts a queue's jobs by state.
type QueueDepth struct {
	Name      string `json:"name"`
	Available int64  `json:"available"`
	Scheduled int64  `json:"scheduled"`
	Pending   int64  `json:"pending"`
	Running   int64  `json:"running"`
	Retryable int64  `json:"retryable"`
	Completed int64  `json:"completed"`
	Cancelled int64  `json:"cancelled"`
	Discarded int64  `json:"discarded"`
}

// FailedJob is a job whose latest attempt failed: retryable (it will be
// tried again) or discarded (it will not).
type FailedJob struct {
	ID          int64     `json:"id"`
	Kind        string    `json:"kind"`
	Queue       string    `json:"queue"`
	State       string    `json:"state" jsonschema:"enum=retryable,enum=discarded"`
	Error       string    `json:"error"`
	Attempts    int       `json:"attempts"`
	MaxAttempts int       `json:"maxAttempts"`
	FailedAt    time.Time `json:"failedAt"`
}

// System is the answer to GET /admin/system.
type System struct {
	// Database is the engine: "sqlite" (one process works every job) or
	// "postgres" (any number of nodes).
	Database string `json:"database" jsonschema:"enum=sqlite,enum=postgres"`
	// APINodes serve the API; JobNodes work jobs (PostgreSQL only: on
	// SQLite the one process working the file keeps no row).
	APINodes   []Node       `json:"apiNodes"`
	JobNodes   []Node       `json:"jobNodes"`
	Queues     []QueueDepth `json:"queues"`
	FailedJobs []FailedJob  `json:"failedJobs"`
}

// nodeAliveWindow matches NodeDeadAfterDefault and ratelimit.NodesDeadAfter.
const nodeAliveWindow = NodeDeadAfterDefault

// failedJobsShown bounds the failures listed.
const failedJobsShown = 20

// maxErrorLen bounds an error message in the answer; the full one stays in
// river_job.
const maxErrorLen = 1000

// Read answers the system view (system:read).
func (s *SystemStatus) Read(ctx context.Context, a actor.Actor) (System, error) {
	if !a.Can(actor.PermSystemRead) {
		return System{}, apperr.New(apperr.Forbidden, "you lack the permission %s", actor.PermSystemRead)
	}
	q := s.d.Read()
	now := db.Now()
	out := System{Database: string(s.d.Dialect), Queues: []QueueDepth{}, FailedJobs: []FailedJob{}}
	var err error
	if out.APINodes, err = nodes(ctx, q, "api_nodes", now); err != nil {
		return System{}, err
	}
	if out.JobNodes, err = nodes(ctx, q, "job_nodes", now); err != nil {
		return System{}, err
	}
	rows, err := q.QueryContext(ctx, `SELECT queue, state, count(*) FROM river_job GROUP BY queue, state ORDER BY queue`)
	if err != nil {
		return System{}, fmt.Errorf("count jobs: %w", err)
	}
	defer rows.Close()
	byName := map[string]int{}
	for rows.Next() {
		var queue, state string
		var n int64
		if err := rows.Scan(&queue, &state, &n); err != nil {
			return System{}, fmt.Errorf("scan job count: %w", err)
		}
		i, ok := byName[queue]
		if !ok {
			i = len(out.Queues)
			byName[queue] = i
			out.Queues = append(out.Queues, QueueDepth{Name: queue})
		}
		qd := &out.Queues[i]
		switch state {
		case "available":
			qd.Available = n
		case "scheduled":
			qd.Scheduled = n
		case "pending":
			qd.Pending = n
		case "running":
			qd.Running = n
		case "retryable":
			qd.Retryable = n
		case "completed":
			qd.Completed = n
		case "cancelled":
			qd.Cancelled = n
		case "discarded":
			qd.Discarded = n
		}
	}
	if err := rows.Err(); err != nil {
		return System{}, fmt.Errorf("count jobs: %w", err)
	}
	lastError := `json_extract(errors, '$[#-1].error')`
	if s.d.Dialect == db.Postgres {
		lastError = `errors[array_length(errors, 1)]->>'error'`
	}
	frows, err := q.QueryContext(ctx, `SELECT id, kind, queue, state, `+lastError+`, attempt, max_attempts,
		finalized_at, attempted_at, created_at
		FROM river_job WHERE state IN ('retryable', 'discarded')
		ORDER BY COALESCE(finalized_at, attempted_at, created_at) DESC, id DESC LIMIT $1`, failedJobsShown)
	if err != nil {
		return System{}, fmt.Errorf("list failed jobs: %w", err)
	}
	defer frows.Close()
	for frows.Next() {
		var j FailedJob
		var msg sql.NullString
		var finalized, attempted sql.NullTime
		var created time.Time
		if err := frows.Scan(&j.ID, &j.Kind, &j.Queue, &j.State, &msg, &j.Attempts, &j.MaxAttempts, &finalized, &attempted, &created); err != nil {
			return System{}, fmt.Errorf("scan failed job: %w", err)
		}
		j.Error, j.FailedAt = msg.String, created.UTC()
		if finalized.Valid {
			j.FailedAt = finalized.Time.UTC()
		} else if attempted.Valid {
			j.FailedAt = attempted.Time.UTC()
		}
		if len(j.Error) > maxErrorLen {
			j.Error = j.Error[:maxErrorLen] + "…"
		}
		out.FailedJobs = append(out.FailedJobs, j)
	}
	return out, frows.Err()
}

func nodes(ctx context.Context, q db.Querier, table string, now time.Time) ([]Node, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, started_at, heartbeat_at FROM `+table+` ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", table, err)
	}
	defer rows.Close()
	out := []Node{}
	for rows.Next() {
		var n Node
		if err := rows.Scan(&n.ID, &n.StartedAt, &n.LastSeen); err != nil {
			return nil, fmt.Errorf("scan %s: %w", table, err)
		}
		n.StartedAt, n.LastSeen = n.StartedAt.UTC(), n.LastSeen.UTC()
		n.Alive = now.Sub(n.LastSeen) < nodeAliveWindow
		out = append(out, n)
	}
	return out, rows.Err()
}
