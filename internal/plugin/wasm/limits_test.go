package wasm_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

func TestCheck_RefusesTablesAndMemoryTheSandboxCannotAccount(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	mem := func(l wasmtest.Limits) []byte { return wasmtest.Module(nil, l, 0, nil) }
	for _, tc := range []struct {
		name string
		mod  []byte
		want string
	}{
		{"huge table, filled", wasmtest.TableFill(wasmtest.Limits{Min: 134217728, NoMax: true}), "declares tables of 134217728 elements; at most 100000"},
		{"huge table maximum", wasmtest.TableFill(wasmtest.Limits{Min: 1, Max: 1 << 20}), "table 0 may grow to 1048576 elements"},
		{"memory above the largest plan", mem(wasmtest.Limits{Min: 70000, NoMax: true}), "memory starts at 70000 pages"},
		{"memory maximum above the largest plan", mem(wasmtest.Limits{Min: 1, Max: 70000}), "memory may grow to 70000 pages"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Check(context.Background(), tc.mod, nil)
			if !apperr.Is(err, apperr.Validation) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want a validation error %q, got %v", tc.want, err)
			}
		})
	}
	// A module within the bounds passes, a filled table included.
	if _, err := e.Check(context.Background(), wasmtest.TableFill(wasmtest.Limits{Min: 1000, Max: 1000}), nil); err != nil {
		t.Fatal(err)
	}
}

// A table without a maximum (every Go module's) is bounded by its minimum:
// table.grow beyond it answers -1 instead of taking host memory.
func TestRun_TableWithoutMaximumCannotGrow(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	mod := wasmtest.TableGrow(100_000_000) // 800 MB of references, were it granted
	if _, err := e.Check(context.Background(), mod, nil); err != nil {
		t.Fatal(err)
	}
	m := manifest(t, `{"slug":"table-grow","name":"Grow","version":"1.0.0"}`)
	if res := plugin.Run(context.Background(), e.NewRunner(m, mod), ec(actor.Free), nil); !res.Success {
		t.Fatalf("table.grow was granted (the module traps when it is): %s", res.Error)
	}
}

func TestRun_MemoryStopsAtThePlansRAM(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	mod := wasmtest.MemoryGrow(false, true) // grows until refused, then traps
	m := manifest(t, `{"slug":"mem-grow","name":"Grow","version":"1.0.0"}`)
	r := e.NewRunner(m, mod)
	for _, plan := range []actor.Plan{actor.Free, actor.Starter} {
		res := plugin.Run(context.Background(), r, ec(plan), nil)
		want := "memory limit of " + itoa(actor.PlanLimits[plan].RAMMB) + " MiB exceeded"
		if res.Success || !strings.Contains(res.Error, want) {
			t.Fatalf("%s: want %q, got %+v", plan, want, res)
		}
	}
}

func TestRun_DeepRecursionEndsInStackOverflow(t *testing.T) {
	t.Parallel()
	m := manifest(t, `{"slug":"recurse","name":"Recurse","version":"1.0.0"}`)
	// The first run of the module is slow on a loaded machine: the stack
	// grows to wazero's ceiling (docs/plugins.md).
	e := newEngine(t, wasm.Options{Timeout: 2 * time.Minute})
	res := plugin.Run(context.Background(), e.NewRunner(m, wasmtest.Recursion()), ec(actor.Free), nil)
	if res.Success || !strings.Contains(res.Error, "stack overflow") {
		t.Fatalf("want a stack overflow, got %+v", res)
	}
}

func TestCheck_KeepsNothingCompiled(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	if _, err := e.Check(context.Background(), okModule, nil); err != nil {
		t.Fatal(err)
	}
	if n, size := e.CacheStats(); n != 0 || size != 0 {
		t.Fatalf("a checked (pending) module is kept compiled: %d modules, %d bytes", n, size)
	}
	m := manifest(t, `{"slug":"ok-mod","name":"Ok","version":"1.0.0"}`)
	if res := plugin.Run(context.Background(), e.NewRunner(m, okModule), ec(actor.Free), nil); !res.Success {
		t.Fatal(res.Error)
	}
	if n, _ := e.CacheStats(); n != 1 {
		t.Fatalf("an executed module is not cached: %d modules", n)
	}
}

func TestCompiledCache_StaysWithinItsBytes(t *testing.T) {
	t.Parallel()
	// Room for two of these modules' estimated compiled size (seven times
	// their bytes), not three.
	mods := [][]byte{wasmtest.MemoryGrow(false, false), wasmtest.TableGrow(2), wasmtest.TableGrow(1)}
	var sum, smallest int64 = 0, 1 << 30
	for _, mod := range mods {
		sum += int64(7 * len(mod))
		smallest = min(smallest, int64(7*len(mod)))
	}
	budget := sum - smallest/2
	e := newEngine(t, wasm.Options{MaxCompiledBytes: budget})
	m := manifest(t, `{"slug":"many","name":"Many","version":"1.0.0"}`)
	for i := 0; i < 2; i++ {
		for _, mod := range mods {
			if res := plugin.Run(context.Background(), e.NewRunner(m, mod), ec(actor.Free), nil); !res.Success {
				t.Fatal(res.Error)
			}
			if n, size := e.CacheStats(); n > 2 || size > budget {
				t.Fatalf("cache holds %d modules, %d bytes; budget %d", n, size, budget)
			}
		}
	}
}

func itoa(n int64) string {
	b := []byte{}
	for n > 0 || len(b) == 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// Preparing a runner compiles its module into the cache, so that the
// compile happens before an execution takes its slot, not inside it.
func TestPrepare_CompilesBeforeTheFirstExecution(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	m := manifest(t, `{"slug":"ok-mod","name":"Ok","version":"1.0.0"}`)
	r := e.NewRunner(m, okModule)
	if n, _ := e.CacheStats(); n != 0 {
		t.Fatalf("%d modules compiled before anything ran", n)
	}
	plugin.Prepare(context.Background(), r)
	if n, _ := e.CacheStats(); n != 1 {
		t.Fatalf("prepared, %d modules are compiled; want 1", n)
	}
	if res := plugin.Run(context.Background(), r, ec(actor.Free), nil); !res.Success {
		t.Fatal(res.Error)
	}
	if n, _ := e.CacheStats(); n != 1 {
		t.Fatalf("the execution compiled again: %d modules", n)
	}
	// A module that does not compile prepares silently and fails when it
	// runs, in its own words.
	bad := e.NewRunner(m, []byte("\x00asm\x01\x00\x00\x00garbage"))
	plugin.Prepare(context.Background(), bad)
	if res := plugin.Run(context.Background(), bad, ec(actor.Free), nil); res.Success || !strings.Contains(res.Error, "compile") {
		t.Fatalf("an uncompilable module: %+v", res)
	}
}
