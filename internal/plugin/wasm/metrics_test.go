package wasm_test

import (
	"context"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
	"github.com/switchboard/switchboard/internal/telemetry"
)

// Each execution is counted by outcome, with its time and the memory it
// grew to; a module stopped at the plan's memory counts as "memory".
func TestMetrics_CountExecutionsByOutcome(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	m := telemetry.New()
	e.SetMetrics(m)
	ok := manifest(t, `{"slug":"ok-mod","name":"Ok","version":"1.0.0"}`)
	if res := plugin.Run(context.Background(), e.NewRunner(ok, okModule), ec(actor.Free), nil); !res.Success {
		t.Fatal(res.Error)
	}
	grow := manifest(t, `{"slug":"mem-grow","name":"Grow","version":"1.0.0"}`)
	if res := plugin.Run(context.Background(), e.NewRunner(grow, wasmtest.MemoryGrow(false, true)), ec(actor.Free), nil); res.Success {
		t.Fatal("the memory bomb succeeded")
	}
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	var timed, memCount uint64
	var memSum float64
	for _, f := range fams {
		for _, s := range f.GetMetric() {
			switch f.GetName() {
			case "switchboard_sandbox_executions_total":
				got[s.GetLabel()[0].GetValue()] = s.GetCounter().GetValue()
			case "switchboard_sandbox_execution_seconds":
				timed = s.GetHistogram().GetSampleCount()
			case "switchboard_sandbox_memory_bytes":
				memCount, memSum = s.GetHistogram().GetSampleCount(), s.GetHistogram().GetSampleSum()
			}
		}
	}
	if got["ok"] != 1 || got["memory"] != 1 || len(got) != 2 {
		t.Errorf("executions by outcome: %v", got)
	}
	if timed != 2 {
		t.Errorf("timed executions: %d", timed)
	}
	// The bomb grew to the FREE plan's RAM before it was refused.
	if free := float64(actor.PlanLimits[actor.Free].RAMMB << 20); memCount < 1 || memSum < free/2 {
		t.Errorf("memory observed: %d samples, %.0f bytes (plan %.0f)", memCount, memSum, free)
	}
}
