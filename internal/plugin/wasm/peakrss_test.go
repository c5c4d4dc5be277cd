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

// BenchmarkPeakRSS measures how much N concurrent executions raise the
// host's peak RSS (VmHWM), each in a fresh child process so that one
// measurement cannot hide in another's high-water mark. Modes:
//
//   - memory: memory.grow 1 MiB at a time to the FREE plan's 128 MiB,
//     writing every byte, then return;
//   - recursion: a function that calls itself until wazero's stack ceiling.
//
// Metrics: peak-MiB is the rise of VmHWM, per-exec-MiB that divided by N,
// overhead-MiB what each execution took beyond the plan's ramMb (memory
// mode). Linux only (it reads /proc/self/status). docs/benchmarks.md keeps
// the numbers.
func BenchmarkPeakRSS(b *testing.B) {
	if _, err := os.Stat("/proc/self/clear_refs"); err != nil {
		b.Skip("needs Linux's /proc/self/clear_refs to reset the peak")
	}
	for _, mode := range []string{"memory", "recursion"} {
		for _, n := range []int{1, 4} {
			b.Run(fmt.Sprintf("%s/N=%d", mode, n), func(b *testing.B) {
				var rise float64
				for b.Loop() {
					rise = peakRSSChild(b, mode, n)
				}
				b.ReportMetric(rise, "peak-MiB")
				b.ReportMetric(rise/float64(n), "per-exec-MiB")
				if mode == "memory" {
					b.ReportMetric(rise/float64(n)-float64(actor.PlanLimits[actor.Free].RAMMB), "overhead-MiB")
				}
			})
		}
	}
}

func peakRSSChild(b *testing.B, mode string, n int) float64 {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestPeakRSSChild$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), fmt.Sprintf("SWITCHBOARD_PEAKRSS=%s:%d", mode, n))
	out, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("child: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "PEAKRSS rise-kB="); ok {
			kb, err := strconv.ParseFloat(rest, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatalf("child printed no measurement:\n%s", out)
	return 0
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
	mod := map[string][]byte{"memory": wasmtest.MemoryGrow(true, false), "recursion": wasmtest.Recursion()}[mode]
	e := newEngine(t, wasm.Options{Timeout: 5 * time.Minute})
	r := e.NewRunner(manifest(t, `{"slug":"peak","name":"Peak","version":"1.0.0"}`), mod)
	run := func() plugin.ExecutionResult { return plugin.Run(context.Background(), r, ec(actor.Free), nil) }
	// One run first: compiles the module and starts the runtime, which is
	// not what is measured.
	run()
	debug.FreeOSMemory()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset the peak: %v", err)
	}
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
