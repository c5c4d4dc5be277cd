// Package wasmtest builds Go programs into WebAssembly (GOOS=wasip1) for
// tests, once per test process.
package wasmtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
)

// Root is the repository root.
func Root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", "..", ".."))
}

// Build compiles the package at pkg (relative to the repository root, e.g.
// "./examples/plugins/textstats") with GOOS=wasip1 GOARCH=wasm and returns
// the module. Results are kept for the rest of the process, and Go's build
// cache makes later processes fast. It skips the test if the toolchain
// cannot target wasip1.
func Build(t testing.TB, pkg string) []byte {
	t.Helper()
	return build(t, pkg)
}

// BuildReactor compiles pkg as a reactor module (-tags reactor
// -buildmode=c-shared): it exports _initialize instead of _start, and the
// package's reactor-tagged files export switchboard_execute.
func BuildReactor(t testing.TB, pkg string) []byte {
	t.Helper()
	return build(t, pkg, "-tags", "reactor", "-buildmode=c-shared")
}

func build(t testing.TB, pkg string, flags ...string) []byte {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	key := pkg + "|" + strings.Join(flags, " ")
	if b, ok := built[key]; ok {
		return b
	}
	dir, err := os.MkdirTemp("", "wasmtest")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "m.wasm")
	args := append([]string{"build", "-trimpath"}, flags...)
	cmd := exec.Command("go", append(args, "-o", out, pkg)...)
	cmd.Dir = Root()
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		if strings.Contains(string(msg), "unsupported GOOS/GOARCH") {
			t.Skipf("this Go toolchain cannot build GOOS=wasip1 GOARCH=wasm: %s", msg)
		}
		t.Fatalf("build %s for wasip1: %v\n%s", pkg, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	built[key] = b
	return b
}
