package gateway

import (
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/gateway/discord"
	"github.com/switchboard/switchboard/internal/gateway/slack"
	"github.com/switchboard/switchboard/internal/gateway/telegram"
	"github.com/switchboard/switchboard/internal/gateway/webhook"
	"github.com/switchboard/switchboard/internal/gateway/whatsapp"
	"github.com/switchboard/switchboard/internal/safehttp"
)

// BaseURLs point the adapters at their providers; empty means the public
// API. Tests point them at local fakes.
type BaseURLs struct {
	Telegram, Discord, Slack, WhatsApp string
}

// Adapters builds every adapter on one SSRF-safe client.
func Adapters(c *safehttp.Client, u BaseURLs) []channel.Adapter {
	return []channel.Adapter{
		telegram.New(u.Telegram, c),
		discord.New(u.Discord, c),
		slack.New(u.Slack, c),
		whatsapp.New(u.WhatsApp, c),
		webhook.New(c, c.Policy),
	}
}
