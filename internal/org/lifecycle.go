package org

import (
	"context"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
)

// Workspaces ends an organization's automations inside the transaction
// that deletes it. *workspace.Lifecycle is one; without it (tests of this
// package) the organization is deleted alone.
type Workspaces interface {
	EndTx(ctx context.Context, tx *db.Tx, a actor.Actor, workspaceID, reason string) error
}

// SetWorkspaces wires the workspace lifecycle; call before serving.
func (s *Service) SetWorkspaces(w Workspaces) { s.workspaces = w }

func (s *Service) endWorkspace(ctx context.Context, tx *db.Tx, a actor.Actor, orgID string) error {
	if s.workspaces == nil {
		return nil
	}
	return s.workspaces.EndTx(ctx, tx, a, orgID, "the organization was deleted")
}
