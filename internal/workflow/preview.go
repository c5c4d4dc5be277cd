package workflow

// Expression preview: the studio shows what an expression, a template or
// a transform gives over a run's real data while it is typed, computed by
// the evaluator steps run with (same environment, same limits), so the
// preview and the run never disagree.

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
)

// Bounds of a preview request.
const (
	maxPreviewSource = 64 << 10
	maxPreviewData   = MaxInputBytes
)

// PreviewInput is the body of POST /workflows/expressions/preview.
type PreviewInput struct {
	// Expression is the text of the field: an expr-lang expression, a
	// {{ }} template or a JMESPath transform, as Mode says.
	Expression string `json:"expression"`
	// Mode is expr (conditions, filters, items, chat; the default),
	// template (texts, inputs: {{ }} placeholders) or jmespath (transforms).
	Mode string `json:"mode,omitempty"`
	// RunID names a run of the workspace whose data the expression sees:
	// its input as trigger, its step records as steps, its definition's
	// variables.
	RunID string `json:"runId,omitempty"`
	// Data is the environment, or the part of it that replaces the run's:
	// {trigger, steps, variables, previous, run, event, item, index}
	// (≤ 256 KiB).
	Data json.RawMessage `json:"data,omitempty"`
}

// PreviewResult is the value of the expression, or why it has none: a
// compile error (what a save would refuse) or an evaluation error (what
// the step would fail with).
type PreviewResult struct {
	OK    bool   `json:"ok"`
	Value any    `json:"value"`
	Error string `json:"error,omitempty"`
}

var previewNames = map[string]bool{"trigger": true, "input": true, "steps": true, "variables": true, "previous": true, "run": true,
	"event": true, "item": true, "index": true}

// PreviewExpression evaluates an expression over a run's data (or data
// given inline) without running anything.
func (s *Service) PreviewExpression(ctx context.Context, a actor.Actor, in PreviewInput) (PreviewResult, error) {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return PreviewResult{}, err
	}
	if len(in.Expression) > maxPreviewSource {
		return PreviewResult{}, apperr.Invalid(apperr.FieldError{Field: "expression", Message: fmt.Sprintf("must be at most %d bytes", maxPreviewSource)})
	}
	if len(in.Data) > maxPreviewData {
		return PreviewResult{}, apperr.New(apperr.PayloadTooLarge, "data must be at most %d bytes", maxPreviewData)
	}
	mode := in.Mode
	if mode == "" {
		mode = "expr"
	}
	if mode != "expr" && mode != "template" && mode != "jmespath" {
		return PreviewResult{}, apperr.Invalid(apperr.FieldError{Field: "mode", Message: "must be expr, template or jmespath"})
	}
	env := map[string]any{}
	if in.RunID != "" {
		r, err := s.GetRun(ctx, a, in.RunID)
		if err != nil {
			return PreviewResult{}, err
		}
		if env, err = s.runEnv(ctx, a, r); err != nil {
			return PreviewResult{}, err
		}
	}
	if len(in.Data) > 0 && string(in.Data) != "null" {
		var data map[string]any
		if err := json.Unmarshal(in.Data, &data); err != nil {
			return PreviewResult{}, apperr.Invalid(apperr.FieldError{Field: "data", Message: "must be a JSON object"})
		}
		for k, v := range data {
			if !previewNames[k] {
				return PreviewResult{}, apperr.Invalid(apperr.FieldError{Field: "data." + k, Message: "is not a name expressions see (trigger, steps, variables, previous, run, event, item, index)"})
			}
			env[k] = v
		}
		if _, ok := data["trigger"]; ok {
			if _, ok := data["input"]; !ok {
				env["input"] = data["trigger"]
			}
		}
	}
	v, err := evalPreview(ctx, mode, in.Expression, env)
	if err != nil {
		return PreviewResult{Error: err.Error()}, nil
	}
	return PreviewResult{OK: true, Value: v}, nil
}

// runEnv is the environment a step after the run's last record sees.
func (s *Service) runEnv(ctx context.Context, a actor.Actor, r Run) (map[string]any, error) {
	var vars map[string]any
	if c, err := s.loadCompiled(ctx, s.DB.Read(), a.WorkspaceID(), r.versionID); err == nil {
		vars = c.def.Variables
	}
	x := newExecWith(&r, &compiled{def: Definition{Variables: vars}}, nil)
	if err := json.Unmarshal(r.Input, &x.input); err != nil && len(r.Input) > 0 {
		return nil, apperr.Wrap(err, "preview: run input")
	}
	return x.env(), nil
}

func evalPreview(ctx context.Context, mode, src string, env map[string]any) (any, error) {
	switch mode {
	case "template":
		raw, _ := json.Marshal(src)
		t, err := compileTemplate(raw)
		if err != nil {
			return nil, err
		}
		return t.render(ctx, env)
	case "jmespath":
		jp, err := compileJMESPath(src)
		if err != nil {
			return nil, err
		}
		return evalJMESPath(ctx, jp, env)
	}
	p, err := compileExpr(src)
	if err != nil {
		return nil, err
	}
	return evalExpr(ctx, p, env)
}
