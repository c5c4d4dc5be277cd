package workflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/expr-lang/expr/vm"
	"github.com/jmespath/go-jmespath"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/jsrun"
	"github.com/switchboard/switchboard/internal/schedspec"
)

// Refs checks a definition's references against the workspace: plugin
// steps name an installation of the workspace or a built-in plugin that
// can be a workflow step (config is checked against its schema when it has
// no placeholders), gateway steps a gateway of the workspace.
type Refs interface {
	CheckPlugin(ctx context.Context, a actor.Actor, installationID, slug string, config json.RawMessage) error
	CheckGateway(ctx context.Context, a actor.Actor, gatewayID string) error
}

// compiled is a definition ready to run: every expression compiled once.
// Versions are immutable, so a compiled version is cached by its id.
type compiled struct {
	def Definition
	// pinned are a test run's step outputs taken instead of running the
	// steps (studiotest.go).
	pinned map[string]json.RawMessage
	steps  map[string]*cstep
	filter *vm.Program
	sched  schedspec.Spec
}

type cstep struct {
	Step
	plugin       PluginConfig
	pluginInput  *template
	pluginConfig *template
	gateway      GatewayConfig
	chat, text   *template
	cond         *vm.Program
	jp           *jmespath.JMESPath
	delay        DelayConfig
	until        *template
	code         *jsrun.Program
	reply        *replyStep
	fan          *fanConfig
}

var stepIDPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]{0,63}$`)

// problems collects the field errors of a definition.
type problems []apperr.FieldError

func (p *problems) add(field, format string, args ...any) {
	if len(*p) < 50 {
		*p = append(*p, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
}

// decodeDefinition reads a definition strictly (unknown fields are
// mistakes worth reporting).
func decodeDefinition(raw json.RawMessage) (Definition, error) {
	if len(raw) > MaxDefinitionBytes {
		return Definition{}, apperr.Invalid(apperr.FieldError{Field: "definition", Message: fmt.Sprintf("must encode to at most %d bytes", MaxDefinitionBytes)})
	}
	var d Definition
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Definition{}, apperr.Invalid(apperr.FieldError{Field: "definition", Message: strings.TrimPrefix(err.Error(), "json: ")})
	}
	return d, nil
}

func strictConfig(raw json.RawMessage, v any) error {
	if len(raw) == 0 || string(raw) == "null" {
		raw = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// compile validates d and compiles its expressions. With refs it also
// checks references against a's workspace (at save time); without, it
// trusts them (a stored version being loaded to run).
func compile(ctx context.Context, a actor.Actor, d Definition, refs Refs) (*compiled, error) {
	var p problems
	c := &compiled{def: d, steps: map[string]*cstep{}}
	c.compileTrigger(ctx, a, refs, &p)
	if len(d.Steps) == 0 {
		p.add("definition.steps", "needs at least one step")
	}
	if len(d.Steps) > MaxStepsPerWorkflow {
		p.add("definition.steps", "may have at most %d steps", MaxStepsPerWorkflow)
	}
	for i, st := range d.Steps {
		f := fmt.Sprintf("definition.steps[%d]", i)
		if !stepIDPattern.MatchString(st.ID) {
			p.add(f+".id", "must start with a letter and use only letters, digits, - and _ (at most 64)")
			continue
		}
		if _, dup := c.steps[st.ID]; dup {
			p.add(f+".id", "%q is used by another step", st.ID)
			continue
		}
		cs := &cstep{Step: st}
		c.steps[st.ID] = cs
		cs.compileStep(ctx, a, refs, f, &p)
	}
	if d.StartStepID == "" {
		p.add("definition.startStepId", "is required")
	} else if _, ok := c.steps[d.StartStepID]; !ok && len(d.Steps) > 0 {
		p.add("definition.startStepId", "names no step (%q)", d.StartStepID)
	}
	for i, st := range d.Steps {
		f := fmt.Sprintf("definition.steps[%d]", i)
		if st.NextStepID != "" {
			if _, ok := c.steps[st.NextStepID]; !ok {
				p.add(f+".nextStepId", "names no step (%q)", st.NextStepID)
			}
		}
		for k, target := range st.ConditionalNext {
			if _, ok := c.steps[target]; !ok && target != "" {
				p.add(f+".conditionalNext."+k, "names no step (%q)", target)
			}
		}
		checkErrorLink(c, st, f, &p)
	}
	c.checkReplies(&p)
	c.checkFanGraph(&p)
	if outOfRange(d.Settings.TimeoutSeconds, time.Second, MaxRunTimeout) {
		p.add("definition.settings.timeoutSeconds", "must be from 1 to %d (0: the default, %d)", int64(MaxRunTimeout/time.Second), int64(DefaultRunTimeout/time.Second))
	}
	if d.Settings.MaxSteps < 0 || d.Settings.MaxSteps > MaxStepBudget {
		p.add("definition.settings.maxSteps", "must be from 1 to %d (0: the default, %d)", MaxStepBudget, DefaultStepBudget)
	}
	if len(p) > 0 {
		return nil, apperr.Invalid(p...)
	}
	return c, nil
}

func (c *compiled) compileTrigger(ctx context.Context, a actor.Actor, refs Refs, p *problems) {
	t := c.def.Trigger
	f := "definition.trigger"
	if t.Type != TriggerSchedule && (t.Cron != "" || t.Timezone != "" || t.Interval != "") {
		p.add(f+".cron", "applies only to schedule triggers")
	}
	if t.Type != TriggerEvent && (len(t.GatewayIDs) > 0 || t.Filter != "") {
		p.add(f+".gatewayIds", "applies only to event triggers")
	}
	if t.Type != TriggerWebhook && (t.Mode != "" || t.TimeoutMs != 0) {
		p.add(f+".mode", "applies only to webhook triggers")
	}
	if t.Type != TriggerWebhook && t.DedupeHeader != "" {
		p.add(f+".dedupeHeader", "applies only to webhook triggers")
	}
	compileVerify(t, f, p)
	switch t.Type {
	case TriggerManual:
	case TriggerSchedule:
		c.compileSchedule(a, refs != nil, f, p)
	case TriggerEvent:
		if len(t.GatewayIDs) > 20 {
			p.add(f+".gatewayIds", "may list at most 20 gateways")
		}
		for i, g := range t.GatewayIDs {
			if !ids.Valid(ids.Gateway, g) {
				p.add(fmt.Sprintf("%s.gatewayIds[%d]", f, i), "is not a gateway id")
			} else if refs != nil {
				if err := refs.CheckGateway(ctx, a, g); err != nil {
					p.add(fmt.Sprintf("%s.gatewayIds[%d]", f, i), "%s", refMessage(err, "gateway"))
				}
			}
		}
		if t.Filter != "" {
			prog, err := compileExpr(t.Filter)
			if err != nil {
				p.add(f+".filter", "%v", err)
			}
			c.filter = prog
		}
	case TriggerWebhook:
		switch t.Mode {
		case "", "async", "sync":
		default:
			p.add(f+".mode", `must be "async" or "sync"`)
		}
		if outOfRange(t.TimeoutMs, time.Millisecond, MaxSyncTimeout) {
			p.add(f+".timeoutMs", "must be from 1 to %d (0: the default, %d)", MaxSyncTimeout.Milliseconds(), DefaultSyncTimeout.Milliseconds())
		}
		if t.DedupeHeader != "" {
			if msg := checkDedupeHeader(t.DedupeHeader); msg != "" {
				p.add(f+".dedupeHeader", "%s", msg)
			}
		}
	case "":
		p.add(f+".type", "is required: manual, schedule, event or webhook")
	default:
		p.add(f+".type", "%q is not a trigger: manual, schedule, event or webhook", t.Type)
	}
}

// checkDedupeHeader accepts an HTTP header name (an RFC 9110 token of at
// most 100 characters) that a webhook's run can see: credentials are never
// passed to runs, so they cannot name deliveries either.
func checkDedupeHeader(h string) string {
	if len(h) > 100 {
		return "must be at most 100 characters"
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return fmt.Sprintf("%q is not a header name", h)
		}
	}
	switch strings.ToLower(h) {
	case "authorization", "cookie", "proxy-authorization", "x-api-key":
		return "a credential header cannot name deliveries; use one like X-GitHub-Delivery"
	}
	return ""
}

func refMessage(err error, what string) string {
	if apperr.Is(err, apperr.NotFound) {
		return "names no " + what + " of this workspace"
	}
	var ae *apperr.Error
	if errors.As(err, &ae) && ae.Code != apperr.Internal {
		return ae.Message
	}
	// Never an internal cause in a client's validation error.
	return "could not be checked; try again"
}

func (cs *cstep) compileStep(ctx context.Context, a actor.Actor, refs Refs, f string, p *problems) {
	st := cs.Step
	if len(st.Name) > 200 {
		p.add(f+".name", "must be at most 200 characters")
	}
	switch st.OnError {
	case "", OnErrorStop, OnErrorContinue:
		if st.RetryCount != 0 {
			p.add(f+".retryCount", `applies only with onError "retry"`)
		}
	case OnErrorRetry:
		if st.RetryCount < 1 || st.RetryCount > MaxRetryCount {
			p.add(f+".retryCount", "must be from 1 to %d with onError \"retry\"", MaxRetryCount)
		}
	default:
		p.add(f+".onError", `must be "stop", "continue" or "retry"`)
	}
	if outOfRange(st.RetryBackoffMs, time.Millisecond, MaxRetryBackoff) {
		p.add(f+".retryBackoffMs", "must be from 0 to %d", MaxRetryBackoff.Milliseconds())
	}
	if st.Type != StepCondition && st.Type != StepWaitForReply && len(st.ConditionalNext) > 0 {
		p.add(f+".conditionalNext", "applies only to condition steps (use nextStepId)")
	}
	cf := f + ".config"
	switch st.Type {
	case StepPlugin:
		if err := strictConfig(st.Config, &cs.plugin); err != nil {
			p.add(cf, "%v", err)
			return
		}
		pc := cs.plugin
		switch {
		case (pc.InstallationID == "") == (pc.Plugin == ""):
			p.add(cf, "names either an installationId or a built-in plugin")
			return
		case pc.InstallationID != "" && len(pc.Config) > 0 && string(pc.Config) != "null":
			p.add(cf+".config", "is the installation's own; set config only with a built-in plugin")
		case pc.InstallationID != "" && !ids.Valid(ids.Installation, pc.InstallationID):
			p.add(cf+".installationId", "is not an installation id")
			return
		}
		if outOfRange(pc.TimeoutMs, time.Millisecond, MaxPluginTimeout) {
			p.add(cf+".timeoutMs", "must be from 1 to %d (0: the default, %d)", MaxPluginTimeout.Milliseconds(), DefaultPluginTimeout.Milliseconds())
		}
		var err error
		if cs.pluginInput, err = compileTemplate(pc.Input); err != nil {
			p.add(cf+".input", "%v", err)
		}
		if cs.pluginConfig, err = compileTemplate(pc.Config); err != nil {
			p.add(cf+".config", "%v", err)
		}
		if refs != nil && err == nil {
			static := pc.Config
			switch {
			case cs.pluginConfig != nil && len(cs.pluginConfig.progs) > 0:
				static = nil // known only when the step runs
			case pc.Plugin != "" && (len(static) == 0 || string(static) == "null"):
				// A built-in runs with {} when the step sets no config:
				// check that, so a required setting is missed at save time.
				static = json.RawMessage("{}")
			}
			if err := refs.CheckPlugin(ctx, a, pc.InstallationID, pc.Plugin, static); err != nil {
				field, msg := cf+".plugin", refMessage(err, "installation")
				switch {
				case pc.InstallationID != "":
					field = cf + ".installationId"
				case apperr.Is(err, apperr.NotFound):
					msg = fmt.Sprintf("names no built-in plugin (%q)", pc.Plugin)
				}
				if rest, ok := strings.CutPrefix(msg, "config: "); ok && pc.Plugin != "" {
					field, msg = cf+".config", rest
				}
				p.add(field, "%s", msg)
			}
		}
	case StepGateway:
		if err := strictConfig(st.Config, &cs.gateway); err != nil {
			p.add(cf, "%v", err)
			return
		}
		g := cs.gateway
		if !ids.Valid(ids.Gateway, g.GatewayID) {
			p.add(cf+".gatewayId", "is not a gateway id")
		} else if refs != nil {
			if err := refs.CheckGateway(ctx, a, g.GatewayID); err != nil {
				p.add(cf+".gatewayId", "%s", refMessage(err, "gateway"))
			}
		}
		if strings.TrimSpace(g.Text) == "" {
			p.add(cf+".text", "is required")
		}
		var err error
		if cs.chat, err = stringTemplate(g.ChatID); err != nil {
			p.add(cf+".chatId", "%v", err)
		}
		if cs.text, err = stringTemplate(g.Text); err != nil {
			p.add(cf+".text", "%v", err)
		}
	case StepCondition:
		var cc ConditionConfig
		if err := strictConfig(st.Config, &cc); err != nil {
			p.add(cf, "%v", err)
			return
		}
		prog, err := compileExpr(cc.Expression)
		if err != nil {
			p.add(cf+".expression", "%v", err)
		}
		cs.cond = prog
		if st.NextStepID != "" {
			p.add(f+".nextStepId", "a condition continues through conditionalNext.true / .false")
		}
		for k := range st.ConditionalNext {
			if k != "true" && k != "false" {
				p.add(f+".conditionalNext", `has only "true" and "false" branches (not %q)`, k)
			}
		}
	case StepTransform:
		var tc TransformConfig
		if err := strictConfig(st.Config, &tc); err != nil {
			p.add(cf, "%v", err)
			return
		}
		jp, err := compileJMESPath(tc.Expression)
		if err != nil {
			p.add(cf+".expression", "%v", err)
		}
		cs.jp = jp
	case StepDelay:
		if err := strictConfig(st.Config, &cs.delay); err != nil {
			p.add(cf, "%v", err)
			return
		}
		dc := cs.delay
		switch {
		case (dc.Seconds == 0) == (dc.Until == ""):
			p.add(cf, "needs either seconds or until")
		case outOfRange(dc.Seconds, time.Second, MaxDelay):
			p.add(cf+".seconds", "must be from 1 to %d", int64(MaxDelay/time.Second))
		case dc.Until != "":
			var err error
			if cs.until, err = stringTemplate(dc.Until); err != nil {
				p.add(cf+".until", "%v", err)
			}
		}
	case StepCode:
		cs.compileCode(cf, p)
	case StepWaitForReply:
		cs.compileReply(ctx, a, refs, f, p)
	case StepForEach, StepParallel, StepMerge, StepSubWorkflow:
		cs.compileFan(f, p)
	case "":
		p.add(f+".type", "is required: %s", stepTypeList())
	default:
		p.add(f+".type", "%q is not a step type: %s", st.Type, stepTypeList())
	}
}

func stringTemplate(s string) (*template, error) {
	raw, _ := json.Marshal(s)
	return compileTemplate(raw)
}

// cache holds compiled versions by version id. Versions never change, so
// entries never go stale; the cache only bounds its size.
type cache struct {
	mu sync.Mutex
	m  map[string]*compiled
}

const cacheSize = 2048

func (c *cache) get(id string) *compiled {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *cache) put(id string, v *compiled) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= cacheSize {
		c.m = make(map[string]*compiled, 64)
	}
	c.m[id] = v
}

// outOfRange reports whether v units fall outside [0, max]. It compares in
// the field's own unit: multiplying first would wrap a huge value around
// int64 into a small or negative duration that passes the check.
func outOfRange(v int64, unit, max time.Duration) bool {
	return v < 0 || v > int64(max/unit)
}
