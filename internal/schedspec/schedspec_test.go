package schedspec

import (
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
)

func zone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := Load(name)
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	return loc
}

func fires(t *testing.T, s Spec, from time.Time, n int) []string {
	t.Helper()
	var out []string
	for _, at := range s.NextN(from, n) {
		out = append(out, at.Format(time.RFC3339))
	}
	return out
}

func TestParseCron_FiveAndSixFields(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 3, 27, 10, 2, 30, 0, time.UTC) // Friday
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{"*/5 * * * *", []string{"2026-03-27T10:05:00Z", "2026-03-27T10:10:00Z"}},
		{"0 9 * * 1-5", []string{"2026-03-30T09:00:00Z", "2026-03-31T09:00:00Z"}},
		// Both day fields restricted: either matches (the 1st, or a Sunday).
		{"30 0 1 * 0", []string{"2026-03-29T00:30:00Z", "2026-04-01T00:30:00Z", "2026-04-05T00:30:00Z"}},
		// `*/n` counts as `*` for the day rule, as in Vixie cron: Sundays
		// only, not every other day of the month.
		{"0 0 */2 * 0", []string{"2026-03-29T00:00:00Z", "2026-04-05T00:00:00Z"}},
		{"0 0 29 2 *", []string{"2028-02-29T00:00:00Z"}},
		{"@monthly", []string{"2026-04-01T00:00:00Z"}},
		{"@DAILY", []string{"2026-03-28T00:00:00Z"}},
		{"15 10 * * 7", []string{"2026-03-29T10:15:00Z"}},
		{"0 12 * * 5-7", []string{"2026-03-27T12:00:00Z", "2026-03-28T12:00:00Z", "2026-03-29T12:00:00Z", "2026-04-03T12:00:00Z"}},
		{"0 12 * * mon", []string{"2026-03-30T12:00:00Z"}},
		// Six fields: seconds first.
		{"*/15 * * * * *", []string{"2026-03-27T10:02:45Z", "2026-03-27T10:03:00Z", "2026-03-27T10:03:15Z"}},
		{"10 0 9 * * *", []string{"2026-03-28T09:00:10Z"}},
	} {
		s, err := ParseCron(tc.expr, nil)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		if got := fires(t, s, base, len(tc.want)); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: got %v, want %v", tc.expr, got, tc.want)
		}
	}
	for _, bad := range []string{"", "* * * *", "* * * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8",
		"5-1 * * * *", "*/0 * * * *", "a * * * *", "0 0 30 2 *", "@every 5s", "TZ=UTC * * * * *", "@often", "* * * * 1/0"} {
		if _, err := ParseCron(bad, nil); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// A daily 02:30 across both daylight saving changes: on the day the clocks
// spring forward past it, it fires once, at the change (03:00 local); on
// the day they fall back and 02:30 happens twice (Berlin), it fires once.
func TestNext_DaylightSaving(t *testing.T) {
	t.Parallel()
	ny, berlin := zone(t, "America/New_York"), zone(t, "Europe/Berlin")
	for _, tc := range []struct {
		name string
		loc  *time.Location
		expr string
		from time.Time
		want []string
	}{
		// New York springs forward 8 March 2026 at 02:00 EST → 03:00 EDT.
		{"new york spring", ny, "30 2 * * *", time.Date(2026, 3, 6, 12, 0, 0, 0, time.UTC),
			[]string{"2026-03-07T07:30:00Z", "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z"}},
		// New York falls back 1 November at 02:00 EDT → 01:00 EST: 02:30
		// happens once.
		{"new york fall", ny, "30 2 * * *", time.Date(2026, 10, 30, 12, 0, 0, 0, time.UTC),
			[]string{"2026-10-31T06:30:00Z", "2026-11-01T07:30:00Z", "2026-11-02T07:30:00Z"}},
		// ... but 01:30 happens twice, and fires the first time only.
		{"new york fall 01:30", ny, "30 1 * * *", time.Date(2026, 10, 31, 12, 0, 0, 0, time.UTC),
			[]string{"2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"}},
		// Berlin springs forward 29 March at 02:00 CET → 03:00 CEST.
		{"berlin spring", berlin, "30 2 * * *", time.Date(2026, 3, 27, 12, 0, 0, 0, time.UTC),
			[]string{"2026-03-28T01:30:00Z", "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z"}},
		// Berlin falls back 25 October at 03:00 CEST → 02:00 CET: 02:30
		// happens twice and fires once.
		{"berlin fall", berlin, "30 2 * * *", time.Date(2026, 10, 23, 12, 0, 0, 0, time.UTC),
			[]string{"2026-10-24T00:30:00Z", "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z"}},
		// Seconds within the repeated hour: the second pass is skipped whole.
		{"berlin fall seconds", berlin, "0 */20 2 * * *", time.Date(2026, 10, 25, 0, 30, 0, 0, time.UTC),
			[]string{"2026-10-25T00:40:00Z", "2026-10-26T01:00:00Z"}},
		// A schedule of every hour follows elapsed time: no catch-up at the
		// spring change, and the repeated hour fires.
		{"hourly spring", berlin, "30 * * * *", time.Date(2026, 3, 29, 0, 0, 0, 0, time.UTC),
			[]string{"2026-03-29T00:30:00Z", "2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z"}},
		{"hourly fall", berlin, "30 * * * *", time.Date(2026, 10, 24, 23, 45, 0, 0, time.UTC),
			[]string{"2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z", "2026-10-25T02:30:00Z"}},
	} {
		s, err := ParseCron(tc.expr, tc.loc)
		if err != nil {
			t.Fatal(err)
		}
		if got := fires(t, s, tc.from, len(tc.want)); strings.Join(got, " ") != strings.Join(tc.want, " ") {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIntervalsAndGaps(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{"30s": 30 * time.Second, "1h30m": 90 * time.Minute, "45": 45 * time.Second} {
		if d, err := ParseInterval(in); err != nil || d != want {
			t.Errorf("%s: %v %v", in, d, err)
		}
	}
	for _, bad := range []string{"", "0s", "1.5s", "500ms", "-5s", "soon", "9000h", "99999999999999"} {
		if _, err := ParseInterval(bad); err == nil {
			t.Errorf("interval %q accepted", bad)
		}
	}
	// Counts of seconds that wrap around when multiplied into a Duration
	// are refused for what they are, not read as the wrapped value (the
	// first one is exactly a minute after wrapping).
	for bad, msg := range map[string]string{"-36028797018963908": "at least 1s", "-5": "at least 1s",
		"9223372036854775807": "at most", "9223372037": "at most", "18446744074": "at most"} {
		if d, err := ParseInterval(bad); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("interval %q: %v %v, want an error saying %q", bad, d, err, msg)
		}
	}
	// Interval ticks are multiples of the interval since the epoch.
	every := Every(90 * time.Second)
	if got := fires(t, every, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 2); strings.Join(got, " ") != "2026-01-01T00:01:30Z 2026-01-01T00:03:00Z" {
		t.Errorf("every 90s: %v", got)
	}
	for expr, want := range map[string]time.Duration{
		"* * * * * *":          time.Second,
		"*/10 * * * * *":       10 * time.Second,
		"0,59 * * * * *":       time.Second, // 59 then 0 of the next minute
		"* * * * *":            time.Minute,
		"0 0 * * *":            24 * time.Hour,
		"59 23 * * *":          24 * time.Hour,
		"59,0 59,0 23,0 * * *": time.Second,    // 23:59:59 then 00:00:00
		"0 0 23,0 1 * *":       23 * time.Hour, // the 1st and the 2nd never both fire
		"0 0 9 * * 1-5":        24 * time.Hour,
	} {
		s, err := ParseCron(expr, nil)
		if err != nil {
			t.Fatal(expr, err)
		}
		if got := s.MinGap(); got != want {
			t.Errorf("%s: gap %s, want %s", expr, got, want)
		}
	}
	sec, _ := ParseCron("* * * * * *", nil)
	err := sec.CheckPlan(actor.Free)
	if err == nil || !strings.Contains(err.Error(), "FREE") || !strings.Contains(err.Error(), "1m0s") {
		t.Errorf("free plan: %v", err)
	}
	if err := sec.CheckPlan(actor.Enterprise); err != nil {
		t.Error(err)
	}
	for p, ok := range map[actor.Plan]string{actor.Free: "60s", actor.Starter: "30s", actor.Pro: "10s", actor.Business: "5s", actor.Enterprise: "1s"} {
		d, _ := ParseInterval(ok)
		if err := Every(d).CheckPlan(p); err != nil {
			t.Errorf("%s at its minimum: %v", p, err)
		}
		if err := Every(d - time.Second).CheckPlan(p); d > time.Second && err == nil {
			t.Errorf("%s under its minimum accepted", p)
		}
	}
}
