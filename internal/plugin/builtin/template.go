// Package builtin holds the plugins that ship inside Switchboard, written in
// Go and run in-process.
package builtin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"

	"github.com/switchboard/switchboard/internal/plugin"
)

// maxTemplateOutput caps what one rendering may produce.
const maxTemplateOutput = 256 << 10

// Template renders a Go text/template over the input's data. The template
// comes from the input or, failing that, the installation's config, so one
// installation can hold a house template that every execution reuses.
type Template struct{}

var (
	templateInput = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"template": {"type": "string", "maxLength": 65536},
			"data": {}
		},
		"additionalProperties": false
	}`)
	templateOutput = plugin.MustSchema(`{
		"type": "object",
		"properties": {"text": {"type": "string"}},
		"required": ["text"]
	}`)
	templateConfig = plugin.MustSchema(`{
		"type": "object",
		"properties": {"template": {"type": "string", "maxLength": 65536}},
		"additionalProperties": false
	}`)
)

// NewTemplate returns the catalog entry of the template built-in.
func NewTemplate() plugin.Builtin {
	return plugin.Builtin{Runner: Template{}, Name: "Template",
		Description: "Renders a Go text/template ({{.name}}) over the input's data; the template comes from the input or the installation's config."}
}

func (Template) Slug() string                 { return "template" }
func (Template) Version() string              { return "1.0.0" }
func (Template) InputSchema() *plugin.Schema  { return templateInput }
func (Template) OutputSchema() *plugin.Schema { return templateOutput }
func (Template) ConfigSchema() *plugin.Schema { return templateConfig }
func (Template) CanBeWorkflowStep() bool      { return true }
func (Template) ValidateConfig(raw json.RawMessage) error {
	var cfg struct{ Template string }
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	if cfg.Template == "" {
		return nil
	}
	_, err := parseTemplate(cfg.Template)
	return err
}

func parseTemplate(src string) (*template.Template, error) {
	t, err := template.New("t").Option("missingkey=zero").Parse(src)
	if err != nil {
		return nil, fmt.Errorf("template: %s", strings.TrimPrefix(err.Error(), "template: t:"))
	}
	return t, nil
}

// capWriter fails writes beyond its limit, which stops template execution.
type capWriter struct {
	buf bytes.Buffer
	max int
}

var errTooLong = errors.New("rendered text exceeds the size limit")

func (w *capWriter) Write(p []byte) (int, error) {
	if w.buf.Len()+len(p) > w.max {
		return 0, errTooLong
	}
	return w.buf.Write(p)
}

// Execute renders the template.
func (Template) Execute(_ context.Context, ec plugin.ExecutionContext, input json.RawMessage) plugin.ExecutionResult {
	var in struct {
		Template *string `json:"template"`
		Data     any     `json:"data"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return plugin.Failed("input: " + err.Error())
	}
	src := ""
	if in.Template != nil {
		src = *in.Template
	} else if len(ec.Config) > 0 {
		var cfg struct{ Template string }
		if err := json.Unmarshal(ec.Config, &cfg); err != nil {
			return plugin.Failed("config: " + err.Error())
		}
		src = cfg.Template
	}
	if src == "" {
		return plugin.Failed("no template: pass input.template or configure one")
	}
	t, err := parseTemplate(src)
	if err != nil {
		return plugin.Failed(err.Error())
	}
	w := &capWriter{max: maxTemplateOutput}
	if err := t.Execute(w, in.Data); err != nil {
		if errors.Is(err, errTooLong) {
			return plugin.Failed(fmt.Sprintf("rendered text exceeds %d bytes", maxTemplateOutput))
		}
		return plugin.Failed(fmt.Sprintf("render: %s", strings.TrimPrefix(err.Error(), "template: t:")))
	}
	out, err := json.Marshal(map[string]string{"text": w.buf.String()})
	if err != nil {
		return plugin.Failed("encode output: " + err.Error())
	}
	return plugin.ExecutionResult{Success: true, Output: out}
}
