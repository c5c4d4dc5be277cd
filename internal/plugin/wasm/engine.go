// Package wasm runs third-party plugins as WebAssembly modules in wazero,
// sandboxed: no filesystem, no sockets, no environment, no arguments, a
// deterministic clock and random source, and only the host functions the
// plugin's manifest asks for and its installer granted — the network among
// them only as HTTP to the manifest's allowedHosts through an SSRF-safe
// client, and messages through the installation's gateways. Every execution is
// bounded by a memory limit (the plan's ramMb), a wall-time limit and an
// output size cap.
//
// The ABI is WASI preview 1: the request is JSON on stdin, the output is
// JSON on stdout. A command module (exports _start; what `GOOS=wasip1 go
// build` produces) runs in a fresh instance per execution, and a non-zero
// exit status fails it with stderr as the reason. A reactor module (exports
// switchboard_execute and no _start; `-buildmode=c-shared` builds) is
// instantiated once and its entry called per execution, the instance kept
// for the next execution of the same installation only (reactor.go).
// docs/plugins.md is the author's guide.
package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/safehttp"
	"github.com/switchboard/switchboard/internal/telemetry"
)

// Options tune an Engine.
type Options struct {
	// Timeout is the wall-time limit of one execution (default 5 s).
	Timeout time.Duration
	// MaxOutputBytes caps stdout (default 1 MiB); stderr is kept to 4 KiB.
	MaxOutputBytes int
	// MaxModuleBytes caps a module (default 16 MiB).
	MaxModuleBytes int
	// MaxCompiledBytes bounds the compiled modules kept in memory, by their
	// estimated size (default 256 MiB, about eleven 3 MB Go modules; see
	// compiledSize). The least recently used module beyond it is released
	// once no execution uses it, and compiled again when next run.
	MaxCompiledBytes int64
	// CacheDir, when set, keeps the compiled machine code of APPROVED
	// module versions across restarts, one directory per module
	// (diskcache.go). Nothing else is written there: a submission is
	// checked with the interpreter, a yanked version is compiled in memory
	// only and its directory removed (Forget, PruneCache).
	CacheDir string
	// IdleTimeout is how long an idle instance of a reactor module is kept
	// for the next execution of the same installation (default 5 s).
	IdleTimeout time.Duration
	// MaxIdleBytes bounds the memory of idle reactor instances, all
	// installations together: their linear memory and tables plus a
	// per-instance overhead (default 64 MiB). An instance that would exceed
	// it is closed instead of kept.
	MaxIdleBytes int64
	// HTTP makes the requests of http_request; nil refuses them. It must be
	// an SSRF-safe client (package safehttp) whose response cap is at least
	// MaxHTTPBodyBytes.
	HTTP *safehttp.Client
	// Send queues the messages of gateway_send through the gateway send
	// path; nil refuses them.
	Send GatewaySender
	// Metrics counts executions with their time and memory (nil: not
	// counted).
	Metrics *telemetry.Metrics
}

// GatewaySender queues a text message through a gateway of a's workspace —
// the gateway send path, a retried job — and returns the send's id. The app
// wires it to gateway.Service.Send, which checks a's permissions.
// key makes a repeated send (an execution run again) return the first.
type GatewaySender func(ctx context.Context, a actor.Actor, gatewayID, chatID, text, key string) (sendID string, err error)

// Engine compiles and runs modules. It is safe for concurrent use; one per
// process is enough.
type Engine struct {
	opt   Options
	cache wazero.CompilationCache

	mu       sync.Mutex
	rt       wazero.Runtime // made on first use
	compiled *moduleCache
	pool     *instancePool
}

// processCache is shared by every Engine of the process: compiled machine
// code depends only on the module's bytes, and tests start many nodes.
var processCache = wazero.NewCompilationCache()

// NewEngine returns an engine.
func NewEngine(opt Options) (*Engine, error) {
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.MaxOutputBytes <= 0 {
		opt.MaxOutputBytes = 1 << 20
	}
	if opt.MaxModuleBytes <= 0 {
		opt.MaxModuleBytes = 16 << 20
	}
	if opt.MaxCompiledBytes <= 0 {
		opt.MaxCompiledBytes = 256 << 20
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 5 * time.Second
	}
	if opt.MaxIdleBytes <= 0 {
		opt.MaxIdleBytes = 64 << 20
	}
	if opt.CacheDir != "" {
		if err := os.MkdirAll(opt.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("wasm compilation cache: %w", err)
		}
	}
	return &Engine{opt: opt, cache: processCache, compiled: newModuleCache(opt.MaxCompiledBytes),
		pool: newInstancePool(opt.MaxIdleBytes, opt.IdleTimeout)}, nil
}

// SetMetrics makes the engine count its executions in m. Call before
// running modules.
func (e *Engine) SetMetrics(m *telemetry.Metrics) { e.opt.Metrics = m }

// Options returns the engine's effective options.
func (e *Engine) Options() Options { return e.opt }

// CacheStats reports the compiled modules the engine keeps and their
// estimated size in bytes (see Options.MaxCompiledBytes).
func (e *Engine) CacheStats() (modules int, bytes int64) { return e.compiled.stats() }

// Close releases every runtime and compiled module.
func (e *Engine) Close(ctx context.Context) error {
	e.pool.closeAll()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.compiled.clear()
	if e.rt == nil {
		return nil
	}
	rt := e.rt
	e.rt = nil
	return rt.Close(ctx)
}

// Hash names a module by its content.
func Hash(wasm []byte) string {
	h := sha256.Sum256(wasm)
	return hex.EncodeToString(h[:])
}

const pageSize = 64 << 10

func pagesFor(memoryMB int64) uint32 {
	if memoryMB <= 0 || memoryMB > 4096 {
		memoryMB = 4096
	}
	p := memoryMB << 20 / pageSize
	if p > 65536 {
		p = 65536
	}
	return uint32(p)
}

// runtimeConfig is the configuration of every runtime the engine makes:
// module code stops when its context ends, linear memory is capped at pages.
// wazero has no setting for tables or the call stack; see checkDeclarations
// and docs/plugins.md.
func runtimeConfig(pages uint32) wazero.RuntimeConfig {
	return wazero.NewRuntimeConfig().
		WithCloseOnContextDone(true).
		WithMemoryLimitPages(pages)
}

// runtime returns the engine's runtime, creating it with the WASI and
// switchboard host modules on first use. It lets every module have the
// largest plan's memory: each execution's memoryAllocator holds it to its
// own plan's ramMb, and one runtime keeps one compiled copy of a module for
// all plans.
func (e *Engine) runtime(ctx context.Context) (wazero.Runtime, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.rt != nil {
		return e.rt, nil
	}
	rt, err := newRuntime(ctx, e.cache)
	if err != nil {
		return nil, err
	}
	e.rt = rt
	return rt, nil
}

// newRuntime makes a runtime compiling through cache, with the WASI and
// switchboard host modules.
func newRuntime(ctx context.Context, cache wazero.CompilationCache) (wazero.Runtime, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(maxPlanPages()).WithCompilationCache(cache))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("wasi: %w", err)
	}
	if err := instantiateHost(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	return rt, nil
}

// module returns the compiled module for wasm, from the cache or compiled
// and added to it. The release func must be called when the caller is done
// with it. Only runners call it, and runners exist only for versions a
// reviewer approved (market.Service.Load: installable versions, and
// installed ones that were yanked since), so the cache holds nothing else.
//
// durable says the version is APPROVED now: with a CacheDir, its machine
// code is also written to disk (diskcache.go) so a restarted node does not
// compile it again. A yanked version's module is compiled in memory only.
func (e *Engine) module(ctx context.Context, hash string, wasm []byte, durable bool) (*loadedModule, func(), error) {
	durable = durable && e.opt.CacheDir != ""
	key := hash
	if durable {
		key = hash + "@disk"
	}
	// Compile outside the engine's lock: a large module takes a while the
	// first time, and executions of other modules must not wait for it.
	return e.compiled.acquire(ctx, key, compiledSize(len(wasm)), func() (*loadedModule, error) {
		bounded, err := boundTables(wasm)
		if err != nil {
			return nil, fmt.Errorf("compile: %w", err)
		}
		var rt wazero.Runtime
		closeRT := func() {}
		if durable {
			if rt, closeRT, err = e.diskRuntime(ctx, hash); err != nil {
				return nil, err
			}
		} else if rt, err = e.runtime(ctx); err != nil {
			return nil, err
		}
		// Other executions may wait for this compilation: the first
		// caller's cancellation must not fail theirs.
		m, err := rt.CompileModule(context.WithoutCancel(ctx), bounded)
		if err != nil {
			closeRT()
			return nil, fmt.Errorf("compile: %w", err)
		}
		d, err := readDeclarations(bounded)
		if err != nil {
			m.Close(context.Background())
			closeRT()
			return nil, fmt.Errorf("compile: %w", err)
		}
		var elements int64
		for _, t := range d.tables {
			elements += int64(t.max)
		}
		_, hasStart := m.ExportedFunctions()["_start"]
		_, hasEntry := m.ExportedFunctions()[reactorEntry]
		return &loadedModule{mod: m, rt: rt, reactor: hasEntry && !hasStart, tableBytes: 8 * elements, close: func() {
			m.Close(context.Background())
			closeRT()
		}}, nil
	})
}

// Check validates a module for a manifest asking for perms: it must be a
// WASI command (export _start and memory), import nothing but WASI and the
// switchboard host functions its permissions unlock, keep its tables and
// memory within what the sandbox accounts for (checkDeclarations), and
// compile. It returns the host functions the module imports.
//
// The module is compiled in a runtime of its own that is closed before
// Check returns: a submission waiting for review (or refused) is never kept
// compiled, in memory or in the engine's compilation cache.
func (e *Engine) Check(ctx context.Context, wasm []byte, perms []string) ([]string, error) {
	if len(wasm) > e.opt.MaxModuleBytes {
		return nil, apperr.Invalid(apperr.FieldError{Field: "wasm", Message: fmt.Sprintf("module is %d bytes; the limit is %d", len(wasm), e.opt.MaxModuleBytes)})
	}
	if len(wasm) < 8 || string(wasm[:4]) != "\x00asm" {
		return nil, apperr.Invalid(apperr.FieldError{Field: "wasm", Message: "is not a WebAssembly binary (no \\0asm header)"})
	}
	if err := checkDeclarations(wasm); err != nil {
		return nil, err
	}
	bounded, err := boundTables(wasm)
	if err != nil {
		return nil, apperr.Invalid(apperr.FieldError{Field: "wasm", Message: "does not compile: " + err.Error()})
	}
	// Validate with wazero's interpreter: it decodes and validates exactly
	// as the compiler does, in a fraction of the time, and produces no
	// machine code to keep. Under the largest plan's limit: each run
	// applies its own.
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithMemoryLimitPages(maxPlanPages()))
	defer rt.Close(context.WithoutCancel(ctx))
	m, err := rt.CompileModule(ctx, bounded)
	if err != nil {
		return nil, apperr.Invalid(apperr.FieldError{Field: "wasm", Message: "does not compile: " + trimWazero(err.Error())})
	}
	if err := checkEntry(m); err != nil {
		return nil, err
	}
	if _, ok := m.ExportedMemories()["memory"]; !ok {
		return nil, apperr.Invalid(apperr.FieldError{Field: "wasm", Message: "must export its memory as \"memory\""})
	}
	var used []string
	for _, f := range m.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
		case hostModule:
			c, ok := hostFunctions[name]
			if !ok {
				return nil, apperr.Invalid(apperr.FieldError{Field: "wasm", Message: fmt.Sprintf("imports unknown host function %s.%s", mod, name)})
			}
			if !contains(perms, c) {
				return nil, apperr.Invalid(apperr.FieldError{Field: "wasm", Message: fmt.Sprintf("imports %s.%s, which needs permission %q the manifest does not ask for", mod, name, c)})
			}
			used = append(used, name)
		default:
			return nil, apperr.Invalid(apperr.FieldError{Field: "wasm", Message: fmt.Sprintf("imports %s.%s; only %s and %s are available", mod, name, wasi_snapshot_preview1.ModuleName, hostModule)})
		}
	}
	return used, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// trimWazero keeps the first line of a wazero error and drops its wasm
// stack trace.
func trimWazero(s string) string {
	if i := strings.Index(s, "\nwasm stack trace"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimSpace(s)
	if len(s) > 500 {
		s = s[:500] + "…"
	}
	return s
}
