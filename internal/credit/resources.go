package credit

import "github.com/switchboard/switchboard/internal/actor"

// CountedResource is a kind of resource whose count a plan caps and whose
// own package enforces the cap (event subscriptions): the usage report
// shows it beside gateways and plugins, flagged when a downgrade left more
// of it than the plan allows.
type CountedResource struct {
	// Metric names it in the report and in a PLAN_LIMIT_EXCEEDED answer's
	// details.
	Metric string
	// Limit is the plan's cap (actor.Unlimited for none).
	Limit func(actor.Plan) int64
	Count CountFunc
}

// RegisterResource adds r to the usage report.
func (l *Limits) RegisterResource(r CountedResource) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.resources = append(l.resources, r)
}
