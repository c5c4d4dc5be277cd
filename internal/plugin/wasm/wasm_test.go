package wasm_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/plugin/wasm/wasmtest"
)

// memKV is an in-memory plugin.KV with a byte budget.
type memKV struct {
	mu    sync.Mutex
	m     map[string][]byte
	limit int
}

func (k *memKV) Get(_ context.Context, key string) ([]byte, bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[key]
	return v, ok, nil
}

func (k *memKV) Set(_ context.Context, key string, v []byte) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.limit > 0 && len(v) > k.limit {
		return plugin.ErrStorageLimit
	}
	if k.m == nil {
		k.m = map[string][]byte{}
	}
	k.m[key] = append([]byte(nil), v...)
	return nil
}

func (k *memKV) Delete(_ context.Context, key string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, key)
	return nil
}

func newEngine(t testing.TB, opt wasm.Options) *wasm.Engine {
	t.Helper()
	e, err := wasm.NewEngine(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close(context.Background()) })
	return e
}

func manifest(t testing.TB, raw string) wasm.Compiled {
	t.Helper()
	m, err := wasm.ParseManifest(json.RawMessage(raw))
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	return m
}

func exampleRunner(t testing.TB, e *wasm.Engine) *wasm.Runner {
	t.Helper()
	mod := wasmtest.Build(t, "./examples/plugins/textstats")
	raw, err := readFile(wasmtest.Root() + "/examples/plugins/textstats/manifest.json")
	if err != nil {
		t.Fatal(err)
	}
	m := manifest(t, string(raw))
	checkOnce(t, e, mod, m.Permissions)
	wasm.KeepCompiled(t, mod)
	return e.NewRunner(m, mod)
}

func ec(plan actor.Plan, grants ...string) plugin.ExecutionContext {
	return plugin.ExecutionContext{Trigger: plugin.TriggerStandalone, Actor: actor.Actor{UserID: "usr_x", Plan: plan}, Grants: grants}
}

func TestExample_CountsWordsAndKeepsTotals(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	r := exampleRunner(t, e)
	kv := &memKV{}
	c := ec(actor.Free, wasm.CapLog, wasm.CapKV)
	c.Store = kv
	c.Config = json.RawMessage(`{"keepTotals":true,"logEachRun":true,"top":2}`)
	for i, want := range []int{5, 10} {
		res := plugin.Run(context.Background(), r, c, json.RawMessage(`{"text":"the cat saw the Cat"}`))
		if !res.Success {
			t.Fatalf("run %d failed: %s", i, res.Error)
		}
		var out struct {
			Words      int
			Top        []struct{ Word string }
			TotalWords int
		}
		if err := json.Unmarshal(res.Output, &out); err != nil {
			t.Fatal(err)
		}
		if out.Words != 5 || out.TotalWords != want || len(out.Top) != 2 || out.Top[0].Word != "cat" {
			t.Fatalf("run %d: output %s", i, res.Output)
		}
		if len(res.Logs) != 1 || !strings.Contains(res.Logs[0].Message, "counted 5 words") {
			t.Fatalf("logs %+v", res.Logs)
		}
		if res.Metrics.APICalls != 2 {
			t.Fatalf("apiCalls %d, want 2 (kv_get, kv_set)", res.Metrics.APICalls)
		}
	}
	// Input that breaks the input schema never reaches the module.
	if res := plugin.Run(context.Background(), r, c, json.RawMessage(`{"txt":1}`)); res.Success || !strings.Contains(res.Error, "input") {
		t.Fatalf("bad input: %+v", res)
	}
}

func TestExample_WithoutGrantsIsRefusedClearly(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{})
	r := exampleRunner(t, e)
	c := ec(actor.Free) // nothing granted
	c.Config = json.RawMessage(`{"keepTotals":true}`)
	res := plugin.Run(context.Background(), r, c, json.RawMessage(`{"text":"a b"}`))
	if res.Success || !strings.Contains(res.Error, `needs permission "kv"`) {
		t.Fatalf("want a refusal naming the kv permission, got %+v", res)
	}
	// Without keepTotals the plugin calls no host function and works.
	c.Config = json.RawMessage(`{}`)
	if res := plugin.Run(context.Background(), r, c, json.RawMessage(`{"text":"a b"}`)); !res.Success {
		t.Fatalf("plain run failed: %s", res.Error)
	}
}

const hostileManifest = `{"slug":"hostile","name":"Hostile","version":"0.0.1","permissions":["kv"]}`

func TestHostileModules_FailWithReasonAndHarmNoOne(t *testing.T) {
	t.Parallel()
	// The engine's own time limit is generous so that, on a loaded machine,
	// the allocating module reaches the memory limit before any clock; the
	// looping module is stopped by its caller's deadline instead (the
	// engine's time limit has its own test with a tiny looping module).
	e := newEngine(t, wasm.Options{Timeout: 2 * time.Minute, MaxOutputBytes: 256 << 10})
	mod := wasmtest.Build(t, "./internal/plugin/wasm/testdata/hostile")
	m := manifest(t, hostileManifest)
	if _, err := e.Check(context.Background(), mod, m.Permissions); err != nil {
		t.Fatal(err)
	}
	r := e.NewRunner(m, mod)
	// Check keeps nothing compiled, so the first run compiles the module;
	// do that before the looping case's short deadline starts.
	if res := plugin.Run(context.Background(), r, ec(actor.Free), json.RawMessage(`{}`)); !res.Success {
		t.Fatalf("first run: %s", res.Error)
	}
	cases := []struct {
		mode, want string
	}{
		{"loop", "cancelled: context deadline exceeded"},
		{"alloc", "memory limit of 128 MiB exceeded"},
		{"output", "output exceeds the limit of 262144 bytes"},
		{"ungranted", `kv_set needs permission "kv", which this installation was not granted`},
		{"panic", "exited with status 2: panic: assignment to entry in nil map"},
		{"exit", "exited with status 3: refusing: bad mood"},
		{"notjson", "stdout is not one JSON value"},
	}
	var wg sync.WaitGroup
	for _, tc := range cases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if tc.mode != "loop" {
				ctx = context.Background()
			}
			res := plugin.Run(ctx, r, ec(actor.Free), json.RawMessage(`{"mode":"`+tc.mode+`"}`))
			if res.Success || !strings.Contains(res.Error, tc.want) {
				t.Errorf("%s: want failure containing %q, got success=%v error=%q", tc.mode, tc.want, res.Success, res.Error)
			}
			if d := time.Since(start); d > 60*time.Second {
				t.Errorf("%s took %s", tc.mode, d)
			}
		}()
	}
	// A well-behaved execution beside them is unaffected.
	wg.Add(1)
	go func() {
		defer wg.Done()
		res := plugin.Run(context.Background(), r, ec(actor.Free), json.RawMessage(`{"mode":"ok"}`))
		if !res.Success || string(res.Output) != `{"ok":true}` {
			t.Errorf("good run beside hostile ones: %+v", res)
		}
	}()
	wg.Wait()
	// And the engine still works afterwards.
	if res := plugin.Run(context.Background(), r, ec(actor.Free), json.RawMessage(`{}`)); !res.Success {
		t.Fatalf("engine broken after hostile runs: %s", res.Error)
	}
}

// Hand-assembled modules: the smallest WASI commands, no Go runtime.
var (
	header = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	// (type (func)) (func $start) (memory 1) (export "memory") (export "_start")
	commandSections = func(body []byte, imports ...[2]string) []byte {
		b := append([]byte{}, header...)
		b = append(b, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00)
		if len(imports) > 0 {
			sec := []byte{byte(len(imports))}
			for _, im := range imports {
				sec = append(sec, byte(len(im[0])))
				sec = append(sec, im[0]...)
				sec = append(sec, byte(len(im[1])))
				sec = append(sec, im[1]...)
				sec = append(sec, 0x00, 0x00)
			}
			b = append(b, 0x02, byte(len(sec)))
			b = append(b, sec...)
		}
		b = append(b, 0x03, 0x02, 0x01, 0x00)
		b = append(b, 0x05, 0x03, 0x01, 0x00, 0x01)
		b = append(b, 0x07, 0x13, 0x02, 0x06)
		b = append(b, "memory"...)
		b = append(b, 0x02, 0x00, 0x06)
		b = append(b, "_start"...)
		b = append(b, 0x00, byte(len(imports)))
		fn := append([]byte{0x00}, body...)
		fn = append(fn, 0x0b)
		b = append(b, 0x0a, byte(len(fn)+2), 0x01, byte(len(fn)))
		return append(b, fn...)
	}
	trapModule = commandSections([]byte{0x00})                         // unreachable
	loopModule = commandSections([]byte{0x03, 0x40, 0x0c, 0x00, 0x0b}) // loop br 0 end
	okModule   = commandSections(nil)
)

func TestRawModules(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{Timeout: 200 * time.Millisecond})
	m := manifest(t, `{"slug":"raw-mod","name":"Raw","version":"1.0.0"}`)
	for _, tc := range []struct {
		name string
		mod  []byte
		want string
	}{
		{"trap", trapModule, "the plugin crashed: "},
		{"loop", loopModule, "time limit of 200ms exceeded"},
		{"ok", okModule, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := e.Check(context.Background(), tc.mod, nil); err != nil {
				t.Fatal(err)
			}
			res := plugin.Run(context.Background(), e.NewRunner(m, tc.mod), ec(actor.Pro), nil)
			if tc.want == "" {
				if !res.Success || string(res.Output) != "null" {
					t.Fatalf("%+v", res)
				}
				return
			}
			if res.Success || !strings.Contains(res.Error, tc.want) {
				t.Fatalf("want %q, got %+v", tc.want, res)
			}
		})
	}
}

func TestCheck_RefusesWhatTheSandboxCannotRun(t *testing.T) {
	t.Parallel()
	e := newEngine(t, wasm.Options{MaxModuleBytes: 1 << 10})
	for _, tc := range []struct {
		name  string
		mod   []byte
		perms []string
		want  string
	}{
		{"not wasm", []byte("#!/bin/sh\necho hi"), nil, "not a WebAssembly binary"},
		{"too big", append(append([]byte{}, header...), make([]byte, 2<<10)...), nil, "the limit is 1024"},
		{"garbage", append(append([]byte{}, header...), 0xff, 0x01), nil, "does not compile"},
		{"foreign import", commandSections(nil, [2]string{"env", "f"}), nil, "imports env.f"},
		{"unknown host fn", commandSections(nil, [2]string{"switchboard", "exec"}), nil, "unknown host function switchboard.exec"},
		{"unasked host fn", commandSections(nil, [2]string{"switchboard", "kv_get"}), []string{"log"}, `needs permission "kv"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.Check(context.Background(), tc.mod, tc.perms)
			if !apperr.Is(err, apperr.Validation) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want validation error %q, got %v", tc.want, err)
			}
		})
	}
	used, err := e.Check(context.Background(), commandSections(nil, [2]string{"switchboard", "kv_get"}), []string{"kv"})
	if err != nil || len(used) != 1 || used[0] != "kv_get" {
		t.Fatalf("asked host fn: %v %v", used, err)
	}
}

func TestParseManifest_NamesBadFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ raw, field string }{
		{`{"slug":"X","name":"n","version":"1.0.0"}`, "manifest.slug"},
		{`{"slug":"abc","name":"","version":"1.0.0"}`, "manifest.name"},
		{`{"slug":"abc","name":"n","version":"v1.0"}`, "manifest.version"},
		{`{"slug":"abc","name":"n","version":"1.0"}`, "manifest.version"},
		{`{"slug":"abc","name":"n","version":"1.0.0","permissions":["root"]}`, "manifest.permissions"},
		{`{"slug":"abc","name":"n","version":"1.0.0","inputSchema":{"type":"nonsense"}}`, "manifest.inputSchema"},
		{`{"slug":"abc","name":"n","version":"1.0.0","configSchema":{"$ref":"file:///etc/passwd"}}`, "manifest.configSchema"},
		{`{"slug":"abc","name":"n","version":"1.0.0","extra":1}`, "manifest"},
	} {
		_, err := wasm.ParseManifest(json.RawMessage(tc.raw))
		ae, ok := err.(*apperr.Error)
		if !ok || !strings.Contains(string(mustJSON(ae.Details)), `"field":"`+tc.field+`"`) {
			t.Errorf("%s: want a field error on %s, got %v", tc.raw, tc.field, err)
		}
	}
	if _, err := wasm.ParseManifest(json.RawMessage(`{"slug":"abc","name":"n","version":"1.2.3-beta.1","permissions":["log"]}`)); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
