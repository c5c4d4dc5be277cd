package wasm

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/safehttp"
)

// hostModule is the import module of Switchboard's host functions.
const hostModule = "switchboard"

// Limits on what host functions accept.
const (
	maxKeyBytes   = 256
	maxValueBytes = 1 << 20
	maxLogLines   = 100
	maxLogBytes   = 16 << 10
)

// Return codes of the key-value host functions (docs/plugins.md).
const (
	kvNotFound     = -1
	kvError        = -2
	kvStorageLimit = -3
	kvBadArgument  = -4
)

// hostEnv is one execution's view of the host, reached by host functions
// through the call's context.
type hostEnv struct {
	ec plugin.ExecutionContext
	// allowedHosts are the manifest's; http and send are the engine's.
	allowedHosts []string
	http         *safehttp.Client
	send         GatewaySender

	mu        sync.Mutex
	logs      []plugin.LogLine
	logBytes  int
	apiCalls  int64
	httpCalls int
	sends     int
	// pending is an http_request response that did not fit the module's
	// buffer, kept for http_response.
	pending []byte
	// fault is why the host stopped the module (a refused host call); it
	// wins over whatever trap message wazero reports.
	fault string
}

type envKey struct{}

func envOf(ctx context.Context) *hostEnv {
	env, _ := ctx.Value(envKey{}).(*hostEnv)
	return env
}

// refuse stops the module: the panic becomes a trap of the running call,
// and the recorded fault becomes the execution's failure reason.
func (env *hostEnv) refuse(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	env.mu.Lock()
	if env.fault == "" {
		env.fault = msg
	}
	env.mu.Unlock()
	panic(errors.New(msg))
}

// require refuses the call unless the installer granted capability c for
// function fn.
func (env *hostEnv) require(fn, c string) {
	if env == nil {
		panic(errors.New("host function called outside an execution"))
	}
	if !env.ec.Granted(c) {
		env.refuse("host function %s.%s needs permission %q, which this installation was not granted", hostModule, fn, c)
	}
}

func read(env *hostEnv, m api.Module, fn string, ptr, n uint32) []byte {
	b, ok := m.Memory().Read(ptr, n)
	if !ok {
		env.refuse("host function %s.%s: pointer %d length %d is outside the module's memory", hostModule, fn, ptr, n)
	}
	return append([]byte(nil), b...)
}

func instantiateHost(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(hostModule)
	b.NewFunctionBuilder().WithFunc(hostLog).Export("log")
	b.NewFunctionBuilder().WithFunc(hostKVGet).Export("kv_get")
	b.NewFunctionBuilder().WithFunc(hostKVSet).Export("kv_set")
	b.NewFunctionBuilder().WithFunc(hostKVDelete).Export("kv_delete")
	b.NewFunctionBuilder().WithFunc(hostHTTPRequest).Export("http_request")
	b.NewFunctionBuilder().WithFunc(hostHTTPResponse).Export("http_response")
	b.NewFunctionBuilder().WithFunc(hostGatewaySend).Export("gateway_send")
	if _, err := b.Instantiate(ctx); err != nil {
		return fmt.Errorf("host module: %w", err)
	}
	return nil
}

var logLevels = map[uint32]string{0: "debug", 1: "info", 2: "warn", 3: "error"}

// hostLog records a line in the execution's logs: log(level, ptr, len).
func hostLog(ctx context.Context, m api.Module, level, ptr, n uint32) {
	env := envOf(ctx)
	env.require("log", CapLog)
	if n > maxLogBytes {
		n = maxLogBytes
	}
	msg := read(env, m, "log", ptr, n)
	lv, ok := logLevels[level]
	if !ok {
		lv = "info"
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	if len(env.logs) >= maxLogLines || env.logBytes+len(msg) > maxLogBytes {
		return // further lines are dropped, not fatal
	}
	env.logBytes += len(msg)
	env.logs = append(env.logs, plugin.LogLine{Level: lv, Message: string(msg)})
}

func (env *hostEnv) store(fn string) plugin.KV {
	env.require(fn, CapKV)
	env.countCall()
	return env.ec.Store
}

// countCall counts one call into the execution's apiCalls.
func (env *hostEnv) countCall() {
	env.mu.Lock()
	env.apiCalls++
	env.mu.Unlock()
}

// write copies b into the module's memory at ptr, or stops the module.
func write(env *hostEnv, m api.Module, fn string, ptr uint32, b []byte) {
	if !m.Memory().Write(ptr, b) {
		env.refuse("host function %s.%s: buffer %d+%d is outside the module's memory", hostModule, fn, ptr, len(b))
	}
}

func key(env *hostEnv, m api.Module, fn string, ptr, n uint32) (string, bool) {
	if n == 0 || n > maxKeyBytes {
		return "", false
	}
	return string(read(env, m, fn, ptr, n)), true
}

// hostKVGet: kv_get(keyPtr, keyLen, valPtr, valCap) → the value's length
// (copied only if it fits valCap; call again with a larger buffer
// otherwise), -1 not found, -2 error, -4 bad key.
func hostKVGet(ctx context.Context, m api.Module, kp, kl, vp, vc uint32) int32 {
	env := envOf(ctx)
	st := env.store("kv_get")
	k, ok := key(env, m, "kv_get", kp, kl)
	if !ok {
		return kvBadArgument
	}
	if st == nil {
		return kvError
	}
	v, found, err := st.Get(ctx, k)
	switch {
	case err != nil:
		return kvError
	case !found:
		return kvNotFound
	}
	if uint32(len(v)) <= vc {
		write(env, m, "kv_get", vp, v)
	}
	return int32(len(v))
}

// hostKVSet: kv_set(keyPtr, keyLen, valPtr, valLen) → 0, -2 error,
// -3 the workspace's storage limit is reached, -4 bad key or value.
func hostKVSet(ctx context.Context, m api.Module, kp, kl, vp, vl uint32) int32 {
	env := envOf(ctx)
	st := env.store("kv_set")
	k, ok := key(env, m, "kv_set", kp, kl)
	if !ok || vl > maxValueBytes {
		return kvBadArgument
	}
	v := read(env, m, "kv_set", vp, vl)
	if st == nil {
		return kvError
	}
	if err := st.Set(ctx, k, v); err != nil {
		if errors.Is(err, plugin.ErrStorageLimit) {
			return kvStorageLimit
		}
		return kvError
	}
	return 0
}

// hostKVDelete: kv_delete(keyPtr, keyLen) → 0, -2 error, -4 bad key.
func hostKVDelete(ctx context.Context, m api.Module, kp, kl uint32) int32 {
	env := envOf(ctx)
	st := env.store("kv_delete")
	k, ok := key(env, m, "kv_delete", kp, kl)
	if !ok {
		return kvBadArgument
	}
	if st == nil {
		return kvError
	}
	if err := st.Delete(ctx, k); err != nil {
		return kvError
	}
	return 0
}
