package wasm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/plugin"
)

// Runner is an approved plugin version as a plugin.Runner.
type Runner struct {
	engine *Engine
	m      Compiled
	wasm   []byte
	hash   string
	// minPages is the memory the module starts with.
	minPages uint32
	// durable: the version is APPROVED, so its machine code may go to the
	// engine's disk cache (SetApproved).
	durable atomic.Bool
}

// SetApproved says whether the runner's version is APPROVED now; only an
// approved version's machine code is written to the disk cache. It may
// change while the runner executes (a yank seen by the market's sweep):
// compilations after it follow it.
func (r *Runner) SetApproved(ok bool) { r.durable.Store(ok) }

// Approved reports what SetApproved last said.
func (r *Runner) Approved() bool { return r.durable.Load() }

// Hash is the module's sha256, hex.
func (r *Runner) Hash() string { return r.hash }

// NewRunner makes a runner of a module whose manifest has been parsed. The
// module is compiled lazily, on first execution, and cached by the engine.
func (e *Engine) NewRunner(m Compiled, wasm []byte) *Runner {
	r := &Runner{engine: e, m: m, wasm: wasm, hash: Hash(wasm)}
	// A module that cannot be read fails when it compiles, with wazero's
	// words for why.
	if d, err := readDeclarations(wasm); err == nil && d.memory != nil {
		r.minPages = d.memory.min
	}
	return r
}

// Prepare compiles the module into the engine's cache (disk too, for an
// approved version), so that its first execution does not compile.
func (r *Runner) Prepare(ctx context.Context) error {
	_, release, err := r.engine.module(ctx, r.hash, r.wasm, r.durable.Load())
	if err != nil {
		return err
	}
	release()
	return nil
}

func (r *Runner) Slug() string                 { return r.m.Slug }
func (r *Runner) Version() string              { return r.m.Version }
func (r *Runner) InputSchema() *plugin.Schema  { return r.m.Input }
func (r *Runner) OutputSchema() *plugin.Schema { return r.m.Output }
func (r *Runner) ConfigSchema() *plugin.Schema { return r.m.Config }
func (r *Runner) CanBeWorkflowStep() bool      { return r.m.CanBeWorkflowStep }

// Manifest returns the runner's manifest.
func (r *Runner) Manifest() Manifest { return r.m.Manifest }

// ValidateConfig has nothing to add to the config schema: a module's own
// checks run when it executes.
func (r *Runner) ValidateConfig(json.RawMessage) error { return nil }

// request is what a module reads on stdin.
type request struct {
	Input   json.RawMessage         `json:"input"`
	Config  json.RawMessage         `json:"config"`
	Context plugin.ExecutionContext `json:"context"`
}

// Execute runs the module once, within the memory limit of the actor's
// plan, the engine's time limit and output cap: a command module in a fresh
// instance, a reactor module in its installation's idle instance if one is
// left (reactor.go).
func (r *Runner) Execute(ctx context.Context, ec plugin.ExecutionContext, input json.RawMessage) plugin.ExecutionResult {
	cfg := ec.Config
	if len(cfg) == 0 {
		cfg = json.RawMessage("{}")
	}
	ctxCopy := ec
	ctxCopy.Config = nil
	stdin, err := json.Marshal(request{Input: input, Config: cfg, Context: ctxCopy})
	if err != nil {
		return plugin.Failed("encode request: " + err.Error())
	}
	mem := actor.PlanLimits[ec.Actor.Plan].RAMMB
	if mem <= 0 {
		mem = actor.PlanLimits[actor.Free].RAMMB
	}
	if r.minPages > pagesFor(mem) {
		return plugin.Failed(fmt.Sprintf("the module's memory starts at %d pages of 64 KiB, above the plan's ramMb of %d MiB", r.minPages, mem))
	}
	return r.engine.run(ctx, r, mem, stdin, &hostEnv{ec: ec, allowedHosts: r.m.AllowedHosts})
}

var (
	errTimeLimit   = errors.New("time limit exceeded")
	errOutputLimit = errors.New("output limit exceeded")
)

// capWriter keeps at most max bytes; the first write past it calls over
// (which stops the module) and fails.
type capWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	max  int
	over func()
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.buf.Len()+len(p) > w.max {
		if w.over != nil {
			w.over()
			w.over = nil
		}
		room := w.max - w.buf.Len()
		w.buf.Write(p[:room])
		return room, errOutputLimit
	}
	return w.buf.Write(p)
}

func (w *capWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

const maxStderr = 4 << 10

func (e *Engine) run(parent context.Context, r *Runner, memoryMB int64, stdin []byte, env *hostEnv) plugin.ExecutionResult {
	pages := pagesFor(memoryMB)
	// A reactor instance of this installation left by its last execution
	// serves this one (reactor.go); executions without an installation
	// (a standalone run) never reuse one.
	key := poolKey{installation: env.ec.InstallationID, module: r.hash, pages: pages}
	var inst *instance
	if key.installation != "" {
		inst = e.pool.take(key)
	}
	var lm *loadedModule
	var release func()
	if inst == nil {
		// Compiling (the first time) is not part of the time limit.
		var err error
		if lm, release, err = e.module(parent, r.hash, r.wasm, r.durable.Load()); err != nil {
			return plugin.Failed("module cannot be loaded: " + trimWazero(err.Error()))
		}
	}

	env.http, env.send = e.opt.HTTP, e.opt.Send
	cctx, cancel := context.WithCancelCause(context.WithValue(parent, envKey{}, env))
	defer cancel(nil)
	ctx, stop := context.WithTimeoutCause(cctx, e.opt.Timeout, errTimeLimit)
	defer stop()
	stdout := &capWriter{max: e.opt.MaxOutputBytes, over: func() { cancel(errOutputLimit) }}
	stderr := &capWriter{max: maxStderr}
	if inst != nil {
		return e.callReactor(ctx, inst, stdin, stdout, stderr, env, memoryMB, time.Now())
	}
	memory := &memoryAllocator{limit: uint64(pages) * pageSize}
	started := time.Now()
	if lm.reactor {
		inst, err := instantiateReactor(ctx, lm, key, memory, release, stdin, stdout, stderr)
		if err != nil {
			return e.finish(ctx, err, env, stdout, stderr, memoryMB, memory, time.Since(started))
		}
		return e.callReactor(ctx, inst, stdin, stdout, stderr, env, memoryMB, started)
	}
	defer release()
	// No WithFS, WithEnv, WithArgs or WithSys*: no filesystem, no
	// environment, and wazero's deterministic clock and random source.
	cfg := wazero.NewModuleConfig().WithName("").
		WithStdin(bytes.NewReader(stdin)).WithStdout(stdout).WithStderr(stderr)
	runErr := instantiate(experimental.WithMemoryAllocator(ctx, memory), lm.rt, lm.mod, cfg)
	elapsed := time.Since(started)
	res := e.finish(ctx, runErr, env, stdout, stderr, memoryMB, memory, elapsed)
	memory.release()
	return res
}

// finish turns an execution's end into its result and counts it.
func (e *Engine) finish(ctx context.Context, runErr error, env *hostEnv, stdout, stderr *capWriter, memoryMB int64, memory *memoryAllocator, elapsed time.Duration) plugin.ExecutionResult {
	used := memory.used()
	env.mu.Lock()
	res := plugin.ExecutionResult{Logs: env.logs, Metrics: plugin.Metrics{APICalls: env.apiCalls}}
	fault := env.fault
	env.mu.Unlock()

	if reason := failure(ctx, runErr, fault, stderr.String(), memoryMB, memory.limitHit(), e.opt); reason != "" {
		e.opt.Metrics.Sandbox(sandboxOutcome(ctx, memory.limitHit()), elapsed, used)
		res.Error = reason
		return res
	}
	e.opt.Metrics.Sandbox("ok", elapsed, used)
	out := bytes.TrimSpace(stdout.buf.Bytes())
	if len(out) == 0 {
		out = []byte("null")
	}
	if !json.Valid(out) {
		res.Error = "the plugin's stdout is not one JSON value"
		return res
	}
	res.Success, res.Output = true, append(json.RawMessage(nil), out...)
	return res
}

// sandboxOutcome names why an execution failed, for metrics.
func sandboxOutcome(ctx context.Context, memoryCap bool) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errTimeLimit):
		return "timeout"
	case errors.Is(cause, errOutputLimit):
		return "output"
	case memoryCap:
		return "memory"
	}
	return "error"
}

// instantiate runs the module to completion. A panic inside wazero (none is
// known; a hostile module must not find one) fails the execution instead
// of the process.
func instantiate(ctx context.Context, rt wazero.Runtime, compiled wazero.CompiledModule, cfg wazero.ModuleConfig) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("sandbox fault: %v", p)
		}
	}()
	mod, err := rt.InstantiateModule(ctx, compiled, cfg)
	if mod != nil {
		mod.Close(context.WithoutCancel(ctx))
	}
	return err
}

// failure explains why a run failed, or returns "" if it succeeded. atCap
// says the module asked for memory beyond the limit: a trap then is most
// likely its answer to the memory.grow the limit refused.
func failure(ctx context.Context, runErr error, fault, stderr string, memoryMB int64, atCap bool, opt Options) string {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errOutputLimit):
		return fmt.Sprintf("output exceeds the limit of %d bytes", opt.MaxOutputBytes)
	case errors.Is(cause, errTimeLimit):
		return fmt.Sprintf("time limit of %s exceeded", opt.Timeout)
	case cause != nil && runErr != nil:
		return "cancelled: " + cause.Error()
	}
	if fault != "" {
		return fault
	}
	if runErr == nil {
		return ""
	}
	tail := stderrReason(stderr)
	if strings.Contains(stderr, "out of memory") {
		return fmt.Sprintf("memory limit of %d MiB exceeded: %s", memoryMB, tail)
	}
	var exit *sys.ExitError
	if errors.As(runErr, &exit) {
		if exit.ExitCode() == 0 {
			return ""
		}
		if tail == "" {
			return fmt.Sprintf("the plugin exited with status %d", exit.ExitCode())
		}
		return fmt.Sprintf("the plugin exited with status %d: %s", exit.ExitCode(), tail)
	}
	msg := trimWazero(runErr.Error())
	if atCap || strings.Contains(msg, "memory") && (strings.Contains(msg, "limit") || strings.Contains(msg, "exceeds")) {
		return fmt.Sprintf("memory limit of %d MiB exceeded: %s", memoryMB, msg)
	}
	if tail != "" {
		return "the plugin crashed: " + msg + ": " + tail
	}
	return "the plugin crashed: " + msg
}

// stderrReason keeps the first few lines of stderr: a Go panic's message
// and location, or the line a plugin wrote before exiting.
func stderrReason(s string) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
		if len(lines) == 3 {
			break
		}
	}
	out := strings.Join(lines, " | ")
	if len(out) > 500 {
		out = out[:500] + "…"
	}
	return out
}
