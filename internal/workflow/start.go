package workflow

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/telemetry"
	"github.com/switchboard/switchboard/internal/workspace"
)

// start is how a run begins.
type start struct {
	trigger TriggerType
	input   json.RawMessage
	// decoded, when set, is input already decoded into plain JSON data
	// (saves decoding it again in the hot webhook path).
	decoded any
	key     string
	by      string
	// inline runs the pure steps at the head of the workflow before the
	// run is stored, so a run of pure steps is one commit.
	inline bool
	// skipOverLimit records a run refused by the plan's daily executions
	// as failed instead of refusing the caller (automatic triggers: their
	// caller can do nothing about it).
	skipOverLimit bool
	// test marks a run of an unsaved definition (studiotest.go).
	test bool
	// noSteps: the caller answers from the run's status and output, so
	// the step records just encoded are not decoded back into Run.Steps
	// (the webhook path: 6% of its CPU on SQLite went to that).
	noSteps bool
}

func checkInput(raw json.RawMessage) (json.RawMessage, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return json.RawMessage("{}"), nil
	}
	if len(raw) > MaxInputBytes {
		return nil, apperr.New(apperr.PayloadTooLarge, "the input must encode to at most %d bytes", MaxInputBytes)
	}
	if !json.Valid(raw) {
		return nil, apperr.Invalid(apperr.FieldError{Field: "input", Message: "is not valid JSON"})
	}
	return raw, nil
}

// newRun prepares a run of w's current version for a (the workspace's
// actor).
func (s *Service) newRun(ctx context.Context, q db.Querier, w Workflow, ws string, st start) (*exec, error) {
	c, err := s.loadCompiled(ctx, q, ws, w.versionID)
	if err != nil {
		return nil, err
	}
	now := s.now()
	r := &Run{ID: ids.New(ids.WorkflowRun), WorkflowID: w.ID, Version: w.Version, Status: StatusRunning, Trigger: st.trigger, Kind: KindRun,
		Input: st.input, CurrentStepID: c.def.StartStepID, Attempt: 1, TimeoutAt: now.Add(c.def.Settings.timeout()),
		CreatedBy: st.by, CreatedAt: now, UpdatedAt: now, workspaceID: ws, versionID: w.versionID, userID: w.UserID,
		orgID: w.OrganizationID, plan: w.plan, key: st.key, stepsRaw: "[]", Steps: []StepRecord{}, Test: st.test,
		TraceID: telemetry.TraceID(ctx), unsubscribed: w.unsubscribed, guard: w.guard}
	if st.decoded != nil {
		return newExecWith(r, c, st.decoded), nil
	}
	return newExec(r, c)
}

// startTx stores a new run in tx (with its first segment when inline) and
// counts it against the plan. created is false when the idempotency key
// names an earlier run, which is returned instead.
func (s *Service) startTx(ctx context.Context, tx *db.Tx, x *exec, st start, head *outcome) (created bool, err error) {
	r := x.run
	if st.key != "" {
		prev, ok, err := s.byKey(ctx, tx, r.workspaceID, r.WorkflowID, st.key)
		if err != nil {
			return false, err
		}
		if ok {
			*r = prev
			return false, nil
		}
	}
	var o outcome
	var charged int64
	// Every run is counted before it is written, so every transaction
	// locks the day's counter (when it leases) before the workspace's job
	// backlog (when the run is queued): a run from the cache counted after
	// its INSERT and deadlocked with an uncached run of the same workspace
	// on another node. A run from the cache is counted from the node's
	// lease when it has room, and the unit is given back if the cache
	// turns out stale; otherwise in this transaction, which a stale cache
	// rolls back.
	var undo func()
	spent := false
	if r.guard != nil {
		undo, spent = s.spendLeased(r)
	}
	if s.Meter != nil && !spent {
		consume := func() error {
			c, err := s.Meter.ConsumeTx(ctx, tx, r.actor(), actor.ActionExecute, 1, "workflow_run:"+r.ID)
			charged = c.Charged
			return err
		}
		var err error
		if st.skipOverLimit {
			// A refusal may come after the counter moved (overage that
			// could not be paid): the savepoint undoes it, since this
			// transaction goes on to record the skipped run.
			err = tx.Savepoint(ctx, "count_workflow_run", consume)
		} else {
			err = consume()
		}
		switch {
		case apperr.Is(err, apperr.PlanLimitExceeded) && st.skipOverLimit:
			var ae *apperr.Error
			errors.As(err, &ae)
			o = outcome{status: StatusFailed, errMsg: "skipped: " + ae.Message}
			x.records, x.stepsUsed, x.cur = nil, 0, x.c.def.StartStepID
			return true, s.persist(ctx, tx, x, &o, true)
		case apperr.Is(err, apperr.PlanLimitExceeded) && r.guard != nil:
			// Refused on what the cache says: a fresh read answers the
			// call as an uncached one would (a disabled workflow's 409
			// before the plan's 402).
			return false, errHookStale
		case err != nil:
			return false, err
		}
	}
	o = outcome{status: StatusRunning}
	if head != nil {
		o = *head
	}
	if err := s.persist(ctx, tx, x, &o, true); err != nil {
		if errors.Is(err, errHookStale) && undo != nil {
			undo() // nothing was written
		}
		return true, err
	}
	r.ChargedMillicredits = charged
	return true, noteCharge(ctx, tx, r.workspaceID, r.ID, charged)
}

func (s *Service) byKey(ctx context.Context, q db.Querier, ws, workflowID, key string) (Run, bool, error) {
	r, err := scanRun(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+runColumns+` FROM workflow_runs
		WHERE workspace_id = $1 AND workflow_id = $2 AND idempotency_key = $3`, workflowID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("find run by key: %w", err)
	}
	return r, true, nil
}

// begin stores a run outside any other transaction. The pure head of an
// inline run is evaluated before the transaction opens, so the database
// is held only to write.
func (s *Service) begin(ctx context.Context, w Workflow, ws string, st start) (Run, bool, error) {
	var err error
	if st.input, err = checkInput(st.input); err != nil {
		return Run{}, false, err
	}
	x, err := s.newRun(ctx, s.DB.Read(), w, ws, st)
	if err != nil {
		return Run{}, false, apperr.Wrap(err, "start run")
	}
	var head *outcome
	if st.inline {
		o := s.segment(ctx, x, atCreation)
		head = &o
	}
	// Runs starting together on SQLite share one commit (GroupTx); each
	// is answered after it. On PostgreSQL a run that is one row is one
	// statement (startAlone).
	created, err := s.startAlone(ctx, x, st, head)
	if err == nil && !created {
		err = s.DB.GroupTx(ctx, func(tx *db.Tx) error {
			var err error
			created, err = s.startTx(ctx, tx, x, st, head)
			return err
		})
	}
	if err != nil {
		if st.key != "" && db.IsUniqueViolation(err) {
			if prev, ok, err2 := s.byKey(ctx, s.DB.Read(), ws, w.ID, st.key); err2 == nil && ok {
				return prev, false, nil
			}
		}
		return Run{}, false, apperr.Wrap(err, "start run")
	}
	if x.run.Terminal() {
		s.waiters.notify(x.run.ID)
	}
	out := *x.run
	if created && !st.noSteps {
		if err := json.Unmarshal([]byte(out.stepsRaw), &out.Steps); err != nil {
			return Run{}, false, apperr.Wrap(err, "start run")
		}
	}
	return out, created, nil
}

// ManualInput starts a run by hand. With Wait the call waits (up to
// WaitMs, default 10 s) for the run to end and returns it as it is then.
type ManualInput struct {
	Input          json.RawMessage `json:"input,omitempty"`
	IdempotencyKey string          `json:"idempotencyKey,omitempty"`
	Wait           bool            `json:"wait,omitempty"`
	WaitMs         int64           `json:"waitMs,omitempty"`
}

// StartManual starts a run of a workflow's current version. Manual runs
// work on disabled workflows too (that is how a workflow is tried before
// it is switched on); disabling stops the automatic triggers.
func (s *Service) StartManual(ctx context.Context, a actor.Actor, id string, in ManualInput) (Run, bool, error) {
	if err := allow(a, actor.PermWorkflowExecute); err != nil {
		return Run{}, false, err
	}
	if len(in.IdempotencyKey) > 200 {
		return Run{}, false, apperr.Invalid(apperr.FieldError{Field: "idempotencyKey", Message: "must be at most 200 characters"})
	}
	if outOfRange(in.WaitMs, time.Millisecond, MaxSyncTimeout) {
		return Run{}, false, apperr.Invalid(apperr.FieldError{Field: "waitMs", Message: fmt.Sprintf("must be from 0 to %d", MaxSyncTimeout.Milliseconds())})
	}
	ws := a.WorkspaceID()
	w, err := s.get(ctx, s.DB.Read(), ws, id)
	if err != nil {
		return Run{}, false, apperr.Wrap(err, "start run")
	}
	w.plan = a.Plan
	r, created, err := s.begin(ctx, w, ws, start{trigger: TriggerManual, input: in.Input, key: in.IdempotencyKey, by: a.UserID, inline: true})
	if err != nil || !in.Wait || r.Terminal() {
		return r, created, err
	}
	wait := DefaultSyncTimeout
	if in.WaitMs > 0 {
		wait = time.Duration(in.WaitMs) * time.Millisecond
	}
	r, err = s.Wait(ctx, ws, r.ID, wait)
	return r, created, err
}

// Wait waits up to d for a run to end and returns it as it is then. A run
// ending on this node wakes the waiter at once; one ending on another node
// is seen by polling.
func (s *Service) Wait(ctx context.Context, ws, runID string, d time.Duration) (Run, error) {
	ch := s.waiters.add(runID)
	defer s.waiters.remove(runID, ch)
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond)
	defer poll.Stop()
	for {
		r, err := loadRun(ctx, s.DB.Read(), ws, runID)
		if err != nil || r.Terminal() {
			return r, apperr.Wrap(err, "wait for run")
		}
		select {
		case <-ch:
		case <-poll.C:
		case <-deadline.C:
			return loadRun(ctx, s.DB.Read(), ws, runID)
		case <-ctx.Done():
			return r, nil
		}
	}
}

// HookRequest is a call to a workflow's webhook.
type HookRequest struct {
	Method  string
	Path    string
	Query   map[string]any
	Headers map[string]any
	Body    any
	// BodyJSON is the body as sent when Body was decoded from it as JSON
	// (hookInput keeps it instead of encoding Body again).
	BodyJSON []byte
	// Header and RawBody are the call as received, for signature checks.
	Header  http.Header
	RawBody []byte
}

// hookInput encodes a webhook run's input, the object the steps see as
// trigger: body, headers, method, path and query, in json.Marshal's order
// of a map's keys. A JSON body is kept as its caller sent it, compacted:
// decoding it gives the values Body holds (the steps read those), and its
// numbers keep every digit. Encoding the decoded body again was most of a
// webhook run's JSON work.
func hookInput(req HookRequest) ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(`{"body":`)
	if req.BodyJSON != nil {
		if err := json.Compact(&b, req.BodyJSON); err != nil {
			return nil, err
		}
	} else if err := appendJSON(&b, req.Body); err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		v   any
	}{{"headers", req.Headers}, {"method", req.Method}, {"path", req.Path}, {"query", req.Query}} {
		b.WriteString(`,"` + f.key + `":`)
		if err := appendJSON(&b, f.v); err != nil {
			return nil, err
		}
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

func appendJSON(b *bytes.Buffer, v any) error {
	enc, err := json.Marshal(v)
	b.Write(enc)
	return err
}

// HookResult is what the webhook answers: the run, and whether the caller
// waited for it (sync mode).
type HookResult struct {
	// Run is the run as its first commit left it, without its step
	// records (Steps is empty: the answer is its status and output).
	Run  Run
	Sync bool
	// Replayed is a repeated delivery (the trigger's dedupeHeader): Run is
	// the run the first delivery started.
	Replayed bool
}

// Hook starts a run from a webhook call. An unknown workflow or a wrong
// token is NOT_FOUND (no existence leak); a disabled workflow CONFLICT.
func (s *Service) Hook(ctx context.Context, id, token string, req HookRequest) (HookResult, error) {
	if !ids.Valid(ids.Workflow, id) {
		return HookResult{}, apperr.New(apperr.NotFound, "no such webhook")
	}
	// The node's cache of webhooks spares the read, and the run's INSERT
	// checks what it says (hookcache.go).
	w, ws, err := s.findHook(ctx, id, token, true)
	if err != nil {
		return HookResult{}, err
	}
	res, err := s.hookRun(ctx, w, ws, req)
	if errors.Is(err, errHookStale) {
		s.hooks.drop(id)
		if w, ws, err = s.findHook(ctx, id, token, false); err != nil {
			return HookResult{}, err
		}
		res, err = s.hookRun(ctx, w, ws, req)
	}
	return res, err
}

// findHook finds the workflow a webhook call names, with its workspace,
// and checks the call may start it. With cached, a workflow this node
// found for an earlier call with the same token is taken from the cache,
// marked for its run's INSERT to check again; a fresh read refills the
// cache.
func (s *Service) findHook(ctx context.Context, id, token string, cached bool) (Workflow, string, error) {
	if cached {
		if e, ok := s.hooks.get(id); ok && subtle.ConstantTimeCompare([]byte(e.token), []byte(token)) == 1 {
			return e.w, e.ws, nil
		}
	}
	// The token in the path is the credential; the workflow's workspace is
	// not known before it is read. The same read answers whether the
	// workspace is paused and whether it has event subscriptions, so a
	// call costs one round trip before its transaction.
	// The definition is not read: the compiled version (cached) has it.
	var w Workflow
	var ws string
	var org sql.NullString
	var active, subscribed bool
	anySubscription := "TRUE"
	if s.Events != nil {
		anySubscription = s.Events.SubscribedSQL("w.workspace_id")
	}
	err := s.DB.Read().QueryRowContext(ctx, `SELECT w.id, w.workspace_id, w.user_id, w.organization_id, w.enabled, w.version,
		w.version_id, w.trigger_type, w.hook_token, w.hook_token_enc, COALESCE(o.plan, u.plan, 'FREE'),
		`+workspace.NotPaused("w.workspace_id")+`, `+anySubscription+`
		FROM workflows w LEFT JOIN organizations o ON o.id = w.organization_id LEFT JOIN users u ON u.id = w.user_id
		WHERE w.id = $1 AND w.deleted_at IS NULL`, id).Scan(&w.ID, &ws, &w.UserID, &org, &w.Enabled, &w.Version,
		&w.versionID, &w.TriggerType, &w.hookPlain, &w.hookEnc, &w.plan, &active, &subscribed)
	w.OrganizationID = org.String
	w.unsubscribed = !subscribed
	if errors.Is(err, sql.ErrNoRows) {
		return Workflow{}, "", apperr.New(apperr.NotFound, "no such webhook")
	}
	if err != nil {
		return Workflow{}, "", apperr.Wrap(err, "webhook")
	}
	// The stored token is sealed; it is opened and compared in constant
	// time, so neither the database nor the timing gives it away.
	want, err := s.openHook(w)
	if err != nil {
		return Workflow{}, "", err
	}
	if subtle.ConstantTimeCompare([]byte(want), []byte(token)) != 1 || want == "" || w.TriggerType != string(TriggerWebhook) {
		return Workflow{}, "", apperr.New(apperr.NotFound, "no such webhook")
	}
	// A paused workspace (its owner deactivated) has no webhooks: the
	// same answer as an unknown one, so callers learn nothing about it.
	if !active {
		return Workflow{}, "", apperr.New(apperr.NotFound, "no such webhook")
	}
	if !w.Enabled {
		return Workflow{}, "", apperr.New(apperr.Conflict, "the workflow is disabled")
	}
	if cached {
		// A webhook whose deliveries carry a key is not cached: its runs
		// look their key up in their transaction first, and a repeated
		// delivery answers with the first one's run, which the guard does
		// not cover. (Its compiled version is cached: no read.)
		c, err := s.loadCompiled(ctx, s.DB.Read(), ws, w.versionID)
		if err != nil {
			return Workflow{}, "", apperr.Wrap(err, "webhook")
		}
		if !c.def.Trigger.dedupes() {
			// The cached run's INSERT learns about subscriptions itself.
			e := hookEntry{w: w, ws: ws, token: want}
			e.w.unsubscribed, e.w.guard = false, &runGuard{hookEnc: w.hookEnc, hookPlain: w.hookPlain}
			e.w.guard.subscribed.Store(subscribed)
			s.hooks.put(id, e)
		}
	}
	return w, ws, nil
}

// hookRun starts the run of a webhook call to w, a workflow of ws.
func (s *Service) hookRun(ctx context.Context, w Workflow, ws string, req HookRequest) (HookResult, error) {
	c, err := s.loadCompiled(ctx, s.DB.Read(), ws, w.versionID)
	if err != nil {
		return HookResult{}, apperr.Wrap(err, "webhook")
	}
	if err := s.verifyHook(ctx, ws, w.ID, c.def.Trigger.Verify, &req); err != nil {
		return HookResult{}, err
	}
	value := map[string]any{"method": req.Method, "path": req.Path, "query": req.Query, "headers": req.Headers, "body": req.Body}
	input, err := hookInput(req)
	if err != nil {
		return HookResult{}, apperr.Invalid(apperr.FieldError{Field: "body", Message: "cannot be read as JSON"})
	}
	st := start{trigger: TriggerWebhook, input: input, decoded: value, inline: true, noSteps: true, key: c.def.Trigger.replayKey(req)}
	r, created, err := s.begin(ctx, w, ws, st)
	if err != nil {
		return HookResult{}, err
	}
	trigger := c.def.Trigger
	sync := trigger.Mode == "sync"
	if sync && !r.Terminal() {
		if r, err = s.Wait(ctx, ws, r.ID, trigger.syncTimeout()); err != nil {
			return HookResult{}, err
		}
	}
	return HookResult{Run: r, Sync: sync, Replayed: !created}, nil
}

// deliveryKey is the run key of a webhook delivery named by its header;
// long values are hashed to fit a key, and so are values that are not
// UTF-8 text (a header may carry any byte but controls, and PostgreSQL's
// text takes only UTF-8): the delivery is still deduplicated by them.
func deliveryKey(header, value string) string {
	k := "hook:" + strings.ToLower(header) + ":" + value
	if len(k) > 200 || !utf8.ValidString(value) {
		sum := sha256.Sum256([]byte(value))
		k = "hook:" + strings.ToLower(header) + ":sha256:" + hex.EncodeToString(sum[:])
	}
	return k
}

// EventTx starts the runs that a stored gateway event triggers: every
// enabled event-triggered workflow of the workspace listening to the
// gateway whose filter (if any) holds for the event. It runs inside the
// transaction that stores the event, so the event and its runs commit
// together; a run over the plan's daily executions is recorded as failed
// ("skipped") rather than failing the delivery.
func (s *Service) EventTx(ctx context.Context, tx *db.Tx, a actor.Actor, gatewayID, eventID string, event json.RawMessage) error {
	ws := a.WorkspaceID()
	if paused, err := workspace.Paused(ctx, tx, ws); err != nil || paused {
		return err // a paused workspace's event triggers start nothing
	}
	rows, err := db.Scope(tx, ws).QueryContext(ctx, `SELECT `+wfColumns+wfFrom+`
		WHERE w.workspace_id = $1 AND w.trigger_type = 'event' AND w.enabled = $2 AND w.deleted_at IS NULL ORDER BY w.id`, true)
	if err != nil {
		return fmt.Errorf("find event workflows: %w", err)
	}
	var ws2 []Workflow
	for rows.Next() {
		w, _, err := s.scanWorkflow(rows)
		if err != nil {
			rows.Close()
			return err
		}
		ws2 = append(ws2, w)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	if len(ws2) == 0 {
		return nil
	}
	var ev any
	if err := json.Unmarshal(event, &ev); err != nil {
		return fmt.Errorf("decode event: %w", err)
	}
	for _, w := range ws2 {
		if !listens(w.Definition.Trigger.GatewayIDs, gatewayID) {
			continue
		}
		c, err := s.loadCompiled(ctx, tx, ws, w.versionID)
		if apperr.Is(err, apperr.Validation) {
			// A stored version that no longer compiles must not refuse the
			// event for the whole workspace (the gateway would answer 500
			// and the provider retry for ever): this workflow is skipped.
			s.Log.Warn("workflow version does not compile; event skipped", "workflow", w.ID, "event", eventID, "error", err)
			continue
		}
		if err != nil {
			return err
		}
		if c.filter != nil {
			v, err := evalExpr(ctx, c.filter, map[string]any{"event": ev, "trigger": ev, "input": ev, "variables": c.def.Variables})
			if err != nil {
				s.Log.Warn("workflow event filter failed", "workflow", w.ID, "event", eventID, "error", err)
				continue
			}
			if b, ok := v.(bool); !ok || !b {
				continue
			}
		}
		w.plan = a.Plan
		st := start{trigger: TriggerEvent, input: event, key: "event:" + eventID, skipOverLimit: true}
		x, err := s.newRun(ctx, tx, w, ws, st)
		if err != nil {
			return err
		}
		if _, err := s.startTx(ctx, tx, x, st, nil); err != nil {
			return err
		}
	}
	return nil
}

func listens(gatewayIDs []string, id string) bool {
	if len(gatewayIDs) == 0 {
		return true
	}
	for _, g := range gatewayIDs {
		if g == id {
			return true
		}
	}
	return false
}

// waiters wake the callers waiting for a run that ends on this node.
type waiters struct {
	mu sync.Mutex
	m  map[string][]chan struct{}
}

func (w *waiters) add(id string) chan struct{} {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string][]chan struct{}{}
	}
	w.m[id] = append(w.m[id], ch)
	return ch
}

func (w *waiters) remove(id string, ch chan struct{}) {
	w.mu.Lock()
	defer w.mu.Unlock()
	list := w.m[id]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(w.m, id)
	} else {
		w.m[id] = list
	}
}

func (w *waiters) notify(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, ch := range w.m[id] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
