package app

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/plugin/install"
	"github.com/switchboard/switchboard/internal/plugin/market"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/safehttp"
)

// newPlugins builds the plugin registry (built-ins), the WebAssembly
// engine, the marketplace and the installation service, and registers the
// plugin.execute worker.
func newPlugins(d *db.DB, runner *jobs.Runner, gateways *gateway.Service, log *slog.Logger, cacheDir string) (*wasm.Engine, *market.Service, *install.Service, error) {
	// Reacting built-ins and sandboxed plugins granted "gateway.send" reply
	// through the gateway send path (a retried job).
	var send builtin.GatewaySender
	if gateways != nil {
		send = func(ctx context.Context, a actor.Actor, gatewayID, chatID, text, key string) (string, error) {
			rec, err := gateways.Send(ctx, a, gatewayID, gateway.SendInput{ChatID: chatID, Text: text, IdempotencyKey: key})
			return rec.ID, err
		}
	}
	// Sandboxed plugins granted "http" reach public addresses only: the
	// operator's --outbound-allow is for built-ins and gateways the
	// operator trusts, not for third-party code.
	pluginHTTP, err := safehttp.New(safehttp.Options{Timeout: wasm.HTTPCallTimeout, MaxResponseBytes: wasm.MaxHTTPBodyBytes})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("plugin http client: %w", err)
	}
	engine, err := wasm.NewEngine(wasm.Options{HTTP: pluginHTTP, Send: wasm.GatewaySender(send), CacheDir: cacheDir})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("wasm engine: %w", err)
	}
	registry := plugin.NewRegistry(builtin.NewTemplate())
	registry.Register(builtin.NewAutoReply(send))
	registry.Register(builtin.NewWelcome(send))
	m := market.New(d, engine, registry)
	var check install.GatewayCheck
	if gateways != nil {
		check = func(ctx context.Context, a actor.Actor, id string) error {
			_, err := gateways.Get(ctx, a, id)
			return err
		}
	}
	installs := install.New(d, m, runner, check, log)
	installs.RegisterJobs(runner)
	// Event subscriptions: an installation with gatewayIds gets each new
	// event of those gateways as a plugin.execute job, queued in the
	// transaction that stores the event.
	if gateways != nil {
		gateways.OnStore(func(ctx context.Context, tx *db.Tx, a actor.Actor, ev gateway.WorkspaceJob) error {
			raw, err := json.Marshal(ev)
			if err != nil {
				return fmt.Errorf("encode event: %w", err)
			}
			return installs.EnqueueEventTx(ctx, tx, a, ev.Payload.GatewayID, ev.ID, raw)
		})
	}
	return engine, m, installs, nil
}

// pluginCacheDir is where approved plugin modules' machine code is kept
// across restarts (wasm.Options.CacheDir): "" without a data dir.
func pluginCacheDir(dataDir string) string {
	if dataDir == "" {
		return ""
	}
	return filepath.Join(dataDir, "wasm-cache")
}

// pruneEngineCache removes from the plugin compilation cache the modules of
// versions no longer APPROVED (yanked on another node since this one last
// ran). A failure only costs a compilation later, so it is logged.
func pruneEngineCache(ctx context.Context, m *market.Service, log *slog.Logger) {
	n, err := m.PruneEngineCache(ctx)
	if err != nil {
		log.Warn("plugin compilation cache: prune failed", "err", err)
		return
	}
	if n > 0 {
		log.Info("plugin compilation cache: removed modules no longer approved", "count", n)
	}
}
