package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// BenchmarkWorkflowWebhookWrk loads the real binary's sync webhook
// workflow with wrk, the load generator servers are usually measured
// with: one process of C on the same two cores costs far less per request
// than Go's HTTP client in the benchmark's own process, so more of the
// machine is left to the server. Every run is recorded before its answer,
// as in BenchmarkWorkflowWebhook. For each engine (PostgreSQL when
// SWITCHBOARD_TEST_DATABASE_URL is set) and 16 and 64 keep-alive
// connections it reports runs/s, p50 and p99 from wrk, after a warm-up.
// Any answer but 200 fails it. Needs wrk (Debian package).
//
//	go test ./bench/ -run '^$' -bench WorkflowWebhookWrk -benchtime 1x
func BenchmarkWorkflowWebhookWrk(b *testing.B) {
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		b.Skip("needs wrk (apt-get install wrk)")
	}
	for _, e := range dbtest.Engines() {
		b.Run(e.Name, func(b *testing.B) {
			var settings map[string]string
			if e.Name != "sqlite" {
				settings = map[string]string{"SWITCHBOARD_DATABASE_URL": e.URL(b)}
			}
			n, url, body := startHookProcess(b, settings)
			script := filepath.Join(b.TempDir(), "post.lua")
			lua := fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n"+
				"done = function(summary, latency, requests)\n  io.write(string.format(\"NON2XX %%d\\n\", summary.errors.status))\nend\n", body)
			if err := os.WriteFile(script, []byte(lua), 0o600); err != nil {
				b.Fatal(err)
			}
			// Warm-up: prepared statements, compiled definition, pools.
			runWrk(b, wrk, script, url, 16, 2*time.Second)
			for _, conns := range []int{16, 64} {
				b.Run(fmt.Sprintf("conns=%d", conns), func(b *testing.B) {
					var r wrkResult
					var server, machine time.Duration
					for b.Loop() {
						s0, m0 := procCPU(b, n.Pid()), machineCPU(b)
						r = runWrk(b, wrk, script, url, conns, 10*time.Second)
						server, machine = procCPU(b, n.Pid())-s0, machineCPU(b)-m0
					}
					// CPU per run moves less than the rate on a shared
					// machine: the server's own, and the whole machine's
					// (wrk, the kernel and PostgreSQL's backends too).
					runs := r.rps * 10
					b.ReportMetric(float64(server.Microseconds())/runs, "server-cpu-us/run")
					b.ReportMetric(float64(machine.Microseconds())/runs, "machine-cpu-us/run")
					b.ReportMetric(r.rps, "runs/s")
					b.ReportMetric(r.p50.Seconds()*1000, "p50-ms")
					b.ReportMetric(r.p99.Seconds()*1000, "p99-ms")
				})
			}
		})
	}
}

type wrkResult struct {
	rps      float64
	p50, p99 time.Duration
}

var (
	wrkRate    = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkLatency = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([0-9.]+)(us|ms|s)\s*$`)
	wrkNon2xx  = regexp.MustCompile(`NON2XX (\d+)`)
	wrkSocket  = regexp.MustCompile(`Socket errors: .*`)
)

func runWrk(b *testing.B, wrk, script, url string, conns int, d time.Duration) wrkResult {
	b.Helper()
	out, err := exec.Command(wrk, "-t2", "-c"+strconv.Itoa(conns), "-d"+strconv.Itoa(int(d.Seconds()))+"s",
		"--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		b.Fatalf("wrk: %v\n%s", err, out)
	}
	text := string(out)
	if m := wrkNon2xx.FindStringSubmatch(text); m == nil || m[1] != "0" {
		b.Fatalf("answers other than 2xx:\n%s", text)
	}
	if m := wrkSocket.FindString(text); m != "" {
		b.Fatalf("wrk: %s\n%s", m, text)
	}
	m := wrkRate.FindStringSubmatch(text)
	if m == nil {
		b.Fatalf("no rate in wrk's output:\n%s", text)
	}
	var r wrkResult
	r.rps, _ = strconv.ParseFloat(m[1], 64)
	for _, l := range wrkLatency.FindAllStringSubmatch(text, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[l[3]]
		lat := time.Duration(v * float64(unit))
		if l[1] == "50" {
			r.p50 = lat
		} else {
			r.p99 = lat
		}
	}
	if !strings.Contains(text, "Latency Distribution") {
		b.Fatalf("no latency distribution:\n%s", text)
	}
	return r
}

// clockTick is the kernel's USER_HZ, the unit of /proc's CPU times (100
// on every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// procCPU is the user and system CPU time process pid has used.
func procCPU(b *testing.B, pid int) time.Duration {
	b.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		b.Fatal(err)
	}
	// The fields after the command name, which is in parentheses and
	// may hold spaces: utime and stime are the 12th and 13th of them.
	f := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
	if len(f) < 13 {
		b.Fatalf("unexpected /proc/%d/stat: %s", pid, raw)
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * clockTick
}

// machineCPU is the CPU time all cores have spent busy (not idle or
// waiting for I/O, nor stolen by the hypervisor) since boot.
func machineCPU(b *testing.B) time.Duration {
	b.Helper()
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		b.Fatal(err)
	}
	line, _, _ := strings.Cut(string(raw), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		b.Fatalf("unexpected /proc/stat: %s", line)
	}
	var busy int64
	for i, v := range f[1:9] {
		if i == 3 || i == 4 || i == 7 {
			continue // idle, iowait, steal (another guest's)
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		busy += n
	}
	return time.Duration(busy) * clockTick
}
