package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/credit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/install"
	"github.com/switchboard/switchboard/internal/secret"
	"github.com/switchboard/switchboard/internal/workflow"
)

// workflowRefs checks a definition's references through the owning
// services.
type workflowRefs struct {
	installs *install.Service
	gateways *gateway.Service
}

func (r workflowRefs) CheckPlugin(ctx context.Context, a actor.Actor, installationID, slug string, cfg json.RawMessage) error {
	return r.installs.CheckStep(ctx, a, install.StepRef{InstallationID: installationID, Plugin: slug, Config: cfg})
}

func (r workflowRefs) CheckGateway(ctx context.Context, a actor.Actor, id string) error {
	_, err := r.gateways.Get(ctx, a, id)
	return err
}

type workflowPlugins struct{ installs *install.Service }

func (p workflowPlugins) RunStep(ctx context.Context, a actor.Actor, ref workflow.PluginRef, input json.RawMessage, ec plugin.ExecutionContext) (plugin.ExecutionResult, error) {
	res, err := p.installs.RunStep(ctx, a, install.StepRef{InstallationID: ref.InstallationID, Plugin: ref.Plugin, Config: ref.Config}, input, ec)
	if errors.Is(err, install.ErrBusy) {
		err = workflow.ErrBusy
	}
	return res, err
}

func (p workflowPlugins) ClaimStepSlot(ctx context.Context, a actor.Actor, kind, key string) (func(), error) {
	release, err := p.installs.ClaimStepSlot(ctx, a, kind, key)
	if errors.Is(err, install.ErrBusy) {
		err = workflow.ErrBusy
	}
	return release, err
}

// newWorkflows builds the workflow engine, checks that the keyring opens
// every sealed webhook token (sealing those an earlier version kept in
// clear), registers its jobs and subscribes event-triggered workflows to
// stored gateway events.
func newWorkflows(ctx context.Context, c config.Config, d *db.DB, runner *jobs.Runner, installs *install.Service, gateways *gateway.Service,
	limits *credit.Limits, keys *secret.Keyring, ev workflow.Events, log *slog.Logger) (*workflow.Service, error) {
	w := workflow.New(workflow.Deps{DB: d, Jobs: runner, Refs: workflowRefs{installs: installs, gateways: gateways},
		Plugins: workflowPlugins{installs: installs}, Gateways: gateways, Meter: limits, Log: log, PublicURL: c.PublicURL, Keys: keys,
		Events: ev})
	if err := secret.CheckKeys(ctx, keys, w.HookStore()); err != nil {
		return nil, err
	}
	if n, err := workflow.SealHookTokens(ctx, d, keys); err != nil {
		return nil, err
	} else if n > 0 {
		log.Info("sealed workflow webhook tokens kept in clear by an earlier version", "count", n)
	}
	w.RegisterJobs(runner)
	gateways.OnStore(func(ctx context.Context, tx *db.Tx, a actor.Actor, ev gateway.WorkspaceJob) error {
		raw, err := json.Marshal(ev)
		if err != nil {
			return fmt.Errorf("encode event: %w", err)
		}
		return w.EventTx(ctx, tx, a, ev.Payload.GatewayID, ev.ID, raw)
	})
	// A message a run waits for (waitForReply) is that run's, and nobody
	// else's: it is claimed before the hooks above see it.
	gateways.OnClaim(func(ctx context.Context, tx *db.Tx, a actor.Actor, ev gateway.WorkspaceJob) (bool, error) {
		if (ev.Type != channel.EventMessage && ev.Type != channel.EventWebhook) || ev.Payload.ChatID == "" {
			return false, nil
		}
		raw, err := json.Marshal(ev)
		if err != nil {
			return false, fmt.Errorf("encode event: %w", err)
		}
		p := ev.Payload
		return w.ReplyTx(ctx, tx, a, workflow.InboundMessage{GatewayID: p.GatewayID, ChatID: p.ChatID, UserID: p.UserID,
			Username: p.Username, Text: p.Text, EventID: ev.ID, Event: raw})
	})
	return w, nil
}
