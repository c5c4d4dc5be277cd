package wasm_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/plugin/wasm"
)

func readFile(p string) ([]byte, error) { return os.ReadFile(p) }

var (
	checkedMu sync.Mutex
	checked   = map[string]bool{}
)

// checkOnce runs Check on the module once per test process for a set of
// permissions: Check validates a Go module with wazero's interpreter, which
// takes seconds under the race detector, and the tests that build their
// runner this way are about what the module does when it runs.
func checkOnce(t testing.TB, e *wasm.Engine, mod []byte, perms []string) {
	t.Helper()
	key := wasm.Hash(mod) + "|" + strings.Join(perms, ",")
	checkedMu.Lock()
	defer checkedMu.Unlock()
	if checked[key] {
		return
	}
	if _, err := e.Check(context.Background(), mod, perms); err != nil {
		t.Fatalf("check: %v", err)
	}
	checked[key] = true
}
