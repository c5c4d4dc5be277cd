package auth

import (
	"context"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
)

// Workspaces is told, inside the transaction of the change, what happens to
// an account's personal workspace: deactivation pauses its automations,
// reactivation resumes them, deletion ends them. *workspace.Lifecycle is
// one; without it (tests of this package) accounts change alone.
type Workspaces interface {
	PauseTx(ctx context.Context, tx *db.Tx, a actor.Actor, workspaceID, reason string) error
	ResumeTx(ctx context.Context, tx *db.Tx, a actor.Actor, workspaceID string) error
	EndTx(ctx context.Context, tx *db.Tx, a actor.Actor, workspaceID, reason string) error
}

// SetWorkspaces wires the workspace lifecycle; call before serving.
func (s *Service) SetWorkspaces(w Workspaces) { s.workspaces = w }

// personalWorkspaceActive pauses or resumes the personal workspace of
// userID (its id is the user's) as the account is deactivated or
// reactivated.
func (s *Service) personalWorkspaceActive(ctx context.Context, tx *db.Tx, a actor.Actor, userID string, active bool) error {
	switch {
	case s.workspaces == nil:
		return nil
	case active:
		return s.workspaces.ResumeTx(ctx, tx, a, userID)
	default:
		return s.workspaces.PauseTx(ctx, tx, a, userID, "the owner's account is deactivated")
	}
}

// endPersonalWorkspace ends the automations of userID's personal workspace
// in the transaction that deletes the account.
func (s *Service) endPersonalWorkspace(ctx context.Context, tx *db.Tx, a actor.Actor, userID string) error {
	if s.workspaces == nil {
		return nil
	}
	return s.workspaces.EndTx(ctx, tx, a, userID, "the owner's account was deleted")
}
