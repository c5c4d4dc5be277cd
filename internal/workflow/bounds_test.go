package workflow

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Transforms that could build values far beyond their input are refused
// at save time (a JMESPath search cannot be stopped once it started);
// ordinary ones pass.
func TestJMESPathGrowth(t *testing.T) {
	for _, ok := range []string{
		"{total: sum(trigger.items[*].price), names: trigger.items[*].name}",
		"trigger.items[?price > `10`].{id: id, name: name, kind: 'order', price: price, qty: qty, sku: sku}",
		"join(', ', trigger.items[*].name)",
		"sort_by(trigger.items, &price)[*].name | [0:5]",
		"map(&{n: name, p: price}, trigger.items)",
		"to_string(@)",
		"steps.*.output | [0]",
		"{a: trigger, b: trigger, c: length(steps)}",
	} {
		if _, err := compileJMESPath(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for _, bad := range []string{
		"trigger.l | " + strings.Repeat("[@,@][] | ", 12) + "length(@)",
		"trigger.l | " + strings.Repeat("to_string([@,@]) | ", 4) + "length(@)",
		"to_string(to_string(to_string(to_string(@))))",
		"trigger.l[*].{" + strings.Repeat("abcdefgh: a, ", 40) + "z: z}",
		"join(trigger.sep, trigger.l)",
	} {
		if _, err := compileJMESPath(bad); err == nil || !strings.Contains(err.Error(), "times the size") {
			t.Errorf("%.60s…: %v", bad, err)
		}
	}
}

// An expression abandoned for running too long stops at its next loop
// iteration instead of burning a core in the background.
func TestAbandonedExpressionStops(t *testing.T) {
	l := make([]any, 50_000)
	for i := range l {
		l[i] = 0.0
	}
	env := map[string]any{"trigger": map[string]any{"l": l, "big": strings.Repeat("x", 200<<10)}}
	// Which limit trips first depends on the machine (and on -race): the
	// iteration cap or the time limit. Either must end the evaluation.
	for _, c := range []struct{ src, err string }{
		{`count(trigger.l, count(trigger.l, # == 1) == 5) > 0`, "loop more than|ran longer than"},
		{`count(trigger.l, count(trigger.l, count(trigger.l, # == 1) == 5) == 5) > 0`, "loop more than|ran longer than"},
		// Few iterations, each slow: abandoned at the time limit.
		{`sum(trigger.l, sum(trigger.l, len(upper(trigger.big)))) > 0`, "ran longer than"},
	} {
		p, err := compileExpr(c.src)
		if err != nil {
			t.Fatal(err)
		}
		_, err = evalExpr(context.Background(), p, env)
		if err == nil || !containsAny(err.Error(), strings.Split(c.err, "|")) {
			t.Errorf("%s: %v", c.src, err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for evaluating() {
		if time.Now().After(deadline) {
			t.Fatal("abandoned evaluations still running")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// evaluating reports whether any goroutine is inside the expression VM.
func evaluating() bool {
	buf := make([]byte, 1<<22)
	return strings.Contains(string(buf[:runtime.Stack(buf, true)]), "expr/vm.(*VM).Run")
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
