package credit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// UsageItem is one metric against its limit. Limit is -1 for unlimited;
// Used is null for a counted resource whose package has not registered a
// counter yet.
type UsageItem struct {
	Metric  string `json:"metric"`
	Unit    string `json:"unit"`
	Used    *int64 `json:"used"`
	Limit   int64  `json:"limit"`
	Overage int64  `json:"overage"`
	// Exceeded is true when more is used than the plan allows, as after a
	// downgrade: nothing is deleted, but no more can be created or used
	// until usage is back under the limit (or paid as overage).
	Exceeded bool       `json:"exceeded"`
	Period   string     `json:"period,omitempty"`
	ResetsAt *time.Time `json:"resetsAt,omitempty"`
}

// UsageReport is GET /api/v1/usage.
type UsageReport struct {
	WorkspaceID    string       `json:"workspaceId"`
	Plan           actor.Plan   `json:"plan"`
	Limits         actor.Limits `json:"limits"`
	OverageEnabled bool         `json:"overageEnabled"`
	Items          []UsageItem  `json:"items"`
}

// Usage reports the actor's workspace usage against its plan (credits:read).
func (l *Limits) Usage(ctx context.Context, a actor.Actor) (UsageReport, error) {
	if !a.System && !a.Can(actor.PermCreditsRead) {
		return UsageReport{}, apperr.New(apperr.Forbidden, "you lack %s", actor.PermCreditsRead)
	}
	ws := a.WorkspaceID()
	q := l.db.Read()
	lim, ok := actor.PlanLimits[a.Plan]
	if !ok {
		lim = actor.PlanLimits[actor.Free]
	}
	b, err := l.credits.balanceOf(ctx, q, ws)
	if err != nil {
		return UsageReport{}, err
	}
	rep := UsageReport{WorkspaceID: ws, Plan: a.Plan, Limits: lim, OverageEnabled: b.Settings.OverageEnabled, Items: []UsageItem{}}
	now := l.now()
	for _, item := range []struct {
		action actor.Action
		unit   string
	}{{actor.ActionExecute, "executions per UTC day"}, {actor.ActionAITokens, "AI tokens per calendar month"}, {actor.ActionStorage, "bytes"}} {
		m := meteredActions[item.action]
		period, resets := m.period(now)
		var used, over int64
		err := db.Scope(q, ws).QueryRowContext(ctx, `SELECT used, overage FROM usage_counters WHERE workspace_id = $1 AND metric = $2 AND period = $3`,
			m.metric, period).Scan(&used, &over)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return UsageReport{}, fmt.Errorf("read %s: %w", m.metric, err)
		}
		if item.action == actor.ActionExecute {
			// Blocks leased by nodes and not spent yet are not used.
			unspent, err := leasedUnspent(ctx, q, ws, m.metric, period)
			if err != nil {
				return UsageReport{}, fmt.Errorf("read %s leases: %w", m.metric, err)
			}
			// This node's spending since its last checkpoint is not in
			// the rows yet.
			used = max(0, used-unspent+l.leases.unflushed(leaseKey{ws, m.metric, period}))
		}
		limit := a.Plan.Limit(item.action)
		if limit != actor.Unlimited {
			limit *= m.scale
		}
		ui := UsageItem{Metric: m.metric, Unit: item.unit, Used: &used, Limit: limit, Overage: over, Exceeded: exceeds(used, limit)}
		if !resets.IsZero() {
			ui.Period, ui.ResetsAt = period, &resets
		}
		rep.Items = append(rep.Items, ui)
	}
	l.mu.RLock()
	counters := map[actor.Action]CountFunc{}
	for k, v := range l.counters {
		counters[k] = v
	}
	resources := l.resources
	l.mu.RUnlock()
	for _, item := range []struct {
		action actor.Action
		metric string
	}{{actor.ActionCreateGateway, "gateways"}, {actor.ActionInstallPlugin, "plugins"}} {
		ui := UsageItem{Metric: item.metric, Unit: item.metric, Limit: a.Plan.Limit(item.action)}
		if f := counters[item.action]; f != nil {
			n, err := f(ctx, q, ws)
			if err != nil {
				return UsageReport{}, fmt.Errorf("count %s: %w", item.metric, err)
			}
			ui.Used, ui.Exceeded = &n, exceeds(n, ui.Limit)
		}
		rep.Items = append(rep.Items, ui)
	}
	for _, r := range resources {
		n, err := r.Count(ctx, q, ws)
		if err != nil {
			return UsageReport{}, fmt.Errorf("count %s: %w", r.Metric, err)
		}
		limit := r.Limit(a.Plan)
		rep.Items = append(rep.Items, UsageItem{Metric: r.Metric, Unit: r.Metric, Used: &n, Limit: limit, Exceeded: exceeds(n, limit)})
	}
	return rep, nil
}

// exceeds reports usage beyond a limit, as a downgrade leaves it.
func exceeds(used, limit int64) bool { return limit != actor.Unlimited && used > limit }
