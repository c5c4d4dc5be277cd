package builtin

import (
	"time"

	"github.com/switchboard/switchboard/internal/schedspec"
)

// Cron is a parsed cron expression (see package schedspec: five fields, or
// six with seconds first, in Vixie semantics; day-of-week 0–7; @hourly,
// @daily, @weekly, @monthly and @yearly).
type Cron struct{ spec schedspec.Spec }

// ParseCron parses a cron expression.
func ParseCron(expr string) (Cron, error) {
	s, err := schedspec.ParseCron(expr, time.UTC)
	return Cron{s}, err
}

// Next returns the first tick strictly after t, in loc; the zero time if
// there is none within five years (e.g. 30 February).
func (c Cron) Next(t time.Time, loc *time.Location) time.Time {
	return c.spec.In(loc).Next(t)
}

// MinGap is the smallest gap between two ticks.
func (c Cron) MinGap() time.Duration { return c.spec.MinGap() }
