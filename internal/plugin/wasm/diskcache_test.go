package wasm_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

func TestDiskCache_HoldsApprovedModulesOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	e := newEngine(t, wasm.Options{CacheDir: dir})
	m := manifest(t, `{"slug":"raw-mod","name":"Raw","version":"1.0.0"}`)
	onDisk := func() []string {
		t.Helper()
		hashes, err := e.CachedOnDisk()
		if err != nil {
			t.Fatal(err)
		}
		return hashes
	}
	run := func(mod []byte, approved bool) {
		t.Helper()
		r := e.NewRunner(m, mod)
		r.SetApproved(approved)
		if res := plugin.Run(context.Background(), r, ec(actor.Pro), nil); !res.Success {
			t.Fatal(res.Error)
		}
	}

	// A submission waiting for review is checked, never compiled to disk.
	pending := wasmtest.Module(nil, wasmtest.Limits{Min: 1, Max: 2}, 0, nil)
	if _, err := e.Check(context.Background(), pending, nil); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("the cache holds %d entries after checking a submission", len(entries))
	}
	// A version not approved (yanked, still installed) runs from memory.
	run(pending, false)
	if got := onDisk(); len(got) != 0 {
		t.Fatalf("on disk after a yanked version ran: %v", got)
	}
	// An approved version's code is written to its own directory.
	run(okModule, true)
	if got := onDisk(); !slices.Equal(got, []string{wasm.Hash(okModule)}) {
		t.Fatalf("on disk = %v, want the approved module only", got)
	}
	if files, _ := os.ReadDir(filepath.Join(dir, wasm.Hash(okModule))); len(files) == 0 {
		t.Fatal("the approved module's directory is empty")
	}
	// Another node start (a new engine on the same directory) runs it.
	e2 := newEngine(t, wasm.Options{CacheDir: dir})
	r := e2.NewRunner(m, okModule)
	r.SetApproved(true)
	if res := plugin.Run(context.Background(), r, ec(actor.Pro), nil); !res.Success {
		t.Fatal(res.Error)
	}

	// A yank forgets it; it still runs, compiled again in memory.
	if err := e.Forget(wasm.Hash(okModule)); err != nil {
		t.Fatal(err)
	}
	if got := onDisk(); len(got) != 0 {
		t.Fatalf("on disk after Forget: %v", got)
	}
	run(okModule, false)
	if n, _ := e.CacheStats(); n == 0 {
		t.Fatal("the yanked module is not compiled in memory")
	}

	// Pruning keeps approved modules and removes everything else.
	run(okModule, true)
	if err := os.WriteFile(filepath.Join(dir, "stray"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if n, err := e.PruneCache(map[string]bool{wasm.Hash(okModule): true}); err != nil || n != 1 {
		t.Fatalf("prune = %d, %v; want the stray file removed", n, err)
	}
	if got := onDisk(); len(got) != 1 {
		t.Fatalf("on disk after pruning with it approved: %v", got)
	}
	if n, err := e.PruneCache(map[string]bool{}); err != nil || n != 1 {
		t.Fatalf("prune = %d, %v", n, err)
	}
	if got := onDisk(); len(got) != 0 {
		t.Fatalf("on disk after pruning with nothing approved: %v", got)
	}
	run(okModule, true) // compiled again, and written again
	if got := onDisk(); len(got) != 1 {
		t.Fatalf("on disk = %v", got)
	}
}
