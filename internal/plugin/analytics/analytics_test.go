package analytics_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/analytics"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/plugin/install"
	"github.com/switchboard/switchboard/internal/plugin/market"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
)

type fixture struct {
	svc      *analytics.Service
	installs *install.Service
}

func newFixture(t *testing.T, d *db.DB) fixture {
	t.Helper()
	engine, err := wasm.NewEngine(wasm.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = engine.Close(context.Background()) })
	reg := plugin.NewRegistry(builtin.NewTemplate())
	installs := install.New(d, market.New(d, engine, reg), nil, nil, nil)
	svc := analytics.New(d, installs, nil)
	reg.Register(builtin.NewAnalytics(svc))
	return fixture{svc: svc, installs: installs}
}

func user() actor.Actor {
	return actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Free}
}

func system(a actor.Actor) actor.Actor {
	return actor.Actor{System: true, UserID: a.UserID, OrganizationID: a.OrganizationID, Plan: a.Plan}
}

func (f fixture) install(t *testing.T, a actor.Actor, slug string) string {
	t.Helper()
	cfg := json.RawMessage(`{}`)
	if slug == "template" {
		cfg = json.RawMessage(`{"template":"hi"}`)
	}
	in, err := f.installs.Install(context.Background(), a, install.InstallInput{Plugin: slug, Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return in.ID
}

func day(s string) time.Time {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return t
}

// Counting is per installation, day, gateway, chat and user; a key counts
// once however often it is recorded; the report groups by day (zeros
// included), chat or user, and its totals count distinct chats and users
// per gateway.
func TestRecord_CountsEachKeyOnceAndReports(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d)
		a := user()
		inst := f.install(t, a, "analytics")
		g1, g2 := ids.New(ids.Gateway), ids.New(ids.Gateway)
		msgs := []builtin.AnalyticsMessage{
			{GatewayID: g1, ChatID: "c1", UserID: "u1", Username: "ann", Day: day("2026-03-01")},
			{GatewayID: g1, ChatID: "c1", UserID: "u1", Username: "ann", Day: day("2026-03-01")},
			{GatewayID: g1, ChatID: "c1", UserID: "u2", Username: "bob", Day: day("2026-03-01")},
			{GatewayID: g1, ChatID: "c2", UserID: "u1", Username: "ann", Day: day("2026-03-03")},
			// The same provider ids on another gateway are another chat and user.
			{GatewayID: g2, ChatID: "c1", UserID: "u1", Day: day("2026-03-03")},
		}
		for i, m := range msgs {
			key := fmt.Sprintf("event:%d", i)
			for attempt := 0; attempt < 3; attempt++ { // retries count nothing
				counted, err := f.svc.Record(ctx, system(a), inst, key, m)
				if err != nil {
					t.Fatal(err)
				}
				if counted != (attempt == 0) {
					t.Fatalf("message %d attempt %d: counted %v", i, attempt, counted)
				}
			}
		}
		report := func(q analytics.Query) analytics.Report {
			t.Helper()
			q.From, q.To = "2026-03-01", "2026-03-03"
			r, err := f.svc.Report(ctx, a, inst, q)
			if err != nil {
				t.Fatal(err)
			}
			if q.GatewayID == "" && q.ChatID == "" && r.Totals != (analytics.Totals{Messages: 5, Chats: 3, Users: 3}) {
				t.Errorf("totals %+v", r.Totals)
			}
			return r
		}
		byDay := report(analytics.Query{})
		wantDays := []analytics.Row{
			{Day: "2026-03-01", Messages: 3, Chats: 1, Users: 2},
			{Day: "2026-03-02"},
			{Day: "2026-03-03", Messages: 2, Chats: 2, Users: 2},
		}
		if byDay.GroupBy != "day" || !reflect.DeepEqual(byDay.Rows, wantDays) {
			t.Errorf("by day %+v", byDay)
		}
		byChat := report(analytics.Query{GroupBy: "chat"})
		wantChats := []analytics.Row{
			{GatewayID: g1, ChatID: "c1", Messages: 3, Chats: 1, Users: 2},
			{GatewayID: min(g1, g2), ChatID: map[bool]string{true: "c2", false: "c1"}[g1 < g2], Messages: 1, Chats: 1, Users: 1},
			{GatewayID: max(g1, g2), ChatID: map[bool]string{true: "c1", false: "c2"}[g1 < g2], Messages: 1, Chats: 1, Users: 1},
		}
		if !reflect.DeepEqual(byChat.Rows, wantChats) {
			t.Errorf("by chat %+v, want %+v", byChat.Rows, wantChats)
		}
		byUser := report(analytics.Query{GroupBy: "user", Limit: 1})
		if !byUser.Truncated || !reflect.DeepEqual(byUser.Rows, []analytics.Row{{GatewayID: g1, UserID: "u1", Username: "ann", Messages: 3, Chats: 2, Users: 1}}) {
			t.Errorf("by user (limit 1) %+v", byUser)
		}
		narrowed := report(analytics.Query{GatewayID: g1, ChatID: "c1"})
		if narrowed.Totals != (analytics.Totals{Messages: 3, Chats: 1, Users: 2}) {
			t.Errorf("gateway and chat filter: totals %+v", narrowed.Totals)
		}
		other := report(analytics.Query{GatewayID: ids.New(ids.Gateway)})
		if other.Totals != (analytics.Totals{}) {
			t.Errorf("unknown gateway: totals %+v", other.Totals)
		}
	})
}

// Counters belong to a workspace: another workspace cannot read an
// installation's report (404), and what it records under the same
// installation id stays in its own workspace.
func TestReport_IsWorkspaceScoped(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d)
		a, b := user(), user()
		inst := f.install(t, a, "analytics")
		tmpl := f.install(t, a, "template")
		m := builtin.AnalyticsMessage{GatewayID: ids.New(ids.Gateway), ChatID: "c", UserID: "u", Day: db.Now()}
		if _, err := f.svc.Record(ctx, system(a), inst, "event:1", m); err != nil {
			t.Fatal(err)
		}
		// b's system actor forging a's installation id counts in b's
		// workspace only, and does not mark a's key seen.
		if counted, err := f.svc.Record(ctx, system(b), inst, "event:2", m); err != nil || !counted {
			t.Fatalf("record in b: %v %v", counted, err)
		}
		if counted, err := f.svc.Record(ctx, system(b), inst, "event:1", m); err != nil || !counted {
			t.Fatalf("a's key in b: %v %v", counted, err)
		}
		r, err := f.svc.Report(ctx, a, inst, analytics.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Totals != (analytics.Totals{Messages: 1, Chats: 1, Users: 1}) {
			t.Errorf("a's totals %+v", r.Totals)
		}
		for name, c := range map[string]struct {
			a  actor.Actor
			id string
		}{
			"other workspace": {b, inst},
			"not analytics":   {a, tmpl},
			"malformed id":    {a, "nope"},
			"unknown id":      {a, ids.New(ids.Installation)},
			"anonymous":       {actor.Actor{}, inst},
		} {
			_, err := f.svc.Report(ctx, c.a, c.id, analytics.Query{})
			want := apperr.NotFound
			if name == "anonymous" {
				want = apperr.Forbidden
			}
			if !apperr.Is(err, want) {
				t.Errorf("%s: %v, want %s", name, err, want)
			}
		}
		if _, err := f.svc.Record(ctx, actor.Actor{UserID: b.UserID}, inst, "event:3", m); !apperr.Is(err, apperr.Forbidden) {
			t.Errorf("record without a role: %v", err)
		}
	})
}

func TestReport_ValidatesTheQuery(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d)
		a := user()
		inst := f.install(t, a, "analytics")
		for _, c := range []struct {
			q     analytics.Query
			field string
		}{
			{analytics.Query{From: "2026-13-01"}, "from"},
			{analytics.Query{From: "yesterday", To: "2026-01-01"}, "from"},
			{analytics.Query{To: "2026-02-30"}, "to"},
			{analytics.Query{From: "2026-02-02", To: "2026-02-01"}, "from"},
			{analytics.Query{From: "2025-01-01", To: "2026-01-02"}, "to"}, // 367 days
			{analytics.Query{GroupBy: "month"}, "groupBy"},
			{analytics.Query{GatewayID: "whatever"}, "gatewayId"},
			{analytics.Query{Limit: analytics.MaxLimit + 1}, "limit"},
		} {
			_, err := f.svc.Report(ctx, a, inst, c.q)
			ae, ok := err.(*apperr.Error)
			if !ok || ae.Code != apperr.Validation {
				t.Errorf("%+v: %v, want VALIDATION_ERROR", c.q, err)
				continue
			}
			fields := ae.Details.(map[string]any)["fields"].([]apperr.FieldError)
			if len(fields) != 1 || fields[0].Field != c.field {
				t.Errorf("%+v: fields %+v, want %s", c.q, fields, c.field)
			}
		}
		// A leap year's 366 days are allowed; defaults cover 30 days to today.
		if r, err := f.svc.Report(ctx, a, inst, analytics.Query{From: "2024-01-01", To: "2024-12-31"}); err != nil || len(r.Rows) != 366 {
			t.Errorf("366 days: %v rows, %v", len(r.Rows), err)
		}
		r, err := f.svc.Report(ctx, a, inst, analytics.Query{})
		today := db.Now().Format(time.DateOnly)
		if err != nil || r.To != today || len(r.Rows) != analytics.DefaultDays || r.Rows[len(r.Rows)-1].Day != today || r.GroupBy != "day" {
			t.Errorf("defaults: %+v %v", r, err)
		}
	})
}

// Counted keys older than the cutoff are forgotten; newer ones still stop
// a retry from counting twice; the counters stay.
func TestPruneSeen_ForgetsOldKeysOnly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		f := newFixture(t, d)
		a := user()
		inst := f.install(t, a, "analytics")
		m := builtin.AnalyticsMessage{GatewayID: ids.New(ids.Gateway), ChatID: "c", UserID: "u", Day: day("2026-03-01")}
		for _, key := range []string{"event:old", "event:new"} {
			if _, err := f.svc.Record(ctx, system(a), inst, key, m); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE plugin_analytics_seen SET created_at = $1 WHERE event_key = 'event:old'`, time.Now().Add(-90*24*time.Hour).UTC())
			return err
		}); err != nil {
			t.Fatal(err)
		}
		n, err := f.svc.PruneSeen(ctx, time.Now().Add(-analytics.SeenFor))
		if err != nil || n != 1 {
			t.Fatalf("pruned %d (%v), want 1", n, err)
		}
		if counted, err := f.svc.Record(ctx, system(a), inst, "event:new", m); err != nil || counted {
			t.Fatalf("a kept key counted again: %v %v", counted, err)
		}
		r, err := f.svc.Report(ctx, a, inst, analytics.Query{From: "2026-03-01", To: "2026-03-01"})
		if err != nil || r.Totals.Messages != 2 {
			t.Fatalf("counters after pruning: %+v %v", r.Totals, err)
		}
	})
}
