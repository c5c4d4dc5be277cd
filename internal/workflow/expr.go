package workflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
	"github.com/expr-lang/expr/vm/runtime"
)

// Limits of one expression. expr-lang bounds the work of its loops by a
// memory budget (every element a loop visits counts); the functions that
// could build big strings from small inputs are replaced by bounded ones
// and `+` is patched to a bounded add, so an expression cannot grow memory
// faster than its budget allows. A wall-time limit covers the rest.
const (
	maxExpressionLen   = 4 << 10
	maxExpressionNodes = 1000
	exprMemoryBudget   = 100_000
	maxValueBytes      = 1 << 20
	evalTimeout        = 250 * time.Millisecond
)

// envNames are the names an expression may use: the run's trigger input
// (also as `input`), the steps so far (`steps.<id>.output`), the
// workflow's variables, the run itself, the previous step's output and —
// in an event trigger's filter — the event.
type exprEnv struct {
	Trigger   any `expr:"trigger"`
	Input     any `expr:"input"`
	Steps     any `expr:"steps"`
	Variables any `expr:"variables"`
	Run       any `expr:"run"`
	Previous  any `expr:"previous"`
	Event     any `expr:"event"`
	// Item and Index are a forEach iteration's element and position.
	Item  any `expr:"item"`
	Index any `expr:"index"`
	// Tick is called by every iteration of every loop (the guard wraps
	// each closure's body in it): it counts the iterations and stops an
	// evaluation that was abandoned for running too long, since a goroutine
	// cannot be stopped from outside.
	// It panics to stop (the VM turns that into the evaluation's error):
	// a function without an error result is called without reflection.
	Tick func(v any) any `expr:"_tick"`
}

func toExprEnv(m map[string]any) *exprEnv {
	return &exprEnv{Trigger: m["trigger"], Input: m["input"], Steps: m["steps"], Variables: m["variables"], Run: m["run"],
		Previous: m["previous"], Event: m["event"], Item: m["item"], Index: m["index"]}
}

var errTooBig = fmt.Errorf("the value would exceed %d bytes", maxValueBytes)

func exprOptions(g *guard) []expr.Option {
	return []expr.Option{
		expr.Env(exprEnv{}),
		expr.MaxNodes(maxExpressionNodes),
		expr.DisableBuiltin("repeat"),
		expr.Patch(g),
		expr.Function("_add", func(p ...any) (any, error) {
			if s1, ok := p[0].(string); ok {
				if s2, ok := p[1].(string); ok && len(s1)+len(s2) > maxValueBytes {
					return nil, errTooBig
				}
			}
			return runtime.Add(p[0], p[1]), nil
		}),
		expr.Function("join", boundedJoin),
		expr.Function("concat", boundedConcat),
		expr.Function("flatten", boundedFlatten),
		expr.Function("replace", boundedReplace),
		expr.Function("toJSON", func(p ...any) (any, error) {
			if len(p) != 1 {
				return nil, errors.New("toJSON takes one argument")
			}
			// Indented, a value's size grows with the square of its
			// depth: 20 KB nested 10,000 deep indents to ~200 MB.
			if !fitsIndented(p[0], maxValueBytes, len(toJSONIndent)) {
				return nil, errTooBig
			}
			b, err := json.MarshalIndent(p[0], "", toJSONIndent)
			return string(b), err
		}),
		expr.Function("string", func(p ...any) (any, error) {
			if len(p) != 1 {
				return nil, errors.New("string takes one argument")
			}
			if !fits(p[0], maxValueBytes) {
				return nil, errTooBig
			}
			return fmt.Sprint(p[0]), nil
		}),
	}
}

// guard rewrites a + b into the bounded _add(a, b), wraps the body of
// every closure (the predicate of map, filter, all, count, sortBy …) in
// _tick, and refuses reduce, whose accumulator could double a value at
// every step (the parser handles it apart from the other builtins, so it
// cannot be disabled). Loops over data the run already holds allocate
// nothing, so the memory budget does not bound them: _tick does.
type guard struct{ refused string }

func (g *guard) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator == "+" {
			ast.Patch(node, &ast.CallNode{Callee: &ast.IdentifierNode{Value: "_add"}, Arguments: []ast.Node{n.Left, n.Right}})
		}
	case *ast.PredicateNode:
		if c, ok := n.Node.(*ast.CallNode); ok {
			if id, ok := c.Callee.(*ast.IdentifierNode); ok && id.Value == "_tick" {
				return
			}
		}
		n.Node = &ast.CallNode{Callee: &ast.IdentifierNode{Value: "_tick"}, Arguments: []ast.Node{n.Node}}
	case *ast.BuiltinNode:
		if n.Name == "reduce" {
			g.refused = n.Name
		}
	}
}

// maxIterations bounds the loop iterations of one evaluation.
const maxIterations = 1_000_000

var errTooManyIterations = fmt.Errorf("the expression would loop more than %d times", maxIterations)

func boundedJoin(p ...any) (any, error) {
	if len(p) < 1 || len(p) > 2 {
		return nil, errors.New("join takes an array and an optional separator")
	}
	sep := ""
	if len(p) == 2 {
		s, ok := p[1].(string)
		if !ok {
			return nil, errors.New("join's separator must be a string")
		}
		sep = s
	}
	list, ok := p[0].([]any)
	if !ok {
		if ss, ok := p[0].([]string); ok {
			list = make([]any, len(ss))
			for i, s := range ss {
				list[i] = s
			}
		} else {
			return nil, errors.New("join takes an array of strings")
		}
	}
	n := 0
	parts := make([]string, len(list))
	for i, v := range list {
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("join: element %d is not a string", i)
		}
		n += len(s) + len(sep)
		if n > maxValueBytes {
			return nil, errTooBig
		}
		parts[i] = s
	}
	return strings.Join(parts, sep), nil
}

// maxListLen bounds the lists concat and flatten build: with let, each
// could otherwise double a list per expression node.
const maxListLen = 100_000

var errTooLong = fmt.Errorf("the list would exceed %d elements", maxListLen)

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case nil:
		return nil, false
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}

func boundedConcat(p ...any) (any, error) {
	n := 0
	for _, v := range p {
		l, ok := asList(v)
		if !ok {
			return nil, errors.New("concat takes lists")
		}
		if n += len(l); n > maxListLen {
			return nil, errTooLong
		}
	}
	out := make([]any, 0, n)
	for _, v := range p {
		l, _ := asList(v)
		out = append(out, l...)
	}
	return out, nil
}

func boundedFlatten(p ...any) (any, error) {
	if len(p) != 1 {
		return nil, errors.New("flatten takes one list")
	}
	l, ok := asList(p[0])
	if !ok {
		return nil, errors.New("flatten takes a list")
	}
	out := []any{}
	var walk func(l []any) error
	walk = func(l []any) error {
		for _, e := range l {
			if sub, ok := asList(e); ok {
				if err := walk(sub); err != nil {
					return err
				}
				continue
			}
			if out = append(out, e); len(out) > maxListLen {
				return errTooLong
			}
		}
		return nil
	}
	return out, walk(l)
}

func boundedReplace(p ...any) (any, error) {
	if len(p) != 3 {
		return nil, errors.New("replace takes a string, the text to replace and its replacement")
	}
	s, ok1 := p[0].(string)
	old, ok2 := p[1].(string)
	repl, ok3 := p[2].(string)
	if !ok1 || !ok2 || !ok3 {
		return nil, errors.New("replace takes three strings")
	}
	count := strings.Count(s, old)
	if len(s)+count*(len(repl)-len(old)) > maxValueBytes {
		return nil, errTooBig
	}
	return strings.ReplaceAll(s, old, repl), nil
}

// toJSONIndent is what toJSON indents each level with.
const toJSONIndent = "  "

// fits reports whether v, encoded as JSON, would take at most limit bytes.
// It stops as soon as the answer is no, so a value that shares one big
// sub-value many times costs no more than the limit to measure.
func fits(v any, limit int) bool { return fitsIndented(v, limit, 0) }

// fitsIndented is fits for JSON indented by indent bytes a level: each
// element of an array or object then also takes a newline and its
// level's indentation.
func fitsIndented(v any, limit, indent int) bool {
	n, depth := 0, 0
	var walk func(v any) bool
	walk = func(v any) bool {
		switch x := v.(type) {
		case nil, bool:
			n += 5
		case string:
			n += len(x) + 2
		case float64, int, int64, float32, int32, uint, uint64:
			n += 12
		case json.Number:
			n += len(x)
		case json.RawMessage:
			n += len(x)
		case []any:
			n += 2
			depth++
			for _, e := range x {
				if indent > 0 {
					n += 1 + indent*depth
				}
				if n > limit || !walk(e) {
					return false
				}
				n++
			}
			depth--
			if indent > 0 && len(x) > 0 {
				n += 1 + indent*depth // the closing bracket's line
			}
		case []string:
			if indent > 0 && len(x) > 0 {
				n += 1 + indent*depth
			}
			for _, e := range x {
				n += len(e) + 3
				if indent > 0 {
					n += 1 + indent*(depth+1)
				}
				if n > limit {
					return false
				}
			}
		case map[string]any:
			n += 2
			depth++
			for k, e := range x {
				n += len(k) + 4
				if indent > 0 {
					n += 2 + indent*depth // newline, indentation, space after the colon
				}
				if n > limit || !walk(e) {
					return false
				}
			}
			depth--
			if indent > 0 && len(x) > 0 {
				n += 1 + indent*depth
			}
		default:
			// Other shapes (time, duration, typed slices from builtins)
			// are measured by encoding; they come from bounded work.
			b, err := json.Marshal(x)
			if err != nil {
				n += len(fmt.Sprint(x))
			} else {
				n += len(b)
			}
		}
		return n <= limit
	}
	return walk(v)
}

// compileExpr compiles an expr-lang expression; the error is fit for the
// definition's author.
func compileExpr(src string) (*vm.Program, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("is empty")
	}
	if len(src) > maxExpressionLen {
		return nil, fmt.Errorf("is longer than %d characters", maxExpressionLen)
	}
	var g guard
	p, err := expr.Compile(src, exprOptions(&g)...)
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	if g.refused != "" {
		return nil, fmt.Errorf("%s is not available in Switchboard expressions", g.refused)
	}
	return p, nil
}

// oneLine keeps an expr-lang error's first line (the rest is a caret
// drawing that does not survive JSON).
func oneLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// evaluators runs expression evaluations on goroutines kept between
// them. A fresh goroutine per evaluation started on a small stack that
// JMESPath's and expr's recursion grew by copying, every time: on the
// webhook path that was most of what evaluating cost.
var evaluators = evalPool{tasks: make(chan func())}

// evalIdle is how long an evaluator waits for work before it ends.
const evalIdle = 10 * time.Second

type evalPool struct{ tasks chan func() }

// run hands f to an idle evaluator, or starts one: an evaluation never
// waits for another (a runaway one keeps its evaluator until it ends).
func (p evalPool) run(f func()) {
	select {
	case p.tasks <- f:
	default:
		go p.work(f)
	}
}

func (p evalPool) work(f func()) {
	idle := time.NewTimer(evalIdle)
	defer idle.Stop()
	for {
		f()
		idle.Reset(evalIdle)
		select {
		case f = <-p.tasks:
		case <-idle.C:
			return
		}
	}
}

// bounded runs fn with the wall-time limit of an expression. A runaway
// evaluation is abandoned and the step fails at once; the worker goes on.
// fn is told to stop through stop (an expression's next loop iteration
// ends it; its memory budget and the size checks bound the rest).
func bounded(ctx context.Context, fn func(stop *atomic.Bool) (any, error)) (any, error) {
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	stop := &atomic.Bool{}
	evaluators.run(func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{err: fmt.Errorf("the expression failed: %v", p)}
			}
		}()
		v, err := fn(stop)
		done <- result{v, err}
	})
	t := time.NewTimer(evalTimeout)
	defer t.Stop()
	select {
	case r := <-done:
		return r.v, r.err
	case <-t.C:
		stop.Store(true)
		return nil, fmt.Errorf("the expression ran longer than %s", evalTimeout)
	case <-ctx.Done():
		stop.Store(true)
		return nil, ctx.Err()
	}
}

var errStopped = errors.New("the expression was stopped")

// evalExpr runs a compiled expression over env within its limits.
func evalExpr(ctx context.Context, p *vm.Program, env map[string]any) (any, error) {
	v, err := bounded(ctx, func(stop *atomic.Bool) (any, error) {
		m := vm.VM{MemoryBudget: exprMemoryBudget}
		e := toExprEnv(env)
		n := 0
		e.Tick = func(v any) any {
			if n++; n > maxIterations {
				panic(errTooManyIterations)
			}
			if stop.Load() {
				panic(errStopped)
			}
			return v
		}
		return m.Run(p, e)
	})
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	if !fits(v, maxValueBytes) {
		return nil, errTooBig
	}
	return normalize(v), nil
}

// normalize turns what expressions return into plain JSON values, so a
// result survives being stored and read back unchanged.
func normalize(v any) any {
	switch x := v.(type) {
	case nil, bool, string:
		return x
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil
		}
		return x
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case float32:
		return normalize(float64(x))
	case map[string]any:
		// Deep: a value must look the same before and after a checkpoint
		// stores it as JSON and reads it back.
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return fmt.Sprint(v)
	}
	if f, ok := out.(float64); ok && (math.IsInf(f, 0) || math.IsNaN(f)) {
		return nil
	}
	return out
}
