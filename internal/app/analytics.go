package app

import (
	"log/slog"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/analytics"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/plugin/install"
)

// registerAnalytics adds the analytics built-in, whose counters and report
// the returned service keeps. Installations subscribe it to gateways like
// any event-triggered built-in (newPlugins wires the subscription).
func registerAnalytics(r *plugin.Registry, d *db.DB, runner *jobs.Runner, installs *install.Service, log *slog.Logger) *analytics.Service {
	s := analytics.New(d, installs, log)
	s.RegisterJobs(runner)
	r.Register(builtin.NewAnalytics(s))
	installs.OnUninstall(analytics.ForgetTx)
	return s
}
