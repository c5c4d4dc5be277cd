package wasm_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

// Native vs sandboxed execution of one call through plugin.Run (schema
// checks included). The wasm numbers are dominated by instantiating a
// fresh module per call: the raw module shows wazero's floor, the Go example
// adds the Go runtime's start-up.

func BenchmarkExecute_NativeTemplate(b *testing.B) {
	r := builtin.NewTemplate()
	ec := plugin.ExecutionContext{Trigger: plugin.TriggerStandalone}
	in := json.RawMessage(`{"template":"{{len .}} words","data":["to","be","or","not"]}`)
	b.ReportAllocs()
	for b.Loop() {
		if res := plugin.Run(context.Background(), r, ec, in); !res.Success {
			b.Fatal(res.Error)
		}
	}
}

func BenchmarkExecute_WasmMinimalModule(b *testing.B) {
	e := newEngine(b, wasm.Options{})
	m := manifest(b, `{"slug":"raw-mod","name":"Raw","version":"1.0.0"}`)
	r := e.NewRunner(m, okModule)
	c := ec(actor.Pro)
	b.ReportAllocs()
	for b.Loop() {
		if res := plugin.Run(context.Background(), r, c, nil); !res.Success {
			b.Fatal(res.Error)
		}
	}
}

func BenchmarkExecute_WasmGoExample(b *testing.B) {
	e := newEngine(b, wasm.Options{})
	r := exampleRunner(b, e)
	c := ec(actor.Pro)
	in := json.RawMessage(`{"text":"to be or not to be"}`)
	plugin.Run(context.Background(), r, c, in) // compile outside the timing
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		if res := plugin.Run(context.Background(), r, c, in); !res.Success {
			b.Fatal(res.Error)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
}

// The Go example built as a reactor module (-buildmode=c-shared): calls of
// one installation reuse its instance, so the Go runtime starts once.
func BenchmarkExecute_WasmGoExampleReactor(b *testing.B) {
	e := newEngine(b, wasm.Options{})
	mod := wasmtest.BuildReactor(b, "./examples/plugins/textstats")
	raw, err := readFile(wasmtest.Root() + "/examples/plugins/textstats/manifest.json")
	if err != nil {
		b.Fatal(err)
	}
	m := manifest(b, string(raw))
	checkOnce(b, e, mod, m.Permissions)
	wasm.KeepCompiled(b, mod)
	r := e.NewRunner(m, mod)
	c := ec(actor.Pro)
	c.InstallationID = "ins_bench"
	in := json.RawMessage(`{"text":"to be or not to be"}`)
	plugin.Run(context.Background(), r, c, in) // compile and instantiate outside the timing
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cpuTime()
	for b.Loop() {
		if res := plugin.Run(context.Background(), r, c, in); !res.Success {
			b.Fatal(res.Error)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
}
