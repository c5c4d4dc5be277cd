package bench

import (
	"bufio"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleRSS builds the real binary, starts `switchboard serve` on a
// fresh SQLite data dir, waits until it is ready, lets it settle and reports
// its resident memory (rss-MB) and time to the first served request
// (startup-ms).
func BenchmarkIdleRSS(b *testing.B) {
	dir := b.TempDir()
	bin := filepath.Join(dir, "switchboard")
	build := exec.Command("go", "build", "-o", bin, "../cmd/switchboard")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	for i := 0; i < b.N; i++ {
		data := filepath.Join(dir, "data"+strconv.Itoa(i))
		cmd := exec.Command(bin, "serve", "--listen", "127.0.0.1:18931", "--data-dir", data, "--log-level", "warn")
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		ready := time.Duration(0)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			res, err := http.Get("http://127.0.0.1:18931/healthz")
			if err == nil {
				res.Body.Close()
				ready = time.Since(start)
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		if ready == 0 {
			_ = cmd.Process.Kill()
			b.Fatal("server did not become ready")
		}
		time.Sleep(2 * time.Second)
		rss := vmRSS(b, cmd.Process.Pid)
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		b.ReportMetric(float64(rss)/1024, "rss-MB")
		b.ReportMetric(float64(ready.Microseconds())/1000, "startup-ms")
	}
}

func vmRSS(b *testing.B, pid int) int64 {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
