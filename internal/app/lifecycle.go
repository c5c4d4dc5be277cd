package app

import (
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/events"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/org"
	"github.com/switchboard/switchboard/internal/plugin/install"
	"github.com/switchboard/switchboard/internal/plugin/schedule"
	"github.com/switchboard/switchboard/internal/workflow"
	"github.com/switchboard/switchboard/internal/workspace"
)

// wireLifecycle tells every service that runs a workspace's automations
// when the workspace pauses (its owner deactivated), resumes or ends (the
// organization or the account deleted), inside the transaction of the
// change; accounts and organizations report those changes.
func wireLifecycle(accounts *auth.Service, orgs *org.Service, workflows *workflow.Service, gateways *gateway.Service,
	installs *install.Service, scheduler *schedule.Service, signed *events.Service) *workspace.Lifecycle {
	l := workspace.New()
	l.On("workflows", workflows.WorkspaceChanged)
	l.On("gateways", gateways.WorkspaceChanged)
	l.On("plugins", installs.WorkspaceChanged)
	l.On("schedules", scheduler.WorkspaceChanged)
	l.On("events", signed.WorkspaceChanged)
	accounts.SetWorkspaces(l)
	orgs.SetWorkspaces(l)
	return l
}
