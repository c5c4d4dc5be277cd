// Package jsrun runs a workflow's JavaScript in QuickJS (modernc.org/quickjs,
// pure Go): a fresh VM for every call, with no network, filesystem, timers,
// modules or host objects — the only way out of a VM is console output,
// captured up to a cap, and the JSON text of the value the code returns.
//
// Hostile code is bounded by the VM itself: a memory limit (the engine
// counts every allocation of the VM and fails the one over it), a stack
// limit (deep recursion throws instead of growing the host's stack), a
// time limit (an interrupt the engine polls, which JavaScript cannot
// catch) and a cap on the output's size. Since each call gets its own VM,
// nothing a call does to built-in prototypes or globals outlives it.
package jsrun

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"modernc.org/quickjs"
)

// Defaults and hard limits of one call.
const (
	// MaxSourceBytes bounds a function body.
	MaxSourceBytes = 64 << 10
	// DefaultMaxOutputBytes bounds the JSON text a call returns, like the
	// value of an expression step.
	DefaultMaxOutputBytes = 1 << 20
	// DefaultMemoryBytes and DefaultTime apply when Limits leave them 0.
	DefaultMemoryBytes = 64 << 20
	DefaultTime        = time.Second
	// MaxLogLines and MaxLogBytes bound the console output kept of a call;
	// what comes after is counted, not kept.
	MaxLogLines = 100
	MaxLogBytes = 16 << 10
	// maxMessage and maxFrames bound an error's text and its stack.
	maxMessage = 2000
	maxFrames  = 12
	// checkMemory and checkTime bound compiling a body at save time.
	checkMemory = 32 << 20
	checkTime   = 2 * time.Second
)

// Params are the names the body sees, in the order Run passes them.
var Params = []string{"trigger", "steps", "vars", "item", "index", "previous"}

// prefix wraps a body in a function. It ends in a newline so the body's
// line N is line N+1 of the script and its columns are unchanged: stacks
// and syntax errors are mapped back by one line.
var prefix = "(function (" + strings.Join(Params, ", ") + ") {\n"

const suffix = "\n})"

// Limits bound one call.
type Limits struct {
	// MemoryBytes is the most the VM may allocate (its own structures,
	// the inputs and everything the code builds).
	MemoryBytes int64
	// Time is the most one call may run, from the VM's creation.
	Time time.Duration
	// MaxOutputBytes bounds the result's JSON (0: DefaultMaxOutputBytes).
	MaxOutputBytes int
	// StackSlots bounds the call depth, about one slot a JavaScript frame
	// (0: the engine's own bound, libquickjs.MaxStackSlots, 5,000).
	StackSlots int
}

// Result is what a call gave.
type Result struct {
	// Output is the JSON text of the returned value.
	Output string
	// Logs are the console lines, "[warn] …" / "[error] …" for those
	// levels; the last says how many were left out when the cap was hit.
	Logs []string
}

// Kinds of Error.
const (
	KindException = "exception" // the code threw
	KindTimeout   = "timeout"
	KindMemory    = "memory"
	KindStack     = "stack"
	KindOutput    = "output" // the returned value is not JSON or too big
	KindSyntax    = "syntax"
)

// Error is why a call or a body failed, in the terms of the body: line
// numbers count from its first line.
type Error struct {
	Kind    string
	Message string
	// Line and Column locate a syntax error (1-based; 0 when unknown).
	Line, Column int
	// Stack is the cleaned stack, one "    at f (code:3:7)" frame a line.
	Stack string
}

func (e *Error) Error() string {
	if e.Stack == "" {
		return e.Message
	}
	return e.Message + "\n" + e.Stack
}

// ErrInterrupted is returned when ctx ended the call; the call says
// nothing about the code.
var ErrInterrupted = errors.New("jsrun: interrupted")

// Program is a body compiled once, to be run many times (each run in a
// fresh VM). Its bytecode is made here from the source, never read from
// anywhere else: QuickJS trusts the bytecode it is given.
type Program struct {
	code []byte
}

// Check compiles body without running any of it, so a save can report a
// syntax error with its line and column.
func Check(body string) error {
	_, err := Compile(body)
	return err
}

// Compile checks body (size, encoding, syntax) and compiles it. Compiling
// runs nothing of it.
func Compile(body string) (*Program, error) {
	if strings.TrimSpace(body) == "" {
		return nil, &Error{Kind: KindSyntax, Message: "is empty"}
	}
	if len(body) > MaxSourceBytes {
		return nil, &Error{Kind: KindSyntax, Message: fmt.Sprintf("is %d bytes, over the limit of %d", len(body), MaxSourceBytes)}
	}
	if !utf8.ValidString(body) {
		return nil, &Error{Kind: KindSyntax, Message: "is not valid UTF-8"}
	}
	code, err := compileScript(prefix + body + suffix)
	if err != nil {
		var qe *quickjs.Error
		if !errors.As(err, &qe) {
			return nil, fmt.Errorf("jsrun: compile: %w", err)
		}
		e := &Error{Kind: KindSyntax, Message: clipText(qe.Message, maxMessage), Line: qe.LineNumber - 1, Column: qe.ColumnNumber}
		if qe.Name != "" {
			e.Message = qe.Name + ": " + e.Message
		}
		if e.Line < 1 {
			e.Line, e.Column = 0, 0
		} else {
			e.Message = fmt.Sprintf("%s (line %d, column %d)", e.Message, e.Line, e.Column)
		}
		return nil, e
	}
	return &Program{code: code}, nil
}

func compileScript(src string) ([]byte, error) {
	vm, err := newVM(checkMemory, checkTime, 0)
	if err != nil {
		return nil, err
	}
	defer vm.Close()
	return vm.Compile(src, quickjs.EvalGlobal)
}

// harnessCode is the harness compiled once: parsing it in every VM would
// cost more than the rest of a small call.
var harnessCode = sync.OnceValues(func() ([]byte, error) { return compileScript(harness()) })

func newVM(memory int64, limit time.Duration, stack int) (*quickjs.VM, error) {
	vm, err := quickjs.NewVM()
	if err != nil {
		return nil, fmt.Errorf("jsrun: new VM: %w", err)
	}
	vm.SetMemoryLimit(uintptr(memory))
	if err := vm.SetEvalTimeout(limit); err != nil {
		vm.Close()
		return nil, fmt.Errorf("jsrun: timeout: %w", err)
	}
	// Deep recursion throws a catchable stack overflow at this bound, far
	// below what would exhaust the goroutine's stack.
	vm.SetMaxStackSize(uintptr(max(stack, 0)))
	return vm, nil
}

// Run compiles body and runs it once: see Program.Run.
func Run(ctx context.Context, body string, inputJSON string, lim Limits) (Result, error) {
	p, err := Compile(body)
	if err != nil {
		return Result{}, err
	}
	return p.Run(ctx, inputJSON, lim)
}

// Run calls the body with inputJSON, a JSON object whose members named in
// Params become the body's arguments (a missing one is undefined), in a
// VM of its own. The error is an *Error for anything the code did,
// ErrInterrupted when ctx ended first, and anything else for a fault of
// the host.
func (p *Program) Run(ctx context.Context, inputJSON string, lim Limits) (res Result, err error) {
	if lim.MaxOutputBytes <= 0 || lim.MaxOutputBytes > DefaultMaxOutputBytes {
		lim.MaxOutputBytes = DefaultMaxOutputBytes
	}
	// Zero would mean no limit to the engine: never that.
	if lim.MemoryBytes <= 0 {
		lim.MemoryBytes = DefaultMemoryBytes
	}
	if lim.Time <= 0 {
		lim.Time = DefaultTime
	}
	hc, err := harnessCode()
	if err != nil {
		return res, fmt.Errorf("jsrun: harness: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return res, ErrInterrupted
	}
	vm, err := newVM(lim.MemoryBytes, lim.Time, lim.StackSlots)
	if err != nil {
		return res, err
	}
	defer vm.Close()
	// Lines logged before a failure are kept: they are what explains it.
	logs := &logSink{}
	defer func() { res.Logs = logs.lines() }()
	if err := vm.RegisterHostFunc(logFunc, logs.host); err != nil {
		return res, fmt.Errorf("jsrun: console: %w", err)
	}
	stop := context.AfterFunc(ctx, vm.Interrupt)
	defer stop()
	// The engine's timeout starts anew with each call into JavaScript:
	// give each what is left of the call's limit, so a body that does its
	// work while being evaluated gains nothing.
	deadline := time.Now().Add(lim.Time)
	remaining := func() error {
		return vm.SetEvalTimeout(max(time.Until(deadline), time.Millisecond))
	}

	call, err := vm.EvalBytecodeValue(hc)
	if err != nil {
		return res, classify(ctx, err, lim)
	}
	defer call.Free()
	if err := remaining(); err != nil {
		return res, fmt.Errorf("jsrun: timeout: %w", err)
	}
	fn, err := vm.EvalBytecodeValue(p.code)
	if err != nil {
		return res, classify(ctx, err, lim)
	}
	defer fn.Free()
	if err := remaining(); err != nil {
		return res, fmt.Errorf("jsrun: timeout: %w", err)
	}
	out, err := call.Call(quickjs.UndefinedValue, fn, inputJSON, lim.MaxOutputBytes)
	if err != nil {
		return res, classify(ctx, err, lim)
	}
	if ctx.Err() != nil {
		return res, ErrInterrupted
	}
	s, ok := out.(string)
	if !ok || s == "" {
		return res, fmt.Errorf("jsrun: the harness answered %T", out)
	}
	switch s[0] {
	case 'R':
		if len(s)-1 > lim.MaxOutputBytes {
			return res, &Error{Kind: KindOutput, Message: fmt.Sprintf("the returned value's JSON is %d bytes, over the limit of %d", len(s)-1, lim.MaxOutputBytes)}
		}
		res.Output = s[1:]
		return res, nil
	case 'C':
		return res, &Error{Kind: KindOutput, Message: s[1:]}
	case 'E':
		return res, thrown(s[1:], lim)
	}
	return res, fmt.Errorf("jsrun: the harness answered %q", clipText(s, 40))
}

// classify turns an error of the engine into an *Error. Out of memory and
// stack overflow are usually caught by the harness (they are catchable in
// JavaScript); they reach here when they happen outside the body's call.
func classify(ctx context.Context, err error, lim Limits) error {
	if ctx.Err() != nil {
		return ErrInterrupted
	}
	var qe *quickjs.Error
	if !errors.As(err, &qe) {
		return fmt.Errorf("jsrun: %w", err)
	}
	return described(qe.Name, qe.Message, qe.Stack, lim)
}

// thrown decodes what the harness caught: name, message and stack
// separated by NUL bytes.
func thrown(s string, lim Limits) error {
	name, rest, _ := strings.Cut(s, "\x00")
	msg, stack, _ := strings.Cut(rest, "\x00")
	return described(name, msg, stack, lim)
}

func described(name, msg, stack string, lim Limits) error {
	e := &Error{Kind: KindException, Stack: cleanStack(stack)}
	switch {
	case name == "InternalError" && msg == "interrupted":
		e.Kind, e.Message = KindTimeout, fmt.Sprintf("the code ran longer than %s, its time limit", lim.Time)
	case name == "InternalError" && msg == "out of memory":
		e.Kind, e.Message = KindMemory, fmt.Sprintf("the code ran out of memory (its limit is %d MiB)", lim.MemoryBytes>>20)
	case name == "InternalError" && msg == "stack overflow":
		e.Kind, e.Message = KindStack, "the code recursed too deeply (stack overflow)"
	case name == "SyntaxError" && stack == "":
		e.Kind, e.Message = KindSyntax, name+": "+clipText(msg, maxMessage)
	case name == "" && msg == "null" && stack == "":
		// The engine throws null when it runs out of memory so completely
		// that not even the error fits.
		e.Message = fmt.Sprintf("uncaught null (which is also what running out of memory throws when not even the error fits; the limit is %d MiB)", lim.MemoryBytes>>20)
	case name == "":
		e.Message = "uncaught " + clipText(msg, maxMessage)
	default:
		e.Message = name + ": " + clipText(msg, maxMessage)
	}
	if e.Kind == KindTimeout {
		// Where a loop was stopped says little and the frames of an
		// interrupt are cut short anyway.
		e.Stack = ""
	}
	return e
}

// cleanStack keeps the frames of the body (their lines mapped to the
// body's) and the built-ins they called, drops the harness's, and
// collapses a run of one repeated frame (a recursion) into one line.
func cleanStack(stack string) string {
	if cut, ok := strings.CutSuffix(stack, "\x01"); ok {
		stack = cut[:max(0, strings.LastIndexByte(cut, '\n'))]
	}
	var out []string
	last, repeats := "", 0
	flush := func() {
		if repeats > 0 {
			out = append(out, fmt.Sprintf("    … the frame above %d more times", repeats))
		}
		repeats = 0
	}
	for _, line := range strings.Split(stack, "\n") {
		t := strings.TrimSpace(line)
		if t == "" || strings.Contains(t, harnessName) || strings.HasPrefix(t, "at <eval> (<eval>") {
			continue
		}
		t = "    " + mapFrame(t)
		if t == last {
			repeats++
			continue
		}
		flush()
		last = t
		out = append(out, t)
		if len(out) >= maxFrames {
			out = append(out, "    …")
			return strings.Join(out, "\n")
		}
	}
	flush()
	return strings.Join(out, "\n")
}

// mapFrame rewrites "<eval>:L:C" to "code:L-1:C": the body's line L-1.
func mapFrame(t string) string {
	i := strings.Index(t, "<eval>:")
	if i < 0 {
		return clipText(t, 200)
	}
	rest := t[i+len("<eval>:"):]
	var line, col int
	n, _ := fmt.Sscanf(rest, "%d:%d", &line, &col)
	if n == 0 || line < 2 {
		return clipText(t, 200)
	}
	loc := fmt.Sprintf("code:%d", line-1)
	if n == 2 {
		loc += fmt.Sprintf(":%d", col)
	}
	end := strings.IndexAny(rest, ")")
	tail := ""
	if end >= 0 {
		tail = rest[end:]
	}
	return clipText(t[:i]+loc+tail, 200)
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
