// Package plugin defines what a plugin is to Switchboard — a Runner with
// JSON Schemas for its input, output and config — the context an execution
// runs in and the result it reports, and the registry that resolves a
// plugin by slug. Built-in plugins (package builtin) are Go code; third-party
// plugins are sandboxed WebAssembly modules (package wasm) published through
// the marketplace.
package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
)

// Trigger says why an execution runs.
type Trigger string

const (
	TriggerStandalone   Trigger = "standalone"
	TriggerWorkflowStep Trigger = "workflow_step"
	TriggerSchedule     Trigger = "schedule"
	TriggerEvent        Trigger = "event"
)

// Valid reports whether t is a known trigger.
func (t Trigger) Valid() bool {
	switch t {
	case TriggerStandalone, TriggerWorkflowStep, TriggerSchedule, TriggerEvent:
		return true
	}
	return false
}

// ExecutionContext is everything an execution may know besides its input.
// It is passed by value; a Runner must not keep it after Execute returns.
type ExecutionContext struct {
	Trigger        Trigger `json:"trigger"`
	ExecutionID    string  `json:"executionId,omitempty"`
	InstallationID string  `json:"installationId,omitempty"`
	// Workflow ids are set for TriggerWorkflowStep.
	WorkflowID    string `json:"workflowId,omitempty"`
	WorkflowRunID string `json:"workflowRunId,omitempty"`
	StepID        string `json:"stepId,omitempty"`
	// PreviousStepOutput is the output of the step before this one.
	PreviousStepOutput json.RawMessage `json:"previousStepOutput,omitempty"`
	Variables          map[string]any  `json:"variables,omitempty"`
	// IdempotencyKey is stable across retries of the same logical
	// execution, so a plugin with side effects can deduplicate them.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
	// Config is the installation's configuration, already validated
	// against the plugin's config schema.
	Config json.RawMessage `json:"config,omitempty"`
	// Now is the host's clock at the start of the execution; sandboxed
	// plugins have no other source of the current time.
	Now time.Time `json:"now"`
	// GatewayIDs are the gateways the installation subscribes to; a
	// sandboxed plugin may send messages through these only.
	GatewayIDs []string `json:"gatewayIds,omitempty"`

	// Actor acts for the installation's workspace.
	Actor actor.Actor `json:"-"`
	// Grants are the host capabilities the installer granted (see wasm).
	Grants []string `json:"-"`
	// Store is the installation's key-value store (nil if none).
	Store KV `json:"-"`
	// Secrets are the installation's write-only secrets (such as a user's
	// own AI provider key), opened for this execution. Only built-in
	// plugins receive them: sandboxed plugins get nil, and the field is
	// never serialized (the WebAssembly ABI passes this struct as JSON). A
	// Runner must not log them, return them or keep them.
	Secrets map[string]string `json:"-"`
}

// Granted reports whether the installer granted capability c.
func (ec ExecutionContext) Granted(c string) bool {
	for _, g := range ec.Grants {
		if g == c {
			return true
		}
	}
	return false
}

// KV is a per-installation key-value store. Set fails with ErrStorageLimit
// when the workspace's plan has no room for the value.
type KV interface {
	Get(ctx context.Context, key string) (value []byte, found bool, err error)
	Set(ctx context.Context, key string, value []byte) error
	Delete(ctx context.Context, key string) error
}

// Metrics measure one execution.
type Metrics struct {
	DurationMs int64 `json:"durationMs"`
	TokensUsed int64 `json:"tokensUsed"`
	APICalls   int64 `json:"apiCalls"`
	// ChargedMillicredits is what the execution's own work was charged in
	// credits (an AI call's tokens, priced from the cost table), beyond
	// the execution itself; a run's step record shows it per step.
	ChargedMillicredits int64 `json:"chargedMillicredits,omitempty"`
}

// LogLine is one line a plugin logged during an execution.
type LogLine struct {
	Level   string `json:"level"`
	Message string `json:"message"`
}

// ExecutionResult is how an execution ended. A failed execution has
// Success false and Error saying why, in words fit for the plugin's user.
type ExecutionResult struct {
	Success bool            `json:"success"`
	Output  json.RawMessage `json:"output,omitempty"`
	Error   string          `json:"error,omitempty"`
	Metrics Metrics         `json:"metrics"`
	Logs    []LogLine       `json:"logs,omitempty"`
}

// Failed returns a failed result with a reason.
func Failed(reason string) ExecutionResult { return ExecutionResult{Error: reason} }

// Runner is one plugin at one version.
// Preparer is a Runner with work to do once before it can execute: a
// WebAssembly module's compilation. Callers prepare before they take the
// execution's concurrency slot, so a first, slow compile neither holds a
// slot nor counts against the slot's lease.
type Preparer interface {
	Prepare(ctx context.Context) error
}

// Prepare prepares r if it is a Preparer. Its error is not the
// execution's: an execution that cannot prepare fails when it runs, in
// its own words.
func Prepare(ctx context.Context, r Runner) {
	if p, ok := r.(Preparer); ok {
		_ = p.Prepare(ctx)
	}
}

type Runner interface {
	Slug() string
	Version() string
	// Schemas may be nil: anything goes.
	InputSchema() *Schema
	OutputSchema() *Schema
	ConfigSchema() *Schema
	// Execute runs the plugin once. It reports failures of the plugin in
	// the result and never panics on input; ctx bounds it.
	Execute(ctx context.Context, ec ExecutionContext, input json.RawMessage) ExecutionResult
	// ValidateConfig checks a configuration beyond its schema.
	ValidateConfig(config json.RawMessage) error
	// CanBeWorkflowStep reports whether workflows may use the plugin as a
	// step (some plugins only react to events).
	CanBeWorkflowStep() bool
}

// Run executes r with its contract enforced: the input must match the
// input schema, the output must match the output schema, and the duration
// is measured here whatever the runner reports.
func Run(ctx context.Context, r Runner, ec ExecutionContext, input json.RawMessage) ExecutionResult {
	start := time.Now()
	if len(input) == 0 {
		input = json.RawMessage("{}")
	}
	if err := r.InputSchema().Validate(input); err != nil {
		return ExecutionResult{Error: "input: " + err.Error()}
	}
	if ec.Now.IsZero() {
		ec.Now = start.UTC()
	}
	res := r.Execute(ctx, ec, input)
	if res.Success {
		if len(res.Output) == 0 {
			res.Output = json.RawMessage("null")
		}
		if err := r.OutputSchema().Validate(res.Output); err != nil {
			res.Success, res.Error = false, "output does not match the plugin's output schema: "+err.Error()
		}
	}
	if !res.Success {
		res.Output = nil
		if res.Error == "" {
			res.Error = "the plugin failed without a reason"
		}
	}
	res.Metrics.DurationMs = time.Since(start).Milliseconds()
	return res
}

// CheckConfig validates config against r's config schema and its own rules.
func CheckConfig(r Runner, config json.RawMessage) error {
	if len(config) == 0 {
		config = json.RawMessage("{}")
	}
	if err := r.ConfigSchema().Validate(config); err != nil {
		return err
	}
	return r.ValidateConfig(config)
}

// ErrStorageLimit is returned by KV.Set when the workspace's plan has no
// room left for the value.
var ErrStorageLimit = errors.New("the workspace's storage limit is reached")

// ConfigRef is one id of a workspace's resource named inside a plugin's
// config, with where it sits (a JSON path such as
// "config.schedules[0].gatewayId").
type ConfigRef struct {
	Field string
	ID    string
}

// GatewayReferrer is a plugin whose config names gateways (the scheduler's
// schedules send through one). Installing or configuring it checks each
// against the actor's workspace, as gatewayIds are: a config that names
// another workspace's gateway is refused, not stored.
type GatewayReferrer interface {
	ConfigGateways(config json.RawMessage) []ConfigRef
}

// InputGatewayReferrer is a plugin whose input names a gateway (the
// reacting built-ins answer through the gateway an event came from). A
// standalone execution checks it against the caller's workspace before
// anything runs; events delivered by a subscription name the workspace's
// own gateway.
type InputGatewayReferrer interface {
	InputGateways(input json.RawMessage) []ConfigRef
}
