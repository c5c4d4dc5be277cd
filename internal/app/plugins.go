package app

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/plugin/install"
	"github.com/switchboard/switchboard/internal/plugin/market"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
)

// newPlugins builds the plugin registry (built-ins), the WebAssembly
// engine, the marketplace and the installation service, and registers the
// plugin.execute worker.
func newPlugins(d *db.DB, runner *jobs.Runner, gateways *gateway.Service, log *slog.Logger) (*wasm.Engine, *market.Service, *install.Service, error) {
	engine, err := wasm.NewEngine(wasm.Options{})
	if err != nil {
		return nil, nil, nil, fmt.Errorf("wasm engine: %w", err)
	}
	registry := plugin.NewRegistry(builtin.NewTemplate())
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
	return engine, m, installs, nil
}
