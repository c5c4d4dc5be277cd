package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
)

// RunArgs is the workflow.run job: carry run RunID on from checkpoint Seq.
// A job whose Seq is no longer the run's checkpoint does nothing — the
// segment it stood for was committed (or the run cancelled) already.
type RunArgs struct {
	RunID       string `json:"runId"`
	WorkspaceID string `json:"workspaceId"`
	Seq         int    `json:"seq"`
}

// Kind names the job.
func (RunArgs) Kind() string { return "workflow.run" }

type runWorker struct {
	river.WorkerDefaults[RunArgs]
	s *Service
}

func (w *runWorker) Work(ctx context.Context, job *river.Job[RunArgs]) error {
	return w.s.work(ctx, job.Args)
}

// Timeout leaves room for the longest plugin step.
func (w *runWorker) Timeout(*river.Job[RunArgs]) time.Duration { return MaxPluginTimeout + time.Minute }

// RegisterJobs adds the workflow workers and periodic jobs to the runner.
func (s *Service) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &runWorker{s: s})
	river.AddWorker(r.Workers(), &retentionWorker{s: s})
	r.AddPeriodic(time.Hour, func() river.JobArgs { return RetentionArgs{} })
}

// mode says how far a segment may go: in a worker, through one step with
// effects; at a run's creation (in the request that starts it), only
// through pure steps, so nothing outside the database happens before the
// run is stored.
type mode int

const (
	inWorker mode = iota
	atCreation
)

// exec is a run being advanced in memory.
type exec struct {
	run       *Run
	c         *compiled
	a         actor.Actor
	input     any
	outputs   map[string]any
	last      any
	lastRaw   json.RawMessage
	records   []StepRecord
	cur       string
	attempt   int
	stepsUsed int
	seq       int
	// scope adds names to expressions: item and index in a forEach body.
	scope map[string]any
}

// outcome is where a segment stopped.
type outcome struct {
	status string
	errMsg string
	wakeAt time.Time
	// effect is a gateway step whose message is queued in the commit.
	effect     *cstep
	effectChat string
	effectText string
	effectIn   json.RawMessage
	effectAt   time.Time
	// wait is a waitForReply step's wait, begun in the commit; dropWait
	// ends the run's wait (reply.go).
	wait     *waiter
	dropWait bool
	// interrupted: the worker is stopping mid-step; busy: the workspace is
	// at its concurrent executions; retry: a fault of ours (the database
	// went away mid-step) that the job's retry gets past. Either way nothing
	// is committed and the segment runs again later.
	interrupted, busy bool
	retry             error
	// fan is a forEach, parallel or subWorkflow step: its children are
	// started in the commit (fanout.go).
	fan *fanOut
}

func newExec(r *Run, c *compiled) (*exec, error) {
	var input any
	if err := json.Unmarshal(r.Input, &input); err != nil {
		return nil, fmt.Errorf("run %s input: %w", r.ID, err)
	}
	return newExecWith(r, c, input), nil
}

// newExecWith is newExec with the run's input already decoded (plain JSON
// data).
func newExecWith(r *Run, c *compiled, input any) *exec {
	x := &exec{run: r, c: c, a: r.actor(), input: input, outputs: map[string]any{}, cur: r.CurrentStepID, attempt: r.Attempt,
		stepsUsed: r.StepsUsed, seq: r.Checkpoint}
	if x.attempt < 1 {
		x.attempt = 1
	}
	for _, rec := range r.Steps {
		x.remember(rec)
	}
	return x
}

// remember makes a step record visible to later expressions. `previous`
// is the output of the last step that succeeded: a failed attempt does not
// change it, so a retried step sees what its first attempt saw.
func (x *exec) remember(rec StepRecord) {
	var out any
	if len(rec.Output) > 0 {
		_ = json.Unmarshal(rec.Output, &out)
	}
	x.rememberValue(rec, out)
}

// rememberValue is remember with the output already decoded: it must be
// plain JSON data (what json.Unmarshal into any gives), so expressions see
// the same value before and after a checkpoint.
func (x *exec) rememberValue(rec StepRecord, out any) {
	entry := map[string]any{"output": out, "status": rec.Status}
	if rec.Error != "" {
		entry["error"] = rec.Error
	}
	x.outputs[rec.StepID] = entry
	if rec.Status != StepFailed {
		x.last, x.lastRaw = out, rec.Output
	}
}

func (x *exec) env() map[string]any {
	env := map[string]any{
		"trigger": x.input, "input": x.input, "steps": x.outputs, "variables": x.c.def.Variables, "previous": x.last,
		"run": map[string]any{"id": x.run.ID, "workflowId": x.run.WorkflowID, "version": x.run.Version, "attempt": x.attempt},
	}
	for k, v := range x.scope {
		env[k] = v
	}
	return env
}

func (x *exec) record(cs *cstep, status string, input, output any, errMsg, branch string, started time.Time, m *plugin.Metrics) {
	now := db.Now()
	rec := StepRecord{Seq: x.seq, StepID: cs.ID, Type: cs.Type, Attempt: x.attempt, Status: status, Error: errMsg, Branch: branch,
		Metrics: m, StartedAt: started, FinishedAt: now, DurationUs: now.Sub(started).Microseconds()}
	rec.Input = encode(input)
	rec.Output = encode(output)
	if status == StepFailed {
		rec.Output = nil
	}
	x.records = append(x.records, rec)
	// Values of pure steps are plain JSON data already (JMESPath results,
	// normalized expression results, maps built here): no need to decode
	// what was just encoded. Plugin output arrives as raw JSON.
	if _, isRaw := output.(json.RawMessage); isRaw || status == StepFailed {
		x.remember(rec)
	} else {
		x.rememberValue(rec, output)
	}
	x.stepsUsed++
}

func encode(v any) json.RawMessage {
	switch x := v.(type) {
	case nil:
		return nil
	case json.RawMessage:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage(`null`)
	}
	return b
}

// next is where a step leads; a condition picks its branch.
func next(cs *cstep, branch string) string {
	if cs.Type == StepCondition {
		return cs.ConditionalNext[branch]
	}
	if cs.Type == StepWaitForReply {
		return replyNext(cs, branch)
	}
	return cs.NextStepID
}

// segment advances x from its current step until the run ends or reaches a
// boundary: a step with effects (committed before anything else happens),
// a delay, or a retry's wait.
func (s *Service) segment(ctx context.Context, x *exec, m mode) outcome {
	budget := x.c.def.Settings.budget()
	for {
		if x.cur == "" {
			return outcome{status: StatusCompleted}
		}
		if x.stepsUsed >= budget {
			return outcome{status: StatusFailed, errMsg: fmt.Sprintf("the run used its budget of %d steps (settings.maxSteps); is there a cycle?", budget)}
		}
		if !s.now().Before(x.run.TimeoutAt) {
			return outcome{status: StatusFailed, errMsg: "the run exceeded its timeout"}
		}
		cs := x.c.steps[x.cur]
		if cs == nil {
			return outcome{status: StatusFailed, errMsg: fmt.Sprintf("step %q does not exist in version %d", x.cur, x.run.Version)}
		}
		if out, ok := x.c.pinned[cs.ID]; ok {
			x.usePinned(cs, out)
			continue
		}
		started := db.Now()
		switch cs.Type {
		case StepCondition:
			v, err := evalExpr(ctx, cs.cond, x.env())
			if err == nil {
				b, ok := v.(bool)
				if !ok {
					err = fmt.Errorf("the condition gave %s, not true or false", typeName(v))
				} else {
					branch := fmt.Sprint(b)
					x.record(cs, StepSucceeded, nil, map[string]any{"result": b}, "", branch, started, nil)
					x.cur, x.attempt = next(cs, branch), 1
					continue
				}
			}
			if o, stop := s.failed(x, cs, nil, err.Error(), started); stop {
				return o
			}
		case StepTransform:
			v, err := evalJMESPath(ctx, cs.jp, x.env())
			if err == nil {
				x.record(cs, StepSucceeded, nil, v, "", "", started, nil)
				x.cur, x.attempt = next(cs, ""), 1
				continue
			}
			if o, stop := s.failed(x, cs, nil, err.Error(), started); stop {
				return o
			}
		case StepDelay:
			wake, err := s.wakeAt(ctx, x, cs)
			if err != nil {
				if o, stop := s.failed(x, cs, nil, err.Error(), started); stop {
					return o
				}
				continue
			}
			x.record(cs, StepSucceeded, nil, map[string]any{"wakeAt": wake.Format(time.RFC3339Nano)}, "", "", started, nil)
			x.waitUntil(wake)
			x.cur, x.attempt = next(cs, ""), 1
			return outcome{status: StatusRunning, wakeAt: wake}
		case StepGateway:
			env := x.env()
			chat, err := cs.chat.render(ctx, env)
			var text any
			if err == nil {
				text, err = cs.text.render(ctx, env)
			}
			if err != nil {
				if o, stop := s.failed(x, cs, nil, err.Error(), started); stop {
					return o
				}
				continue
			}
			in := map[string]any{"gatewayId": cs.gateway.GatewayID, "chatId": asText(chat), "text": asText(text)}
			return outcome{status: StatusRunning, effect: cs, effectChat: asText(chat), effectText: asText(text), effectIn: encode(in), effectAt: started}
		case StepWaitForReply:
			if o, stop := s.waitForReply(ctx, x, cs, m, started); stop {
				return o
			}
		case StepPlugin:
			if m == atCreation {
				return outcome{status: StatusRunning}
			}
			if o, stop := s.runPlugin(ctx, x, cs, started); stop {
				return o
			}
		case StepCode:
			// Code costs CPU: only workers, whose number is bounded, run it.
			if m == atCreation {
				return outcome{status: StatusRunning}
			}
			if o, stop := s.runCode(ctx, x, cs, started); stop {
				return o
			}
		case StepForEach, StepParallel, StepMerge, StepSubWorkflow:
			if o, stop := s.fanStep(ctx, x, cs, m, started); stop {
				return o
			}
		default:
			return outcome{status: StatusFailed, errMsg: fmt.Sprintf("step %q has unknown type %q", cs.ID, cs.Type)}
		}
	}
}

func asText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return text(v)
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64, int:
		return "a number"
	case []any:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func (s *Service) wakeAt(ctx context.Context, x *exec, cs *cstep) (time.Time, error) {
	now := s.now()
	if cs.delay.Seconds > 0 {
		return now.Add(time.Duration(cs.delay.Seconds) * time.Second), nil
	}
	v, err := cs.until.render(ctx, x.env())
	if err != nil {
		return time.Time{}, err
	}
	t, err := time.Parse(time.RFC3339Nano, asText(v))
	if err != nil {
		return time.Time{}, fmt.Errorf("until must give an RFC 3339 time, got %q", clip(asText(v)))
	}
	if t.Sub(now) > MaxDelay {
		return time.Time{}, fmt.Errorf("until is more than %s away", MaxDelay)
	}
	if t.Before(now) {
		t = now
	}
	return t.UTC(), nil
}

// runPlugin runs a plugin step. It always ends the segment: the result is
// committed before anything else happens, so a plugin that finished is
// never run again (a crash before the commit runs it again with the same
// idempotency key).
func (s *Service) runPlugin(ctx context.Context, x *exec, cs *cstep, started time.Time) (outcome, bool) {
	env := x.env()
	input, err := cs.pluginInput.render(ctx, env)
	var cfg any
	if err == nil {
		cfg, err = cs.pluginConfig.render(ctx, env)
	}
	if err != nil {
		return s.failed(x, cs, nil, err.Error(), started)
	}
	if input == nil {
		input = map[string]any{}
	}
	inRaw := encode(input)
	if s.Plugins == nil {
		return s.failed(x, cs, inRaw, "plugins are not available on this node", started)
	}
	timeout := DefaultPluginTimeout
	if cs.plugin.TimeoutMs > 0 {
		timeout = time.Duration(cs.plugin.TimeoutMs) * time.Millisecond
	}
	pctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ref := PluginRef{InstallationID: cs.plugin.InstallationID, Plugin: cs.plugin.Plugin}
	if cfg != nil {
		ref.Config = encode(cfg)
	}
	ec := plugin.ExecutionContext{Trigger: plugin.TriggerWorkflowStep, WorkflowID: x.run.WorkflowID, WorkflowRunID: x.run.ID,
		StepID: cs.ID, PreviousStepOutput: x.lastRaw, Variables: x.c.def.Variables,
		IdempotencyKey: IdempotencyKey(x.run.ID, cs.ID, x.seq, x.attempt), Actor: x.a}
	res, err := s.Plugins.RunStep(pctx, x.a, ref, inRaw, ec)
	if errors.Is(err, ErrBusy) {
		return outcome{status: StatusRunning, busy: true}, true
	}
	if err != nil {
		var ae *apperr.Error
		switch {
		case errors.As(err, &ae) && ae.Code != apperr.Internal:
			res = plugin.Failed(ae.Message)
		case ctx.Err() != nil:
			return outcome{status: StatusRunning, interrupted: true}, true
		case db.IsTransient(err):
			// A connection broken mid-step is a retry, never the step's
			// failure: the run stays running and the job runs the segment
			// again (same idempotency key).
			s.Log.Warn("workflow plugin step: database fault, retrying", "run", x.run.ID, "step", cs.ID, "error", err)
			return outcome{status: StatusRunning, retry: fmt.Errorf("run step %s of run %s: %w", cs.ID, x.run.ID, err)}, true
		default:
			s.Log.Error("workflow plugin step", "run", x.run.ID, "step", cs.ID, "error", err)
			res = plugin.Failed("the step could not run because of an internal error; it was logged")
		}
	}
	if pctx.Err() != nil && !res.Success && ctx.Err() == nil {
		res.Error = fmt.Sprintf("the plugin did not finish within %s", timeout)
	}
	if ctx.Err() != nil {
		// The worker is stopping: leave the step to the job's retry.
		return outcome{status: StatusRunning, interrupted: true}, true
	}
	m := res.Metrics
	if !res.Success {
		o, _ := s.failedWith(x, cs, inRaw, res.Error, started, &m)
		return o, true
	}
	x.record(cs, StepSucceeded, inRaw, res.Output, "", "", started, &m)
	x.cur, x.attempt = next(cs, ""), 1
	return outcome{status: StatusRunning}, true
}

// IdempotencyKey is what a plugin step receives to deduplicate its side
// effects: stable for one attempt of one step visit of one run (the same
// after a crash and the job's retry), different for the next attempt.
func IdempotencyKey(runID, stepID string, seq, attempt int) string {
	return fmt.Sprintf("%s/%s/%d/%d", runID, stepID, seq, attempt)
}

// failed applies a step's onError policy to a failure. stop reports
// whether the segment ends here.
func (s *Service) failed(x *exec, cs *cstep, input json.RawMessage, msg string, started time.Time) (outcome, bool) {
	return s.failedWith(x, cs, input, msg, started, nil)
}

func (s *Service) failedWith(x *exec, cs *cstep, input json.RawMessage, msg string, started time.Time, m *plugin.Metrics) (outcome, bool) {
	x.record(cs, StepFailed, input, nil, msg, "", started, m)
	switch {
	case cs.OnError == OnErrorRetry && x.attempt <= cs.RetryCount:
		wait := cs.backoff(x.attempt)
		x.attempt++
		wake := s.now().Add(wait)
		x.waitUntil(wake)
		return outcome{status: StatusRunning, wakeAt: wake}, true
	case cs.OnError == OnErrorContinue:
		x.cur, x.attempt = next(cs, "false"), 1
		// A pure step's failure continues inline; after a step with
		// effects the segment ends so its record is committed.
		return outcome{status: StatusRunning}, !cs.Type.pure()
	}
	if cs.OnErrorNextStepID != "" {
		return s.onErrorBranch(x, cs)
	}
	what := msg
	if cs.OnError == OnErrorRetry {
		what = fmt.Sprintf("%s (after %d attempts)", msg, x.attempt)
	}
	return outcome{status: StatusFailed, errMsg: fmt.Sprintf("step %q failed: %s", cs.ID, what)}, true
}

// ErrBusy is what Plugins.RunStep answers when the workspace already runs
// as many plugin executions as its plan's cpuCores allow; the segment
// waits busySnooze and tries again (its pure steps are evaluated again,
// which is harmless).
var ErrBusy = errors.New("the workspace is at its limit of concurrent executions")

const busySnooze = 250 * time.Millisecond

// errStale means the run moved on without this job: its segment was
// committed already, or the run was cancelled or timed out.
var errStale = errors.New("stale checkpoint")

// work advances a run by one segment.
func (s *Service) work(ctx context.Context, args RunArgs) error {
	r, err := loadRun(ctx, s.DB.Read(), args.WorkspaceID, args.RunID)
	if apperr.Is(err, apperr.NotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r.Status != StatusRunning || r.Checkpoint != args.Seq {
		return nil
	}
	if err := s.snoozeIfPaused(ctx, args.WorkspaceID); err != nil {
		return err
	}
	c, err := s.loadCompiled(ctx, s.DB.Read(), args.WorkspaceID, r.versionID)
	if err != nil && (db.IsTransient(err) || ctx.Err() != nil) {
		// The database, not the run, failed: retry the job.
		return fmt.Errorf("load run %s: %w", r.ID, err)
	}
	var x *exec
	if err == nil {
		x, err = newExec(&r, c)
	}
	if err == nil {
		if err = s.inherit(ctx, x); err != nil && (db.IsTransient(err) || ctx.Err() != nil) {
			return fmt.Errorf("load parent of run %s: %w", r.ID, err)
		}
	}
	if err != nil {
		// A run that cannot be read cannot be continued: fail it rather
		// than retry forever.
		s.Log.Error("workflow run unreadable", "run", r.ID, "error", err)
		x = &exec{run: &r, c: &compiled{}, cur: r.CurrentStepID, attempt: r.Attempt, stepsUsed: r.StepsUsed, seq: r.Checkpoint, a: r.actor()}
		return s.finishCommit(ctx, x, outcome{status: StatusFailed, errMsg: "the run's data could not be read"})
	}
	o := s.segment(ctx, x, inWorker)
	if o.interrupted {
		return ctx.Err()
	}
	if o.busy {
		return river.JobSnooze(busySnooze)
	}
	if o.retry != nil {
		return o.retry
	}
	return s.finishCommit(ctx, x, o)
}

func (s *Service) finishCommit(ctx context.Context, x *exec, o outcome) error {
	err := s.DB.Tx(ctx, func(tx *db.Tx) error { return s.persist(ctx, tx, x, &o, false) })
	if errors.Is(err, errStale) {
		return nil
	}
	if err != nil {
		return err
	}
	// Every checkpoint wakes this node's followers of the run (streams
	// and synchronous waits) at once; other nodes hear of it by notice or
	// by their poll.
	s.waiters.notify(x.run.ID)
	return nil
}

// persist writes a segment's outcome in tx: the gateway message of a
// gateway step, the step records, the new checkpoint and — if the run goes
// on — the job for its next segment. With insert the run is new.
func (s *Service) persist(ctx context.Context, tx *db.Tx, x *exec, o *outcome, insert bool) error {
	r := x.run
	if o.effect != nil {
		if err := s.sendEffect(ctx, tx, x, o); err != nil {
			return err
		}
	}
	if o.fan != nil {
		if err := s.fanPrepare(ctx, tx, x, o); err != nil {
			return err
		}
	}
	steps, err := appendRecords(r.stepsRaw, x.records)
	if err != nil {
		return err
	}
	if len(steps)+len(r.Input) > MaxRunBytes && o.status == StatusRunning {
		o.status, o.errMsg = StatusFailed, fmt.Sprintf("the run's recorded data exceeded %d bytes", MaxRunBytes)
	}
	if len(steps) > MaxRunBytes {
		for i := range x.records {
			x.records[i].Input, x.records[i].Output = nil, nil
		}
		if steps, err = appendRecords(r.stepsRaw, x.records); err != nil {
			return err
		}
	}
	now := s.now()
	var output, errMsg, wake, finished any
	cur := x.cur
	switch o.status {
	case StatusCompleted:
		output, finished = nullableRaw(x.lastRaw), now
		cur = ""
	case StatusFailed:
		errMsg, finished = o.errMsg, now
	default:
		if !o.wakeAt.IsZero() {
			wake = o.wakeAt
		}
	}
	if err := s.reportEnd(ctx, tx, x, o, now); err != nil {
		return err
	}
	ws := r.workspaceID
	newSeq := x.seq + 1
	if insert {
		newSeq = x.seq
		args := x.insertArgs(o.status, output, errMsg, cur, wake, finished, steps)
		if r.guard != nil {
			err = s.insertGuarded(ctx, tx, r, args)
		} else {
			_, err = db.Scope(tx, ws).ExecContext(ctx, insertRun+` VALUES (`+insertRunValues+`)`, args...)
		}
		if err != nil {
			return fmt.Errorf("insert run: %w", err)
		}
	} else {
		res, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflow_runs SET status = $3, output = $4, error = $5, current_step_id = $6,
			attempt = $7, seq = $8, steps_used = $9, steps = $10, wake_at = $11, updated_at = $12, finished_at = $13
			WHERE workspace_id = $1 AND id = $2 AND seq = $14 AND status = 'running'`,
			r.ID, o.status, output, errMsg, nullable(cur), x.attempt, newSeq, x.stepsUsed, steps, wake, now, finished, x.seq)
		if err != nil {
			return fmt.Errorf("checkpoint run: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errStale
		}
	}
	tx.AfterCommit(s.observed(ctx, x, o.status, insert))
	if o.wait != nil || o.dropWait {
		if err := s.persistWait(ctx, tx, x, o, newSeq); err != nil {
			return err
		}
	}
	x.settle(o.status, newSeq, cur, steps, errMsg, wake, now)
	if o.status != StatusRunning {
		if err := s.emitEnded(ctx, tx, r); err != nil {
			return err
		}
		if o.status == StatusFailed {
			return s.runFailed(ctx, tx, *r, x.c, cur, now)
		}
		return nil
	}
	if o.fan != nil {
		return nil // the run waits for its children, which move it on
	}
	return s.enqueue(ctx, tx, *r, o.wakeAt)
}

// insertArgs are a new run's columns (insertRunValues but the workspace,
// which the scope binds as $1).
func (x *exec) insertArgs(status string, output, errMsg any, cur string, wake, finished any, steps string) []any {
	r := x.run
	return []any{r.ID, r.WorkflowID, r.Version, r.versionID, r.userID, nullable(r.orgID), string(r.plan), status, string(r.Trigger),
		string(r.Input), output, errMsg, nullable(cur), x.attempt, x.seq, x.stepsUsed, steps, nullable(r.key), r.TimeoutAt, wake,
		nullable(r.CreatedBy), r.CreatedAt, finished, r.Test, nullable(r.TraceID)}
}

// settle brings the run in memory to what its commit wrote.
func (x *exec) settle(status string, seq int, cur, steps string, errMsg, wake any, now time.Time) {
	r := x.run
	r.Status, r.Checkpoint, r.CurrentStepID, r.Attempt, r.StepsUsed, r.stepsRaw = status, seq, cur, x.attempt, x.stepsUsed, steps
	r.Error, _ = errMsg.(string)
	r.UpdatedAt, r.WakeAt = now, nil
	if w, ok := wake.(time.Time); ok {
		w = w.UTC()
		r.WakeAt = &w
	}
	if status == StatusCompleted {
		r.Output = x.lastRaw
	}
	if status != StatusRunning {
		r.FinishedAt = &now
	}
}

// insertRun and insertRunValues write a new run: VALUES (insertRunValues),
// or SELECT insertRunValues WHERE a guard holds.
const (
	insertRun = `INSERT INTO workflow_runs (workspace_id, id, workflow_id, version, version_id, user_id,
			organization_id, plan, status, trigger_kind, input, output, error, current_step_id, attempt, seq, steps_used, steps,
			idempotency_key, timeout_at, wake_at, created_by, created_at, updated_at, finished_at, test, trace_id)`
	insertRunValues = `$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $23, $24, $25, $26`
)

func nullableRaw(b json.RawMessage) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// sendEffect queues a gateway step's message in the commit's transaction
// and records the step; a refused message is the step's failure.
func (s *Service) sendEffect(ctx context.Context, tx *db.Tx, x *exec, o *outcome) error {
	cs := o.effect
	if s.Gateways == nil {
		*o, _ = s.failed(x, cs, o.effectIn, "gateways are not available on this node", o.effectAt)
		return nil
	}
	rec, err := s.Gateways.SendTx(ctx, tx, x.a, cs.gateway.GatewayID, gateway.SendInput{ChatID: o.effectChat, Text: o.effectText})
	if err != nil {
		var ae *apperr.Error
		if !errors.As(err, &ae) || ae.Code == apperr.Internal {
			return err
		}
		// Refused before anything was written (not found, not connected,
		// bad text): the step failed.
		*o, _ = s.failed(x, cs, o.effectIn, ae.Message, o.effectAt)
		return nil
	}
	x.record(cs, StepSucceeded, o.effectIn, map[string]any{"sendId": rec.ID, "status": rec.Status, "chatId": rec.ChatID}, "", "", o.effectAt, nil)
	x.cur, x.attempt = next(cs, ""), 1
	*o = outcome{status: StatusRunning}
	s.waitAfterSend(ctx, x, o)
	return nil
}

// enqueue queues the job for a run's next segment (at wake, if set).
func (s *Service) enqueue(ctx context.Context, tx *db.Tx, r Run, wake time.Time) error {
	if s.Jobs == nil {
		return apperr.New(apperr.Conflict, "this node cannot queue runs; the run needs a worker node")
	}
	var opts *river.InsertOpts
	if !wake.IsZero() && wake.After(s.now()) {
		opts = &river.InsertOpts{ScheduledAt: wake}
	}
	_, err := s.Jobs.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: r.workspaceID, Plan: r.plan},
		RunArgs{RunID: r.ID, WorkspaceID: r.workspaceID, Seq: r.Checkpoint}, opts)
	if err != nil {
		return fmt.Errorf("queue run: %w", err)
	}
	return nil
}

func auditRecord(ctx context.Context, tx *db.Tx, a actor.Actor, action, id string, meta map[string]any) error {
	return audit.Record(ctx, tx, a, audit.Entry{Action: action, Resource: "workflow_run", ResourceID: id, Metadata: meta})
}
