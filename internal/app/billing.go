package app

import (
	"log/slog"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/events"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/org"
)

// newBilling wires credits, usage limits and Stripe billing, and registers
// their background work on the runner (call before runner.Open).
func newBilling(c config.Config, d *db.DB, users *auth.Service, orgs *org.Service, runner *jobs.Runner, ev *events.Service, log *slog.Logger) (*credit.Service, *credit.Limits, *billing.Service) {
	dir := billing.Directory{Users: planEvents{users, ev}, Orgs: planEvents{orgs, ev}}
	credits := credit.New(d, dir, log)
	limits := credit.NewLimits(d, credits)
	prices := map[actor.Plan]string{}
	for p, price := range c.Stripe.PlanPrices {
		prices[actor.Plan(p)] = price
	}
	b := billing.New(d, credits, dir, runner, billing.Config{
		SecretKey: c.Stripe.SecretKey, WebhookSecret: c.Stripe.WebhookSecret, APIURL: c.Stripe.APIURL,
		PublicURL: c.PublicURL, PlanPrices: prices,
	}, log)
	credits.RegisterJobs(runner)
	b.RegisterJobs(runner)
	return credits, limits, b
}
