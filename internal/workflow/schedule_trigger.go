package workflow

import (
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/schedspec"
)

// Schedule triggers: a cron expression (five fields, or six with seconds
// first) read in `timezone`, or a fixed `interval` ("30s", "5m"; ticks are
// multiples of it since the Unix epoch). The gap between two fire times
// may not be under the plan's minimum (schedspec.MinInterval): checked at
// save; a workspace whose plan is lowered later keeps its schedules, and a
// tick that comes sooner than the new minimum after the last fired one is
// skipped (see nextFire).

// scheduleFields names the inputs of a schedule in the errors of
// parseSchedule: a definition's trigger fields or the preview's query.
type scheduleFields struct{ cron, timezone, interval string }

// parseSchedule reads a schedule; with checkPlan it also refuses one that
// fires more often than plan allows.
func parseSchedule(cron, tz, interval string, plan actor.Plan, checkPlan bool, f scheduleFields) (schedspec.Spec, []apperr.FieldError) {
	var errs []apperr.FieldError
	add := func(field, msg string) { errs = append(errs, apperr.FieldError{Field: field, Message: msg}) }
	var spec schedspec.Spec
	switch {
	case cron != "" && interval != "":
		add(f.interval, "give either a cron expression or an interval, not both")
	case interval != "":
		d, err := schedspec.ParseInterval(interval)
		if err != nil {
			add(f.interval, err.Error())
		} else {
			spec = schedspec.Every(d)
		}
		if tz != "" {
			add(f.timezone, "applies only to cron schedules (intervals count elapsed time)")
		}
	case cron == "":
		add(f.cron, "is required: a cron expression (or give an interval)")
	default:
		loc, err := schedspec.Load(tz)
		if err != nil {
			add(f.timezone, err.Error())
			loc = time.UTC
		}
		s, err := schedspec.ParseCron(cron, loc)
		if err != nil {
			add(f.cron, err.Error())
		} else {
			spec = s
		}
	}
	if checkPlan && !spec.IsZero() {
		if err := spec.CheckPlan(plan); err != nil {
			field := f.cron
			if spec.Interval() > 0 {
				field = f.interval
			}
			add(field, err.Error())
		}
	}
	return spec, errs
}

// compileSchedule reads a schedule trigger; atSave applies the plan's
// minimum (a stored version loaded to run is not refused after a plan
// change: nextFire spaces its ticks instead).
func (c *compiled) compileSchedule(a actor.Actor, atSave bool, f string, p *problems) {
	t := c.def.Trigger
	spec, errs := parseSchedule(t.Cron, t.Timezone, t.Interval, a.Plan, atSave,
		scheduleFields{cron: f + ".cron", timezone: f + ".timezone", interval: f + ".interval"})
	for _, e := range errs {
		p.add(e.Field, "%s", e.Message)
	}
	c.sched = spec
}

// nextFire is the tick after the one fired at tick, seen at now: the first
// one after now (missed ticks are not replayed), and no sooner than the
// plan's minimum gap after tick — so a workspace moved to a plan with a
// larger minimum has its closer ticks skipped.
func nextFire(spec schedspec.Spec, tick, now time.Time, plan actor.Plan) time.Time {
	from := tick.Add(schedspec.MinInterval(plan) - time.Nanosecond)
	if now.After(from) {
		from = now
	}
	return spec.Next(from)
}

// SchedulePreview is the next fire times of a schedule.
type SchedulePreview struct {
	// Next is the next five fire times, in UTC.
	Next []time.Time `json:"next"`
	// Timezone the cron expression is read in (UTC for intervals).
	Timezone string `json:"timezone"`
	// MinGapSeconds is the smallest gap between two fire times (capped at
	// a day); MinIntervalSeconds the plan's minimum.
	MinGapSeconds      int64 `json:"minGapSeconds"`
	MinIntervalSeconds int64 `json:"minIntervalSeconds"`
}

// PreviewSchedule computes the next five fire times of a schedule as the
// sweep will, refusing what a save would refuse (the plan's minimum too).
func (s *Service) PreviewSchedule(a actor.Actor, cron, tz, interval string) (SchedulePreview, error) {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return SchedulePreview{}, err
	}
	spec, errs := parseSchedule(cron, tz, interval, a.Plan, true, scheduleFields{cron: "cron", timezone: "tz", interval: "interval"})
	if len(errs) > 0 {
		return SchedulePreview{}, apperr.Invalid(errs...)
	}
	return SchedulePreview{Next: spec.NextN(s.scheduleNow(), 5), Timezone: spec.Location().String(),
		MinGapSeconds: int64(spec.MinGap() / time.Second), MinIntervalSeconds: int64(schedspec.MinInterval(a.Plan) / time.Second)}, nil
}

// SetScheduleClock makes the schedule sweeps read the time from now (call
// before Start): tests drive ticks of every second with it.
func (s *Service) SetScheduleClock(now func() time.Time) { s.schedNow = now }

func (s *Service) scheduleNow() time.Time {
	if s.schedNow != nil {
		return s.schedNow().UTC().Truncate(time.Microsecond)
	}
	return s.now()
}
