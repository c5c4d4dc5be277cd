// Package workflow is Switchboard's durable workflow engine: versioned
// definitions (a trigger and a graph of steps), their validation, the
// expressions steps are written in, the runs they start and the engine
// that drives a run step by step.
//
// Durability rests on one rule: the result of a step with effects, the move
// to the next step and the job that runs it are committed in one
// transaction, guarded by the run's checkpoint number. A job whose
// checkpoint is stale does nothing, so a step that finished is never run
// again, and a step that did not finish is run again by River's retry of
// the job that was running it. Pure steps (condition, transform) run inline
// in the job of the step before them: re-running them is harmless.
package workflow

import (
	"encoding/json"
	"strings"
	"time"
)

// StepType is what a step does.
type StepType string

const (
	StepPlugin    StepType = "plugin"
	StepGateway   StepType = "gateway"
	StepCondition StepType = "condition"
	StepTransform StepType = "transform"
	StepDelay     StepType = "delay"
	StepCode      StepType = "code"
)

// StepTypes lists every step type the engine runs.
var StepTypes = []StepType{StepPlugin, StepGateway, StepCondition, StepTransform, StepDelay, StepCode,
	StepForEach, StepParallel, StepMerge, StepSubWorkflow, StepWaitForReply}

// stepTypeList names the step types for an error message.
func stepTypeList() string {
	names := make([]string, len(StepTypes))
	for i, t := range StepTypes {
		names[i] = string(t)
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// pure reports whether a step has no effect outside the run, so running it
// twice is harmless.
func (t StepType) pure() bool { return t == StepCondition || t == StepTransform }

// TriggerType is what starts a run.
type TriggerType string

const (
	TriggerManual   TriggerType = "manual"
	TriggerSchedule TriggerType = "schedule"
	TriggerEvent    TriggerType = "event"
	TriggerWebhook  TriggerType = "webhook"
)

// OnError is what a failed step does to its run.
type OnError string

const (
	OnErrorStop     OnError = "stop"
	OnErrorContinue OnError = "continue"
	OnErrorRetry    OnError = "retry"
)

// Definition is one version of a workflow: what starts it and its steps.
type Definition struct {
	Trigger     Trigger        `json:"trigger"`
	StartStepID string         `json:"startStepId"`
	Steps       []Step         `json:"steps"`
	Variables   map[string]any `json:"variables,omitempty"`
	Settings    Settings       `json:"settings"`
}

// Trigger configures how runs start. Fields apply to one type each.
type Trigger struct {
	Type TriggerType `json:"type"`
	// schedule: a cron expression (five fields, or six with seconds
	// first) in a time zone (default UTC), or a fixed interval ("30s");
	// see schedule_trigger.go.
	Cron     string `json:"cron,omitempty"`
	Timezone string `json:"timezone,omitempty"`
	Interval string `json:"interval,omitempty"`
	// event: gateways whose inbound events start a run (empty: every
	// gateway of the workspace) and an expr-lang filter over `event`.
	GatewayIDs []string `json:"gatewayIds,omitempty"`
	Filter     string   `json:"filter,omitempty"`
	// webhook: "async" answers 202 with the run id at once; "sync" waits
	// up to TimeoutMs for the run and answers with its last step's output.
	Mode      string `json:"mode,omitempty"`
	TimeoutMs int64  `json:"timeoutMs,omitempty"`

	// webhook: a request header naming each delivery (X-GitHub-Delivery,
	// Stripe's event id header …). Deliveries with the same value start one
	// run; a repeat is answered with that run. Without the header in a
	// request, the request starts a run of its own, unless the webhook is
	// signed (Verify): then what the signature covers is the key
	// (Trigger.replayKey).
	DedupeHeader string `json:"dedupeHeader,omitempty"`
	// webhook: require each call to be signed (hookverify.go).
	Verify *HookVerify `json:"verify,omitempty"`
}

// Step is one node of the graph.
type Step struct {
	ID   string   `json:"id"`
	Name string   `json:"name,omitempty"`
	Type StepType `json:"type"`
	// Config depends on the type; see the *Config types.
	Config json.RawMessage `json:"config"`
	// NextStepID is the step after this one (none: the run ends here).
	NextStepID string `json:"nextStepId,omitempty"`
	// ConditionalNext is a condition's branches: "true" and "false".
	ConditionalNext map[string]string `json:"conditionalNext,omitempty"`
	OnError         OnError           `json:"onError,omitempty"`
	// OnErrorNextStepID is where the run goes when the step fails (after
	// its retries, with onError "retry") instead of failing; the failed
	// record keeps its error, which later steps read as steps.<id>.error.
	OnErrorNextStepID string `json:"onErrorNextStepId,omitempty"`
	// RetryCount is how many times a failing step is tried again with
	// onError "retry"; the wait doubles from RetryBackoffMs each time.
	RetryCount     int   `json:"retryCount,omitempty"`
	RetryBackoffMs int64 `json:"retryBackoffMs,omitempty"`
}

// Settings bound a run.
type Settings struct {
	// TimeoutSeconds after its start a run that has not ended is failed.
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`
	// MaxSteps is the step budget of a run (cycles are allowed).
	MaxSteps int `json:"maxSteps,omitempty"`
	// ErrorWorkflowID is started when a run of this workflow fails
	// (errorflow.go); without it, the workspace's default.
	ErrorWorkflowID string `json:"errorWorkflowId,omitempty"`
}

// PluginConfig is a plugin step: an installation of the workspace, or a
// built-in plugin by slug with its configuration inline. Input and Config
// are templates: strings may hold {{ expression }}.
type PluginConfig struct {
	InstallationID string          `json:"installationId,omitempty"`
	Plugin         string          `json:"plugin,omitempty"`
	Config         json.RawMessage `json:"config,omitempty"`
	Input          json.RawMessage `json:"input,omitempty"`
	// TimeoutMs bounds one attempt (default 30 s, at most 5 min).
	TimeoutMs int64 `json:"timeoutMs,omitempty"`
}

// GatewayConfig is a gateway step: a message sent through a gateway of the
// workspace. ChatID and Text are templates.
type GatewayConfig struct {
	GatewayID string `json:"gatewayId"`
	ChatID    string `json:"chatId,omitempty"`
	Text      string `json:"text"`
}

// ConditionConfig is a condition step: an expr-lang expression that must
// evaluate to a boolean.
type ConditionConfig struct {
	Expression string `json:"expression"`
}

// TransformConfig is a transform step: a JMESPath expression over the run's
// data; its result is the step's output.
type TransformConfig struct {
	Expression string `json:"expression"`
}

// DelayConfig is a delay step: the run waits, durably, for Seconds (or
// until the RFC 3339 time Until evaluates to, a template).
type DelayConfig struct {
	Seconds int64  `json:"seconds,omitempty"`
	Until   string `json:"until,omitempty"`
}

// Defaults and hard limits of definitions and runs.
const (
	MaxStepsPerWorkflow  = 100
	MaxDefinitionBytes   = 256 << 10
	DefaultRunTimeout    = time.Hour
	MaxRunTimeout        = 7 * 24 * time.Hour
	DefaultStepBudget    = 200
	MaxStepBudget        = 10_000
	MaxRetryCount        = 10
	DefaultRetryBackoff  = time.Second
	MaxRetryBackoff      = time.Hour
	MaxDelay             = 30 * 24 * time.Hour
	DefaultSyncTimeout   = 10 * time.Second
	MaxSyncTimeout       = 60 * time.Second
	DefaultPluginTimeout = 30 * time.Second
	MaxPluginTimeout     = 5 * time.Minute
	// MaxInputBytes bounds what starts a run; MaxRunBytes what a run may
	// accumulate (inputs and outputs of its steps).
	MaxInputBytes = 256 << 10
	MaxRunBytes   = 4 << 20
)

func (s Settings) timeout() time.Duration {
	if s.TimeoutSeconds <= 0 {
		return DefaultRunTimeout
	}
	return time.Duration(s.TimeoutSeconds) * time.Second
}

func (s Settings) budget() int {
	if s.MaxSteps <= 0 {
		return DefaultStepBudget
	}
	return s.MaxSteps
}

func (t Trigger) syncTimeout() time.Duration {
	if t.TimeoutMs <= 0 {
		return DefaultSyncTimeout
	}
	return time.Duration(t.TimeoutMs) * time.Millisecond
}

func (st Step) backoff(attempt int) time.Duration {
	base := DefaultRetryBackoff
	if st.RetryBackoffMs > 0 {
		base = time.Duration(st.RetryBackoffMs) * time.Millisecond
	}
	d := base
	for i := 1; i < attempt && d < MaxRetryBackoff; i++ {
		d *= 2
	}
	return min(d, MaxRetryBackoff)
}
