package wasm

import (
	"context"
	"sync"
	"testing"
)

var (
	keeperOnce sync.Once
	keeper     *Engine
	keeperErr  error
)

// KeepCompiled compiles mod once per test process and keeps its machine
// code until the process exits. Every engine without a CacheDir shares
// processCache, but wazero drops a module's code from it when the last
// runtime holding the module closes, so the tests' many short-lived engines
// would each compile the same Go module again — seconds each, a minute
// under the race detector. With the keeper holding it, their compilations
// find it in the cache; what a test asserts about its own engine (its
// CacheStats, its first run) is unchanged.
func KeepCompiled(t testing.TB, mod []byte) {
	t.Helper()
	keeperOnce.Do(func() {
		keeper, keeperErr = NewEngine(Options{MaxCompiledBytes: 1 << 40})
	})
	if keeperErr != nil {
		t.Fatal(keeperErr)
	}
	// The release func is dropped on purpose: the module stays in use.
	if _, _, err := keeper.module(context.Background(), Hash(mod), mod, false); err != nil {
		t.Fatal(err)
	}
}
