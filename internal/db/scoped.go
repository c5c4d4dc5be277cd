package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
)

// Workspace scoping: every query on data a workspace owns goes through a
// Scoped querier. It binds the workspace id as $1 and refuses any query
// whose text does not filter on it, so a query that forgets the scope fails
// in its first test instead of leaking another tenant's rows.

// ScopeMarker must appear in every scoped query.
const ScopeMarker = "workspace_id = $1"

// ErrUnscoped is returned for a query that does not filter on $1.
var ErrUnscoped = errors.New("db: query on owned data lacks " + ScopeMarker)

// Scoped runs queries on owned tables within one workspace. A query must
// filter on `workspace_id = $1`, or be an INSERT whose first column is
// workspace_id with the value $1.
type Scoped struct {
	q         Querier
	workspace string
}

// Scope returns a querier bound to workspaceID. An empty id is refused on
// use: there is no "all workspaces" scope.
func Scope(q Querier, workspaceID string) Scoped { return Scoped{q: q, workspace: workspaceID} }

// WorkspaceID is the scope's workspace.
func (s Scoped) WorkspaceID() string { return s.workspace }

// ownedInsert matches an INSERT whose first column is workspace_id bound to
// $1: the other form a scoped statement may take.
var ownedInsert = regexp.MustCompile(`(?is)^\s*INSERT\s+INTO\s+\w+\s*\(\s*workspace_id\s*,.*?\)\s*VALUES\s*\(\s*\$1\s*,`)

// scopedTexts remembers query texts that passed the check: they are
// constants of the code, and matching an INSERT of many columns against
// ownedInsert cost more than running it. Bounded, since texts built from
// filters vary.
var (
	scopedTexts     sync.Map
	scopedTextCount atomic.Int32
)

const maxScopedTexts = 4096

func (s Scoped) check(query string) error {
	if s.workspace == "" {
		return errors.New("db: scoped query without a workspace")
	}
	if _, ok := scopedTexts.Load(query); ok {
		return nil
	}
	if !strings.Contains(query, ScopeMarker) && !ownedInsert.MatchString(query) {
		return fmt.Errorf("%w: %s", ErrUnscoped, strings.Join(strings.Fields(query), " "))
	}
	if scopedTextCount.Load() < maxScopedTexts {
		if _, loaded := scopedTexts.LoadOrStore(query, struct{}{}); !loaded {
			scopedTextCount.Add(1)
		}
	}
	return nil
}

// ExecContext runs a statement; the workspace id is $1.
func (s Scoped) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := s.check(query); err != nil {
		return nil, err
	}
	return s.q.ExecContext(ctx, query, append([]any{s.workspace}, args...)...)
}

// QueryContext runs a query; the workspace id is $1.
func (s Scoped) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := s.check(query); err != nil {
		return nil, err
	}
	return s.q.QueryContext(ctx, query, append([]any{s.workspace}, args...)...)
}

// QueryRowContext runs a single-row query; the workspace id is $1. An
// unscoped query yields a row whose Scan reports ErrUnscoped.
func (s Scoped) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if err := s.check(query); err != nil {
		// A row cannot be built with an error from outside database/sql;
		// running a query that fails the same way keeps the signature.
		return s.q.QueryRowContext(ctx, "SELECT unscoped_query_refused_see_db_Scope FROM (SELECT 1) WHERE 1 = 0 AND $1 = $1", s.workspace)
	}
	return s.q.QueryRowContext(ctx, query, append([]any{s.workspace}, args...)...)
}

// LockWorkspace serializes, until tx ends, every transaction that locks the
// same workspace. Use it around check-then-write steps (count, then insert
// under a plan limit) so two parallel requests cannot both take the last
// slot.
func LockWorkspace(ctx context.Context, tx *Tx, workspaceID string) error {
	if workspaceID == "" {
		return errors.New("db: lock without a workspace")
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO workspace_locks (workspace_id, n) VALUES ($1, 1)
		ON CONFLICT (workspace_id) DO UPDATE SET n = workspace_locks.n + 1`, workspaceID); err != nil {
		return fmt.Errorf("lock workspace %s: %w", workspaceID, err)
	}
	return nil
}
