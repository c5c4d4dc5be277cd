// Package workspace keeps the standing of a workspace as a whole, which no
// single domain package owns: paused while its owner's account is
// deactivated, ended when the organization or the account is deleted.
//
// The packages that run a workspace's automations (workflows, gateways,
// plugins) ask Paused at their entry points (webhooks, inbound hooks,
// schedule ticks, event subscriptions, queued work) and register hooks that
// run inside the transaction of the change: a pause or resume, or the end,
// which removes what would keep acting for an owner who is gone. Accounts
// and organizations call PauseTx, ResumeTx and EndTx through an interface
// of their own, so none of them imports the others.
package workspace

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// PausedRecheck is how long queued work of a paused workspace (a run, an
// execution, an outbound message) waits, snoozed, before it looks again:
// it neither fails nor times out while paused, and goes on within this long
// of the reactivation.
const PausedRecheck = 5 * time.Second

// Kind is what happens to a workspace.
type Kind string

// The changes a workspace goes through.
const (
	// Pause: the owner's account is deactivated. Registrations stay (a
	// gateway stays registered at its platform); nothing acts.
	Pause Kind = "pause"
	// Resume: the account is active again; everything paused acts again.
	Resume Kind = "resume"
	// End: the organization or the account is deleted. Registrations are
	// removed for good: a restore brings back the account, not them.
	End Kind = "end"
)

// Change describes one pause, resume or end to the hooks.
type Change struct {
	Kind        Kind
	WorkspaceID string
	// Reason is a short human sentence recorded where work stops (a
	// cancelled run's error, say).
	Reason string
	// PausedAt is, for a resume, when the pause began.
	PausedAt time.Time
	// Now is the time of the change.
	Now time.Time
}

// Hook runs inside the transaction of a change; it returns counts for the
// change's audit row (nil for none). An error rolls the change back.
type Hook func(ctx context.Context, tx *db.Tx, ch Change) (map[string]any, error)

// Lifecycle runs the registered hooks for pauses, resumes and ends.
type Lifecycle struct {
	hooks []namedHook
}

type namedHook struct {
	name string
	h    Hook
}

// New returns a lifecycle with no hooks.
func New() *Lifecycle { return &Lifecycle{} }

// On registers a hook under name (the key of its counts in the audit row's
// metadata). Call while wiring, before serving.
func (l *Lifecycle) On(name string, h Hook) { l.hooks = append(l.hooks, namedHook{name: name, h: h}) }

// Paused reports whether the workspace is paused. Any querier will do: a
// read outside a transaction for an entry point, tx inside one.
func Paused(ctx context.Context, q db.Querier, workspaceID string) (bool, error) {
	if workspaceID == "" {
		return false, nil
	}
	var one int
	err := db.Scope(q, workspaceID).QueryRowContext(ctx, `SELECT 1 FROM workspace_pauses WHERE workspace_id = $1`).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read pause of workspace %s: %w", workspaceID, err)
	}
	return true, nil
}

// PauseTx pauses the workspace inside tx (a no-op if it is paused) and
// records it, by a, in the audit log.
func (l *Lifecycle) PauseTx(ctx context.Context, tx *db.Tx, a actor.Actor, workspaceID, reason string) error {
	now := db.Now()
	res, err := db.Scope(tx, workspaceID).ExecContext(ctx, `INSERT INTO workspace_pauses (workspace_id, reason, paused_at)
		VALUES ($1, $2, $3) ON CONFLICT (workspace_id) DO NOTHING`, reason, now)
	if err != nil {
		return fmt.Errorf("pause workspace %s: %w", workspaceID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return nil
	}
	return l.run(ctx, tx, a, Change{Kind: Pause, WorkspaceID: workspaceID, Reason: reason, Now: now})
}

// ResumeTx lifts the workspace's pause inside tx (a no-op if it is not
// paused) and records it in the audit log.
func (l *Lifecycle) ResumeTx(ctx context.Context, tx *db.Tx, a actor.Actor, workspaceID string) error {
	var since time.Time
	err := db.Scope(tx, workspaceID).QueryRowContext(ctx, `DELETE FROM workspace_pauses WHERE workspace_id = $1 RETURNING paused_at`).Scan(&since)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("resume workspace %s: %w", workspaceID, err)
	}
	return l.run(ctx, tx, a, Change{Kind: Resume, WorkspaceID: workspaceID, PausedAt: since.UTC(), Now: db.Now()})
}

// EndTx ends the workspace's automations inside tx, the transaction that
// deletes its owner, and records it in the audit log. A pause, if any,
// stays: it belongs to the account, which a restore brings back as it was.
func (l *Lifecycle) EndTx(ctx context.Context, tx *db.Tx, a actor.Actor, workspaceID, reason string) error {
	return l.run(ctx, tx, a, Change{Kind: End, WorkspaceID: workspaceID, Reason: reason, Now: db.Now()})
}

func (l *Lifecycle) run(ctx context.Context, tx *db.Tx, a actor.Actor, ch Change) error {
	meta := map[string]any{"workspaceId": ch.WorkspaceID}
	if ch.Reason != "" {
		meta["reason"] = ch.Reason
	}
	if ch.Kind == Resume {
		meta["pausedSeconds"] = int64(ch.Now.Sub(ch.PausedAt) / time.Second)
	}
	for _, h := range l.hooks {
		m, err := h.h(ctx, tx, ch)
		if err != nil {
			return fmt.Errorf("workspace %s %s: %s: %w", ch.WorkspaceID, ch.Kind, h.name, err)
		}
		if len(m) > 0 {
			meta[h.name] = m
		}
	}
	e := audit.Entry{Action: "workspace." + pastTense[ch.Kind], Resource: "workspace", ResourceID: ch.WorkspaceID, Metadata: meta}
	if ids.Valid(ids.Organization, ch.WorkspaceID) {
		e.OrganizationID = ch.WorkspaceID
	}
	return audit.Record(ctx, tx, a, e)
}

var pastTense = map[Kind]string{Pause: "paused", Resume: "resumed", End: "ended"}

// NotPaused is a SQL condition, for the system's cross-workspace sweeps,
// that holds for rows whose workspace (the column col) is not paused: the
// sweep then passes over a paused workspace's rows without a query each.
// An entry point that reads its own row first (a webhook's workflow) asks
// it in that read instead of calling Paused, a round trip of its own.
func NotPaused(col string) string {
	return `NOT EXISTS (SELECT 1 FROM workspace_pauses wp WHERE wp.workspace_id = ` + col + `)`
}
