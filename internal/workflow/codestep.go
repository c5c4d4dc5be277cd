package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jsrun"
)

// CodeConfig is a code step: the body of a JavaScript function whose
// return value (JSON) is the step's output. It sees trigger, steps, vars,
// previous and — inside a for-each — item and index.
type CodeConfig struct {
	Language string `json:"language"`
	Source   string `json:"source"`
}

// MaxCodeMemoryMB caps a code step's memory whatever the plan's ramMb.
const MaxCodeMemoryMB = 256

// codeTimeLimits is how long one code step may run, by plan.
var codeTimeLimits = map[actor.Plan]time.Duration{
	actor.Free:       time.Second,
	actor.Starter:    2 * time.Second,
	actor.Pro:        5 * time.Second,
	actor.Business:   10 * time.Second,
	actor.Enterprise: 30 * time.Second,
}

// CodeLimits are the limits of a code step run under plan p (an unknown
// plan gets FREE's): the plan's ramMb up to MaxCodeMemoryMB, and its time.
func CodeLimits(p actor.Plan) jsrun.Limits {
	t, ok := codeTimeLimits[p]
	if !ok {
		p, t = actor.Free, codeTimeLimits[actor.Free]
	}
	mb := min(actor.PlanLimits[p].RAMMB, MaxCodeMemoryMB)
	return jsrun.Limits{MemoryBytes: mb << 20, Time: t, MaxOutputBytes: maxValueBytes}
}

func (cs *cstep) compileCode(cf string, p *problems) {
	var cc CodeConfig
	if err := strictConfig(cs.Config, &cc); err != nil {
		p.add(cf, "%v", err)
		return
	}
	if cc.Language != "javascript" {
		p.add(cf+".language", `must be "javascript"`)
	}
	prog, err := jsrun.Compile(cc.Source)
	var je *jsrun.Error
	switch {
	case errors.As(err, &je):
		p.add(cf+".source", "%s", je.Message)
	case err != nil:
		p.add(cf+".source", "could not be checked; try again")
	}
	cs.code = prog
}

// runCode runs a code step in the worker. It ends the segment like a step
// with effects, although it has none outside the run: its result is
// committed before the next step, so a crash or a stopping worker re-runs
// at most this one step, and a chain of long code steps never adds up to
// more than one job's time.
func (s *Service) runCode(ctx context.Context, x *exec, cs *cstep, started time.Time) (outcome, bool) {
	env := x.env()
	in := map[string]any{"trigger": env["trigger"], "steps": env["steps"], "vars": env["variables"], "previous": env["previous"]}
	var shown map[string]any
	for _, k := range []string{"item", "index"} {
		if v, ok := env[k]; ok {
			in[k] = v
			if shown == nil {
				shown = map[string]any{}
			}
			shown[k] = v
		}
	}
	// The step's record shows what is particular to this call: the rest
	// of its input is the run's data, recorded already.
	var inRec json.RawMessage
	if shown != nil {
		inRec = encode(shown)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		return s.failed(x, cs, inRec, "the step's input could not be encoded as JSON", started)
	}
	if cs.code == nil {
		return s.failed(x, cs, inRec, "the step's code was not compiled", started)
	}
	if sl, ok := s.Plugins.(StepSlots); ok {
		// One of the workspace's cpuCores slots, shared with its plugin
		// executions on every node, besides this node's CPU bound below.
		// The slot's lease ends soon after the step could: its wait for
		// a node slot and its time limit.
		cctx, cancel := context.WithTimeout(ctx, codeSlotWait+CodeLimits(x.run.plan).Time+time.Second)
		free, err := sl.ClaimStepSlot(cctx, x.a, "code", "code:"+IdempotencyKey(x.run.ID, cs.ID, x.seq, x.attempt))
		cancel()
		switch {
		case errors.Is(err, ErrBusy):
			return outcome{status: StatusRunning, busy: true}, true
		case err != nil && ctx.Err() != nil:
			return outcome{status: StatusRunning, interrupted: true}, true
		case err != nil && db.IsTransient(err):
			s.Log.Warn("workflow code step: database fault, retrying", "run", x.run.ID, "step", cs.ID, "error", err)
			return outcome{status: StatusRunning, retry: fmt.Errorf("code step %s of run %s: %w", cs.ID, x.run.ID, err)}, true
		case err != nil:
			s.Log.Error("workflow code step slot", "run", x.run.ID, "step", cs.ID, "error", err)
			return s.failed(x, cs, inRec, "the step could not run because of an internal error; it was logged", started)
		}
		defer free()
	}
	release, busy := nodeCodeSlots.acquire(ctx, x.run.workspaceID, x.run.plan)
	if busy {
		return outcome{status: StatusRunning, busy: true}, true
	}
	if release == nil {
		return outcome{status: StatusRunning, interrupted: true}, true
	}
	res, err := cs.code.Run(ctx, string(raw), CodeLimits(x.run.plan))
	release()
	var je *jsrun.Error
	switch {
	case errors.Is(err, jsrun.ErrInterrupted) || ctx.Err() != nil:
		return outcome{status: StatusRunning, interrupted: true}, true
	case errors.As(err, &je):
		o, _ := s.failed(x, cs, inRec, je.Error(), started)
		x.records[len(x.records)-1].Logs = res.Logs
		return o, true
	case err != nil:
		s.Log.Error("workflow code step", "run", x.run.ID, "step", cs.ID, "error", err)
		return s.failed(x, cs, inRec, "the step could not run because of an internal error; it was logged", started)
	}
	x.record(cs, StepSucceeded, inRec, json.RawMessage(res.Output), "", "", started, nil)
	x.records[len(x.records)-1].Logs = res.Logs
	x.cur, x.attempt = next(cs, ""), 1
	return outcome{status: StatusRunning}, true
}

// StepSlots is what Plugins may also provide: a concurrency slot of the
// workspace (its plan's cpuCores, counted with its plugin executions on
// every node) for a code step, freed by the returned func; ErrBusy when
// none is free.
type StepSlots interface {
	ClaimStepSlot(ctx context.Context, a actor.Actor, kind, key string) (release func(), err error)
}

// codeSlots bound the code steps one node runs at once: as many as it has
// processors (CPU-bound work gains nothing beyond), each workspace at most
// its plan's cpuCores of them. A step that finds no slot — its workspace
// at its share, or the node's slots taken for longer than a short wait —
// is busy: its job snoozes, like a plugin step at its concurrency limit,
// rather than hold a worker that jobs of other kinds could use. Memory in
// use stays within slots × the largest code step's memory.
type codeSlots struct {
	once sync.Once
	sem  chan struct{}
	mu   sync.Mutex
	used map[string]int64
	// wait is how long a step waits for a node slot (0: codeSlotWait).
	wait time.Duration
}

const codeSlotWait = time.Second

// nodeCodeSlots are this process's: one process is one node.
var nodeCodeSlots codeSlots

// acquire takes a slot for a code step of workspace ws. Without one it
// reports busy, or returns a nil release when ctx ended.
func (c *codeSlots) acquire(ctx context.Context, ws string, plan actor.Plan) (release func(), busy bool) {
	c.once.Do(func() {
		c.sem = make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))
		c.used = map[string]int64{}
		if c.wait <= 0 {
			c.wait = codeSlotWait
		}
	})
	limit := actor.PlanLimits[plan].CPUCores
	if limit < 1 {
		limit = 1
	}
	c.mu.Lock()
	if c.used[ws] >= limit {
		c.mu.Unlock()
		return nil, true
	}
	c.used[ws]++
	c.mu.Unlock()
	free := func() {
		c.mu.Lock()
		if c.used[ws]--; c.used[ws] <= 0 {
			delete(c.used, ws)
		}
		c.mu.Unlock()
	}
	// A free slot is taken at once: with the wait's timer already running,
	// select could pick an expired timer over a free slot.
	select {
	case c.sem <- struct{}{}:
		return func() { <-c.sem; free() }, false
	default:
	}
	t := time.NewTimer(c.wait)
	defer t.Stop()
	select {
	case c.sem <- struct{}{}:
		return func() { <-c.sem; free() }, false
	case <-t.C:
		free()
		return nil, true
	case <-ctx.Done():
		free()
		return nil, false
	}
}
