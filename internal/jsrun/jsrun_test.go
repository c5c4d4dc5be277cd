package jsrun

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// small keeps the hostile cases cheap: limits are the sandbox's, whatever
// their size.
var small = Limits{MemoryBytes: 16 << 20, Time: 200 * time.Millisecond, MaxOutputBytes: 4096}

func run(t *testing.T, body, input string, lim Limits) (Result, error) {
	t.Helper()
	if input == "" {
		input = "{}"
	}
	return Run(context.Background(), body, input, lim)
}

func mustErr(t *testing.T, err error, kind string, contains ...string) *Error {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T), want a *jsrun.Error of kind %s", err, err, kind)
	}
	if e.Kind != kind {
		t.Fatalf("kind %q (%v), want %q", e.Kind, e, kind)
	}
	for _, c := range contains {
		if !strings.Contains(e.Error(), c) {
			t.Fatalf("error %q lacks %q", e.Error(), c)
		}
	}
	return e
}

func TestRunInputsOutputAndConsole(t *testing.T) {
	t.Parallel()
	body := `
console.log("items", trigger.items.length, {a: 1});
console.warn("careful");
console.error(new TypeError("bad"));
const total = trigger.items.reduce((s, x) => s + x.price, 0);
return {total, first: steps.fetch.output.name, limit: vars.limit, item, index, prev: previous, missing: typeof item};`
	in := `{"trigger": {"items": [{"price": 2}, {"price": 3.5}]}, "steps": {"fetch": {"output": {"name": "Ada"}}}, "vars": {"limit": 10}, "previous": 7}`
	res, err := run(t, body, in, small)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"total":5.5,"first":"Ada","limit":10,"prev":7,"missing":"undefined"}`; res.Output != want {
		t.Fatalf("output %s, want %s", res.Output, want)
	}
	want := []string{`items 2 {"a":1}`, "[warn] careful", "[error] TypeError: bad"}
	if strings.Join(res.Logs, "|") != strings.Join(want, "|") {
		t.Fatalf("logs %q, want %q", res.Logs, want)
	}
	res, err = run(t, `return [item, index]`, `{"item": {"id": 3}, "index": 0}`, small)
	if err != nil || res.Output != `[{"id":3},0]` {
		t.Fatalf("for-each inputs: %s, %v", res.Output, err)
	}
	for body, want := range map[string]string{`return null`: "null", `return "x"`: `"x"`, `return NaN`: "null", `return new Date(0)`: `"1970-01-01T00:00:00.000Z"`} {
		if res, err := run(t, body, "", small); err != nil || res.Output != want {
			t.Fatalf("%s: %s, %v; want %s", body, res.Output, err, want)
		}
	}
}

func TestErrorsPointAtTheBodysLines(t *testing.T) {
	t.Parallel()
	body := "const a = 1;\nfunction inner(x) {\n  return x.deep.value;\n}\nreturn inner({});"
	_, err := run(t, body, "", small)
	e := mustErr(t, err, KindException, "TypeError: cannot read property 'value' of undefined")
	if !strings.Contains(e.Stack, "at inner (code:3:") || !strings.Contains(e.Stack, "(code:5:") {
		t.Fatalf("stack %q does not name the body's lines 3 and 5", e.Stack)
	}
	if strings.Contains(e.Stack, harnessName) || strings.Contains(e.Stack, "<eval>") {
		t.Fatalf("stack %q shows the harness", e.Stack)
	}

	_, err = run(t, `throw "plain string"`, "", small)
	mustErr(t, err, KindException, "uncaught plain string")
	_, err = run(t, `throw null`, "", small)
	mustErr(t, err, KindException, "uncaught null", "running out of memory", "16 MiB")
	_, err = run(t, `throw {code: 42}`, "", small)
	mustErr(t, err, KindException, `uncaught {"code":42}`)
	_, err = run(t, `throw new Error("x".repeat(1e4))`, "", small)
	if e := mustErr(t, err, KindException); len(e.Message) > maxMessage+100 {
		t.Fatalf("message of %d bytes", len(e.Message))
	}

	err = Check("const a = 1;\n\nlet b = ;\nreturn a;")
	e = mustErr(t, err, KindSyntax, "SyntaxError", "(line 3, column")
	if e.Line != 3 {
		t.Fatalf("line %d, want 3", e.Line)
	}
	if err := Check("return 1"); err != nil {
		t.Fatal(err)
	}
	mustErr(t, Check("  \n"), KindSyntax, "is empty")
	mustErr(t, Check(strings.Repeat("x", MaxSourceBytes+1)), KindSyntax, "over the limit")
	mustErr(t, Check("await 1; return 2"), KindSyntax)
	// Compiling runs nothing: a body that would loop forever when run
	// checks at once.
	if err := Check("while (true) {}"); err != nil {
		t.Fatal(err)
	}
}

// TestHostileCode is the hostile set: each ends the call with its own
// clear error, and the host goes on.
func TestHostileCode(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body, kind string
		contains         []string
	}{
		{"infinite loop", `while (true) {}`, KindTimeout, []string{"ran longer than 200ms"}},
		{"loop that catches the interrupt", `for (;;) { try { while (true) {} } catch (e) {} }`, KindTimeout, nil},
		// Bombs of big blocks: bombs of small ones end the same way, but take
		// seconds under the race detector, which instruments the engine's
		// every memory access.
		{"allocation bomb", `const a = []; for (;;) a.push(new ArrayBuffer(1 << 20));`, KindMemory, []string{"out of memory", "16 MiB"}},
		{"one huge allocation", `return new Uint8Array(1e9).length;`, KindMemory, nil},
		{"string doubling", `let s = "x"; for (;;) s = s + s; `, KindException, []string{"string too long"}},
		// One frame and a count, without the partial frame where the
		// harness cut the long stack.
		{"deep recursion", `function f(n) { return f(n + 1) + 1; } return f(0);`, KindStack, []string{"recursed too deeply", "\n    at f (code:1:25)\n    … the frame above", "more times"}},
		{"huge output", `return "x".repeat(10000);`, KindOutput, []string{"over the limit of 4096"}},
		{"huge multibyte output", `return "é".repeat(3000);`, KindOutput, []string{"over the limit of 4096"}},
		{"function", `return () => 1;`, KindOutput, []string{"returned a function"}},
		{"undefined", `const x = 1;`, KindOutput, []string{"returned undefined"}},
		{"cyclic", `const a = {}; a.self = a; return a;`, KindOutput, []string{"no JSON form", "circular"}},
		{"bigint", `return {n: 10n};`, KindOutput, []string{"no JSON form"}},
		{"promise", `return Promise.resolve(1);`, KindOutput, []string{"Promise"}},
		{"toJSON that throws", `return {toJSON() { throw new RangeError("nope"); }};`, KindException, []string{"RangeError: nope"}},
		{"dynamic import", `return import("/etc/passwd");`, KindOutput, []string{"Promise"}},
		{"require", `return require("fs");`, KindException, []string{"ReferenceError", "require"}},
		{"timers", `setTimeout(() => 1, 0); return 1;`, KindException, []string{"ReferenceError", "setTimeout"}},
		{"host log function", `return __switchboard_log("log", "x");`, KindException, []string{"ReferenceError"}},
		{"escape by closing the wrapper", "return 1 })\n;while (true) {}\n(function () {", KindTimeout, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lim := small
			if tc.kind == KindStack && raceDetector {
				// Each frame costs the instrumented engine ~0.5 ms: the
				// production bound would take seconds.
				lim.StackSlots = 500
			}
			_, err := run(t, tc.body, "", lim)
			e := mustErr(t, err, tc.kind, tc.contains...)
			for _, line := range strings.Split(e.Stack, "\n") {
				if line != "" && !strings.HasSuffix(line, ")") && !strings.HasSuffix(line, "more times") {
					t.Fatalf("stack %q has a partial frame", e.Stack)
				}
			}
		})
	}
}

func TestNothingOfTheHostIsReachable(t *testing.T) {
	t.Parallel()
	body := `
const g = ({}).constructor.constructor("return this")();
const names = Object.getOwnPropertyNames(g).filter(n => !["console"].includes(n) && typeof g[n] !== "undefined");
const builtins = new Set(["Error","EvalError","RangeError","ReferenceError","SyntaxError","TypeError","URIError","InternalError",
  "AggregateError","Array","Object","Function","Iterator","parseInt","parseFloat","isNaN","isFinite","decodeURI",
  "decodeURIComponent","encodeURI","encodeURIComponent","escape","unescape","Infinity","NaN","eval","Number","Boolean",
  "String","Math","Reflect","Symbol","globalThis","BigInt","Date","RegExp","JSON","Proxy","Map","Set","WeakMap","WeakSet",
  "ArrayBuffer","SharedArrayBuffer","Uint8ClampedArray","Int8Array","Uint8Array","Int16Array","Uint16Array","Int32Array",
  "Uint32Array","BigInt64Array","BigUint64Array","Float16Array","Float32Array","Float64Array","DataView","Atomics","Promise",
  "WeakRef","FinalizationRegistry"]);
Object.prototype.polluted = "yes";
Array.prototype.map = () => "hijacked";
JSON.stringify = () => "hijacked";
return {same: g === globalThis, extra: names.filter(n => !builtins.has(n))};`
	res, err := run(t, body, "", small)
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != `{"same":true,"extra":[]}` {
		t.Fatalf("global of the sandbox: %s", res.Output)
	}
	// A fresh VM per call: the last call's pollution is gone.
	res, err = run(t, `return [({}).polluted === undefined, [1].map(x => x + 1)];`, "", small)
	if err != nil || res.Output != `[true,[2]]` {
		t.Fatalf("state leaked between calls: %s, %v", res.Output, err)
	}
}

func TestConsoleIsCapped(t *testing.T) {
	t.Parallel()
	// Time enough for a thousand calls under the race detector.
	lim := Limits{MemoryBytes: 16 << 20, Time: time.Minute, MaxOutputBytes: 4096}
	res, err := run(t, `for (let i = 0; i < 300; i++) console.log("line", i); console.log("x".repeat(100000)); return 1;`, "", lim)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Logs) != MaxLogLines+1 || !strings.Contains(res.Logs[MaxLogLines], "201 more console line(s) not kept") {
		t.Fatalf("%d lines, last %q", len(res.Logs), res.Logs[len(res.Logs)-1])
	}
	res, err = run(t, `console.log("x".repeat(100000)); console.log("after"); return 1;`, "", lim)
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, l := range res.Logs {
		total += len(l)
	}
	if total > MaxLogBytes+200 || !strings.HasSuffix(res.Logs[0], "…") {
		t.Fatalf("%d bytes of logs kept: %q", total, res.Logs[len(res.Logs)-1])
	}
	// Lines logged before a failure are kept.
	res, err = run(t, `console.log("before"); while (true) {}`, "", small)
	mustErr(t, err, KindTimeout)
	if len(res.Logs) != 1 || res.Logs[0] != "before" {
		t.Fatalf("logs %q", res.Logs)
	}
}

// Limits left 0 are the defaults, never "no limit".
func TestZeroLimitsAreDefaults(t *testing.T) {
	t.Parallel()
	_, err := run(t, `while (true) {}`, "", Limits{})
	mustErr(t, err, KindTimeout, "ran longer than 1s")
}

func TestContextInterrupts(t *testing.T) {
	t.Parallel()
	// The context ends long before the call's own limit: the call stops
	// then, and says it was interrupted rather than blaming the code.
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	res, err := Run(ctx, `console.log("started"); while (true) {}`, "{}", Limits{MemoryBytes: 16 << 20, Time: time.Hour})
	if !errors.Is(err, ErrInterrupted) {
		t.Fatalf("err %v, want ErrInterrupted", err)
	}
	if len(res.Logs) != 1 {
		t.Fatalf("logs %q: the code was not running when the context ended", res.Logs)
	}
}

// BenchmarkSmallFunction is a code step's per-call cost: a fresh VM, the
// harness, the body (compiled once, as a workflow version's is), a small
// input and output. cpu-us/op is the process's CPU time per call, which a
// machine shared with other work changes less than ns/op.
func BenchmarkSmallFunction(b *testing.B) {
	p, err := Compile(`const items = trigger.items; let total = 0; for (const it of items) total += it.price * it.qty;
console.log("items", items.length);
return {total, count: items.length, names: items.map(i => i.name).join(", ")};`)
	if err != nil {
		b.Fatal(err)
	}
	in := `{"trigger": {"items": [{"name": "a", "price": 2, "qty": 3}, {"name": "b", "price": 1.5, "qty": 2}]}, "steps": {}, "vars": {}}`
	lim := Limits{MemoryBytes: 128 << 20, Time: time.Second}
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		res, err := p.Run(context.Background(), in, lim)
		if err != nil || res.Output != `{"total":9,"count":2,"names":"a, b"}` {
			b.Fatal(res.Output, err)
		}
	}
	if cpu > 0 {
		b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
	}
}
