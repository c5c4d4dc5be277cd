package wasm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

func reactorRunner(t testing.TB, e *wasm.Engine) *wasm.Runner {
	t.Helper()
	mod := wasmtest.BuildReactor(t, "./internal/plugin/wasm/testdata/reactor")
	checkOnce(t, e, mod, nil)
	wasm.KeepCompiled(t, mod)
	return e.NewRunner(manifest(t, `{"slug":"reactor","name":"Reactor","version":"1.0.0"}`), mod)
}

func inInstallation(plan actor.Plan, installation string) plugin.ExecutionContext {
	c := ec(plan)
	c.InstallationID = installation
	return c
}

// calls runs the reactor test plugin and returns its execution count.
func calls(t *testing.T, r *wasm.Runner, c plugin.ExecutionContext, input string) (int, plugin.ExecutionResult) {
	t.Helper()
	res := plugin.Run(context.Background(), r, c, json.RawMessage(input))
	if !res.Success {
		return 0, res
	}
	var out struct {
		Calls        int    `json:"calls"`
		Installation string `json:"installation"`
	}
	if err := json.Unmarshal(res.Output, &out); err != nil {
		t.Fatal(err)
	}
	if out.Installation != c.InstallationID {
		t.Fatalf("the plugin saw installation %q, the execution was %q's", out.Installation, c.InstallationID)
	}
	return out.Calls, res
}

func TestReactor_InstanceReusedWithinOneInstallationOnly(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	r := reactorRunner(t, e)
	a, b := inInstallation(actor.Pro, "ins_a"), inInstallation(actor.Pro, "ins_b")
	want := func(c plugin.ExecutionContext, input string, n int) {
		t.Helper()
		got, res := calls(t, r, c, input)
		if got != n {
			t.Fatalf("%s: calls = %d (%s), want %d", c.InstallationID, got, res.Error, n)
		}
	}
	want(a, `{}`, 1)
	want(a, `{}`, 2) // the same instance: its globals persist
	want(b, `{}`, 1) // another installation never gets a's instance
	want(a, `{}`, 3)
	if n, _ := e.IdleStats(); n != 2 {
		t.Fatalf("idle instances = %d, want 2 (one per installation)", n)
	}
	// Another plan's memory limit is another instance.
	want(inInstallation(actor.Free, "ins_a"), `{}`, 1)

	// A failed execution drops its instance: the next starts fresh.
	if _, res := calls(t, r, a, `{"fail":true}`); res.Success || !strings.Contains(res.Error, "status 1: asked to fail") {
		t.Fatalf("fail: %+v", res)
	}
	want(a, `{}`, 1)
	// So does an exit, even a successful one.
	if res := plugin.Run(context.Background(), r, a, json.RawMessage(`{"exit":true}`)); !res.Success {
		t.Fatalf("exit 0: %+v", res)
	}
	want(a, `{}`, 1)

	// Without an installation (a standalone execution) nothing is reused.
	want(ec(actor.Pro), `{}`, 1)
	want(ec(actor.Pro), `{}`, 1)
}

func TestReactor_IdleInstancesReleased(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{IdleTimeout: 50 * time.Millisecond})
	r := reactorRunner(t, e)
	a := inInstallation(actor.Pro, "ins_a")
	if n, res := calls(t, r, a, `{}`); n != 1 {
		t.Fatal(res.Error)
	}
	if n, _ := e.IdleStats(); n != 1 {
		t.Fatalf("idle instances = %d, want 1", n)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		n, bytes := e.IdleStats()
		if n == 0 && bytes == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still %d idle instances (%d bytes) after the idle timeout", n, bytes)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n, res := calls(t, r, a, `{}`); n != 1 {
		t.Fatalf("after release: calls = %d (%s), want a fresh instance", n, res.Error)
	}
}

func TestReactor_IdleBudgetBoundsKeptInstances(t *testing.T) {
	t.Parallel()
	// A budget below one instance: nothing is kept.
	e := newEngine(t, wasm.Options{MaxIdleBytes: 1})
	r := reactorRunner(t, e)
	a := inInstallation(actor.Pro, "ins_a")
	for range 2 {
		if n, res := calls(t, r, a, `{}`); n != 1 {
			t.Fatalf("calls = %d (%s), want 1: no instance fits the budget", n, res.Error)
		}
	}
	if n, bytes := e.IdleStats(); n != 0 || bytes != 0 {
		t.Fatalf("idle = %d instances, %d bytes; want none", n, bytes)
	}
}

func TestReactor_CheckAcceptsTheEntryAndRefusesOthers(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	// The example plugin's reactor build is accepted with its manifest's
	// permissions and counts words as its command build does.
	mod := wasmtest.BuildReactor(t, "./examples/plugins/textstats")
	raw, err := os.ReadFile(filepath.Join(wasmtest.Root(), "examples/plugins/textstats/manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	m := manifest(t, string(raw))
	checkOnce(t, e, mod, m.Permissions)
	wasm.KeepCompiled(t, mod)
	r := e.NewRunner(m, mod)
	c := inInstallation(actor.Pro, "ins_t")
	c.Grants = []string{"kv"}
	c.Store = &memKV{}
	c.Config = json.RawMessage(`{"keepTotals":true}`)
	for i, want := range []string{`"totalWords":6`, `"totalWords":12`} {
		res := plugin.Run(context.Background(), r, c, json.RawMessage(`{"text":"to be or not to be"}`))
		if !res.Success || !strings.Contains(string(res.Output), `"words":6`) || !strings.Contains(string(res.Output), want) {
			t.Fatalf("run %d: %+v %s", i, res, res.Output)
		}
	}
	// A module with neither entry is refused.
	noEntry := wasmtest.Module(nil, wasmtest.Limits{Min: 1, Max: 1}, 0, nil)
	_, err = e.Check(context.Background(), []byte(strings.Replace(string(noEntry), "_start", "_stort", 1)), nil)
	if err == nil || !strings.Contains(err.Error(), "switchboard_execute") {
		t.Fatalf("check = %v, want a refusal naming the entries", err)
	}
}

// An idle instance holds what the idle budget counts it for: its linear
// memory and a small overhead, not the call stack its last execution grew
// (wazero keeps that stack, outside linear memory, with the function it
// called). Not parallel: it measures the Go heap, which parallel tests
// would disturb.
func TestReactor_IdleInstanceKeepsNoCallStack(t *testing.T) {
	e := newEngine(t, wasm.Options{})
	// 2^20 calls deep take wazero's stack to tens of MiB.
	r := e.NewRunner(manifest(t, `{"slug":"deep","name":"Deep","version":"1.0.0"}`), wasmtest.ReactorRecursion(1<<20))
	run := func(installation string) {
		t.Helper()
		if res := plugin.Run(context.Background(), r, inInstallation(actor.Free, installation), nil); !res.Success {
			t.Fatalf("run: %s", res.Error)
		}
	}
	run("") // compiles; its instance is not kept
	heap := func() int64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return int64(ms.HeapAlloc)
	}
	before := heap()
	run("ins_a")
	run("ins_b")
	grown := heap() - before
	n, counted := e.IdleStats()
	if n != 2 {
		t.Fatalf("idle instances = %d, want 2", n)
	}
	// Linear memory is mapped outside the Go heap, so the heap holds the
	// instances' overhead only; allow it 4 MiB beyond what is counted.
	if grown > counted+4<<20 {
		t.Fatalf("two idle instances grew the Go heap by %d MiB; the budget counts them for %d KiB", grown>>20, counted>>10)
	}
}

// The idle budget counts an instance's tables, which wazero keeps outside
// linear memory (8 bytes an element): instances with the largest tables
// allowed fill it sooner than their one page of memory would.
func TestReactor_IdleBudgetCountsTables(t *testing.T) {
	t.Parallel()
	const budget = 4 << 20
	e := newEngine(t, wasm.Options{MaxIdleBytes: budget})
	r := e.NewRunner(manifest(t, `{"slug":"tables","name":"Tables","version":"1.0.0"}`), wasmtest.ReactorTable(wasm.MaxTableElements))
	for i := range 8 {
		if res := plugin.Run(context.Background(), r, inInstallation(actor.Free, fmt.Sprintf("ins_%d", i)), nil); !res.Success {
			t.Fatalf("run: %s", res.Error)
		}
	}
	n, counted := e.IdleStats()
	table := int64(8 * wasm.MaxTableElements)
	if n == 0 || counted/int64(n) < table {
		t.Fatalf("%d idle instances counted for %d bytes; each holds a %d-byte table", n, counted, table)
	}
	if int64(n)*table > budget {
		t.Fatalf("%d idle instances hold %d bytes of tables, over the %d-byte budget", n, int64(n)*table, budget)
	}
}
