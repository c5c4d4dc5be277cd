package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"github.com/expr-lang/expr/vm"
	"github.com/jmespath/go-jmespath"
)

// template is a JSON value whose strings may hold {{ expression }}
// placeholders. A string that is exactly one placeholder takes the
// expression's value (of any type); otherwise each placeholder is replaced
// by its value as text.
type template struct {
	raw   any
	progs map[string]*vm.Program
}

// compileTemplate parses raw (JSON) and compiles every placeholder; the
// error names the first bad one.
func compileTemplate(raw json.RawMessage) (*template, error) {
	t := &template{progs: map[string]*vm.Program{}}
	if len(raw) == 0 {
		return t, nil
	}
	if err := json.Unmarshal(raw, &t.raw); err != nil {
		return nil, fmt.Errorf("is not valid JSON: %v", err)
	}
	var walk func(v any) error
	walk = func(v any) error {
		switch x := v.(type) {
		case string:
			return t.compileString(x)
		case []any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		case map[string]any:
			for _, e := range x {
				if err := walk(e); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return t, walk(t.raw)
}

func (t *template) compileString(s string) error {
	for _, src := range placeholders(s) {
		if _, ok := t.progs[src]; ok {
			continue
		}
		p, err := compileExpr(src)
		if err != nil {
			return fmt.Errorf("{{ %s }}: %v", src, err)
		}
		t.progs[src] = p
	}
	rest := s
	for {
		_, j, ok := nextPlaceholder(rest)
		if !ok {
			break
		}
		rest = rest[j+2:]
	}
	if strings.Contains(rest, "{{") {
		return fmt.Errorf("%q has an unclosed {{", clip(s))
	}
	return nil
}

// placeholders returns the expressions inside {{ }} in s.
func placeholders(s string) []string {
	var out []string
	for {
		i, j, ok := nextPlaceholder(s)
		if !ok {
			return out
		}
		out = append(out, strings.TrimSpace(s[i+2:j]))
		s = s[j+2:]
	}
}

// nextPlaceholder finds the first {{ … }} in s: i is where "{{" starts, j
// where its "}}" starts. A "}}" inside a quoted string of the expression
// does not close it, so {{ "{{.name}}" }} yields the literal text
// {{.name}} (how a Go template reaches the template plugin).
func nextPlaceholder(s string) (i, j int, ok bool) {
	i = strings.Index(s, "{{")
	if i < 0 {
		return 0, 0, false
	}
	var quote byte
	for k := i + 2; k < len(s); k++ {
		c := s[k]
		switch {
		case quote != 0:
			if c == '\\' {
				k++
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
		case c == '}' && k+1 < len(s) && s[k+1] == '}':
			return i, k, true
		}
	}
	return 0, 0, false
}

// render evaluates every placeholder over env and returns the JSON value.
func (t *template) render(ctx context.Context, env map[string]any) (any, error) {
	if len(t.progs) == 0 {
		return t.raw, nil
	}
	var walk func(v any) (any, error)
	walk = func(v any) (any, error) {
		switch x := v.(type) {
		case string:
			return t.renderString(ctx, x, env)
		case []any:
			out := make([]any, len(x))
			for i, e := range x {
				r, err := walk(e)
				if err != nil {
					return nil, err
				}
				out[i] = r
			}
			return out, nil
		case map[string]any:
			out := make(map[string]any, len(x))
			for k, e := range x {
				r, err := walk(e)
				if err != nil {
					return nil, err
				}
				out[k] = r
			}
			return out, nil
		}
		return v, nil
	}
	return walk(t.raw)
}

func (t *template) renderString(ctx context.Context, s string, env map[string]any) (any, error) {
	srcs := placeholders(s)
	if len(srcs) == 0 {
		return s, nil
	}
	if i, j, _ := nextPlaceholder(s); len(srcs) == 1 && strings.TrimSpace(s[:i]) == "" && strings.TrimSpace(s[j+2:]) == "" {
		v, err := evalExpr(ctx, t.progs[srcs[0]], env)
		if err != nil {
			return nil, fmt.Errorf("{{ %s }}: %v", srcs[0], err)
		}
		return v, nil
	}
	var b strings.Builder
	rest := s
	for {
		i, j, ok := nextPlaceholder(rest)
		if !ok {
			b.WriteString(rest)
			break
		}
		b.WriteString(rest[:i])
		src := strings.TrimSpace(rest[i+2 : j])
		v, err := evalExpr(ctx, t.progs[src], env)
		if err != nil {
			return nil, fmt.Errorf("{{ %s }}: %v", src, err)
		}
		b.WriteString(text(v))
		if b.Len() > maxValueBytes {
			return nil, errTooBig
		}
		rest = rest[j+2:]
	}
	return b.String(), nil
}

// text is how a value reads inside a string: strings as they are, nothing
// for null, JSON for the rest.
func text(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// compileJMESPath compiles a transform's expression.
func compileJMESPath(src string) (*jmespath.JMESPath, error) {
	if strings.TrimSpace(src) == "" {
		return nil, errors.New("is empty")
	}
	if len(src) > maxExpressionLen {
		return nil, fmt.Errorf("is longer than %d characters", maxExpressionLen)
	}
	jp, err := jmespath.Compile(src)
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	if err := checkJMESGrowth(src); err != nil {
		return nil, err
	}
	return jp, nil
}

// evalJMESPath runs a transform within the expression limits; the result
// must fit the value size limit (multi-selects can repeat a value many
// times over).
func evalJMESPath(ctx context.Context, jp *jmespath.JMESPath, data map[string]any) (any, error) {
	v, err := bounded(ctx, func(*atomic.Bool) (any, error) { return jp.Search(data) })
	if err != nil {
		return nil, errors.New(oneLine(err.Error()))
	}
	if !fits(v, maxValueBytes) {
		return nil, errTooBig
	}
	return v, nil
}
