package wasm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"

	"github.com/tetratelabs/wazero"
)

// The disk cache keeps wazero's compiled machine code of APPROVED module
// versions in CacheDir, one directory per module hash, so a node that
// restarts runs them without compiling again (a Go module takes seconds).
// Each such module gets a runtime of its own whose compilation cache is its
// directory: wazero writes every module a runtime compiles to that
// runtime's cache, so sharing one directory would leave no way to remove
// one module's code. What may be in the directory:
//
//   - never a PENDING or REJECTED submission: Check validates with the
//     interpreter, which writes nothing;
//   - an APPROVED version's code, written the first time it runs;
//   - a YANKED version's directory is removed (Forget, called by the
//     marketplace when it yanks; PruneCache at start-up for yanks made on
//     other nodes). Installations keep running a yanked version, compiled
//     in memory only.

var hashDir = regexp.MustCompile(`^[0-9a-f]{64}$`)

// diskRuntime makes the runtime that compiles the module named hash
// through its directory of the disk cache; close releases both.
func (e *Engine) diskRuntime(ctx context.Context, hash string) (wazero.Runtime, func(), error) {
	if !hashDir.MatchString(hash) {
		return nil, nil, fmt.Errorf("module hash %q is not a sha256", hash)
	}
	cache, err := wazero.NewCompilationCacheWithDir(filepath.Join(e.opt.CacheDir, hash))
	if err != nil {
		return nil, nil, fmt.Errorf("wasm compilation cache: %w", err)
	}
	rt, err := newRuntime(ctx, cache)
	if err != nil {
		cache.Close(context.Background())
		return nil, nil, err
	}
	return rt, func() {
		rt.Close(context.Background())
		cache.Close(context.Background())
	}, nil
}

// Forget drops everything the engine keeps of the module named hash: its
// compiled code in memory (once no execution uses it), its idle instances
// and its directory in the disk cache. The marketplace calls it when a
// version is yanked; an installation still running it compiles it again,
// in memory only.
func (e *Engine) Forget(hash string) error {
	e.pool.drop(func(k poolKey) bool { return k.module == hash })
	e.compiled.remove(hash + "@disk")
	e.compiled.remove(hash)
	if e.opt.CacheDir == "" || !hashDir.MatchString(hash) {
		return nil
	}
	if err := os.RemoveAll(filepath.Join(e.opt.CacheDir, hash)); err != nil {
		return fmt.Errorf("wasm compilation cache: %w", err)
	}
	return nil
}

// PruneCache removes every directory of the disk cache whose module is not
// in approved (hashes of the APPROVED versions), and anything else found
// there. It returns how many entries it removed.
func (e *Engine) PruneCache(approved map[string]bool) (int, error) {
	if e.opt.CacheDir == "" {
		return 0, nil
	}
	entries, err := os.ReadDir(e.opt.CacheDir)
	if err != nil {
		return 0, fmt.Errorf("wasm compilation cache: %w", err)
	}
	n := 0
	for _, ent := range entries {
		name := ent.Name()
		if ent.IsDir() && hashDir.MatchString(name) && approved[name] {
			continue
		}
		if hashDir.MatchString(name) {
			e.compiled.remove(name + "@disk")
		}
		if err := os.RemoveAll(filepath.Join(e.opt.CacheDir, name)); err != nil {
			return n, fmt.Errorf("wasm compilation cache: %w", err)
		}
		n++
	}
	return n, nil
}

// CachedOnDisk lists the module hashes that have a directory in the disk
// cache.
func (e *Engine) CachedOnDisk() ([]string, error) {
	if e.opt.CacheDir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(e.opt.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("wasm compilation cache: %w", err)
	}
	var out []string
	for _, ent := range entries {
		if ent.IsDir() && hashDir.MatchString(ent.Name()) {
			out = append(out, ent.Name())
		}
	}
	return out, nil
}
