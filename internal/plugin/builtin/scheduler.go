package builtin

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/plugin"
)

// Scheduler sends messages through a gateway of the workspace on cron
// schedules. The sending is done by the periodic sweep in package
// plugin/schedule; executing the plugin standalone previews the next
// ticks of each schedule.
type Scheduler struct{}

// MaxSchedules bounds the schedules of one installation.
const MaxSchedules = 20

var (
	schedulerInput  = plugin.MustSchema(`{"type": "object", "properties": {"count": {"type": "integer", "minimum": 1, "maximum": 20}}, "additionalProperties": false}`)
	schedulerOutput = plugin.MustSchema(`{"type": "object", "properties": {"schedules": {"type": "array"}}, "required": ["schedules"]}`)
	schedulerConfig = plugin.MustSchema(`{
		"type": "object",
		"properties": {
			"schedules": {"type": "array", "maxItems": 20, "items": {
				"type": "object",
				"properties": {
					"name": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"},
					"cron": {"type": "string", "minLength": 1, "maxLength": 200},
					"timezone": {"type": "string", "maxLength": 64},
					"gatewayId": {"type": "string", "minLength": 1, "maxLength": 64},
					"chatId": {"type": "string", "maxLength": 200},
					"text": {"type": "string", "minLength": 1, "maxLength": 4000}
				},
				"required": ["name", "cron", "gatewayId", "text"],
				"additionalProperties": false
			}}
		},
		"required": ["schedules"],
		"additionalProperties": false
	}`)
)

// NewScheduler returns the catalog entry of the scheduler built-in.
func NewScheduler() plugin.Builtin {
	return plugin.Builtin{Runner: Scheduler{}, Name: "Scheduler",
		Description: "Sends messages through a gateway on cron schedules (5-field cron with a time zone)."}
}

func (Scheduler) Slug() string                 { return "scheduler" }
func (Scheduler) Version() string              { return "1.0.0" }
func (Scheduler) InputSchema() *plugin.Schema  { return schedulerInput }
func (Scheduler) OutputSchema() *plugin.Schema { return schedulerOutput }
func (Scheduler) ConfigSchema() *plugin.Schema { return schedulerConfig }
func (Scheduler) CanBeWorkflowStep() bool      { return false }

// Schedule is one cron-scheduled send.
type Schedule struct {
	Name      string `json:"name"`
	Cron      string `json:"cron"`
	Timezone  string `json:"timezone,omitempty"`
	GatewayID string `json:"gatewayId"`
	ChatID    string `json:"chatId,omitempty"`
	Text      string `json:"text"`

	Expr     Cron           `json:"-"`
	Location *time.Location `json:"-"`
}

// ParseSchedules reads and checks a scheduler config.
func ParseSchedules(raw json.RawMessage) ([]Schedule, error) {
	var cfg struct {
		Schedules []Schedule `json:"schedules"`
	}
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if len(cfg.Schedules) > MaxSchedules {
		return nil, fmt.Errorf("config: at most %d schedules", MaxSchedules)
	}
	seen := map[string]bool{}
	for i := range cfg.Schedules {
		s := &cfg.Schedules[i]
		if seen[s.Name] {
			return nil, fmt.Errorf("schedule %q: names must be unique", s.Name)
		}
		seen[s.Name] = true
		var err error
		if s.Expr, err = ParseCron(s.Cron); err != nil {
			return nil, fmt.Errorf("schedule %q: %w", s.Name, err)
		}
		tz := s.Timezone
		if tz == "" {
			tz = "UTC"
		}
		if s.Location, err = time.LoadLocation(tz); err != nil {
			return nil, fmt.Errorf("schedule %q: unknown time zone %q", s.Name, s.Timezone)
		}
		if s.Expr.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), s.Location).IsZero() {
			return nil, fmt.Errorf("schedule %q: %q never fires", s.Name, s.Cron)
		}
		// The scheduler's sweep runs every 30 s: a finer schedule could not
		// keep its promise.
		if g := s.Expr.MinGap(); g < time.Minute {
			return nil, fmt.Errorf("schedule %q: %q fires every %s at the closest; the scheduler plugin sends at most once a minute", s.Name, s.Cron, g)
		}
	}
	return cfg.Schedules, nil
}

// ValidateConfig parses every cron expression and time zone.
func (Scheduler) ValidateConfig(raw json.RawMessage) error {
	_, err := ParseSchedules(raw)
	return err
}

// Execute previews the next ticks of each schedule.
func (Scheduler) Execute(_ context.Context, ec plugin.ExecutionContext, input json.RawMessage) plugin.ExecutionResult {
	var in struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		return plugin.Failed("input: " + err.Error())
	}
	if in.Count == 0 {
		in.Count = 3
	}
	scheds, err := ParseSchedules(ec.Config)
	if err != nil {
		return plugin.Failed(err.Error())
	}
	type preview struct {
		Name string      `json:"name"`
		Next []time.Time `json:"next"`
	}
	out := []preview{}
	for _, s := range scheds {
		p := preview{Name: s.Name, Next: []time.Time{}}
		t := ec.Now
		for i := 0; i < in.Count; i++ {
			if t = s.Expr.Next(t, s.Location); t.IsZero() {
				break
			}
			p.Next = append(p.Next, t)
		}
		out = append(out, p)
	}
	b, err := json.Marshal(map[string]any{"schedules": out})
	if err != nil {
		return plugin.Failed("encode output: " + err.Error())
	}
	return plugin.ExecutionResult{Success: true, Output: b}
}

// ConfigGateways lists the gateway of each schedule, to be checked against
// the installing workspace.
func (Scheduler) ConfigGateways(raw json.RawMessage) []plugin.ConfigRef {
	var cfg struct {
		Schedules []struct {
			GatewayID string `json:"gatewayId"`
		} `json:"schedules"`
	}
	if json.Unmarshal(raw, &cfg) != nil {
		return nil
	}
	refs := make([]plugin.ConfigRef, 0, len(cfg.Schedules))
	for i, s := range cfg.Schedules {
		refs = append(refs, plugin.ConfigRef{Field: fmt.Sprintf("config.schedules[%d].gatewayId", i), ID: s.GatewayID})
	}
	return refs
}
