package config

import (
	"net/url"
	"strings"
)

// GatewayConfig holds the gateway settings: where each provider's API is,
// and which non-public destinations outbound HTTP may reach.
type GatewayConfig struct {
	// OutboundAllow lists CIDRs, addresses, address:port pairs, hosts or
	// host:port pairs that outbound HTTP (webhook targets, provider APIs)
	// may reach even though they are private or loopback.
	OutboundAllow []string
	// Provider API base URLs (empty: the public API).
	TelegramAPIURL, DiscordAPIURL, SlackAPIURL, WhatsAppAPIURL string
}

type rawGatewayConfig struct {
	allow, telegram, discord, slack, whatsapp string
}

func gatewaySettings(c *rawConfig) []setting {
	g := &c.gateway
	return []setting{
		{"outbound-allow", "SWITCHBOARD_OUTBOUND_ALLOW", "", "comma-separated CIDRs, addresses, hosts or host:port that outbound HTTP may reach although private (default: public addresses only)", &g.allow},
		{"telegram-api-url", "SWITCHBOARD_TELEGRAM_API_URL", "https://api.telegram.org", "Telegram Bot API base URL", &g.telegram},
		{"discord-api-url", "SWITCHBOARD_DISCORD_API_URL", "https://discord.com/api/v10", "Discord REST API base URL", &g.discord},
		{"slack-api-url", "SWITCHBOARD_SLACK_API_URL", "https://slack.com/api", "Slack Web API base URL", &g.slack},
		{"whatsapp-api-url", "SWITCHBOARD_WHATSAPP_API_URL", "https://graph.facebook.com/v21.0", "WhatsApp Cloud (Graph) API base URL", &g.whatsapp},
	}
}

func (r rawGatewayConfig) validate(bad func(name, format string, args ...any)) GatewayConfig {
	g := GatewayConfig{}
	for _, e := range strings.Split(r.allow, ",") {
		if e = strings.TrimSpace(e); e != "" {
			g.OutboundAllow = append(g.OutboundAllow, e)
		}
	}
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
	g.TelegramAPIURL = check("telegram-api-url", r.telegram)
	g.DiscordAPIURL = check("discord-api-url", r.discord)
	g.SlackAPIURL = check("slack-api-url", r.slack)
	g.WhatsAppAPIURL = check("whatsapp-api-url", r.whatsapp)
	return g
}
