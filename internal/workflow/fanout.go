package workflow

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/expr-lang/expr/vm"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// Fan-out steps: a forEach runs its body once per item, a parallel runs
// its branches until they reach their merge, a subWorkflow runs another
// workflow. Each piece of work is a child run (a row of workflow_runs
// driven by the engine from its own checkpoint); the parent waits at the
// step, without a job, until its children's ends move it on. Every child's
// end is one commit — its last checkpoint, its report to the parent and,
// when the join holds, the parent's move with its next job — so a crash
// loses no finished iteration and repeats none.
const (
	StepForEach     StepType = "forEach"
	StepParallel    StepType = "parallel"
	StepMerge       StepType = "merge"
	StepSubWorkflow StepType = "subWorkflow"
)

// Run kinds.
const (
	KindRun       = "run"
	KindIteration = "iteration"
	KindBranch    = "branch"
	KindChild     = "child"    // a sub-workflow run its parent waits for
	KindDetached  = "detached" // a sub-workflow run started with wait: false
)

// Bounds of fan-out steps.
const (
	MaxForEachConcurrency = 10
	MaxForEachItems       = MaxStepBudget
	MaxParallelBranches   = 10
	// MaxRunDepth bounds how deep runs nest (a forEach in a sub-workflow
	// called by a sub-workflow …).
	MaxRunDepth = 5
)

// ForEachConfig runs the body (the steps from BodyStartStepID to where the
// path has no next step) once per element of the list Items evaluates to,
// at most Concurrency at a time; the output is the list of each
// iteration's last output, in item order.
type ForEachConfig struct {
	Items           string `json:"items"`
	Concurrency     int    `json:"concurrency,omitempty"`
	BodyStartStepID string `json:"bodyStartStepId"`
}

// ParallelConfig starts every branch at once; they meet at a merge step.
type ParallelConfig struct {
	Branches []string `json:"branches"`
}

// MergeConfig is where a parallel's branches end: Wait is "all" or a
// number n (the run goes on when n branches finished; the others are
// cancelled). The output is {branchStartId: lastOutput}.
type MergeConfig struct {
	Wait json.RawMessage `json:"wait,omitempty"`
}

// SubWorkflowConfig runs another workflow of the workspace (its current
// version, or Version) with Input (a template) as its input. With Wait the
// step's output is the run's output; without, {runId} at once.
type SubWorkflowConfig struct {
	WorkflowID string          `json:"workflowId"`
	Version    int             `json:"version,omitempty"`
	Wait       bool            `json:"wait"`
	Input      json.RawMessage `json:"input,omitempty"`
}

type fanConfig struct {
	forEach ForEachConfig
	items   *vm.Program
	branch  ParallelConfig
	need    int // merge: branches to wait for (0: all)
	sub     SubWorkflowConfig
	input   *template
	// merge is a parallel's merge step (found by checkFanGraph).
	merge string
}

func (cs *cstep) compileFan(f string, p *problems) {
	st := cs.Step
	cf := f + ".config"
	fc := &fanConfig{}
	cs.fan = fc
	switch st.Type {
	case StepForEach:
		if err := strictConfig(st.Config, &fc.forEach); err != nil {
			p.add(cf, "%v", err)
			return
		}
		c := fc.forEach
		if strings.TrimSpace(c.Items) == "" {
			p.add(cf+".items", "is required: an expression giving a list")
		} else if prog, err := compileExpr(c.Items); err != nil {
			p.add(cf+".items", "%v", err)
		} else {
			fc.items = prog
		}
		if c.Concurrency < 0 || c.Concurrency > MaxForEachConcurrency {
			p.add(cf+".concurrency", "must be from 1 to %d (0: 1)", MaxForEachConcurrency)
		}
		if c.BodyStartStepID == "" {
			p.add(cf+".bodyStartStepId", "is required: the first step of the loop's body")
		}
	case StepParallel:
		if err := strictConfig(st.Config, &fc.branch); err != nil {
			p.add(cf, "%v", err)
			return
		}
		b := fc.branch.Branches
		if len(b) < 2 || len(b) > MaxParallelBranches {
			p.add(cf+".branches", "must list from 2 to %d steps", MaxParallelBranches)
		}
		if st.NextStepID != "" {
			p.add(f+".nextStepId", "a parallel step goes on after its merge step (set nextStepId on the merge)")
		}
	case StepMerge:
		var mc MergeConfig
		if err := strictConfig(st.Config, &mc); err != nil {
			p.add(cf, "%v", err)
			return
		}
		w := strings.TrimSpace(string(mc.Wait))
		switch {
		case w == "" || w == "null" || w == `"all"`:
		default:
			n, err := strconv.Atoi(w)
			if err != nil || n < 1 {
				p.add(cf+".wait", `must be "all" or a number of branches from 1`)
			}
			fc.need = n
		}
	case StepSubWorkflow:
		if err := strictConfig(st.Config, &fc.sub); err != nil {
			p.add(cf, "%v", err)
			return
		}
		if !ids.Valid(ids.Workflow, fc.sub.WorkflowID) {
			p.add(cf+".workflowId", "is not a workflow id")
		}
		if fc.sub.Version < 0 {
			p.add(cf+".version", "must be a version number (0 or absent: the current version)")
		}
		var err error
		if fc.input, err = compileTemplate(fc.sub.Input); err != nil {
			p.add(cf+".input", "%v", err)
		}
	}
}

// succ lists where a step can lead, fan-out edges included.
func (c *compiled) succ(cs *cstep) []string {
	var out []string
	if cs.NextStepID != "" {
		out = append(out, cs.NextStepID)
	}
	for _, k := range []string{"true", "false"} {
		if t := cs.ConditionalNext[k]; t != "" {
			out = append(out, t)
		}
	}
	if cs.fan != nil {
		switch cs.Type {
		case StepForEach:
			if b := cs.fan.forEach.BodyStartStepID; b != "" {
				out = append(out, b)
			}
		case StepParallel:
			out = append(out, cs.fan.branch.Branches...)
		}
	}
	return out
}

// checkFanGraph checks the shape of loops and branches: a forEach body is
// entered only through its bodyStartStepId and never leads out of itself
// (its paths end where they have no next step); every branch of a
// parallel reaches the same merge step, and only that one.
func (c *compiled) checkFanGraph(p *problems) {
	index := map[string]int{}
	for i, st := range c.def.Steps {
		if _, ok := index[st.ID]; !ok {
			index[st.ID] = i
		}
	}
	field := func(id string) string { return fmt.Sprintf("definition.steps[%d]", index[id]) }
	reach := func(from string, stop func(*cstep) bool) map[string]bool {
		seen := map[string]bool{}
		stack := []string{from}
		for len(stack) > 0 {
			id := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			cs := c.steps[id]
			if cs == nil || seen[id] {
				continue
			}
			seen[id] = true
			if stop != nil && stop(cs) {
				continue
			}
			stack = append(stack, c.succ(cs)...)
		}
		return seen
	}
	mergeOf := map[string]string{}
	for _, st := range c.def.Steps {
		cs := c.steps[st.ID]
		if cs == nil || cs.fan == nil || cs.Step.ID != st.ID {
			continue
		}
		f := field(st.ID)
		switch cs.Type {
		case StepForEach:
			start := cs.fan.forEach.BodyStartStepID
			if start == "" {
				continue
			}
			if c.steps[start] == nil {
				p.add(f+".config.bodyStartStepId", "names no step (%q)", start)
				continue
			}
			body := reach(start, nil)
			switch {
			case body[cs.ID]:
				p.add(f+".config.bodyStartStepId", "the loop's body leads back to the forEach step; a body ends where its path has no next step")
				continue
			case body[c.def.StartStepID]:
				p.add(f+".config.bodyStartStepId", "the loop's body contains the workflow's start step")
				continue
			case cs.NextStepID != "" && body[cs.NextStepID]:
				p.add(f+".config.bodyStartStepId", "the loop's body leads to the step after the loop (%q); a body ends where its path has no next step", cs.NextStepID)
				continue
			}
			for _, other := range c.def.Steps {
				o := c.steps[other.ID]
				if o == nil || body[other.ID] || other.ID == cs.ID {
					continue
				}
				for _, t := range c.succ(o) {
					if body[t] {
						p.add(field(other.ID), "leads into the body of forEach %q (step %q); a body is entered only through its bodyStartStepId", cs.ID, t)
						break
					}
				}
			}
		case StepParallel:
			merge := ""
			ok := true
			seenBranch := map[string]bool{}
			for i, b := range cs.fan.branch.Branches {
				bf := fmt.Sprintf("%s.config.branches[%d]", f, i)
				if c.steps[b] == nil {
					p.add(bf, "names no step (%q)", b)
					ok = false
					continue
				}
				if b == cs.ID || seenBranch[b] {
					p.add(bf, "must name another step, once (%q)", b)
					ok = false
					continue
				}
				seenBranch[b] = true
				// Walk the branch up to merge steps; a forEach inside a
				// branch continues after its loop.
				var merges []string
				seen := map[string]bool{}
				stack := []string{b}
				for len(stack) > 0 && ok {
					id := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					s := c.steps[id]
					if s == nil || seen[id] {
						continue
					}
					seen[id] = true
					var nexts []string
					switch s.Type {
					case StepMerge:
						merges = append(merges, id)
						continue
					case StepParallel:
						p.add(bf, "the branch contains another parallel step (%q); call a sub-workflow for nested branches", id)
						ok = false
						continue
					case StepCondition:
						for _, k := range []string{"true", "false"} {
							if t := s.ConditionalNext[k]; t != "" {
								nexts = append(nexts, t)
							} else {
								p.add(bf, "the branch can end at step %q (its %q path) before it reaches a merge step", id, k)
								ok = false
							}
						}
					default:
						if s.NextStepID == "" {
							p.add(bf, "the branch ends at step %q before it reaches a merge step", id)
							ok = false
						} else {
							nexts = append(nexts, s.NextStepID)
						}
					}
					stack = append(stack, nexts...)
				}
				for _, m := range merges {
					if merge == "" {
						merge = m
					} else if m != merge {
						p.add(bf, "the branches reach different merge steps (%q and %q); all must reach one", merge, m)
						ok = false
					}
				}
			}
			if !ok || merge == "" {
				if ok {
					p.add(f+".config.branches", "no branch reaches a merge step")
				}
				continue
			}
			if prev, dup := mergeOf[merge]; dup {
				p.add(field(merge), "is reached by the branches of two parallel steps (%q and %q)", prev, cs.ID)
				continue
			}
			mergeOf[merge] = cs.ID
			cs.fan.merge = merge
			if m := c.steps[merge]; m.fan != nil && m.fan.need > len(cs.fan.branch.Branches) {
				p.add(field(merge)+".config.wait", "waits for %d branches, but %d reach it", m.fan.need, len(cs.fan.branch.Branches))
			}
		}
	}
	for _, st := range c.def.Steps {
		if cs := c.steps[st.ID]; cs != nil && cs.Type == StepMerge && cs.Step.ID == st.ID {
			if _, ok := mergeOf[st.ID]; !ok {
				p.add(field(st.ID), "no parallel step's branches reach this merge step")
			}
		}
	}
}

// fanOut is a fan-out step that ended a segment.
type fanOut struct {
	step    *cstep
	items   []any
	input   any
	inRaw   json.RawMessage
	started time.Time
}

// fanState is what a waiting parent keeps of its step (fan_state).
type fanState struct {
	Step      string    `json:"step"`
	Type      StepType  `json:"type"`
	StartedAt time.Time `json:"startedAt"`
	Input     any       `json:"input,omitempty"`
	Items     []any     `json:"items,omitempty"`
	Branches  []string  `json:"branches,omitempty"`
	Merge     string    `json:"merge,omitempty"`
	Need      int       `json:"need"`
	Budget    int       `json:"budget"`
}

// fanStep runs a fan-out step in a segment: it ends the segment so the
// children start in the commit (fanPrepare). A merge step ends a branch.
func (s *Service) fanStep(ctx context.Context, x *exec, cs *cstep, m mode, started time.Time) (outcome, bool) {
	if cs.Type == StepMerge {
		if x.run.Kind == KindBranch {
			return outcome{status: StatusCompleted}, true
		}
		return s.failed(x, cs, nil, "a merge step is reached only by the branches of its parallel step", started)
	}
	if m == atCreation {
		return outcome{status: StatusRunning}, true
	}
	f := &fanOut{step: cs, started: started}
	switch cs.Type {
	case StepForEach:
		v, err := evalExpr(ctx, cs.fan.items, x.env())
		if err == nil {
			// Plain JSON data, so each iteration sees what it would see
			// after a restart.
			err = json.Unmarshal(encode(v), &v)
		}
		if err != nil {
			return s.failed(x, cs, nil, err.Error(), started)
		}
		list, ok := v.([]any)
		switch {
		case !ok:
			return s.failed(x, cs, nil, fmt.Sprintf("items gave %s, not a list", typeName(v)), started)
		case len(list) > MaxForEachItems:
			return s.failed(x, cs, nil, fmt.Sprintf("items gave %d elements; at most %d", len(list), MaxForEachItems), started)
		case len(list) == 0:
			x.record(cs, StepSucceeded, map[string]any{"items": 0}, []any{}, "", "", started, nil)
			x.cur, x.attempt = next(cs, ""), 1
			return outcome{}, false
		}
		f.items = list
		f.inRaw = encode(map[string]any{"items": len(list), "concurrency": max(1, cs.fan.forEach.Concurrency)})
	case StepParallel:
		f.inRaw = encode(map[string]any{"branches": cs.fan.branch.Branches})
	case StepSubWorkflow:
		in, err := cs.fan.input.render(ctx, x.env())
		if err != nil {
			return s.failed(x, cs, nil, err.Error(), started)
		}
		if in == nil {
			in = map[string]any{}
		}
		f.input = in
		f.inRaw = encode(map[string]any{"workflowId": cs.fan.sub.WorkflowID, "version": cs.fan.sub.Version, "wait": cs.fan.sub.Wait, "input": in})
	}
	return outcome{status: StatusRunning, fan: f}, true
}

// fanPrepare starts a fan-out's children in the commit that moves the
// parent to its waiting checkpoint (x.seq+1). A refusal (a sub-workflow
// over the plan's quota, deleted, too deep) is the step's failure.
func (s *Service) fanPrepare(ctx context.Context, tx *db.Tx, x *exec, o *outcome) error {
	f := o.fan
	cs := f.step
	r := x.run
	if r.Depth+1 > MaxRunDepth {
		*o, _ = s.failed(x, cs, f.inRaw, fmt.Sprintf("runs nest at most %d deep (forEach, parallel and subWorkflow steps start nested runs)", MaxRunDepth), f.started)
		return nil
	}
	seq := x.seq + 1
	st := fanState{Step: cs.ID, Type: cs.Type, StartedAt: f.started, Budget: x.c.def.Settings.budget()}
	var total, startedN int
	switch cs.Type {
	case StepForEach:
		conc := max(1, cs.fan.forEach.Concurrency)
		total, startedN = len(f.items), min(conc, len(f.items))
		st.Items = f.items
		for i := range startedN {
			if err := s.startChild(ctx, tx, r, seq, cs.ID, KindIteration, i, cs.fan.forEach.BodyStartStepID,
				map[string]any{"item": f.items[i], "index": i}); err != nil {
				return err
			}
		}
	case StepParallel:
		st.Branches, st.Merge = cs.fan.branch.Branches, cs.fan.merge
		total, startedN = len(st.Branches), len(st.Branches)
		if m := x.c.steps[st.Merge]; m != nil && m.fan != nil {
			st.Need = m.fan.need
		}
		for i, b := range st.Branches {
			if err := s.startChild(ctx, tx, r, seq, cs.ID, KindBranch, i, b, map[string]any{"branch": b}); err != nil {
				return err
			}
		}
	case StepSubWorkflow:
		st.Input = f.input
		childID, err := s.startSub(ctx, tx, x, cs, f, seq)
		var ae *apperr.Error
		switch {
		case errors.As(err, &ae) && ae.Code != apperr.Internal:
			*o, _ = s.failed(x, cs, f.inRaw, ae.Message, f.started)
			return nil
		case err != nil:
			return err
		case !cs.fan.sub.Wait:
			x.record(cs, StepSucceeded, f.inRaw, map[string]any{"runId": childID}, "", "", f.started, nil)
			x.cur, x.attempt = next(cs, ""), 1
			*o = outcome{status: StatusRunning}
			return nil
		}
		total, startedN = 1, 1
	}
	state, err := json.Marshal(st)
	if err != nil {
		return fmt.Errorf("encode fan-out state: %w", err)
	}
	_, err = db.Scope(tx, r.workspaceID).ExecContext(ctx, `UPDATE workflow_runs SET fan_state = $3, fan_total = $4, fan_started = $5,
		fan_done = 0 WHERE workspace_id = $1 AND id = $2`, r.ID, string(state), total, startedN)
	if err != nil {
		return fmt.Errorf("record fan-out: %w", err)
	}
	return nil
}

// startChild stores an iteration or branch of parent p (waiting at
// checkpoint seq) and queues its first segment. The child runs p's version
// from step start; its own input is small (item and index), what it
// inherits from p is read when it runs (inherit).
func (s *Service) startChild(ctx context.Context, tx *db.Tx, p *Run, seq int, stepID, kind string, index int, start string, input map[string]any) error {
	now := s.now()
	c := Run{ID: ids.New(ids.WorkflowRun), workspaceID: p.workspaceID, plan: p.plan}
	in, err := json.Marshal(input)
	if err != nil {
		return fmt.Errorf("encode child input: %w", err)
	}
	_, err = db.Scope(tx, p.workspaceID).ExecContext(ctx, `INSERT INTO workflow_runs (workspace_id, id, workflow_id, version, version_id,
		user_id, organization_id, plan, status, trigger_kind, input, current_step_id, attempt, seq, steps_used, steps, timeout_at,
		created_by, created_at, updated_at, kind, parent_run_id, parent_step_id, parent_seq, child_index, depth, test, trace_id)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'running', $9, $10, $11, 1, 0, 0, '[]', $12, $13, $14, $14, $15, $16, $17, $18, $19, $20, $21, $22)`,
		c.ID, p.WorkflowID, p.Version, p.versionID, p.userID, nullable(p.orgID), string(p.plan), string(p.Trigger), string(in), start,
		p.TimeoutAt, nullable(p.CreatedBy), now, kind, p.ID, stepID, seq, index, p.Depth+1, p.Test, nullable(p.TraceID))
	if err != nil {
		return fmt.Errorf("insert child run: %w", err)
	}
	return s.enqueue(ctx, tx, c, time.Time{})
}

// inherits reports whether a run of this kind sees its parent's data.
func inherits(kind string) bool { return kind == KindIteration || kind == KindBranch }

// reports reports whether a run of this kind moves its parent on.
func reports(kind string) bool { return inherits(kind) || kind == KindChild }

// inherit gives an iteration or branch what its parent's steps see: the
// trigger, the steps before the fan-out (and an enclosing loop's item),
// with item and index of its own.
func (s *Service) inherit(ctx context.Context, x *exec) error {
	r := x.run
	if !inherits(r.Kind) {
		return nil
	}
	var chain []Run
	cur := *r
	for inherits(cur.Kind) {
		if len(chain) > MaxRunDepth {
			return fmt.Errorf("run %s: nested deeper than %d", r.ID, MaxRunDepth)
		}
		p, err := loadRun(ctx, s.DB.Read(), r.workspaceID, cur.ParentRunID)
		if err != nil {
			return err
		}
		chain = append(chain, p)
		cur = p
	}
	base := &exec{outputs: map[string]any{}, scope: map[string]any{}}
	for i := len(chain) - 1; i >= 0; i-- {
		p := chain[i]
		if i == len(chain)-1 {
			if err := json.Unmarshal(p.Input, &base.input); err != nil {
				return fmt.Errorf("run %s input: %w", p.ID, err)
			}
		} else {
			scopeOf(p, base.scope)
		}
		for _, rec := range p.Steps {
			base.remember(rec)
		}
	}
	scopeOf(*r, base.scope)
	for k, v := range x.outputs {
		base.outputs[k] = v
	}
	x.input, x.outputs, x.scope = base.input, base.outputs, base.scope
	if len(r.Steps) == 0 {
		x.last, x.lastRaw = base.last, base.lastRaw
	}
	return nil
}

func scopeOf(r Run, scope map[string]any) {
	if r.Kind != KindIteration {
		return
	}
	var in struct {
		Item  any `json:"item"`
		Index int `json:"index"`
	}
	if json.Unmarshal(r.Input, &in) == nil {
		scope["item"], scope["index"] = in.Item, in.Index
	}
}

// childEnd is what a child tells its parent when it ends.
type childEnd struct {
	run    *Run
	status string
	errMsg string
	output json.RawMessage
	steps  int
}

// reportEnd is persist's hook: a child that ends reports to its parent in
// the same commit.
func (s *Service) reportEnd(ctx context.Context, tx *db.Tx, x *exec, o *outcome, now time.Time) error {
	if o.status == StatusRunning || !reports(x.run.Kind) {
		return nil
	}
	ch := childEnd{run: x.run, status: o.status, errMsg: o.errMsg, steps: x.stepsUsed}
	if o.status == StatusCompleted {
		ch.output = x.lastRaw
	}
	return s.childEnded(ctx, tx, ch, now)
}

// runEnded is what ends a run from outside the engine (cancelled by hand,
// timed out) does to its relatives: its children are cancelled, and its
// parent learns of its end.
func (s *Service) runEnded(ctx context.Context, tx *db.Tx, r Run, status, msg string) error {
	if err := s.cancelChildren(ctx, tx, r.workspaceID, r.ID, -1, "", "the parent run ended: "+msg); err != nil {
		return err
	}
	if !reports(r.Kind) {
		return nil
	}
	return s.childEnded(ctx, tx, childEnd{run: &r, status: status, errMsg: msg, steps: r.StepsUsed}, s.now())
}

// childEnded counts a child's end at its parent — if the parent still
// waits at the checkpoint the child was started for — and then either
// starts the next pending iteration or, when the join holds (all
// iterations, enough branches, a failure), moves the parent on.
func (s *Service) childEnded(ctx context.Context, tx *db.Tx, ch childEnd, now time.Time) error {
	r := ch.run
	ws := r.workspaceID
	sc := db.Scope(tx, ws)
	// The UPDATE takes the parent's row first: children ending at once
	// are counted one after the other.
	var total, startedN, done, used int
	var stateRaw sql.NullString
	err := sc.QueryRowContext(ctx, `UPDATE workflow_runs SET fan_done = fan_done + 1, steps_used = steps_used + $4, updated_at = $5
		WHERE workspace_id = $1 AND id = $2 AND seq = $3 AND status = 'running' AND fan_state IS NOT NULL
		RETURNING fan_total, fan_started, fan_done, steps_used, fan_state`, r.ParentRunID, r.parentSeq, ch.steps, now).
		Scan(&total, &startedN, &done, &used, &stateRaw)
	if errors.Is(err, sql.ErrNoRows) {
		return nil // the parent moved on (joined, cancelled, timed out)
	}
	if err != nil {
		return fmt.Errorf("report to parent run: %w", err)
	}
	var st fanState
	if err := json.Unmarshal([]byte(stateRaw.String), &st); err != nil {
		return fmt.Errorf("parent run %s fan-out state: %w", r.ParentRunID, err)
	}
	switch {
	case ch.status != StatusCompleted:
		what := ch.errMsg
		if ch.status == StatusCancelled {
			what = "cancelled: " + ch.errMsg
		}
		switch st.Type {
		case StepForEach:
			what = fmt.Sprintf("iteration %d (run %s) failed: %s", r.Index, r.ID, what)
		case StepParallel:
			what = fmt.Sprintf("branch %q (run %s) failed: %s", st.Branches[r.Index], r.ID, what)
		default:
			what = fmt.Sprintf("the sub-workflow run %s failed: %s", r.ID, what)
		}
		return s.join(ctx, tx, ch, st, false, what, now)
	case done >= total || (st.Need > 0 && done >= st.Need):
		return s.join(ctx, tx, ch, st, true, "", now)
	case startedN < total && st.Type == StepForEach:
		if used >= st.Budget {
			return s.join(ctx, tx, ch, st, false, fmt.Sprintf("the run used its budget of %d steps (settings.maxSteps) after %d iterations", st.Budget, done), now)
		}
		if _, err := sc.ExecContext(ctx, `UPDATE workflow_runs SET fan_started = fan_started + 1 WHERE workspace_id = $1 AND id = $2`, r.ParentRunID); err != nil {
			return fmt.Errorf("start next iteration: %w", err)
		}
		p, err := loadRun(ctx, tx, ws, r.ParentRunID)
		if err != nil {
			return err
		}
		c, err := s.loadCompiled(ctx, tx, ws, p.versionID)
		if err != nil {
			return err
		}
		body := ""
		if cs := c.steps[st.Step]; cs != nil && cs.fan != nil {
			body = cs.fan.forEach.BodyStartStepID
		}
		return s.startChild(ctx, tx, &p, r.parentSeq, st.Step, KindIteration, startedN, body,
			map[string]any{"item": st.Items[startedN], "index": startedN})
	}
	return nil
}

// join moves a waiting parent on: the step's record with the children's
// outputs (or its failure, under the step's onError), the stragglers
// cancelled, and the parent's next checkpoint and job.
func (s *Service) join(ctx context.Context, tx *db.Tx, ch childEnd, st fanState, ok bool, msg string, now time.Time) error {
	r := ch.run
	ws := r.workspaceID
	if err := s.cancelChildren(ctx, tx, ws, r.ParentRunID, r.parentSeq, r.ID, "no longer needed: the step it ran for has ended"); err != nil {
		return err
	}
	p, err := loadRun(ctx, tx, ws, r.ParentRunID)
	if err != nil {
		return err
	}
	c, err := s.loadCompiled(ctx, tx, ws, p.versionID)
	if err != nil {
		return err
	}
	px, err := newExec(&p, c)
	if err != nil {
		return err
	}
	cs := c.steps[st.Step]
	if cs == nil {
		return fmt.Errorf("run %s waits at step %q, which its version lacks", p.ID, st.Step)
	}
	var in any
	switch st.Type {
	case StepForEach:
		in = map[string]any{"items": len(st.Items), "concurrency": max(1, cs.fan.forEach.Concurrency)}
	case StepParallel:
		in = map[string]any{"branches": st.Branches}
	default:
		in = map[string]any{"workflowId": cs.fan.sub.WorkflowID, "version": cs.fan.sub.Version, "wait": true, "input": st.Input, "runId": r.ID}
	}
	inRaw := encode(in)
	var o outcome
	if ok {
		outs, err := s.childOutputs(ctx, tx, ws, p.ID, r.parentSeq)
		if err != nil {
			return err
		}
		outs[r.Index] = ch.output
		switch st.Type {
		case StepForEach:
			list := make([]json.RawMessage, len(st.Items))
			for i := range list {
				list[i] = outs[i]
				if list[i] == nil {
					list[i] = json.RawMessage("null")
				}
			}
			px.record(cs, StepSucceeded, inRaw, encode(list), "", "", st.StartedAt, nil)
			px.cur = next(cs, "")
		case StepParallel:
			merged := map[string]json.RawMessage{}
			for i, b := range st.Branches {
				if out, done := outs[i]; done {
					if out == nil {
						out = json.RawMessage("null")
					}
					merged[b] = out
				}
			}
			px.record(cs, StepSucceeded, inRaw, map[string]any{"branches": st.Branches, "finished": len(merged)}, "", "", st.StartedAt, nil)
			if m := c.steps[st.Merge]; m != nil {
				px.record(m, StepSucceeded, nil, encode(merged), "", "", st.StartedAt, nil)
				px.cur = m.NextStepID
			}
		default:
			out := ch.output
			if out == nil {
				out = json.RawMessage("null")
			}
			px.record(cs, StepSucceeded, inRaw, out, "", "", st.StartedAt, nil)
			px.cur = next(cs, "")
		}
		px.attempt = 1
		o = outcome{status: StatusRunning}
	} else {
		o, _ = s.failed(px, cs, inRaw, msg, st.StartedAt)
		if cs.Type == StepParallel && cs.OnError == OnErrorContinue {
			if m := c.steps[st.Merge]; m != nil {
				px.cur = m.NextStepID
			}
		}
	}
	if _, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE workflow_runs SET fan_state = NULL WHERE workspace_id = $1 AND id = $2`, p.ID); err != nil {
		return fmt.Errorf("clear fan-out: %w", err)
	}
	if err := s.persist(ctx, tx, px, &o, false); err != nil {
		return err
	}
	if o.status != StatusRunning {
		tx.AfterCommit(func() { s.waiters.notify(p.ID) })
	}
	return nil
}

// childOutputs returns the outputs of a fan-out's completed children by
// index.
func (s *Service) childOutputs(ctx context.Context, tx *db.Tx, ws, parent string, seq int) (map[int]json.RawMessage, error) {
	rows, err := db.Scope(tx, ws).QueryContext(ctx, `SELECT child_index, output FROM workflow_runs
		WHERE workspace_id = $1 AND parent_run_id = $2 AND parent_seq = $3 AND status = 'completed'`, parent, seq)
	if err != nil {
		return nil, fmt.Errorf("read child outputs: %w", err)
	}
	defer rows.Close()
	outs := map[int]json.RawMessage{}
	for rows.Next() {
		var i int
		var out sql.NullString
		if err := rows.Scan(&i, &out); err != nil {
			return nil, err
		}
		outs[i] = nil
		if out.Valid {
			outs[i] = json.RawMessage(out.String)
		}
	}
	return outs, rows.Err()
}

// cancelChildren cancels the running children of a run (those of one
// fan-out when seq ≥ 0), but not except, and theirs in turn. A detached
// sub-workflow run is its own and goes on.
func (s *Service) cancelChildren(ctx context.Context, tx *db.Tx, ws, parent string, seq int, except, reason string) error {
	now := s.now()
	rows, err := db.Scope(tx, ws).QueryContext(ctx, `UPDATE workflow_runs SET status = 'cancelled', error = $3, seq = seq + 1,
		wake_at = NULL, finished_at = $4, updated_at = $4
		WHERE workspace_id = $1 AND parent_run_id = $2 AND status = 'running' AND kind <> 'detached' AND id <> $5 AND ($6 < 0 OR parent_seq = $6)
		RETURNING id`, parent, reason, now, except, seq)
	if err != nil {
		return fmt.Errorf("cancel child runs: %w", err)
	}
	var cancelled []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		cancelled = append(cancelled, id)
	}
	if err := rows.Close(); err != nil {
		return err
	}
	for _, id := range cancelled {
		if err := s.cancelChildren(ctx, tx, ws, id, -1, "", reason); err != nil {
			return err
		}
	}
	return nil
}

// ChildSummary is what GET of a run shows of the runs it started.
type ChildSummary struct {
	Total     int          `json:"total"`
	Running   int          `json:"running"`
	Completed int          `json:"completed"`
	Failed    int          `json:"failed"`
	Cancelled int          `json:"cancelled"`
	Items     []ChildBrief `json:"items"`
}

// ChildBrief is one child in a summary.
type ChildBrief struct {
	ID     string `json:"id"`
	Kind   string `json:"kind"`
	StepID string `json:"stepId"`
	Index  int    `json:"index"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// maxChildBriefs bounds the children listed in a run (all are counted;
// GET /runs?parentRunId= pages through them).
const maxChildBriefs = 100

func (s *Service) childSummary(ctx context.Context, ws, id string) (*ChildSummary, error) {
	rows, err := db.Scope(s.DB.Read(), ws).QueryContext(ctx, `SELECT id, kind, parent_step_id, child_index, status, error
		FROM workflow_runs WHERE workspace_id = $1 AND parent_run_id = $2 ORDER BY parent_seq, child_index, id`, id)
	if err != nil {
		return nil, fmt.Errorf("read child runs: %w", err)
	}
	defer rows.Close()
	sum := &ChildSummary{Items: []ChildBrief{}}
	for rows.Next() {
		var b ChildBrief
		var step, errMsg sql.NullString
		if err := rows.Scan(&b.ID, &b.Kind, &step, &b.Index, &b.Status, &errMsg); err != nil {
			return nil, err
		}
		b.StepID, b.Error = step.String, clip(errMsg.String)
		sum.Total++
		switch b.Status {
		case StatusRunning:
			sum.Running++
		case StatusCompleted:
			sum.Completed++
		case StatusFailed:
			sum.Failed++
		case StatusCancelled:
			sum.Cancelled++
		}
		if len(sum.Items) < maxChildBriefs {
			sum.Items = append(sum.Items, b)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if sum.Total == 0 {
		return nil, nil
	}
	return sum, nil
}

// childFilter narrows a run listing: by default to the runs triggers and
// sub-workflow steps started (iterations and branches belong to their
// run); with parent, to that run's children.
func childFilter(q *string, parent string) ([]any, error) {
	if parent == "" {
		*q += ` AND kind IN ('run', 'child', 'detached')`
		return nil, nil
	}
	if !ids.Valid(ids.WorkflowRun, parent) {
		return nil, apperr.Invalid(apperr.FieldError{Field: "parentRunId", Message: "is not a run id"})
	}
	*q += ` AND parent_run_id = $2`
	return []any{parent}, nil
}
