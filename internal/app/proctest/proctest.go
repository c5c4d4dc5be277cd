// Package proctest runs the switchboard binary as real child processes, for
// tests that kill a node with SIGKILL, restart it, or run several nodes on
// one database: what no in-process harness can show.
package proctest

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles cmd/switchboard into a temporary folder of t and returns
// the binary's path, built with -race when the test is. It skips t under
// -short or when no go tool is at hand.
func Build(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the switchboard binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		if root := os.Getenv("GOROOT"); root != "" {
			goTool = filepath.Join(root, "bin", "go")
		}
		if _, err := os.Stat(goTool); goTool == "" || err != nil {
			t.Skip("no go tool to build the switchboard binary")
		}
	}
	bin := filepath.Join(t.TempDir(), "switchboard")
	args := []string{"build", "-o", bin}
	if RaceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "github.com/switchboard/switchboard/cmd/switchboard")
	cmd := exec.Command(goTool, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("go build ./cmd/switchboard: %v\n%s", err, out.String())
	}
	t.Logf("built the switchboard binary in %s (race: %v)", time.Since(start).Round(time.Millisecond), RaceEnabled)
	return bin
}

// FreeAddr returns a loopback host:port nothing listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// Node is one `switchboard serve` child process, restartable on the same
// address, data dir and settings.
type Node struct {
	Name string
	// Addr is host:port the node listens on; URL its base URL.
	Addr, URL string

	t       testing.TB
	bin     string
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
	starts int
}

// Start runs `switchboard serve` with the given SWITCHBOARD_* settings
// (SWITCHBOARD_LISTEN and SWITCHBOARD_PUBLIC_URL default to a free loopback
// address; SWITCHBOARD_* variables of the test's own environment are not
// passed on) and waits until it answers /readyz. The node is killed at
// cleanup; its log is shown if the test failed, and a data race it
// reported fails the test.
func Start(t testing.TB, name, bin string, settings map[string]string) *Node {
	t.Helper()
	n := &Node{Name: name, t: t, bin: bin, logPath: filepath.Join(t.TempDir(), name+".log")}
	n.Addr = settings["SWITCHBOARD_LISTEN"]
	if n.Addr == "" {
		n.Addr = FreeAddr(t)
	}
	n.URL = "http://" + n.Addr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SWITCHBOARD_") {
			n.env = append(n.env, kv)
		}
	}
	set := map[string]string{"SWITCHBOARD_LISTEN": n.Addr, "SWITCHBOARD_PUBLIC_URL": n.URL, "SWITCHBOARD_LOG_FORMAT": "text"}
	for k, v := range settings {
		set[k] = v
	}
	for k, v := range set {
		n.env = append(n.env, k+"="+v)
	}
	if RaceEnabled {
		n.env = append(n.env, "GORACE=halt_on_error=0")
	}
	t.Cleanup(func() {
		n.Kill()
		logs := n.Logs()
		if strings.Contains(logs, "WARNING: DATA RACE") {
			t.Errorf("node %s reported a data race:\n%s", n.Name, tail(logs, 20000))
		} else if t.Failed() {
			t.Logf("node %s log (tail):\n%s", n.Name, tail(logs, 6000))
		}
	})
	n.Restart()
	return n
}

// Restart starts the node again (it must not be running) and waits until
// it is ready.
func (n *Node) Restart() {
	n.t.Helper()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.running() {
		n.t.Fatalf("node %s is running", n.Name)
	}
	n.starts++
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		n.t.Fatal(err)
	}
	fmt.Fprintf(logf, "=== start %d at %s ===\n", n.starts, time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(n.bin, "serve")
	cmd.Env = n.env
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		n.t.Fatalf("start node %s: %v", n.Name, err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(exited)
	}()
	n.cmd, n.exited = cmd, exited
	wait := time.Duration(30*Slowdown) * time.Second
	deadline := time.Now().Add(wait)
	client := &http.Client{Timeout: time.Second}
	for {
		res, err := client.Get(n.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-exited:
			n.t.Fatalf("node %s exited while starting:\n%s", n.Name, tail(n.Logs(), 4000))
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatalf("node %s not ready within %s:\n%s", n.Name, wait, tail(n.Logs(), 4000))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (n *Node) running() bool {
	if n.cmd == nil {
		return false
	}
	select {
	case <-n.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL — no shutdown, no deferred code, nothing flushed — and
// waits for the process to be gone. A node that is not running is left
// alone.
func (n *Node) Kill() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running() {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
}

// Stop asks the node to shut down (SIGTERM) and waits for it, killing it
// after timeout.
func (n *Node) Stop(timeout time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running() {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(timeout):
		_ = n.cmd.Process.Kill()
		<-n.exited
	}
}

// Starts is how many times the node was started.
func (n *Node) Starts() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.starts
}

// Logs returns everything the node wrote, over all its starts.
func (n *Node) Logs() string {
	b, _ := os.ReadFile(n.logPath)
	return string(b)
}

func tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return "…" + s[len(s)-max:]
}

// Pid is the running process's id (0 when it is not running).
func (n *Node) Pid() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.running() {
		return 0
	}
	return n.cmd.Process.Pid
}
