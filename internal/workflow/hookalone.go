package workflow

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/switchboard/switchboard/internal/actor"
)

// Runs written as one statement, in batches (PostgreSQL).
//
// A webhook run started from the cache whose pure steps complete it, whose
// execution the node counts from a lease it holds, and whose workspace
// has no event subscriptions writes one row and nothing else. Its
// transaction was BEGIN, the guarded INSERT and COMMIT: three round trips,
// each costing the client, the server and a backend their share of the
// machine, and a WAL flush per run. PostgreSQL runs a statement sent
// outside a transaction as a transaction of its own, atomic and committed
// as durably, so such runs are written by one INSERT, and the runs that
// arrive while one is under way share the next: a statement of many rows,
// each written only if its own guard holds (RETURNING names the rows
// written). Every caller is answered after the commit that holds its row;
// a statement that fails fails its whole batch, as a failed commit does.
// Whatever else a run might need in its commit — an event, a job, a
// charge, a failure's error workflow — sends it down the transaction's
// path instead, which also finds out whether the cache is stale.

// maxAlone bounds the runs of one statement (28 parameters each).
const maxAlone = 64

// aloneRow is a run written by a batch statement.
type aloneRow struct {
	ctx context.Context
	// args are the workspace, insertArgs and the guard's tokens, in the
	// order of aloneColumns.
	args []any
	// ran: the batch's statement was sent with this row; written: the
	// row's guard held and it committed.
	ran, written bool
	err          error
}

// aloneColumns name and type a batch's VALUES: the columns of insertRun
// (updated_at is created_at) and the guard's.
var aloneColumns = [...]struct{ name, typ string }{
	{"workspace_id", "text"}, {"id", "text"}, {"workflow_id", "text"}, {"version", "integer"}, {"version_id", "text"},
	{"user_id", "text"}, {"organization_id", "text"}, {"plan", "text"}, {"status", "text"}, {"trigger_kind", "text"},
	{"input", "text"}, {"output", "text"}, {"error", "text"}, {"current_step_id", "text"}, {"attempt", "integer"},
	{"seq", "integer"}, {"steps_used", "integer"}, {"steps", "text"}, {"idempotency_key", "text"},
	{"timeout_at", "timestamptz"}, {"wake_at", "timestamptz"}, {"created_by", "text"}, {"created_at", "timestamptz"},
	{"finished_at", "timestamptz"}, {"test", "boolean"}, {"trace_id", "text"}, {"hook_enc", "text"}, {"hook_plain", "text"},
}

// valuesGuard names the guard's terms among aloneColumns.
var valuesGuard = guardRefs{"v.workspace_id", "v.workflow_id", "v.version_id", "v.user_id", "v.organization_id", "v.plan", "v.hook_enc", "v.hook_plain"}

// aloneTexts caches the batch statement by its number of rows and its
// subscription condition.
var aloneTexts sync.Map

type aloneText struct {
	n            int
	unsubscribed string
}

// aloneSQL is the statement that writes n runs, each if its guard holds
// and its workspace has no event subscription (unsubscribed, over
// v.workspace_id).
func aloneSQL(n int, unsubscribed string) string {
	key := aloneText{n, unsubscribed}
	if t, ok := aloneTexts.Load(key); ok {
		return t.(string)
	}
	var b strings.Builder
	b.WriteString(insertRun)
	b.WriteString(` SELECT v.workspace_id, v.id, v.workflow_id, v.version, v.version_id, v.user_id, v.organization_id, v.plan,
		v.status, v.trigger_kind, v.input, v.output, v.error, v.current_step_id, v.attempt, v.seq, v.steps_used, v.steps,
		v.idempotency_key, v.timeout_at, v.wake_at, v.created_by, v.created_at, v.created_at, v.finished_at, v.test, v.trace_id
		FROM (VALUES `)
	p := 0
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for j, c := range aloneColumns {
			if j > 0 {
				b.WriteString(", ")
			}
			p++
			b.WriteString("$" + strconv.Itoa(p) + "::" + c.typ)
		}
		b.WriteByte(')')
	}
	b.WriteString(") AS v (")
	for j, c := range aloneColumns {
		if j > 0 {
			b.WriteString(", ")
		}
		b.WriteString(c.name)
	}
	// Rows of several workspaces: each row's guard is scoped to its own
	// workspace column, so this statement does not go through db.Scope.
	b.WriteString(") WHERE " + runGuardSQL(valuesGuard) + " AND " + unsubscribed + " RETURNING id")
	t := b.String()
	aloneTexts.Store(key, t)
	return t
}

// startAlone writes x's run, started from a cached webhook and ended by
// its inline head, in a batch statement when nothing else belongs in its
// commit. done is false when it wrote nothing: the caller goes on with
// the transaction's path.
func (s *Service) startAlone(ctx context.Context, x *exec, st start, head *outcome) (done bool, err error) {
	r := x.run
	if s.DB.Autocommit() == nil || r.guard == nil || r.guard.subscribed.Load() || st.key != "" || st.skipOverLimit || st.test || reports(r.Kind) ||
		head == nil || head.status != StatusCompleted || head.effect != nil || head.fan != nil || head.wait != nil || head.dropWait {
		return false, nil
	}
	steps, err := appendRecords(r.stepsRaw, x.records)
	if err != nil || len(steps)+len(r.Input) > MaxRunBytes {
		return false, nil // persist trims what it records
	}
	undo, ok := s.spendLeased(r)
	if !ok {
		return false, nil // the lease is taken in a transaction
	}
	now := s.now()
	args := append([]any{r.workspaceID}, x.insertArgs(StatusCompleted, nullableRaw(x.lastRaw), nil, "", nil, now, steps)...)
	row := &aloneRow{ctx: ctx, args: append(args, r.guard.hookEnc, r.guard.hookPlain)}
	s.alone.Join(row)
	switch {
	case !row.ran:
		undo() // the caller left before its batch: nothing was sent
		return false, row.err
	case row.err != nil:
		// Whether it committed is unknown: the execution stays counted.
		return false, fmt.Errorf("insert run: %w", row.err)
	case !row.written:
		// Stale, or the workspace has subscriptions now: nothing was
		// written or counted.
		undo()
		return false, nil
	}
	r.unsubscribed = true
	x.settle(StatusCompleted, x.seq, "", steps, nil, nil, now)
	s.observed(ctx, x, StatusCompleted, true)()
	return true, nil
}

// insertAlone writes a batch of runs in one statement.
func (s *Service) insertAlone(rows []*aloneRow) {
	live := rows[:0:0]
	for _, r := range rows {
		if r.err = r.ctx.Err(); r.err == nil {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	args := make([]any, 0, len(live)*len(aloneColumns))
	for _, r := range live {
		r.ran = true
		args = append(args, r.args...)
	}
	unsubscribed := "TRUE"
	if s.Events != nil {
		unsubscribed = "NOT " + s.Events.SubscribedSQL("v.workspace_id")
	}
	written, err := s.insertAloneRows(aloneSQL(len(live), unsubscribed), args)
	for _, r := range live {
		r.err = err
		r.written = err == nil && written[r.args[1].(string)]
	}
	if err == nil && len(written) > 0 {
		s.aloneStatements.Add(1)
		s.aloneRuns.Add(uint64(len(written)))
	}
}

// BatchedRuns reports how many batch statements wrote runs and how many
// runs they wrote (their ratio is the mean batch); zero on SQLite, where
// group commit batches runs (db.GroupCommits).
func (s *Service) BatchedRuns() (statements, runs uint64) {
	return s.aloneStatements.Load(), s.aloneRuns.Load()
}

// insertAloneRows runs a batch statement and returns the ids it wrote.
// The statement belongs to no one caller: one leaving must not cancel it
// for the others (it is bounded by the database's own timeouts).
func (s *Service) insertAloneRows(query string, args []any) (map[string]bool, error) {
	rows, err := s.DB.Autocommit().QueryContext(context.Background(), query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	written := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		written[id] = true
	}
	return written, errors.Join(rows.Err(), rows.Close())
}

// spendLeased counts r's execution from the node's lease, with no
// statement, when the meter can (always, with no meter); undo gives it
// back. ok is false when the count needs a transaction.
func (s *Service) spendLeased(r *Run) (undo func(), ok bool) {
	if s.Meter == nil {
		return func() {}, true
	}
	m, ok := s.Meter.(leasedMeter)
	if !ok {
		return nil, false
	}
	return m.SpendLeased(r.actor(), actor.ActionExecute, 1)
}

// leasedMeter is a Meter that can count an execution from what the node
// already holds, with no statement (credit.Limits).
type leasedMeter interface {
	SpendLeased(a actor.Actor, action actor.Action, amount int64) (undo func(), ok bool)
}
