package wasm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/plugin"
)

// Reactor modules. A command module's _start runs its language runtime's
// start-up, main and exit: the instance is finished when it returns, so
// every execution pays the start-up again (a Go module: ~7 ms). A reactor
// module (WASI's other kind: `GOOS=wasip1 go build -buildmode=c-shared`)
// exports _initialize, which the host calls once when it instantiates the
// module, and switchboard_execute, called once per execution with the same
// stdin/stdout contract: it reads the request from stdin to EOF, writes its
// output to stdout and returns 0, or writes the reason to stderr and
// returns non-zero.
//
// What is reused, and between whom: an instance serves executions of one
// installation only (poolKey), one at a time. Its linear memory and globals
// persist from one execution to the next of that installation — a
// plugin's caches and package-level variables stay, so a plugin must not
// keep in them what one execution must not see of another (it sees the
// same installation's data anyway) and must not rely on them persisting
// either: the instance is dropped after IdleTimeout, on any failure (a
// trap, a time or output limit, a non-zero status, an exit), when the
// idle budget is full, and whenever the host likes. Nothing crosses
// installations: another installation, workspace or plan gets another
// instance. The host's side is fresh per execution (stdin, stdout, stderr,
// the host functions' execution context, the plan's grants).
//
// Memory: an instance in use is one of the N concurrent executions, its
// linear memory capped at the plan's ramMb as a fresh one's is; idle
// instances are bounded together by MaxIdleBytes. N concurrent executions
// therefore take at most N × ramMb + MaxIdleBytes + per-instance overhead.

// reactorEntry is the export a reactor module runs an execution with.
const reactorEntry = "switchboard_execute"

// checkEntry requires a command module's _start, or a reactor module's
// switchboard_execute of type () -> i32.
func checkEntry(m wazero.CompiledModule) error {
	fns := m.ExportedFunctions()
	if _, ok := fns["_start"]; ok {
		return nil
	}
	f, ok := fns[reactorEntry]
	if !ok {
		return apperr.Invalid(apperr.FieldError{Field: "wasm", Message: "must export _start (a WASI command module; GOOS=wasip1 builds are) or " + reactorEntry + " (a reactor module; see docs/plugins.md)"})
	}
	if len(f.ParamTypes()) != 0 || len(f.ResultTypes()) != 1 || f.ResultTypes()[0] != api.ValueTypeI32 {
		return apperr.Invalid(apperr.FieldError{Field: "wasm", Message: reactorEntry + " must take no parameters and return one i32 (0 for success)"})
	}
	return nil
}

// swapIO is an instance's stdin, stdout and stderr, pointed at each
// execution's own buffers while it runs and at nothing between
// executions.
type swapIO struct {
	mu     sync.Mutex
	in     io.Reader
	stdout io.Writer
	stderr io.Writer
}

func (s *swapIO) set(in io.Reader, stdout, stderr io.Writer) {
	s.mu.Lock()
	s.in, s.stdout, s.stderr = in, stdout, stderr
	s.mu.Unlock()
}

type swapReader struct{ s *swapIO }

func (r swapReader) Read(p []byte) (int, error) {
	r.s.mu.Lock()
	in := r.s.in
	r.s.mu.Unlock()
	if in == nil {
		return 0, io.EOF
	}
	return in.Read(p)
}

type swapWriter struct {
	s      *swapIO
	stderr bool
}

func (w swapWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	out := w.s.stdout
	if w.stderr {
		out = w.s.stderr
	}
	w.s.mu.Unlock()
	if out == nil {
		return len(p), nil
	}
	return out.Write(p)
}

// instantiateReactor instantiates lm (running its _initialize) for key.
// The instance owns release from then on. On failure everything is
// released.
func instantiateReactor(ctx context.Context, lm *loadedModule, key poolKey, memory *memoryAllocator, release func(), stdin []byte, stdout, stderr *capWriter) (_ *instance, err error) {
	sio := &swapIO{}
	sio.set(bytes.NewReader(nil), stdout, stderr)
	// As a command module's: no filesystem, environment or arguments,
	// wazero's deterministic clock and random source.
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions("_initialize").
		WithStdin(swapReader{sio}).WithStdout(swapWriter{s: sio}).WithStderr(swapWriter{s: sio, stderr: true})
	var mod api.Module
	func() {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("sandbox fault: %v", p)
			}
		}()
		mod, err = lm.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, memory), lm.mod, cfg)
	}()
	if err != nil {
		if mod != nil {
			mod.Close(context.WithoutCancel(ctx))
		}
		memory.release()
		release()
		return nil, err
	}
	return &instance{key: key, mod: mod, memory: memory, tableBytes: lm.tableBytes, io: sio, release: release}, nil
}

// callReactor runs one execution on inst and keeps the instance for the
// installation's next execution if it ended well, or closes it.
func (e *Engine) callReactor(ctx context.Context, inst *instance, stdin []byte, stdout, stderr *capWriter, env *hostEnv, memoryMB int64, started time.Time) plugin.ExecutionResult {
	inst.memory.refused.Store(false)
	inst.io.set(bytes.NewReader(stdin), stdout, stderr)
	var runErr error
	func() {
		defer func() {
			if p := recover(); p != nil {
				runErr = fmt.Errorf("sandbox fault: %v", p)
			}
		}()
		// A fresh api.Function each time: wazero keeps the call stack an
		// execution grew (up to ~100 MB, outside linear memory)
		// with the function, and an idle instance must not hold it.
		res, err := inst.mod.ExportedFunction(reactorEntry).Call(ctx)
		switch {
		case err != nil:
			runErr = err
		case uint32(res[0]) != 0:
			runErr = sys.NewExitError(uint32(res[0]))
		}
	}()
	inst.io.set(nil, nil, nil)
	res := e.finish(ctx, runErr, env, stdout, stderr, memoryMB, inst.memory, time.Since(started))
	env.mu.Lock()
	fault := env.fault
	env.mu.Unlock()
	if res.Success && runErr == nil && fault == "" && context.Cause(ctx) == nil && !inst.memory.limitHit() &&
		!inst.mod.IsClosed() && inst.key.installation != "" {
		e.pool.put(inst)
	} else {
		inst.close()
	}
	return res
}

// IdleStats reports the idle reactor instances the engine keeps and the
// bytes they are counted for (see Options.MaxIdleBytes).
func (e *Engine) IdleStats() (instances int, bytes int64) { return e.pool.stats() }
