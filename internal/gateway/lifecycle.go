package gateway

import (
	"context"
	"errors"
	"fmt"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/workspace"
)

// WorkspaceChanged is the gateways' part of a workspace's pause, resume or
// end, run inside the transaction of the change.
//
// A pause and a resume change nothing stored: gateways stay registered at
// their platforms, and the inbound endpoint and the send worker ask whether
// the workspace is paused. An end disconnects every gateway and, in the
// same transaction, queues a job per gateway that was registered which
// asks the platform to stop delivering (Telegram's deleteWebhook, say):
// the provider is never called inside a transaction, and a failed call is
// retried. A restored owner connects again.
func (s *Service) WorkspaceChanged(ctx context.Context, tx *db.Tx, ch workspace.Change) (map[string]any, error) {
	if ch.Kind != workspace.End {
		return nil, nil
	}
	sc := db.Scope(tx, ch.WorkspaceID)
	rows, err := sc.QueryContext(ctx, `UPDATE gateways SET status = $2, updated_at = $3
		WHERE workspace_id = $1 AND status <> $2 RETURNING id`, string(Disconnected), ch.Now)
	if err != nil {
		return nil, fmt.Errorf("disconnect gateways: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	for _, id := range ids {
		if _, err := s.jobs.InsertTx(ctx, tx, unregisterArgs{WorkspaceID: ch.WorkspaceID, GatewayID: id},
			&river.InsertOpts{Queue: jobs.QueueDefault, MaxAttempts: 8}); err != nil {
			return nil, fmt.Errorf("queue unregister of gateway %s: %w", id, err)
		}
	}
	return map[string]any{"gatewaysDisconnected": len(ids)}, nil
}

// unregisterArgs is the job that tells a platform to stop delivering to a
// gateway disconnected because its workspace ended.
type unregisterArgs struct {
	WorkspaceID string `json:"workspaceId"`
	GatewayID   string `json:"gatewayId"`
}

func (unregisterArgs) Kind() string { return "gateway.unregister" }

type unregisterWorker struct {
	river.WorkerDefaults[unregisterArgs]
	s *Service
}

// Work calls the platform's unregister. A gateway deleted since has nothing
// to unregister; one connected again since (a restored owner reconnected)
// keeps its new registration.
func (w *unregisterWorker) Work(ctx context.Context, job *river.Job[unregisterArgs]) error {
	s := w.s
	r, err := getRow(ctx, s.db.Read(), job.Args.WorkspaceID, job.Args.GatewayID)
	if errors.Is(err, errNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Status != Disconnected {
		return nil
	}
	creds, err := s.open(r)
	if err != nil {
		return river.JobCancel(fmt.Errorf("unregister gateway %s: credentials unreadable", r.ID))
	}
	ad, err := s.adapter(r.Type)
	if err != nil {
		return river.JobCancel(err)
	}
	pctx, cancel := context.WithTimeout(ctx, s.opt.ProviderTimeout)
	defer cancel()
	if err := ad.Unregister(pctx, target(r, creds)); err != nil {
		return fmt.Errorf("unregister gateway %s: %s", r.ID, scrub(err.Error(), creds))
	}
	s.log.Info("gateway unregistered: its workspace ended", "gatewayId", r.ID, "type", r.Type)
	return nil
}

// pausedWorkspace reports whether ws is paused, for the entry points.
func (s *Service) pausedWorkspace(ctx context.Context, ws string) (bool, error) {
	return workspace.Paused(ctx, s.db.Read(), ws)
}
