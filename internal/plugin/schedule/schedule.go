// Package schedule fires the scheduler built-in's cron schedules: a
// periodic River job sweeps every enabled scheduler installation, claims
// each schedule's due tick with a conditional UPDATE and, in the same
// transaction, enqueues a job that sends the message through the gateway.
// However many nodes sweep at once, a tick is claimed — and its send
// enqueued — once.
package schedule

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/workspace"
)

// Sender sends a message through a gateway; *gateway.Service is one.
type Sender interface {
	Send(ctx context.Context, a actor.Actor, gatewayID string, in gateway.SendInput) (gateway.SendRecord, error)
}

// Service sweeps schedules and sends their messages.
type Service struct {
	db     *db.DB
	runner *jobs.Runner
	sender Sender
	log    *slog.Logger
}

// New returns the schedule service.
func New(d *db.DB, runner *jobs.Runner, sender Sender, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: d, runner: runner, sender: sender, log: log}
}

// SweepEvery is how often the sweep runs; cron's resolution is a minute.
const SweepEvery = 30 * time.Second

// SweepArgs is the periodic sweep job.
type SweepArgs struct{}

func (SweepArgs) Kind() string { return "plugin.schedule_sweep" }

// SendArgs is one claimed tick's send.
type SendArgs struct {
	WorkspaceID    string    `json:"workspaceId"`
	InstallationID string    `json:"installationId"`
	Schedule       string    `json:"schedule"`
	Tick           time.Time `json:"tick"`
	GatewayID      string    `json:"gatewayId"`
	ChatID         string    `json:"chatId,omitempty"`
	Text           string    `json:"text"`
}

func (SendArgs) Kind() string { return "plugin.schedule_send" }

type sweepWorker struct {
	river.WorkerDefaults[SweepArgs]
	s *Service
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[SweepArgs]) error {
	_, err := w.s.Sweep(ctx, time.Now())
	return err
}

type sendWorker struct {
	river.WorkerDefaults[SendArgs]
	s *Service
}

func (w *sendWorker) Work(ctx context.Context, job *river.Job[SendArgs]) error {
	return w.s.Send(ctx, job.Args)
}

// RegisterJobs adds the workers and the periodic sweep; call before Open.
func (s *Service) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &sweepWorker{s: s})
	river.AddWorker(r.Workers(), &sendWorker{s: s})
	r.AddPeriodic(SweepEvery, func() river.JobArgs { return SweepArgs{} })
}

type installation struct {
	ws, id, config string
}

// Sweep claims every schedule tick due at now (the latest tick after the
// one last fired; missed older ticks are skipped, not replayed) and
// enqueues its send. A schedule seen for the first time starts at now and
// fires from its next tick on. It returns how many ticks it claimed.
func (s *Service) Sweep(ctx context.Context, now time.Time) (int, error) {
	now = now.UTC().Truncate(time.Microsecond)
	// Every workspace's scheduler installations: a cross-workspace read
	// by the system, like the other sweeps; each claim below is scoped.
	rows, err := s.db.Read().QueryContext(ctx, `SELECT workspace_id, id, config FROM plugin_installations
		WHERE plugin_slug = 'scheduler' AND enabled = $1 ORDER BY id`, true)
	if err != nil {
		return 0, fmt.Errorf("list schedulers: %w", err)
	}
	var insts []installation
	for rows.Next() {
		var in installation
		if err := rows.Scan(&in.ws, &in.id, &in.config); err != nil {
			rows.Close()
			return 0, fmt.Errorf("scan scheduler: %w", err)
		}
		insts = append(insts, in)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	fired := 0
	var errs []error
	for _, in := range insts {
		scheds, err := builtin.ParseSchedules([]byte(in.config))
		if err != nil {
			s.log.Warn("scheduler: bad config", "installation", in.id, "error", err)
			continue
		}
		for _, sc := range scheds {
			ok, err := s.claim(ctx, in, sc, now)
			if err != nil {
				errs = append(errs, fmt.Errorf("schedule %s/%s: %w", in.id, sc.Name, err))
				continue
			}
			if ok {
				fired++
			}
		}
	}
	return fired, errors.Join(errs...)
}

// dueTick is the latest tick in (last, now], or zero.
func dueTick(sc builtin.Schedule, last, now time.Time) time.Time {
	if now.Sub(last) > 48*time.Hour {
		last = now.Add(-48 * time.Hour) // only the latest tick matters
	}
	var due time.Time
	for t := sc.Expr.Next(last, sc.Location); !t.IsZero() && !t.After(now); t = sc.Expr.Next(t, sc.Location) {
		due = t
	}
	return due.UTC()
}

func (s *Service) claim(ctx context.Context, in installation, sc builtin.Schedule, now time.Time) (bool, error) {
	claimed := false
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		q := db.Scope(tx, in.ws)
		var last time.Time
		err := q.QueryRowContext(ctx, `SELECT last_tick FROM plugin_schedule_ticks
			WHERE workspace_id = $1 AND installation_id = $2 AND schedule_name = $3`, in.id, sc.Name).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) {
			_, err := q.ExecContext(ctx, `INSERT INTO plugin_schedule_ticks (workspace_id, installation_id, schedule_name, last_tick, updated_at)
				VALUES ($1, $2, $3, $4, $4) ON CONFLICT (installation_id, schedule_name) DO NOTHING /* workspace_id = $1 */`, in.id, sc.Name, now)
			return err
		}
		if err != nil {
			return err
		}
		due := dueTick(sc, last, now)
		if due.IsZero() {
			return nil
		}
		res, err := q.ExecContext(ctx, `UPDATE plugin_schedule_ticks SET last_tick = $4, updated_at = $5
			WHERE workspace_id = $1 AND installation_id = $2 AND schedule_name = $3 AND last_tick < $4`, in.id, sc.Name, due, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil // another sweep claimed it
		}
		// A paused workspace's tick is claimed and skipped, so a resume
		// does not send what it missed.
		if paused, err := workspace.Paused(ctx, tx, in.ws); err != nil || paused {
			return err
		}
		args := SendArgs{WorkspaceID: in.ws, InstallationID: in.id, Schedule: sc.Name, Tick: due,
			GatewayID: sc.GatewayID, ChatID: sc.ChatID, Text: sc.Text}
		if _, err := s.runner.InsertTx(ctx, tx, args, &river.InsertOpts{Queue: jobs.QueueDefault, MaxAttempts: 3}); err != nil {
			return err
		}
		claimed = true
		return audit.Record(ctx, tx, credit.SystemActor(in.ws), audit.Entry{Action: "plugin.schedule.fired", Resource: "plugin_installation",
			ResourceID: in.id, Metadata: map[string]any{"workspaceId": in.ws, "schedule": sc.Name, "tick": due, "gatewayId": sc.GatewayID}})
	})
	return claimed, err
}

// Send delivers one claimed tick through the gateway (which queues and
// retries the provider call itself). A send the gateway refuses for good
// (gateway gone or disconnected, bad chat) is logged and not retried.
func (s *Service) Send(ctx context.Context, a SendArgs) error {
	if s.sender == nil {
		return river.JobCancel(errors.New("no gateway service on this node"))
	}
	// A tick claimed just before its workspace paused is skipped too.
	if paused, err := workspace.Paused(ctx, s.db.Read(), a.WorkspaceID); err != nil {
		return err
	} else if paused {
		s.log.Info("scheduler: tick skipped, workspace paused", "installation", a.InstallationID, "schedule", a.Schedule)
		return nil
	}
	// The tick's key: a job retried after the message was queued (the
	// process died before River marked the job done) does not queue it again.
	key := "schedule/" + a.InstallationID + "/" + a.Schedule + "/" + a.Tick.UTC().Format(time.RFC3339)
	rec, err := s.sender.Send(ctx, credit.SystemActor(a.WorkspaceID), a.GatewayID, gateway.SendInput{ChatID: a.ChatID, Text: a.Text, IdempotencyKey: key})
	if err != nil {
		if apperr.Is(err, apperr.NotFound) || apperr.Is(err, apperr.Conflict) || apperr.Is(err, apperr.Validation) {
			s.log.Warn("scheduler: send refused", "installation", a.InstallationID, "schedule", a.Schedule, "error", err)
			return river.JobCancel(err)
		}
		return err
	}
	s.log.Info("scheduler: sent", "installation", a.InstallationID, "schedule", a.Schedule, "tick", a.Tick, "send", rec.ID)
	return nil
}

// WorkspaceChanged is the schedules' part of a workspace's end, run inside
// the transaction of the change: the ticks fired are forgotten, so a
// scheduler enabled again after a restore starts afresh from its next tick.
// (The installation service disables the scheduler installations.) A pause
// and a resume need nothing: the sweep skips a paused workspace's ticks.
func (s *Service) WorkspaceChanged(ctx context.Context, tx *db.Tx, ch workspace.Change) (map[string]any, error) {
	if ch.Kind != workspace.End {
		return nil, nil
	}
	if _, err := db.Scope(tx, ch.WorkspaceID).ExecContext(ctx, `DELETE FROM plugin_schedule_ticks WHERE workspace_id = $1`); err != nil {
		return nil, fmt.Errorf("remove schedule ticks: %w", err)
	}
	return nil, nil
}
