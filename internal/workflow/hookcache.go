package workflow

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"sync/atomic"

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
// paused (runGuardSQL). Otherwise nothing was written, and nothing was
// counted — the unit taken from the node's lease goes back, or the
// transaction that counted it rolls back — and the call starts over from a fresh read, which also answers it exactly as an
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
	// workspace has event subscriptions (startAlone is for those without;
	// hookalone.go).
	subscribed atomic.Bool
}

// guardRefs name, in the statement that writes a guarded run, the run's
// workspace, workflow, version, user, organization and plan, and the
// guard's sealed token and token in clear.
type guardRefs struct{ ws, workflow, version, user, org, plan, enc, plain string }

// guardParams are the guarded INSERT's own parameters ($1 workspace, $3
// workflow, … insertRunValues) and the guard's ($27, $28).
var guardParams = guardRefs{"$1", "$3", "$5", "$6", "$7", "$8", "$27", "$28"}

// runGuardSQL is the condition under which a guarded run's INSERT writes:
// what Hook checks after its fresh read, in the same terms.
func runGuardSQL(g guardRefs) string {
	return `EXISTS (SELECT 1 FROM workflows w LEFT JOIN organizations o ON o.id = w.organization_id
		LEFT JOIN users u ON u.id = w.user_id
		WHERE w.workspace_id = ` + g.ws + ` AND w.id = ` + g.workflow + ` AND w.version_id = ` + g.version + ` AND w.user_id = ` + g.user + `
		AND w.organization_id IS NOT DISTINCT FROM ` + g.org + ` AND COALESCE(o.plan, u.plan, 'FREE') = ` + g.plan + `
		AND w.deleted_at IS NULL AND w.enabled = TRUE AND w.trigger_type = 'webhook'
		AND w.hook_token_enc = ` + g.enc + ` AND w.hook_token = ` + g.plain + `) AND ` + workspace.NotPaused(g.ws)
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
		WHERE `+runGuardSQL(guardParams)+` RETURNING `+subscribed,
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
