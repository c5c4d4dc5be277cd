package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/safehttp"
	"github.com/switchboard/switchboard/internal/secret"
)

// newGateways builds the gateway service on the SSRF-safe client, checks
// that the keyring can open every stored credential (a node missing a key
// refuses to start rather than fail on first use), and registers its jobs.
func newGateways(ctx context.Context, c config.Config, d *db.DB, keys *secret.Keyring, runner *jobs.Runner, log *slog.Logger, opt gateway.Options) (*gateway.Service, error) {
	client, err := safehttp.New(safehttp.Options{Allow: c.Gateway.OutboundAllow})
	if err != nil {
		return nil, fmt.Errorf("--outbound-allow: %w", err)
	}
	svc := gateway.New(d, keys, runner, gateway.Adapters(client, gateway.BaseURLs{
		Telegram: c.Gateway.TelegramAPIURL, Discord: c.Gateway.DiscordAPIURL,
		Slack: c.Gateway.SlackAPIURL, WhatsApp: c.Gateway.WhatsAppAPIURL,
	}), c.PublicURL, log, opt)
	if err := secret.CheckKeys(ctx, keys, svc.SecretStore(), svc.HookStore()); err != nil {
		return nil, err
	}
	if n, err := gateway.SealHookTokens(ctx, d, keys); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("sealed gateway inbound tokens kept in clear by an earlier version", "count", n)
	}
	svc.RegisterJobs(runner)
	return svc, nil
}
