package app

import (
	"context"
	"log/slog"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/billing"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/events"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/secret"
	"github.com/switchboard/switchboard/internal/workflow"
)

// newEvents builds the signed-events service on the SSRF-safe client (the
// operator's --outbound-allow list applies), checks that the keyring opens
// every subscription secret and workflow webhook secret, and registers its
// delivery jobs.
func newEvents(ctx context.Context, c config.Config, d *db.DB, runner *jobs.Runner, keys *secret.Keyring, log *slog.Logger, opt events.Options) (*events.Service, error) {
	if opt.Allow == nil {
		opt.Allow = c.Gateway.OutboundAllow
	}
	svc, err := events.New(d, runner, keys, log, opt)
	if err != nil {
		return nil, err
	}
	if err := secret.CheckKeys(ctx, keys, events.SecretStore(d), workflow.HookSecretStore(d)); err != nil {
		return nil, err
	}
	svc.RegisterJobs(runner)
	return svc, nil
}

// wireEvents makes the services emit their events: plan.changed when an
// admin changes a personal workspace's plan, gateway.error when a gateway
// enters ERROR, credits.low when usage crosses the low-balance threshold.
// (run.* come through workflow.Deps.Events, billing's plan.changed through
// planEvents.)
func wireEvents(ev *events.Service, users *auth.Service, gateways *gateway.Service, credits *credit.Service) {
	users.OnAdminPlanChange(func(ctx context.Context, tx *db.Tx, userID string, from, to actor.Plan) error {
		return ev.EmitTx(ctx, tx, userID, events.PlanChanged, PlanChange{WorkspaceID: userID, From: from, To: to})
	})
	gateways.OnError(func(ctx context.Context, tx *db.Tx, ws string, e gateway.ErrorEvent) error {
		return ev.EmitTx(ctx, tx, ws, events.GatewayError, e)
	})
	credits.OnLowBalance(func(ctx context.Context, tx *db.Tx, e credit.LowBalance) error {
		return ev.EmitTx(ctx, tx, e.WorkspaceID, events.CreditsLow, e)
	})
}

// planEvents is an account store that emits plan.changed when a plan
// changes through it (billing's subscription events).
type planEvents struct {
	billing.AccountStore
	ev *events.Service
}

// PlanChange is the data of the plan.changed event.
type PlanChange struct {
	WorkspaceID string     `json:"workspaceId"`
	From        actor.Plan `json:"from"`
	To          actor.Plan `json:"to"`
}

func (p planEvents) SetPlanTx(ctx context.Context, tx *db.Tx, a actor.Actor, id string, plan actor.Plan, meta map[string]any) (actor.Plan, error) {
	from, err := p.AccountStore.SetPlanTx(ctx, tx, a, id, plan, meta)
	if err != nil || from == plan {
		return from, err
	}
	return from, p.ev.EmitTx(ctx, tx, id, events.PlanChanged, PlanChange{WorkspaceID: id, From: from, To: plan})
}
