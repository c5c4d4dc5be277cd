package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/expr-lang/expr/vm"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// A waitForReply step parks its run until the next message of one chat on
// one gateway. The wait is a row of workflow_reply_waiters (one per gateway
// and chat) naming the run and the checkpoint it waits at; the run itself
// stays `running` at the step with wakeAt set to the wait's end, and a job
// scheduled then takes the timeout branch if nothing came. A message is
// claimed in the transaction that stores it (ReplyTx): the run's step is
// recorded, its checkpoint moved on and its next job queued there, so the
// reply resumes the run exactly once and no event trigger or plugin
// installation sees it. Every move is guarded by the run's checkpoint, so
// a reply, the timeout job and a newer waiter racing for one wait settle
// it once.

// StepWaitForReply waits for the next message of a chat.
const StepWaitForReply StepType = "waitForReply"

// WaitForReplyConfig is a waitForReply step. Chat is an expr-lang
// expression giving the chat id; GatewayID defaults to the gateway of the
// event that started the run. Pattern, a regular expression (RE2), keeps
// the wait for a message that matches it. The step continues through
// conditionalNext "reply" or "timeout".
type WaitForReplyConfig struct {
	Chat           string `json:"chat"`
	GatewayID      string `json:"gatewayId,omitempty"`
	Pattern        string `json:"pattern,omitempty"`
	TimeoutSeconds int64  `json:"timeoutSeconds"`
}

// Limits of a waitForReply step.
const (
	MaxReplyWait    = 7 * 24 * time.Hour
	MaxReplyPattern = 1000
	maxChatID       = 200
)

// Branches of a waitForReply step.
const (
	branchReply   = "reply"
	branchTimeout = "timeout"
)

type replyStep struct {
	cfg  WaitForReplyConfig
	chat *vm.Program
}

func (cs *cstep) compileReply(ctx context.Context, a actor.Actor, refs Refs, f string, p *problems) {
	st := cs.Step
	cf := f + ".config"
	rs := &replyStep{}
	cs.reply = rs
	if err := strictConfig(st.Config, &rs.cfg); err != nil {
		p.add(cf, "%v", err)
		return
	}
	c := rs.cfg
	if strings.TrimSpace(c.Chat) == "" {
		p.add(cf+".chat", "is required: an expression giving the chat id, e.g. trigger.payload.chatId")
	} else if prog, err := compileExpr(c.Chat); err != nil {
		p.add(cf+".chat", "%v", err)
	} else {
		rs.chat = prog
	}
	if c.GatewayID != "" {
		if !ids.Valid(ids.Gateway, c.GatewayID) {
			p.add(cf+".gatewayId", "is not a gateway id")
		} else if refs != nil {
			if err := refs.CheckGateway(ctx, a, c.GatewayID); err != nil {
				p.add(cf+".gatewayId", "%s", refMessage(err, "gateway"))
			}
		}
	}
	if len(c.Pattern) > MaxReplyPattern {
		p.add(cf+".pattern", "must be at most %d characters", MaxReplyPattern)
	} else if _, err := regexp.Compile(c.Pattern); err != nil {
		p.add(cf+".pattern", "is not a regular expression (RE2 syntax): %v", err)
	}
	if c.TimeoutSeconds < 1 || outOfRange(c.TimeoutSeconds, time.Second, MaxReplyWait) {
		p.add(cf+".timeoutSeconds", "must be from 1 to %d", int64(MaxReplyWait/time.Second))
	}
	if st.NextStepID != "" {
		p.add(f+".nextStepId", "a waitForReply step continues through conditionalNext.reply / .timeout")
	}
	for k := range st.ConditionalNext {
		if k != branchReply && k != branchTimeout {
			p.add(f+".conditionalNext", `has only "reply" and "timeout" branches (not %q)`, k)
		}
	}
	for _, k := range []string{branchReply, branchTimeout} {
		if st.ConditionalNext[k] == "" {
			p.add(f+".conditionalNext."+k, "is required: the step after a %s", k)
		}
	}
}

// checkReplies checks what a waitForReply step needs of the whole
// definition: a gateway (its own, or the triggering event's) and a run
// timeout that outlasts the wait.
func (c *compiled) checkReplies(p *problems) {
	for i, st := range c.def.Steps {
		cs := c.steps[st.ID]
		if st.Type != StepWaitForReply || cs == nil || cs.Step.ID != st.ID || cs.reply == nil {
			continue
		}
		f := fmt.Sprintf("definition.steps[%d].config", i)
		if cs.reply.cfg.GatewayID == "" && c.def.Trigger.Type != TriggerEvent {
			p.add(f+".gatewayId", "is required unless the workflow is triggered by gateway events (the run then waits on its event's gateway)")
		}
		if limit := c.def.Settings.timeout(); cs.reply.cfg.TimeoutSeconds > int64(limit/time.Second) {
			p.add(f+".timeoutSeconds", "must not exceed the run's timeout (settings.timeoutSeconds, %d)", int64(limit/time.Second))
		}
	}
}

// replyNext is where a waitForReply step leads: onError "continue" takes
// the timeout branch.
func replyNext(cs *cstep, branch string) string {
	if branch != branchReply {
		branch = branchTimeout
	}
	return cs.ConditionalNext[branch]
}

// waiter is one row of workflow_reply_waiters.
type waiter struct {
	gatewayID, chatID, ws, runID, stepID string
	seq                                  int
	pattern, replyNext, timeoutNext      string
	expiresAt, createdAt                 time.Time
}

const waiterColumns = `gateway_id, chat_id, workspace_id, run_id, step_id, seq, pattern, reply_next, timeout_next, expires_at, created_at`

func scanWaiter(r interface{ Scan(...any) error }) (waiter, bool, error) {
	var w waiter
	err := r.Scan(&w.gatewayID, &w.chatID, &w.ws, &w.runID, &w.stepID, &w.seq, &w.pattern, &w.replyNext, &w.timeoutNext,
		&w.expiresAt, &w.createdAt)
	if errors.Is(err, sql.ErrNoRows) {
		return waiter{}, false, nil
	}
	if err != nil {
		return waiter{}, false, fmt.Errorf("read reply waiter: %w", err)
	}
	w.expiresAt, w.createdAt = w.expiresAt.UTC(), w.createdAt.UTC()
	return w, true, nil
}

// input is what the step record shows as the step's input.
func (w waiter) input() json.RawMessage {
	in := map[string]any{"gatewayId": w.gatewayID, "chatId": w.chatID, "expiresAt": w.expiresAt.Format(time.RFC3339Nano)}
	if w.pattern != "" {
		in["pattern"] = w.pattern
	}
	return encode(in)
}

// waitForReply runs a waitForReply step: it begins the wait, or — when
// the job the wait scheduled at its end finds it still there — takes the
// timeout branch.
func (s *Service) waitForReply(ctx context.Context, x *exec, cs *cstep, m mode, started time.Time) (outcome, bool) {
	if m == atCreation {
		return outcome{status: StatusRunning}, true
	}
	w, ok, err := scanWaiter(db.Scope(s.DB.Read(), x.run.workspaceID).QueryRowContext(ctx, `SELECT `+waiterColumns+`
		FROM workflow_reply_waiters WHERE workspace_id = $1 AND run_id = $2`, x.run.ID))
	if err != nil {
		return outcome{status: StatusRunning, retry: fmt.Errorf("run %s: %w", x.run.ID, err)}, true
	}
	if ok && w.seq == x.seq && w.stepID == cs.ID {
		if now := s.now(); now.Before(w.expiresAt) {
			// Woken before the wait's end (another node's clock): wait on.
			return outcome{status: StatusRunning, wakeAt: w.expiresAt, wait: &w}, true
		}
		out := map[string]any{"timedOut": true, "gatewayId": w.gatewayID, "chatId": w.chatID}
		x.record(cs, StepSucceeded, w.input(), out, "", branchTimeout, w.createdAt, nil)
		x.cur, x.attempt = replyNext(cs, branchTimeout), 1
		return outcome{status: StatusRunning, dropWait: true}, true
	}
	nw, in, msg := s.newWait(ctx, x, cs)
	if msg != "" {
		return s.failed(x, cs, in, msg, started)
	}
	return outcome{status: StatusRunning, wakeAt: nw.expiresAt, wait: &nw}, true
}

// newWait is the wait a run at step cs begins, or why it cannot (msg).
func (s *Service) newWait(ctx context.Context, x *exec, cs *cstep) (w waiter, in json.RawMessage, msg string) {
	if cs.reply == nil || cs.reply.chat == nil {
		return waiter{}, nil, "the step's chat expression did not compile"
	}
	v, err := evalExpr(ctx, cs.reply.chat, x.env())
	if err != nil {
		return waiter{}, nil, "chat: " + err.Error()
	}
	chat := ""
	if v != nil {
		chat = asText(v)
	}
	gatewayID := cs.reply.cfg.GatewayID
	if gatewayID == "" {
		gatewayID = triggerGateway(x.input)
	}
	in = encode(map[string]any{"gatewayId": gatewayID, "chatId": chat})
	switch {
	case chat == "":
		return waiter{}, in, "the chat expression gave no chat id"
	case len(chat) > maxChatID || !utf8.ValidString(chat) || strings.IndexByte(chat, 0) >= 0:
		return waiter{}, in, fmt.Sprintf("the chat id must be text of at most %d bytes", maxChatID)
	case gatewayID == "":
		return waiter{}, in, "the run was not started by a gateway event: set the step's gatewayId"
	}
	now := s.now()
	return waiter{gatewayID: gatewayID, chatID: chat, ws: x.run.workspaceID, runID: x.run.ID, stepID: cs.ID,
		pattern: cs.reply.cfg.Pattern, replyNext: replyNext(cs, branchReply), timeoutNext: replyNext(cs, branchTimeout),
		expiresAt: now.Add(time.Duration(cs.reply.cfg.TimeoutSeconds) * time.Second), createdAt: now}, in, ""
}

// waitAfterSend begins, in the commit of a gateway step, the wait of a
// waitForReply step right after it: the question's message leaves only
// after that commit, so the answer cannot arrive before the run waits for
// it. Anything unusual (a failing chat expression, the budget or the run's
// timeout reached) is left to the next segment, which records it.
func (s *Service) waitAfterSend(ctx context.Context, x *exec, o *outcome) {
	cs := x.c.steps[x.cur]
	if cs == nil || cs.Type != StepWaitForReply || cs.reply == nil || cs.reply.chat == nil ||
		x.stepsUsed >= x.c.def.Settings.budget() || !s.now().Before(x.run.TimeoutAt) {
		return
	}
	if w, _, msg := s.newWait(ctx, x, cs); msg == "" {
		o.wait, o.wakeAt = &w, w.expiresAt
	}
}

// triggerGateway is the gateway of the event that started a run, if an
// event did.
func triggerGateway(input any) string {
	ev, _ := input.(map[string]any)
	payload, _ := ev["payload"].(map[string]any)
	g, _ := payload["gatewayId"].(string)
	return g
}

// persistWait writes a segment's wait in its commit: the run's earlier
// wait goes; a new one takes its chat from any other run waiting there,
// which goes down its timeout branch.
func (s *Service) persistWait(ctx context.Context, tx *db.Tx, x *exec, o *outcome, seq int) error {
	sc := db.Scope(tx, x.run.workspaceID)
	if _, err := sc.ExecContext(ctx, `DELETE FROM workflow_reply_waiters WHERE workspace_id = $1 AND run_id = $2`, x.run.ID); err != nil {
		return fmt.Errorf("drop reply waiter: %w", err)
	}
	if o.wait == nil || o.status != StatusRunning {
		return nil
	}
	w := *o.wait
	old, ok, err := scanWaiter(sc.QueryRowContext(ctx, `SELECT `+waiterColumns+` FROM workflow_reply_waiters
		WHERE workspace_id = $1 AND gateway_id = $2 AND chat_id = $3`, w.gatewayID, w.chatID))
	if err != nil {
		return err
	}
	if ok {
		out := map[string]any{"timedOut": false, "preempted": true, "byRunId": x.run.ID, "gatewayId": old.gatewayID, "chatId": old.chatID}
		if _, err := s.resolveWait(ctx, tx, old, branchTimeout, out); err != nil {
			return err
		}
	}
	_, err = sc.ExecContext(ctx, `INSERT INTO workflow_reply_waiters (workspace_id, gateway_id, chat_id, run_id, step_id, seq,
		pattern, reply_next, timeout_next, expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		w.gatewayID, w.chatID, x.run.ID, w.stepID, seq, w.pattern, w.replyNext, w.timeoutNext, w.expiresAt, w.createdAt)
	if err != nil {
		return fmt.Errorf("insert reply waiter: %w", err)
	}
	return nil
}

// resolveWait ends a wait in tx: the waiter row goes, and if its run still
// waits at that checkpoint the step is recorded with output, the run moves
// to the branch's step and its next job is queued. It reports whether the
// run moved (false: the waiter was stale).
func (s *Service) resolveWait(ctx context.Context, tx *db.Tx, w waiter, branch string, output any) (bool, error) {
	sc := db.Scope(tx, w.ws)
	if _, err := sc.ExecContext(ctx, `DELETE FROM workflow_reply_waiters WHERE workspace_id = $1 AND gateway_id = $2 AND chat_id = $3
		AND run_id = $4`, w.gatewayID, w.chatID, w.runID); err != nil {
		return false, fmt.Errorf("drop reply waiter: %w", err)
	}
	r, err := loadRun(ctx, tx, w.ws, w.runID)
	if err != nil {
		if errors.Is(err, errRunNotFound) {
			return false, nil
		}
		return false, err
	}
	if r.Status != StatusRunning || r.Checkpoint != w.seq || r.CurrentStepID != w.stepID {
		return false, nil
	}
	now := s.now()
	rec := StepRecord{Seq: w.seq, StepID: w.stepID, Type: StepWaitForReply, Attempt: max(r.Attempt, 1), Status: StepSucceeded,
		Input: w.input(), Output: encode(output), Branch: branch, StartedAt: w.createdAt, FinishedAt: now,
		DurationUs: now.Sub(w.createdAt).Microseconds()}
	steps, err := appendRecords(r.stepsRaw, []StepRecord{rec})
	if err != nil {
		return false, err
	}
	status, next := StatusRunning, w.replyNext
	if branch != branchReply {
		next = w.timeoutNext
	}
	var errMsg, finished any
	if len(steps)+len(r.Input) > MaxRunBytes {
		status, errMsg, finished = StatusFailed, fmt.Sprintf("the run's recorded data exceeded %d bytes", MaxRunBytes), now
		rec.Output = nil
		if steps, err = appendRecords(r.stepsRaw, []StepRecord{rec}); err != nil {
			return false, err
		}
	}
	res, err := sc.ExecContext(ctx, `UPDATE workflow_runs SET status = $3, error = $4, current_step_id = $5, attempt = 1, seq = $6,
		steps_used = steps_used + 1, steps = $7, wake_at = NULL, updated_at = $8, finished_at = $9
		WHERE workspace_id = $1 AND id = $2 AND seq = $10 AND status = 'running'`,
		r.ID, status, errMsg, nullable(next), w.seq+1, steps, now, finished, w.seq)
	if err != nil {
		return false, fmt.Errorf("resume run %s: %w", r.ID, err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return false, nil
	}
	r.Checkpoint, r.CurrentStepID = w.seq+1, next
	if status == StatusFailed {
		r.Status, r.Error = status, errMsg.(string)
		tx.AfterCommit(func() { s.waiters.notify(r.ID) })
		return true, s.runFailed(ctx, tx, r, nil, w.stepID, now)
	}
	return true, s.enqueue(ctx, tx, r, time.Time{})
}

// InboundMessage is an inbound message a waiting run may claim.
type InboundMessage struct {
	GatewayID, ChatID, UserID, Username, Text, EventID string
	// Event is the stored event (the gateway's WorkspaceJob).
	Event json.RawMessage
}

// ReplyTx offers a newly stored inbound message to the run waiting for its
// chat, inside the transaction that stores it. It reports whether a run
// claimed it; a claimed message is that run's step output and must not be
// delivered further (event triggers, plugin installations).
func (s *Service) ReplyTx(ctx context.Context, tx *db.Tx, a actor.Actor, m InboundMessage) (bool, error) {
	if m.ChatID == "" {
		return false, nil
	}
	w, ok, err := scanWaiter(db.Scope(tx, a.WorkspaceID()).QueryRowContext(ctx, `SELECT `+waiterColumns+`
		FROM workflow_reply_waiters WHERE workspace_id = $1 AND gateway_id = $2 AND chat_id = $3`, m.GatewayID, m.ChatID))
	if err != nil || !ok {
		return false, err
	}
	// A wait past its end belongs to its timeout job, even if that job has
	// not run yet (no worker was up).
	if !s.now().Before(w.expiresAt) {
		return false, nil
	}
	if w.pattern != "" {
		re, err := regexp.Compile(w.pattern)
		if err != nil || !re.MatchString(m.Text) {
			return false, nil
		}
	}
	var ev any
	if len(m.Event) > 0 {
		if err := json.Unmarshal(m.Event, &ev); err != nil {
			return false, fmt.Errorf("decode event: %w", err)
		}
	}
	out := map[string]any{"text": m.Text, "chatId": m.ChatID, "gatewayId": m.GatewayID, "userId": m.UserID,
		"username": m.Username, "eventId": m.EventID, "event": ev}
	return s.resolveWait(ctx, tx, w, branchReply, out)
}

// dropWaiters removes the waits of runs that end without their step: a
// run cancelled or timed out (runID), every run of a workflow deleted
// (workflowID), or of a workspace ended (neither).
func dropWaiters(ctx context.Context, tx *db.Tx, ws, runID, workflowID string) error {
	sc := db.Scope(tx, ws)
	var err error
	switch {
	case runID != "":
		_, err = sc.ExecContext(ctx, `DELETE FROM workflow_reply_waiters WHERE workspace_id = $1 AND run_id = $2`, runID)
	case workflowID != "":
		_, err = sc.ExecContext(ctx, `DELETE FROM workflow_reply_waiters WHERE workspace_id = $1 AND run_id IN
			(SELECT id FROM workflow_runs WHERE workspace_id = $1 AND workflow_id = $2)`, workflowID)
	default:
		_, err = sc.ExecContext(ctx, `DELETE FROM workflow_reply_waiters WHERE workspace_id = $1`)
	}
	if err != nil {
		return fmt.Errorf("drop reply waiters: %w", err)
	}
	return nil
}
