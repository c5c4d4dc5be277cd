package wasm_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

// BenchmarkPeakRSS measures how much executions raise the host's RSS, each
// case in a fresh child process so that one measurement cannot hide in
// another's high-water mark. Linux only (it reads /proc/self/status).
// docs/benchmarks.md keeps the numbers.
//
// Command modules, N concurrent executions:
//
//   - memory: memory.grow 1 MiB at a time to the FREE plan's 128 MiB,
//     writing every byte, then return;
//   - recursion: a function that calls itself until wazero's stack ceiling.
//
// Metrics: peak-MiB is the rise of VmHWM, per-exec-MiB that divided by N,
// overhead-MiB what each execution took beyond the plan's ramMb (memory
// mode).
//
// Reactor modules (reactor.go), one execution in each of K installations,
// one after another, with the engine's default idle budget and timeout;
// each installation's instance is kept idle afterwards if it fits the
// budget:
//
//   - memory: grows its linear memory to reactorMiB and writes every byte;
//   - recursion: recurses reactorDepth calls deep (wazero's stack, outside
//     linear memory) and returns;
//   - table: writes every element of a table of MaxTableElements (wazero
//     keeps it outside linear memory too), with one page of memory, so
//     that the budget is reached by many small instances.
//
// Metrics: held-MiB is the rise of VmRSS once the K executions are over
// (after debug.FreeOSMemory) — what the idle instances hold; peak-MiB the
// rise of VmHWM during them; idle-instances and idle-MiB what
// Engine.IdleStats counts them for (held-MiB should stay within idle-MiB
// and a small fixed overhead however large K is, and idle-MiB within the
// budget); released-MiB the rise of VmRSS left once the idle timeout has
// passed and the instances are closed.
func BenchmarkPeakRSS(b *testing.B) {
	if _, err := os.Stat("/proc/self/clear_refs"); err != nil {
		b.Skip("needs Linux's /proc/self/clear_refs to reset the peak")
	}
	for _, mode := range []string{"memory", "recursion"} {
		for _, n := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/N=%d", mode, n), func(b *testing.B) {
				var m map[string]float64
				for b.Loop() {
					m = peakRSSChild(b, mode, n)
				}
				rise := m["rise-kB"] / 1024
				b.ReportMetric(rise, "peak-MiB")
				b.ReportMetric(rise/float64(n), "per-exec-MiB")
				if mode == "memory" {
					b.ReportMetric(rise/float64(n)-float64(actor.PlanLimits[actor.Free].RAMMB), "overhead-MiB")
				}
			})
		}
	}
	for _, c := range []struct {
		mode string
		ks   []int
	}{
		{"reactor-memory", []int{1, 2, 4, 8}},
		{"reactor-recursion", []int{1, 2, 4, 8}},
		{"reactor-table", []int{64, 256}},
	} {
		mode := c.mode
		for _, k := range c.ks {
			b.Run(fmt.Sprintf("%s/K=%d", mode, k), func(b *testing.B) {
				var m map[string]float64
				for b.Loop() {
					m = peakRSSChild(b, mode, k)
				}
				for _, name := range []string{"held", "peak", "idle", "released"} {
					b.ReportMetric(m[name+"-kB"]/1024, name+"-MiB")
				}
				b.ReportMetric(m["idle-instances"], "idle-instances")
			})
		}
	}
}

// The reactor modules' sizes: 16 MiB of linear memory, so that the default
// 64 MiB idle budget keeps three instances (each counted for its memory
// and instanceOverhead); and a recursion depth that takes wazero's stack
// well beyond instanceOverhead.
const (
	reactorMiB   = 16
	reactorDepth = 1 << 20
)

func peakRSSChild(b *testing.B, mode string, n int) map[string]float64 {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("SWITCHBOARD_PEAKRSS=%s:%d", mode, n))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "PEAKRSS "); ok {
			m := map[string]float64{}
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				m[k] = f
			}
			return m
		}
	}
	b.Fatalf("child printed no measurement:\n%s", out)
	return nil
}

// TestPeakRSSChild is BenchmarkPeakRSS's child process; it does nothing in
// an ordinary test run.
func TestPeakRSSChild(t *testing.T) {
	spec := os.Getenv("SWITCHBOARD_PEAKRSS")
	if spec == "" {
		t.Skip("runs only as BenchmarkPeakRSS's child")
	}
	mode, count, _ := strings.Cut(spec, ":")
	n, err := strconv.Atoi(count)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(mode, "reactor-") {
		peakRSSReactor(t, mode, n)
		return
	}
	mod := map[string][]byte{"memory": wasmtest.MemoryGrow(true, false), "recursion": wasmtest.Recursion()}[mode]
	e := newEngine(t, wasm.Options{Timeout: 5 * time.Minute})
	r := e.NewRunner(manifest(t, `{"slug":"peak","name":"Peak","version":"1.0.0"}`), mod)
	run := func() plugin.ExecutionResult { return plugin.Run(context.Background(), r, ec(actor.Free), nil) }
	// One run first: compiles the module and starts the runtime, which is
	// not what is measured.
	run()
	debug.FreeOSMemory()
	resetPeak(t)
	base := status(t, "VmHWM")
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			res := run()
			if mode == "memory" && !res.Success {
				t.Errorf("run: %s", res.Error)
			}
		})
	}
	wg.Wait()
	fmt.Printf("PEAKRSS rise-kB=%d\n", status(t, "VmHWM")-base)
}

// peakRSSReactor runs a reactor module once in each of k installations
// with the engine's default idle budget and timeout, and prints what the
// idle instances hold.
func peakRSSReactor(t *testing.T, mode string, k int) {
	mod := map[string][]byte{
		"reactor-memory":    wasmtest.ReactorMemory(reactorMiB),
		"reactor-recursion": wasmtest.ReactorRecursion(reactorDepth),
		"reactor-table":     wasmtest.ReactorTable(wasm.MaxTableElements),
	}[mode]
	e := newEngine(t, wasm.Options{Timeout: 5 * time.Minute})
	r := e.NewRunner(manifest(t, `{"slug":"peak","name":"Peak","version":"1.0.0"}`), mod)
	run := func(installation string) {
		c := ec(actor.Free)
		c.InstallationID = installation
		if res := plugin.Run(context.Background(), r, c, nil); !res.Success {
			t.Fatalf("run: %s", res.Error)
		}
	}
	// One run first, without an installation so that its instance is not
	// kept: compiles the module and starts the runtime.
	run("")
	debug.FreeOSMemory()
	resetPeak(t)
	baseRSS, baseHWM := status(t, "VmRSS"), status(t, "VmHWM")
	for i := range k {
		run(fmt.Sprintf("ins_%d", i))
	}
	debug.FreeOSMemory()
	held, peak := status(t, "VmRSS")-baseRSS, status(t, "VmHWM")-baseHWM
	instances, bytes := e.IdleStats()
	// The reaper closes an instance between IdleTimeout and 1.25 ×
	// IdleTimeout after its execution.
	deadline := time.Now().Add(2*e.Options().IdleTimeout + time.Second)
	for n, _ := e.IdleStats(); n > 0 && time.Now().Before(deadline); n, _ = e.IdleStats() {
		time.Sleep(100 * time.Millisecond)
	}
	if n, _ := e.IdleStats(); n > 0 {
		t.Fatalf("%d idle instances left after twice the idle timeout", n)
	}
	debug.FreeOSMemory()
	released := status(t, "VmRSS") - baseRSS
	fmt.Printf("PEAKRSS held-kB=%d peak-kB=%d idle-instances=%d idle-kB=%d released-kB=%d\n",
		held, peak, instances, bytes>>10, released)
}

// resetPeak resets VmHWM to the current RSS.
func resetPeak(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset the peak: %v", err)
	}
}

// status reads a kB field of /proc/self/status.
func status(t *testing.T, field string) int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}
