package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/switchboard/switchboard/internal/plugin"
)

// AutoReply answers messages that match a rule. Rules are tried in order;
// the first whose keyword occurs in the text (case-insensitive unless
// caseSensitive) or whose regular expression (RE2: linear time, no
// catastrophic backtracking) matches wins, and its reply — a text/template
// over the event ({{.name}}, {{.text}} …) — is sent to the chat the event
// came from through the same gateway, as a retried send job. Messages and
// commands are considered; other events, and messages no rule matches,
// succeed with matched false and send nothing.
type AutoReply struct{ send GatewaySender }

var (
	autoReplyInput  = plugin.MustSchema(eventInputSchema)
	autoReplyOutput = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"matched": {"type": "boolean"},
			"rule": {"type": "integer", "minimum": 0},
			"reply": {"type": "string"},
			"sendId": {"type": "string"}
		},
		"required": ["matched"],
		"additionalProperties": false
	}`)
	autoReplyConfig = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"rules": {
				"type": "array", "minItems": 1, "maxItems": 100,
				"items": {
					"type": "object",
					"properties": {
						"keyword": {"type": "string", "minLength": 1, "maxLength": 200},
						"regex": {"type": "string", "minLength": 1, "maxLength": 500},
						"caseSensitive": {"type": "boolean"},
						"reply": {"type": "string", "minLength": 1, "maxLength": 4000}
					},
					"required": ["reply"],
					"oneOf": [{"required": ["keyword"]}, {"required": ["regex"]}],
					"additionalProperties": false
				}
			}
		},
		"required": ["rules"],
		"additionalProperties": false
	}`)
)

// NewAutoReply returns the catalog entry of the auto-reply built-in;
// send delivers replies.
func NewAutoReply(send GatewaySender) plugin.Builtin {
	return plugin.Builtin{Runner: AutoReply{send: send}, Name: "Auto-reply",
		Description: "Answers gateway messages that match keyword or regular-expression rules, in the chat they came from."}
}

func (AutoReply) Slug() string                 { return "auto-reply" }
func (AutoReply) Version() string              { return "1.0.0" }
func (AutoReply) InputSchema() *plugin.Schema  { return autoReplyInput }
func (AutoReply) OutputSchema() *plugin.Schema { return autoReplyOutput }
func (AutoReply) ConfigSchema() *plugin.Schema { return autoReplyConfig }
func (AutoReply) CanBeWorkflowStep() bool      { return true }

type autoReplyRule struct {
	Keyword       string `json:"keyword"`
	Regex         string `json:"regex"`
	CaseSensitive bool   `json:"caseSensitive"`
	Reply         string `json:"reply"`
}

type compiledRule struct {
	autoReplyRule
	re *regexp.Regexp
}

func compileRules(raw json.RawMessage) ([]compiledRule, error) {
	var cfg struct {
		Rules []autoReplyRule `json:"rules"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(cfg.Rules) == 0 {
		return nil, fmt.Errorf("config: at least one rule is required")
	}
	out := make([]compiledRule, len(cfg.Rules))
	for i, r := range cfg.Rules {
		out[i].autoReplyRule = r
		if r.Regex != "" {
			src := r.Regex
			if !r.CaseSensitive {
				src = "(?i)" + src
			}
			re, err := regexp.Compile(src)
			if err != nil {
				return nil, fmt.Errorf("rules[%d].regex: %s", i, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
			}
			out[i].re = re
		}
		if _, err := parseTemplate(r.Reply); err != nil {
			return nil, fmt.Errorf("rules[%d].reply: %w", i, err)
		}
	}
	return out, nil
}

func (AutoReply) ValidateConfig(raw json.RawMessage) error {
	_, err := compileRules(raw)
	return err
}

func (r compiledRule) match(text string) bool {
	if r.re != nil {
		return r.re.MatchString(text)
	}
	if r.CaseSensitive {
		return strings.Contains(text, r.Keyword)
	}
	return strings.Contains(strings.ToLower(text), strings.ToLower(r.Keyword))
}

// Execute matches the event's text against the rules and sends the reply.
func (a AutoReply) Execute(ctx context.Context, ec plugin.ExecutionContext, input json.RawMessage) plugin.ExecutionResult {
	rules, err := compileRules(ec.Config)
	if err != nil {
		return plugin.Failed(err.Error())
	}
	var ev gatewayEvent
	if err := json.Unmarshal(input, &ev); err != nil {
		return plugin.Failed("input: " + err.Error())
	}
	if (ev.Type != "gateway.message" && ev.Type != "gateway.command") || ev.Payload.Text == "" {
		return encode(map[string]any{"matched": false}, 0)
	}
	for i, r := range rules {
		if !r.match(ev.Payload.Text) {
			continue
		}
		text, err := render(r.Reply, ev.templateData())
		if err != nil {
			return plugin.Failed(fmt.Sprintf("rules[%d].reply: %s", i, err.Error()))
		}
		if strings.TrimSpace(text) == "" {
			return plugin.Failed(fmt.Sprintf("rules[%d].reply rendered to empty text", i))
		}
		return reply(ctx, a.send, ec, ev, text, map[string]any{"matched": true, "rule": i, "reply": text})
	}
	return encode(map[string]any{"matched": false}, 0)
}
