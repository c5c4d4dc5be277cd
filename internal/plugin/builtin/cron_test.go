package builtin

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/plugin"
)

func TestCron_Next(t *testing.T) {
	t.Parallel()
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata")
	}
	base := time.Date(2026, 3, 27, 10, 2, 30, 0, time.UTC) // Friday
	for _, tc := range []struct {
		expr string
		loc  *time.Location
		from time.Time
		want []string
	}{
		{"*/5 * * * *", time.UTC, base, []string{"2026-03-27T10:05:00Z", "2026-03-27T10:10:00Z"}},
		{"0 9 * * 1-5", time.UTC, base, []string{"2026-03-30T09:00:00Z", "2026-03-31T09:00:00Z"}},
		// 09:00 Berlin: UTC+1 before the DST switch of 29 March, UTC+2 after.
		{"0 9 * * *", berlin, base, []string{"2026-03-28T08:00:00Z", "2026-03-29T07:00:00Z"}},
		// Both day fields restricted: either matches (the 1st, or a Sunday).
		{"30 0 1 * 0", time.UTC, base, []string{"2026-03-29T00:30:00Z", "2026-04-01T00:30:00Z", "2026-04-05T00:30:00Z"}},
		{"0 0 29 2 *", time.UTC, base, []string{"2028-02-29T00:00:00Z"}},
		{"@monthly", time.UTC, base, []string{"2026-04-01T00:00:00Z"}},
		{"15 10 * * 7", time.UTC, base, []string{"2026-03-29T10:15:00Z"}},
	} {
		c, err := ParseCron(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		at := tc.from
		for _, w := range tc.want {
			at = c.Next(at, tc.loc)
			if got := at.UTC().Format(time.RFC3339); got != w {
				t.Errorf("%s after %s: got %s, want %s", tc.expr, tc.from, got, w)
				break
			}
		}
	}
	for _, bad := range []string{"", "* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "* * * * 8", "5-1 * * * *", "*/0 * * * *", "a * * * *", "* * * * * * *"} {
		if _, err := ParseCron(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if c, _ := ParseCron("0 0 30 2 *"); !c.Next(base, time.UTC).IsZero() {
		t.Error("30 February fired")
	}
}

func TestScheduler_ConfigAndPreview(t *testing.T) {
	t.Parallel()
	r := NewScheduler()
	for name, cfg := range map[string]string{
		"bad cron":      `{"schedules":[{"name":"a","cron":"61 * * * *","gatewayId":"gw","text":"hi"}]}`,
		"bad zone":      `{"schedules":[{"name":"a","cron":"* * * * *","timezone":"Mars/Olympus","gatewayId":"gw","text":"hi"}]}`,
		"never":         `{"schedules":[{"name":"a","cron":"0 0 31 2 *","gatewayId":"gw","text":"hi"}]}`,
		"duplicate":     `{"schedules":[{"name":"a","cron":"* * * * *","gatewayId":"gw","text":"hi"},{"name":"a","cron":"* * * * *","gatewayId":"gw","text":"ho"}]}`,
		"missing text":  `{"schedules":[{"name":"a","cron":"* * * * *","gatewayId":"gw"}]}`,
		"unknown field": `{"schedules":[],"x":1}`,
		"every second":  `{"schedules":[{"name":"a","cron":"* * * * * *","gatewayId":"gw","text":"hi"}]}`,
	} {
		if err := plugin.CheckConfig(r, json.RawMessage(cfg)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	cfg := json.RawMessage(`{"schedules":[{"name":"standup","cron":"0 9 * * 1-5","timezone":"UTC","gatewayId":"gw","text":"Stand-up!"}]}`)
	if err := plugin.CheckConfig(r, cfg); err != nil {
		t.Fatal(err)
	}
	res := plugin.Run(context.Background(), r, plugin.ExecutionContext{Trigger: plugin.TriggerStandalone, Config: cfg,
		Now: time.Date(2026, 3, 27, 10, 0, 0, 0, time.UTC)}, json.RawMessage(`{"count":2}`))
	if !res.Success || !strings.Contains(string(res.Output), `"next":["2026-03-30T09:00:00Z","2026-03-31T09:00:00Z"]`) {
		t.Fatalf("preview %+v %s", res, res.Output)
	}
}

func TestAIReply_PricesModels(t *testing.T) {
	t.Parallel()
	for model, want := range map[string]string{"gpt-4o-mini-2024-07-18": "ai.gpt-4o-mini", "gpt-4o": "ai.gpt-4o",
		"claude-3-5-haiku-latest": "ai.claude-haiku", "claude-sonnet-4-20250514": "ai.claude-sonnet"} {
		if got, err := PriceAction(model); err != nil || got != want {
			t.Errorf("%s: %s %v", model, got, err)
		}
	}
	if _, err := PriceAction("llama-3"); err == nil {
		t.Error("an unpriced model was priced")
	}
	// billAs names no price of its own: only the model's, or any for a
	// model without one (which then runs only with an own key).
	for _, c := range []struct {
		model, billAs string
		ok            bool
	}{
		{"gpt-4o", "", true},
		{"gpt-4o", "ai.gpt-4o", true},
		{"gpt-4o", "ai.gpt-4o-mini", false},
		{"claude-sonnet-4-20250514", "ai.gpt-4o-mini", false},
		{"llama-3", "ai.gpt-4o-mini", true},
		{"llama-3", "overage.aiTokens", false},
	} {
		if err := checkBillAs(c.model, c.billAs); (err == nil) != c.ok {
			t.Errorf("checkBillAs(%s, %s) = %v, want ok %v", c.model, c.billAs, err, c.ok)
		}
	}
	if got := redact("bad key sk-123 given", "sk-123"); strings.Contains(got, "sk-123") {
		t.Error(got)
	}
}
