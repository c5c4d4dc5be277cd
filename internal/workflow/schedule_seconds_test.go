package workflow_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/app"
	"github.com/switchboard/switchboard/internal/app/apptest"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// fakeClock is the schedule sweeps' clock, moved by the test.
type fakeClock struct{ ns atomic.Int64 }

func (c *fakeClock) Now() time.Time          { return time.Unix(0, c.ns.Load()).UTC() }
func (c *fakeClock) Set(t time.Time)         { c.ns.Store(t.UnixNano()) }
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }
func scheduleKeys(t *testing.T, h *apptest.Harness, id string) []string {
	t.Helper()
	rows, err := h.App.DB.Read().QueryContext(context.Background(), `SELECT idempotency_key FROM workflow_runs WHERE workflow_id = $1 ORDER BY idempotency_key`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var keys []string
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	return keys
}

// Seconds and intervals: the plan's minimum gap is enforced at save and in
// the preview; an ENTERPRISE schedule of every second fires once each
// second however many sweeps race; lowered to FREE, it is spaced out to
// the FREE minimum instead of refused.
func TestScheduleSecondsAndIntervals(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, dbURL string) {
		clock := &fakeClock{}
		clock.Set(time.Date(2026, 3, 8, 6, 59, 50, 300_000_000, time.UTC))
		h := apptest.StartWith(t, dbURL, app.Options{HashParams: apptest.FastHashing.HashParams, ScheduleClock: clock.Now})
		tok := h.SignUp("wf@example.com", pw).AccessToken
		ctx := context.Background()

		// FREE: nothing closer than 60 s, with errors naming the field and
		// the plan's minimum.
		for name, c := range map[string]struct {
			trigger obj
			field   string
			msg     string
		}{
			"every second":      {obj{"type": "schedule", "cron": "* * * * * *"}, "definition.trigger.cron", "FREE plan allows (at least 1m0s"},
			"every ten seconds": {obj{"type": "schedule", "cron": "*/10 * * * * *"}, "definition.trigger.cron", "FREE plan"},
			"interval":          {obj{"type": "schedule", "interval": "30s"}, "definition.trigger.interval", "FREE plan"},
			"both":              {obj{"type": "schedule", "cron": "* * * * *", "interval": "1m"}, "definition.trigger.interval", "not both"},
			"tz with interval":  {obj{"type": "schedule", "interval": "1m", "timezone": "Europe/Berlin"}, "definition.trigger.timezone", "only to cron"},
			"bad interval":      {obj{"type": "schedule", "interval": "1.5s"}, "definition.trigger.interval", "whole number of seconds"},
			"neither":           {obj{"type": "schedule"}, "definition.trigger.cron", "is required"},
		} {
			r := h.Call(http.StatusBadRequest, "POST", "/api/v1/workflows", tok, obj{"name": name, "definition": def(c.trigger, transform("t", "`1`", ""))})
			if r.Code() != "VALIDATION_ERROR" || !strings.Contains(string(r.Raw), c.field) || !strings.Contains(string(r.Raw), c.msg) {
				t.Errorf("%s: %s", name, r.Raw)
			}
		}
		minute := create(t, h, tok, "minute", def(obj{"type": "schedule", "interval": "60s"}, transform("t", "`1`", "")))
		if minute.NextRunAt == nil || !minute.NextRunAt.Equal(time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)) {
			t.Fatalf("interval of a minute: next %v", minute.NextRunAt)
		}

		// The preview computes what the sweep will, and refuses as a save.
		var p struct {
			Next                              []time.Time
			Timezone                          string
			MinGapSeconds, MinIntervalSeconds int64
		}
		q := url.Values{"cron": {"30 2 * * *"}, "tz": {"America/New_York"}}
		h.Call(http.StatusOK, "GET", "/api/v1/schedules/preview?"+q.Encode(), tok, nil).Data(t, &p)
		// The clock is 8 March 06:59 UTC, New York's spring-forward day
		// (02:00 EST → 03:00 EDT at 07:00 UTC): 02:30 fires once, at 03:00.
		if len(p.Next) != 5 || !p.Next[0].Equal(time.Date(2026, 3, 8, 7, 0, 0, 0, time.UTC)) ||
			!p.Next[1].Equal(time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC)) || p.Timezone != "America/New_York" ||
			p.MinGapSeconds != 86400 || p.MinIntervalSeconds != 60 {
			t.Fatalf("preview %+v", p)
		}
		for query, field := range map[string]string{
			"cron=" + url.QueryEscape("* * * * * *"):                    "cron",
			"cron=" + url.QueryEscape("61 * * * *"):                     "cron",
			"cron=" + url.QueryEscape("0 9 * * *") + "&tz=Mars/Olympus": "tz",
			"interval=fortnightly":                                      "interval",
			"":                                                          "cron",
		} {
			r := h.Call(http.StatusBadRequest, "GET", "/api/v1/schedules/preview?"+query, tok, nil)
			if r.Code() != "VALIDATION_ERROR" || !strings.Contains(string(r.Raw), `"field":"`+field+`"`) {
				t.Errorf("preview %q: %s", query, r.Raw)
			}
		}

		// ENTERPRISE: every second, each tick once, while three sweeps
		// race each second (the node's own sweeper too).
		exec(t, h, `UPDATE users SET plan = 'ENTERPRISE' WHERE email = $1`, "wf@example.com")
		h.Call(http.StatusOK, "GET", "/api/v1/schedules/preview?cron="+url.QueryEscape("* * * * * *"), tok, nil)
		sec := create(t, h, tok, "second", def(obj{"type": "schedule", "cron": "* * * * * *"}, transform("t", "`1`", "")))
		start := time.Date(2026, 3, 8, 6, 59, 51, 0, time.UTC)
		if sec.NextRunAt == nil || !sec.NextRunAt.Equal(start) {
			t.Fatalf("next run %v", sec.NextRunAt)
		}
		sweep := func() {
			var wg sync.WaitGroup
			for range 3 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if _, err := h.App.Workflows.SweepSchedules(ctx); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
		}
		var want []string
		for i := range 5 {
			clock.Advance(time.Second)
			sweep()
			want = append(want, "schedule:"+start.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
			if got := scheduleKeys(t, h, sec.ID); strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("second %d: runs %v, want %v", i, got, want)
			}
		}

		// Lowered to FREE: the stored schedule keeps running, its ticks a
		// minute apart (closer ones skipped).
		exec(t, h, `UPDATE users SET plan = 'FREE' WHERE email = $1`, "wf@example.com")
		last := start.Add(5 * time.Second)
		clock.Advance(time.Second)
		sweep()
		want = append(want, "schedule:"+last.Format(time.RFC3339))
		for range 3 {
			clock.Advance(time.Second)
			sweep()
		}
		if got := scheduleKeys(t, h, sec.ID); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("after the downgrade: runs %v, want %v", got, want)
		}
		var got wf
		h.Call(http.StatusOK, "GET", "/api/v1/workflows/"+sec.ID, tok, nil).Data(t, &got)
		if got.NextRunAt == nil || !got.NextRunAt.Equal(last.Add(time.Minute)) {
			t.Fatalf("after the downgrade: next run %v, want %v", got.NextRunAt, last.Add(time.Minute))
		}
	})
}
