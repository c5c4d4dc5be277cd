package workflow

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestTemplateRendering(t *testing.T) {
	env := map[string]any{"trigger": map[string]any{"name": "Ada", "n": 3.0, "tags": []any{"a", "b"}}}
	cases := []struct {
		raw  string
		want string
	}{
		{`"Hello {{ trigger.name }}!"`, `"Hello Ada!"`},
		{`"{{ trigger.n }}"`, `3`},              // a lone placeholder keeps its type
		{`" {{ trigger.tags }} "`, `["a","b"]`}, // surrounding blanks do not make it text
		{`"n={{ trigger.n * 2 }}, tags={{ trigger.tags }}"`, `"n=6, tags=[\"a\",\"b\"]"`},
		{`{"a": ["{{ trigger.name }}", 1], "b": "{{ trigger.missing }}"}`, `{"a":["Ada",1],"b":null}`},
		{`"{{ \"{{.name}}\" }}"`, `"{{.name}}"`}, // quoted braces pass through: Go templates for the template plugin
		{`"plain"`, `"plain"`},
	}
	for _, c := range cases {
		tpl, err := compileTemplate(json.RawMessage(c.raw))
		if err != nil {
			t.Fatalf("%s: %v", c.raw, err)
		}
		v, err := tpl.render(context.Background(), env)
		if err != nil {
			t.Fatalf("%s: %v", c.raw, err)
		}
		got, _ := json.Marshal(v)
		if string(got) != c.want {
			t.Errorf("%s rendered %s, want %s", c.raw, got, c.want)
		}
	}
	for _, bad := range []string{`"{{ trigger.name "`, `"{{ 1 + }}"`, `"{{ nosuchname }}"`, `"{{ repeat('x', 10) }}"`} {
		if _, err := compileTemplate(json.RawMessage(bad)); err == nil {
			t.Errorf("%s compiled", bad)
		}
	}
}

// TestHostileExpressions: whatever an author writes, evaluation ends fast
// with an error, and memory stays bounded.
func TestHostileExpressions(t *testing.T) {
	big := strings.Repeat("x", 200<<10)
	env := map[string]any{"trigger": map[string]any{"big": big, "list": []any{1.0, 2.0}}}
	hostile := []string{
		`len(map(1..100000000, #)) > 0`,
		`len(map(1..10000, map(1..10000, #))) > 0`,
		`len(join(map(1..10000, trigger.big))) > 0`,
		`len(trigger.big + trigger.big + trigger.big + trigger.big + trigger.big + trigger.big) > 0`,
		`len(replace(trigger.big, "x", trigger.big)) > 0`,
		`len(toJSON(map(1..1000, trigger.big))) > 0`,
		`len(string(map(1..1000, trigger.big))) > 0`,
		`len(filter(1..100000000, # % 2 == 0)) > 0`,
		`let a = concat(trigger.list, trigger.list); let b = concat(a, a); let c = concat(b, b); let d = concat(c, c); let e = concat(d, d); let f = concat(e, e); let g = concat(f, f); let h = concat(g, g); let i = concat(h, h); let j = concat(i, i); let k = concat(j, j); let l = concat(k, k); let m = concat(l, l); let n = concat(m, m); let o = concat(n, n); let p = concat(o, o); let q = concat(p, p); len(q) > 0`,
		`let a = [trigger.list, trigger.list]; let b = [a, a]; let c = [b, b]; let d = [c, c]; let e = [d, d]; let f = [e, e]; let g = [f, f]; let h = [g, g]; let i = [h, h]; let j = [i, i]; let k = [j, j]; let l = [k, k]; let m = [l, l]; let n = [m, m]; let o = [n, n]; let p = [o, o]; let q = [p, p]; len(flatten(q)) > 0`,
	}
	for _, src := range hostile {
		p, err := compileExpr(src)
		if err != nil {
			continue // refused at save time is fine too
		}
		start := time.Now()
		_, err = evalExpr(context.Background(), p, env)
		if err == nil {
			t.Errorf("%s: evaluated without error", src)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %s", src, d)
		}
	}
	for _, src := range []string{`reduce(1..10, #acc + #acc, "x")`, `repeat("x", 1000000000)`, strings.Repeat("1 + ", 3000) + "1"} {
		if _, err := compileExpr(src); err == nil {
			t.Errorf("%.40s… compiled", src)
		}
	}
}

func TestExpressionsStillUseful(t *testing.T) {
	env := map[string]any{"trigger": map[string]any{"items": []any{map[string]any{"price": 40.0}, map[string]any{"price": 75.0}}, "name": "ada"},
		"steps": map[string]any{"count": map[string]any{"output": map[string]any{"total": 12.0}}}}
	cases := map[string]any{
		`steps.count.output.total > 10`:                 true,
		`sum(map(trigger.items, #.price))`:              115.0,
		`upper(trigger.name) + "!"`:                     "ADA!",
		`join(["a", "b"], "-")`:                         "a-b",
		`replace("a.b", ".", "/")`:                      "a/b",
		`trigger.name in ["ada", "bob"]`:                true,
		`len(filter(trigger.items, #.price > 50)) == 1`: true,
		`toJSON({"a": 1})`:                              "{\n  \"a\": 1\n}",
		`steps.count.output.total + 0.5`:                12.5,
		`trigger.missing ?? "default"`:                  "default",
	}
	for src, want := range cases {
		p, err := compileExpr(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := evalExpr(context.Background(), p, env)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if g, _ := json.Marshal(got); string(g) != mustJSON(want) {
			t.Errorf("%s = %s, want %s", src, g, mustJSON(want))
		}
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestJMESPathLimits(t *testing.T) {
	data := map[string]any{"trigger": map[string]any{"items": []any{map[string]any{"price": 1.0}, map[string]any{"price": 2.0}}}}
	jp, err := compileJMESPath(`{total: sum(trigger.items[*].price), n: length(trigger.items)}`)
	if err != nil {
		t.Fatal(err)
	}
	v, err := evalJMESPath(context.Background(), jp, data)
	if err != nil || mustJSON(v) != `{"n":2,"total":3}` {
		t.Fatalf("got %v %v", v, err)
	}
	// A multi-select nested 40 deep repeats its input 2^40 times.
	src := "trigger"
	for i := 0; i < 40; i++ {
		src = "[" + src + ", " + src + "]"
		if len(src) > maxExpressionLen {
			break
		}
	}
	if jp, err := compileJMESPath(src); err == nil {
		if _, err := evalJMESPath(context.Background(), jp, data); err == nil {
			t.Fatal("an exploding multi-select evaluated")
		}
	}
	if _, err := compileJMESPath(`trigger.[`); err == nil {
		t.Fatal("bad JMESPath compiled")
	}
}
