package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/switchboard/switchboard/internal/plugin"
)

// DefaultWelcome is the greeting when the installation configures none.
const DefaultWelcome = "Welcome, {{.name}}!"

// Welcome greets members who join a chat (gateway.member_joined) with a
// configurable text/template ({{.name}}, {{.username}}, {{.userId}},
// {{.chatId}}), sent to that chat through the gateway the event came from
// as a retried send job. Other events succeed with greeted false.
type Welcome struct{ send GatewaySender }

var (
	welcomeInput  = plugin.MustSchema(eventInputSchema)
	welcomeOutput = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"greeted": {"type": "boolean"},
			"text": {"type": "string"},
			"sendId": {"type": "string"}
		},
		"required": ["greeted"],
		"additionalProperties": false
	}`)
	welcomeConfig = plugin.MustSchema(`{
		"type": "object",
		"properties": {"template": {"type": "string", "minLength": 1, "maxLength": 4000}},
		"additionalProperties": false
	}`)
)

// NewWelcome returns the catalog entry of the welcome built-in; send
// delivers greetings.
func NewWelcome(send GatewaySender) plugin.Builtin {
	return plugin.Builtin{Runner: Welcome{send: send}, Name: "Welcome",
		Description: "Greets new members of a chat with a configurable template (default \"" + DefaultWelcome + "\")."}
}

func (Welcome) Slug() string                 { return "welcome" }
func (Welcome) Version() string              { return "1.0.0" }
func (Welcome) InputSchema() *plugin.Schema  { return welcomeInput }
func (Welcome) OutputSchema() *plugin.Schema { return welcomeOutput }
func (Welcome) ConfigSchema() *plugin.Schema { return welcomeConfig }
func (Welcome) CanBeWorkflowStep() bool      { return true }

func welcomeTemplate(raw json.RawMessage) (string, error) {
	var cfg struct {
		Template string `json:"template"`
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &cfg); err != nil {
			return "", fmt.Errorf("config: %w", err)
		}
	}
	if cfg.Template == "" {
		return DefaultWelcome, nil
	}
	return cfg.Template, nil
}

func (Welcome) ValidateConfig(raw json.RawMessage) error {
	src, err := welcomeTemplate(raw)
	if err != nil {
		return err
	}
	if _, err := parseTemplate(src); err != nil {
		return err
	}
	return nil
}

// Execute greets the member who joined.
func (w Welcome) Execute(ctx context.Context, ec plugin.ExecutionContext, input json.RawMessage) plugin.ExecutionResult {
	src, err := welcomeTemplate(ec.Config)
	if err != nil {
		return plugin.Failed(err.Error())
	}
	var ev gatewayEvent
	if err := json.Unmarshal(input, &ev); err != nil {
		return plugin.Failed("input: " + err.Error())
	}
	if ev.Type != "gateway.member_joined" {
		return encode(map[string]any{"greeted": false}, 0)
	}
	text, err := render(src, ev.templateData())
	if err != nil {
		return plugin.Failed("template: " + err.Error())
	}
	if strings.TrimSpace(text) == "" {
		return plugin.Failed("the greeting rendered to empty text")
	}
	return reply(ctx, w.send, ec, ev, text, map[string]any{"greeted": true, "text": text})
}
