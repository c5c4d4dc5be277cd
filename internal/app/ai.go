package app

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/safehttp"
)

// registerAIReply adds the ai-reply built-in: its provider calls go through
// an SSRF-safe client (the same allow-list as gateways), its keys come from
// the operator's configuration, and it pays through credits and limits.
func registerAIReply(r *plugin.Registry, c config.Config, credits *credit.Service, limits *credit.Limits, log *slog.Logger) error {
	client, err := safehttp.New(safehttp.Options{Allow: c.Gateway.OutboundAllow, Timeout: 90 * time.Second, MaxResponseBytes: 4 << 20})
	if err != nil {
		return fmt.Errorf("ai-reply client: %w", err)
	}
	r.Register(builtin.NewAIReply(builtin.AIReplyOptions{Client: client.Client,
		OpenAI:    builtin.AIEndpoint{BaseURL: c.AI.OpenAIBaseURL, APIKey: c.AI.OpenAIAPIKey},
		Anthropic: builtin.AIEndpoint{BaseURL: c.AI.AnthropicBaseURL, APIKey: c.AI.AnthropicAPIKey},
		Credits:   credits, Limits: limits, Log: log}))
	return nil
}
