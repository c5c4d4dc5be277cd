package config

import (
	"net/url"
	"strings"
)

// AIConfig holds the operator's LLM provider settings used by the ai-reply
// built-in. The operator's keys live here, never in an installation's
// config (stored and returned in clear); a user's own key is an
// installation secret (sealed, write-only).
type AIConfig struct {
	OpenAIBaseURL, OpenAIAPIKey       string
	AnthropicBaseURL, AnthropicAPIKey string
}

type rawAIConfig struct {
	openAIURL, openAIKey, anthropicURL, anthropicKey string
}

func aiSettings(c *rawConfig) []setting {
	a := &c.ai
	return []setting{
		{"openai-base-url", "SWITCHBOARD_OPENAI_BASE_URL", "https://api.openai.com/v1", "OpenAI-compatible Chat Completions API base URL (ai-reply)", &a.openAIURL},
		{"openai-api-key", "SWITCHBOARD_OPENAI_API_KEY", "", "API key for the OpenAI-compatible API; empty disables that provider", &a.openAIKey},
		{"anthropic-base-url", "SWITCHBOARD_ANTHROPIC_BASE_URL", "https://api.anthropic.com", "Anthropic Messages API base URL (ai-reply)", &a.anthropicURL},
		{"anthropic-api-key", "SWITCHBOARD_ANTHROPIC_API_KEY", "", "API key for the Anthropic API; empty disables that provider", &a.anthropicKey},
	}
}

func (r rawAIConfig) validate(bad func(name, format string, args ...any)) AIConfig {
	check := func(name, v string) string {
		v = strings.TrimRight(v, "/")
		if v == "" {
			return ""
		}
		if u, err := url.Parse(v); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(name, "%q must be an absolute http(s) URL", v)
		}
		return v
	}
	return AIConfig{OpenAIBaseURL: check("openai-base-url", r.openAIURL), OpenAIAPIKey: strings.TrimSpace(r.openAIKey),
		AnthropicBaseURL: check("anthropic-base-url", r.anthropicURL), AnthropicAPIKey: strings.TrimSpace(r.anthropicKey)}
}
