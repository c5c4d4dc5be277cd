package app

import (
	"log/slog"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/plugin/schedule"
)

// registerScheduler adds the scheduler built-in and the periodic sweep
// that fires its schedules through the gateways. Call before runner.Open.
func registerScheduler(r *plugin.Registry, d *db.DB, runner *jobs.Runner, gateways *gateway.Service, log *slog.Logger) *schedule.Service {
	r.Register(builtin.NewScheduler())
	var sender schedule.Sender
	if gateways != nil {
		sender = gateways
	}
	s := schedule.New(d, runner, sender, log)
	s.RegisterJobs(runner)
	return s
}
