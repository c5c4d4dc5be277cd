// Package wasm runs third-party plugins as WebAssembly modules in wazero,
// sandboxed: no filesystem, no sockets, no environment, no arguments, a
// deterministic clock and random source, and only the host functions the
// plugin's manifest asks for and its installer granted — the network among
// them only as HTTP to the manifest's allowedHosts through an SSRF-safe
// client, and messages through the installation's gateways. Every execution is
// a fresh instance of the module, bounded by a memory limit (the plan's
// ramMb), a wall-time limit and an output size cap.
//
// The ABI is WASI preview 1 command modules (what `GOOS=wasip1 go build`
// produces): the request is JSON on stdin, the output is JSON on stdout,
// a non-zero exit status fails the execution with stderr as the reason.
// docs/plugins.md is the author's guide.
package wasm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
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
	// CacheDir, when set, keeps compiled machine code across restarts.
	CacheDir string
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
	cache := processCache
	if opt.CacheDir != "" {
		c, err := wazero.NewCompilationCacheWithDir(opt.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("wasm compilation cache: %w", err)
		}
		cache = c
	}
	return &Engine{opt: opt, cache: cache, compiled: newModuleCache(opt.MaxCompiledBytes)}, nil
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
	rt := wazero.NewRuntimeWithConfig(ctx, runtimeConfig(maxPlanPages()).WithCompilationCache(e.cache))
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("wasi: %w", err)
	}
	if err := instantiateHost(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, err
	}
	e.rt = rt
	return rt, nil
}

// module returns the compiled module for wasm, from the cache or compiled
// and added to it. The release func must be called when the caller is done
// with it. Only runners call it, and runners exist only for versions a
// reviewer approved (market.Service.Load: installable versions, and
// installed ones that were yanked since), so the cache holds nothing else.
func (e *Engine) module(ctx context.Context, hash string, wasm []byte) (wazero.CompiledModule, wazero.Runtime, func(), error) {
	rt, err := e.runtime(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	// Compile outside the engine's lock: a large module takes a while the
	// first time, and executions of other modules must not wait for it.
	m, release, err := e.compiled.acquire(ctx, hash, compiledSize(len(wasm)), func() (wazero.CompiledModule, error) {
		bounded, err := boundTables(wasm)
		if err != nil {
			return nil, fmt.Errorf("compile: %w", err)
		}
		// Other executions may wait for this compilation: the first
		// caller's cancellation must not fail theirs.
		m, err := rt.CompileModule(context.WithoutCancel(ctx), bounded)
		if err != nil {
			return nil, fmt.Errorf("compile: %w", err)
		}
		return m, nil
	})
	if err != nil {
		return nil, nil, nil, err
	}
	return m, rt, release, nil
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
	if _, ok := m.ExportedFunctions()["_start"]; !ok {
		return nil, apperr.Invalid(apperr.FieldError{Field: "wasm", Message: "must export _start (a WASI command module; GOOS=wasip1 builds are)"})
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
