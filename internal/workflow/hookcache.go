package workflow

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/workspace"
)

// The read that finds a webhook's workflow (its token, version, owner's
// plan, whether it is enabled and its workspace paused) was a call's most
// costly step after its commit. On PostgreSQL it is a round trip, which
// costs the client, the server and a database backend their share of two
// cores. On SQLite it is a read transaction, and in WAL mode a reader's
// page cache is dropped whenever another connection has committed since
// its last read, which under load is every time: each page of the read
// came from the file again (~12% of the CPU a run cost; the writer, where
// the check below runs, keeps its pages). A node
// keeps what that read found for each webhook it served and trusts it for
// later calls only as far as the run's INSERT checks it again: the run is
// written only if, in that statement, the workflow still has that version,
// token and plan, is enabled and not deleted, and its workspace is not
// paused (runGuardSQL). Otherwise nothing was written — a run started from
// the cache is written before its execution is counted — and the call
// starts over from a fresh read, which also answers it exactly as an
// uncached call would (404, 409, a new version). So a change made on any
// node holds from the next call on, as it did without the cache.

// errHookStale means the cached facts a webhook call started from no
// longer hold; nothing was written.
var errHookStale = errors.New("cached webhook is stale")

// hookCacheMax bounds the cached webhooks of a node; when full it starts
// over (a miss costs one read).
const hookCacheMax = 4096

// hookEntry is what a fresh read found for a webhook whose call it let in.
type hookEntry struct {
	w     Workflow
	ws    string
	token string
}

// hookCache holds hookEntry by workflow id.
type hookCache struct {
	mu sync.Mutex
	m  map[string]hookEntry
}

func (c *hookCache) get(id string) (hookEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	return e, ok
}

func (c *hookCache) put(id string, e hookEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= hookCacheMax {
		c.m = make(map[string]hookEntry)
	}
	c.m[id] = e
}

func (c *hookCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
}

// runGuard is what a run started from the cache carries to its INSERT:
// the workflow row's token columns as the cache read them (the version,
// plan and owner are the run's own columns).
type runGuard struct {
	hookEnc, hookPlain string
	// subscribed is what the last guarded INSERT learned: whether the
	// workspace has event subscriptions (startAlone is for those without).
	subscribed atomic.Bool
}

// runGuardSQL is the condition under which a guarded run's INSERT writes,
// over its own parameters ($1 workspace, $3 workflow, $5 version, $6 user,
// $7 organization, $8 plan) and the guard's ($27 sealed token, $28 token
// in clear): what Hook checks after its fresh read, in the same terms.
func runGuardSQL(notPaused string) string {
	return `EXISTS (SELECT 1 FROM workflows w LEFT JOIN organizations o ON o.id = w.organization_id
		LEFT JOIN users u ON u.id = w.user_id
		WHERE w.workspace_id = $1 AND w.id = $3 AND w.version_id = $5 AND w.user_id = $6
		AND w.organization_id IS NOT DISTINCT FROM $7 AND COALESCE(o.plan, u.plan, 'FREE') = $8
		AND w.deleted_at IS NULL AND w.enabled = TRUE AND w.trigger_type = 'webhook'
		AND w.hook_token_enc = $27 AND w.hook_token = $28) AND ` + notPaused
}

// insertGuarded writes a run started from a cached webhook (hookcache.go)
// if what the cache said still holds, and learns in the same statement
// whether the workspace has event subscriptions (whether the run's end
// has an event to emit). errHookStale: nothing was written.
func (s *Service) insertGuarded(ctx context.Context, tx *db.Tx, r *Run, args []any) error {
	subscribed := "TRUE"
	if s.Events != nil {
		subscribed = s.Events.SubscribedSQL("workflow_runs.workspace_id")
	}
	var sub bool
	err := db.Scope(tx, r.workspaceID).QueryRowContext(ctx, insertRun+` SELECT `+insertRunValues+`
		WHERE `+runGuardSQL(workspace.NotPaused("$1"))+` RETURNING `+subscribed,
		append(args, r.guard.hookEnc, r.guard.hookPlain)...).Scan(&sub)
	if errors.Is(err, sql.ErrNoRows) {
		return errHookStale
	}
	if err == nil {
		r.unsubscribed = !sub
		r.guard.subscribed.Store(sub)
	}
	return err
}

// A run in one statement (PostgreSQL).
//
// A webhook run started from the cache whose pure steps complete it, whose
// execution the node counts from a lease it holds, and whose workspace
// has no event subscriptions writes one row and nothing else: its
// transaction was BEGIN, the guarded INSERT and COMMIT, three round trips
// that cost the client, the server and a backend their share of two cores.
// PostgreSQL runs a statement sent outside a transaction as a transaction
// of its own, atomic and committed as durably, so the INSERT goes alone:
// one round trip. Whatever else a run might need in its commit — an
// event, a job, a charge, a failure's error workflow — sends it down the
// transaction's path instead.

// startAlone writes x's run, started from a cached webhook and ended by
// its inline head, as one statement when nothing else belongs in its
// commit. done is false when it wrote nothing: the caller goes on with
// the transaction's path (which also finds out whether the cache is stale).
func (s *Service) startAlone(ctx context.Context, x *exec, st start, head *outcome) (done bool, err error) {
	r := x.run
	q := s.DB.Autocommit()
	if q == nil || r.guard == nil || r.guard.subscribed.Load() || st.key != "" || st.skipOverLimit || st.test || reports(r.Kind) ||
		head == nil || head.status != StatusCompleted || head.effect != nil || head.fan != nil || head.wait != nil || head.dropWait {
		return false, nil
	}
	steps, err := appendRecords(r.stepsRaw, x.records)
	if err != nil || len(steps)+len(r.Input) > MaxRunBytes {
		return false, nil // persist trims what it records
	}
	undo := func() {}
	if s.Meter != nil {
		m, ok := s.Meter.(leasedMeter)
		if !ok {
			return false, nil
		}
		if undo, ok = m.SpendLeased(r.actor(), actor.ActionExecute, 1); !ok {
			return false, nil // the lease is taken in a transaction
		}
	}
	unsubscribed := "TRUE"
	if s.Events != nil {
		unsubscribed = "NOT " + s.Events.SubscribedSQL("$1")
	}
	now := s.now()
	args := x.insertArgs(StatusCompleted, nullableRaw(x.lastRaw), nil, "", nil, now, steps)
	var one int
	err = db.Scope(q, r.workspaceID).QueryRowContext(ctx, insertRun+` SELECT `+insertRunValues+`
		WHERE `+runGuardSQL(workspace.NotPaused("$1"))+` AND `+unsubscribed+` RETURNING 1`,
		append(args, r.guard.hookEnc, r.guard.hookPlain)...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		// Stale, or the workspace has subscriptions now: nothing was
		// written or counted.
		undo()
		return false, nil
	}
	if err != nil {
		// Whether it committed is unknown: the execution stays counted.
		return false, fmt.Errorf("insert run: %w", err)
	}
	r.unsubscribed = true
	x.settle(StatusCompleted, x.seq, "", steps, nil, nil, now)
	s.observed(ctx, x, StatusCompleted, true)()
	return true, nil
}

// leasedMeter is a Meter that can count an execution from what the node
// already holds, with no statement (credit.Limits).
type leasedMeter interface {
	SpendLeased(a actor.Actor, action actor.Action, amount int64) (undo func(), ok bool)
}
