// Package schedspec is the one reading of a schedule in Switchboard: a cron
// expression (five fields, or six with seconds first) in an IANA time zone,
// or a fixed interval. Cron is parsed by github.com/robfig/cron/v3; this
// package adds what the platform promises on top of it: Vixie cron's
// day-of-week 7 and `*/n` day semantics (the five-field behaviour the
// hand-written parser had), one fire per wall-clock time across daylight
// saving changes, the smallest gap between fire times, and the minimum gap
// each plan allows.
package schedspec

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/switchboard/switchboard/internal/actor"
)

// Spec is a parsed schedule. The zero Spec never fires.
type Spec struct {
	cron  *cron.SpecSchedule // nil for an interval
	every time.Duration
	loc   *time.Location
	text  string
}

// MaxInterval bounds a fixed interval.
const MaxInterval = 366 * 24 * time.Hour

const starBit = 1 << 63

var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

var dowPart = regexp.MustCompile(`^(\d+)(?:-(\d+))?(?:/(\d+))?$`)

// ParseCron parses a five-field (minute hour day-of-month month
// day-of-week) or six-field (second first) expression, or one of @hourly,
// @daily, @midnight, @weekly, @monthly, @yearly, @annually, evaluated in
// loc (nil: UTC).
func ParseCron(expr string, loc *time.Location) (Spec, error) {
	if loc == nil {
		loc = time.UTC
	}
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return Spec{}, errors.New("cron: is empty")
	}
	if strings.Contains(expr, "TZ=") {
		return Spec{}, fmt.Errorf("cron %q: give the time zone in its own field, not in the expression", expr)
	}
	var dowField string
	var domStar, dowStar bool
	if strings.HasPrefix(expr, "@") {
		if strings.HasPrefix(strings.ToLower(expr), "@every") {
			return Spec{}, fmt.Errorf("cron %q: use an interval for fixed intervals", expr)
		}
		expr = strings.ToLower(expr)
	} else {
		f := strings.Fields(expr)
		if len(f) != 5 && len(f) != 6 {
			return Spec{}, fmt.Errorf("cron %q: want 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got %d", expr, len(f))
		}
		// Day of week 7 is Sunday too, as in Vixie cron; robfig stops at 6.
		dowField = f[len(f)-1]
		f[len(f)-1] = "*"
		domStar = strings.HasPrefix(f[len(f)-3], "*") || strings.HasPrefix(f[len(f)-3], "?")
		dowStar = strings.HasPrefix(dowField, "*") || strings.HasPrefix(dowField, "?")
		expr = strings.Join(f, " ")
	}
	sched, err := parser.Parse(expr)
	if err != nil {
		return Spec{}, fmt.Errorf("cron %q: %v", expr, err)
	}
	spec, ok := sched.(*cron.SpecSchedule)
	if !ok {
		return Spec{}, fmt.Errorf("cron %q: not a calendar expression", expr)
	}
	if dowField != "" {
		dow, err := parseDow(dowField)
		if err != nil {
			return Spec{}, err
		}
		spec.Dow = dow
		// Vixie cron: a day field written with `*` (also `*/n`) does not
		// widen the other one; both restricted, a day matching either runs.
		spec.Dom &^= starBit
		if domStar {
			spec.Dom |= starBit
		}
		if dowStar {
			spec.Dow |= starBit
		}
	}
	spec.Location = loc
	s := Spec{cron: spec, loc: loc, text: expr}
	if s.Next(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)).IsZero() {
		return Spec{}, fmt.Errorf("cron %q: never fires", expr)
	}
	return s, nil
}

var dowNames = strings.NewReplacer("sun", "0", "mon", "1", "tue", "2", "wed", "3", "thu", "4", "fri", "5", "sat", "6")

// parseDow reads a day-of-week field, 0–7 (0 and 7 are Sunday) or names.
func parseDow(field string) (uint64, error) {
	var bits uint64
	for _, part := range strings.Split(dowNames.Replace(strings.ToLower(field)), ",") {
		lo, hi, step := 0, 7, 1
		rng, stepStr, hasStep := strings.Cut(part, "/")
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 || n > 7 {
				return 0, fmt.Errorf("cron day of week: bad step %q", part)
			}
			step = n
		}
		switch {
		case rng == "*" || rng == "?":
		default:
			m := dowPart.FindStringSubmatch(rng)
			if m == nil || m[3] != "" {
				return 0, fmt.Errorf("cron day of week: bad value %q", part)
			}
			lo, _ = strconv.Atoi(m[1])
			hi = lo
			if m[2] != "" {
				hi, _ = strconv.Atoi(m[2])
			} else if hasStep {
				hi = 7
			}
			if lo > hi {
				return 0, fmt.Errorf("cron day of week: bad range %q", part)
			}
			if hi > 7 {
				return 0, fmt.Errorf("cron day of week: %q is outside 0-7", part)
			}
		}
		for v := lo; v <= hi; v += step {
			bits |= 1 << uint(v%7)
		}
	}
	return bits, nil
}

// ParseInterval reads a fixed interval: a Go duration of whole seconds
// ("30s", "5m", "1h30m") or a number of seconds.
func ParseInterval(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err != nil {
		n, nerr := strconv.ParseInt(s, 10, 64)
		if nerr != nil {
			return 0, fmt.Errorf("interval %q: want a duration such as \"30s\", \"5m\" or \"1h\"", s)
		}
		// Bounded before multiplying: a count of seconds far out of
		// range wraps around into any duration, a minute included.
		switch {
		case n < 1:
			d = 0
		case n > int64(MaxInterval/time.Second):
			d = MaxInterval + time.Second
		default:
			d = time.Duration(n) * time.Second
		}
	}
	if d < time.Second || d%time.Second != 0 {
		return 0, fmt.Errorf("interval %q: must be a whole number of seconds, at least 1s", s)
	}
	if d > MaxInterval {
		return 0, fmt.Errorf("interval %q: must be at most %s", s, MaxInterval)
	}
	return d, nil
}

// Every is a fixed interval. Its ticks are the multiples of d since the
// Unix epoch, so they do not depend on when it was saved ("1h" fires on
// the hour, UTC) and do not move with daylight saving time.
func Every(d time.Duration) Spec {
	return Spec{every: d, loc: time.UTC, text: d.String()}
}

// IsZero reports whether s was never parsed.
func (s Spec) IsZero() bool { return s.cron == nil && s.every == 0 }

// Interval is s's fixed interval, or 0 for a cron expression.
func (s Spec) Interval() time.Duration { return s.every }

// Location is the time zone a cron expression is read in.
func (s Spec) Location() *time.Location { return s.loc }

// In returns s read in another time zone (intervals ignore it).
func (s Spec) In(loc *time.Location) Spec {
	if s.cron == nil || loc == nil {
		return s
	}
	c := *s.cron
	c.Location = loc
	s.cron, s.loc = &c, loc
	return s
}

// hourly reports whether the expression fires in every hour of the day:
// such a schedule follows elapsed time across daylight saving changes
// rather than the wall clock (as Vixie cron does for wildcard jobs).
func (s Spec) hourly() bool {
	return s.cron.Hour&(1<<24-1) == 1<<24-1
}

// Next returns the first fire time strictly after t (the zero time if there
// is none within five years).
//
// Daylight saving: a cron expression whose hour field is restricted (a
// daily 02:30, say) fires once per calendar day as written. When the clocks
// spring forward past its time, it fires at the moment of the change (03:00
// local); when they fall back and repeat its time, it fires only the first
// time. An expression that fires every hour follows elapsed time: it skips
// the wall-clock hour that does not exist and fires in the repeated one.
func (s Spec) Next(t time.Time) time.Time {
	switch {
	case s.every > 0:
		sec := int64(s.every / time.Second)
		u := t.Unix()
		if t.Before(time.Unix(u, 0)) { // t before 1970 with a fraction
			u--
		}
		return time.Unix((floorDiv(u, sec)+1)*sec, 0).UTC()
	case s.cron == nil:
		return time.Time{}
	}
	for i := 0; i < 8; i++ {
		n := s.cron.Next(t)
		if n.IsZero() || s.hourly() {
			return n
		}
		if g := s.skippedGap(t, n); !g.IsZero() {
			return g
		}
		resume, rep := s.repeated(n)
		if !rep {
			return n
		}
		t = resume.Add(-time.Nanosecond)
	}
	return time.Time{}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// skippedGap returns the first spring-forward change in (t, n) whose
// skipped wall-clock times the expression matches: the moment the tick
// that does not exist on the wall clock fires instead.
func (s Spec) skippedGap(t, n time.Time) time.Time {
	at := t.In(s.loc)
	for i := 0; i < 8; i++ {
		_, end := at.ZoneBounds()
		if end.IsZero() || !end.Before(n) {
			return time.Time{}
		}
		_, before := end.Add(-time.Nanosecond).In(s.loc).Zone()
		_, after := end.In(s.loc).Zone()
		if after > before && end.After(t) {
			// The wall clock jumped from end at the old offset to end at
			// the new one: does the expression fire in between, read on
			// the old offset's clock?
			c := *s.cron
			c.Location = time.FixedZone("", before)
			m := c.Next(end.Add(-time.Second))
			if !m.IsZero() && m.Before(end.Add(time.Duration(after-before)*time.Second)) {
				return end.UTC()
			}
		}
		at = end
	}
	return time.Time{}
}

// repeated reports whether n's wall-clock time already occurred, before
// the clocks fell back, and when the repeated wall-clock span ends.
func (s Spec) repeated(n time.Time) (time.Time, bool) {
	start, _ := n.In(s.loc).ZoneBounds()
	if start.IsZero() {
		return time.Time{}, false
	}
	_, before := start.Add(-time.Nanosecond).In(s.loc).Zone()
	_, after := start.In(s.loc).Zone()
	back := time.Duration(before-after) * time.Second
	if back > 0 && n.Sub(start) < back {
		return start.Add(back), true
	}
	return time.Time{}, false
}

// String is the expression or interval as parsed.
func (s Spec) String() string { return s.text }

// NextN returns the next n fire times after t, in UTC.
func (s Spec) NextN(t time.Time, n int) []time.Time {
	out := make([]time.Time, 0, n)
	for len(out) < n {
		if t = s.Next(t); t.IsZero() {
			break
		}
		out = append(out, t.UTC())
	}
	return out
}

// MinGap is the smallest gap between two consecutive fire times of s (read
// on the wall clock; daylight saving changes aside), capped at a day.
func (s Spec) MinGap() time.Duration {
	if s.every > 0 {
		return s.every
	}
	if s.cron == nil {
		return 0
	}
	const day = 24 * 60 * 60
	gap, first, last := day, -1, -1
	for h := 0; h < 24; h++ {
		if s.cron.Hour&(1<<uint(h)) == 0 {
			continue
		}
		for m := 0; m < 60; m++ {
			if s.cron.Minute&(1<<uint(m)) == 0 {
				continue
			}
			for sec := 0; sec < 60; sec++ {
				if s.cron.Second&(1<<uint(sec)) == 0 {
					continue
				}
				at := h*3600 + m*60 + sec
				if last >= 0 && at-last < gap {
					gap = at - last
				}
				if first < 0 {
					first = at
				}
				last = at
			}
		}
	}
	// Across midnight: only when two consecutive days both fire.
	if wrap := day - last + first; first >= 0 && wrap < gap && s.consecutiveDays() {
		gap = wrap
	}
	return time.Duration(gap) * time.Second
}

// consecutiveDays reports whether some day and the next both match the day
// fields (eight years cover every leap-day and month-end combination).
func (s Spec) consecutiveDays() bool {
	matches := func(d time.Time) bool {
		if s.cron.Month&(1<<uint(d.Month())) == 0 {
			return false
		}
		dom := s.cron.Dom&(1<<uint(d.Day())) != 0
		dow := s.cron.Dow&(1<<uint(d.Weekday())) != 0
		if s.cron.Dom&starBit != 0 || s.cron.Dow&starBit != 0 {
			return dom && dow
		}
		return dom || dow
	}
	d := time.Date(2000, 1, 1, 12, 0, 0, 0, time.UTC)
	prev := matches(d)
	for i := 0; i < 8*366; i++ {
		d = d.AddDate(0, 0, 1)
		cur := matches(d)
		if prev && cur {
			return true
		}
		prev = cur
	}
	return false
}

// MinInterval is the smallest gap between fire times a plan allows.
func MinInterval(p actor.Plan) time.Duration {
	switch p {
	case actor.Enterprise:
		return time.Second
	case actor.Business:
		return 5 * time.Second
	case actor.Pro:
		return 10 * time.Second
	case actor.Starter:
		return 30 * time.Second
	default:
		return time.Minute
	}
}

// CheckPlan refuses a schedule that fires more often than p allows, naming
// the plan's minimum.
func (s Spec) CheckPlan(p actor.Plan) error {
	min := MinInterval(p)
	if !p.Valid() {
		p = actor.Free
	}
	if g := s.MinGap(); g < min {
		return fmt.Errorf("fires every %s at the closest, more often than the %s plan allows (at least %s between runs)", g, p, min)
	}
	return nil
}

// Load reads an IANA time zone name ("" is UTC), refusing names that could
// read files outside the zone database.
func Load(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	loc, err := time.LoadLocation(name)
	if err != nil || strings.HasPrefix(name, "/") || strings.Contains(name, "..") || strings.Contains(name, `\`) {
		return nil, fmt.Errorf("%q is not a known IANA time zone", name)
	}
	return loc, nil
}
