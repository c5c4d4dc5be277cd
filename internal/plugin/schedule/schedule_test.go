package schedule

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin"
	"github.com/switchboard/switchboard/internal/plugin/builtin"
	"github.com/switchboard/switchboard/internal/plugin/install"
	"github.com/switchboard/switchboard/internal/plugin/market"
	"github.com/switchboard/switchboard/internal/plugin/wasm"
	"github.com/switchboard/switchboard/internal/workspace"
)

type fakeSender struct {
	mu    sync.Mutex
	sends []gateway.SendInput
	who   []actor.Actor
	err   error
}

func (f *fakeSender) Send(_ context.Context, a actor.Actor, gatewayID string, in gateway.SendInput) (gateway.SendRecord, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return gateway.SendRecord{}, f.err
	}
	f.sends, f.who = append(f.sends, in), append(f.who, a)
	return gateway.SendRecord{ID: "snd_1", GatewayID: gatewayID, Status: gateway.SendQueued}, nil
}

func sendJobs(t *testing.T, r *jobs.Runner) []SendArgs {
	t.Helper()
	res, err := r.Client.JobList(context.Background(), river.NewJobListParams().Kinds(SendArgs{}.Kind()).First(100))
	if err != nil {
		t.Fatal(err)
	}
	var out []SendArgs
	for _, j := range res.Jobs {
		var a SendArgs
		if err := json.Unmarshal(j.EncodedArgs, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

// Each tick fires once however many sweeps race for it; the first sweep
// only starts the clock; missed ticks collapse into the latest; time zones
// count; a disabled installation does not fire.
func TestSweep_FiresEachTickOnceAcrossSweeps(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if err := jobs.Migrate(ctx, d); err != nil {
			t.Fatal(err)
		}
		runner := jobs.NewRunner(d, jobs.Config{})
		if err := runner.Open(); err != nil {
			t.Fatal(err)
		}
		engine, err := wasm.NewEngine(wasm.Options{})
		if err != nil {
			t.Fatal(err)
		}
		installs := install.New(d, market.New(d, engine, plugin.NewRegistry(builtin.NewScheduler())), nil, nil, nil)
		a := actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Free}
		if _, err := installs.Install(ctx, a, install.InstallInput{Plugin: "scheduler",
			Config: json.RawMessage(`{"schedules":[{"name":"a","cron":"61 * * * *","gatewayId":"gw","text":"x"}]}`)}); !apperr.Is(err, apperr.Validation) {
			t.Fatalf("bad cron installed: %v", err)
		}
		gw1, gw2 := ids.New(ids.Gateway), ids.New(ids.Gateway)
		inst, err := installs.Install(ctx, a, install.InstallInput{Plugin: "scheduler", Config: json.RawMessage(`{"schedules":[
			{"name":"five","cron":"*/5 * * * *","gatewayId":"` + gw1 + `","chatId":"42","text":"every five"},
			{"name":"berlin","cron":"0 9 * * *","timezone":"Europe/Berlin","gatewayId":"` + gw1 + `","chatId":"42","text":"Guten Morgen"}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		other := actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Free}
		off, err := installs.Install(ctx, other, install.InstallInput{Plugin: "scheduler",
			Config: json.RawMessage(`{"schedules":[{"name":"m","cron":"* * * * *","gatewayId":"` + gw2 + `","text":"never"}]}`)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := installs.SetEnabled(ctx, other, off.ID, false); err != nil {
			t.Fatal(err)
		}
		s := New(d, runner, &fakeSender{}, nil)
		at := func(v string) time.Time {
			tm, err := time.Parse(time.RFC3339, v)
			if err != nil {
				t.Fatal(err)
			}
			return tm
		}
		sweep := func(now string, parallel int) int {
			t.Helper()
			var wg sync.WaitGroup
			var mu sync.Mutex
			total := 0
			for i := 0; i < parallel; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					n, err := s.Sweep(ctx, at(now))
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					total += n
					mu.Unlock()
				}()
			}
			wg.Wait()
			return total
		}
		// 07:58 UTC = 08:58 in Berlin (winter).
		if n := sweep("2026-01-05T07:58:30Z", 1); n != 0 {
			t.Fatalf("first sweep fired %d", n)
		}
		if n := sweep("2026-01-05T07:59:50Z", 4); n != 0 {
			t.Fatalf("no tick yet, fired %d", n)
		}
		// 08:00 UTC: */5 ticks and 09:00 Berlin ticks, once each across 8 sweeps.
		if n := sweep("2026-01-05T08:00:10Z", 8); n != 2 {
			t.Fatalf("08:00: fired %d, want 2", n)
		}
		if n := sweep("2026-01-05T08:04:59Z", 8); n != 0 {
			t.Fatalf("08:04: fired %d", n)
		}
		// A node was down from 08:05 to 08:27: one send for the latest tick.
		if n := sweep("2026-01-05T08:27:00Z", 8); n != 1 {
			t.Fatalf("after the gap: fired %d, want 1", n)
		}
		got := sendJobs(t, runner)
		if len(got) != 3 {
			t.Fatalf("%d send jobs: %+v", len(got), got)
		}
		ticks := map[string]bool{}
		for _, j := range got {
			if j.WorkspaceID != a.WorkspaceID() || j.InstallationID != inst.ID || j.GatewayID != gw1 || j.ChatID != "42" {
				t.Errorf("send job %+v", j)
			}
			ticks[j.Schedule+"@"+j.Tick.UTC().Format(time.RFC3339)] = true
		}
		for _, w := range []string{"five@2026-01-05T08:00:00Z", "berlin@2026-01-05T08:00:00Z", "five@2026-01-05T08:25:00Z"} {
			if !ticks[w] {
				t.Errorf("missing tick %s in %v", w, ticks)
			}
		}
	})
}

func TestSend_ThroughGatewayAsTheWorkspace(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := &fakeSender{}
		s := New(d, nil, f, nil)
		ws := ids.New(ids.User)
		args := SendArgs{WorkspaceID: ws, InstallationID: "ins_1", Schedule: "a", GatewayID: "gwy_1", ChatID: "42", Text: "hello"}
		if err := s.Send(context.Background(), args); err != nil {
			t.Fatal(err)
		}
		if len(f.sends) != 1 || f.sends[0].Text != "hello" || f.sends[0].ChatID != "42" || !f.who[0].System || f.who[0].WorkspaceID() != ws {
			t.Fatalf("sent %+v as %+v", f.sends, f.who)
		}
		// A gateway that is gone or disconnected cancels the job; other errors retry.
		f.err = apperr.New(apperr.Conflict, "gateway is DISCONNECTED")
		var cancel *rivertype.JobCancelError
		if err := s.Send(context.Background(), args); !errors.As(err, &cancel) {
			t.Fatalf("refused send: %v", err)
		}
		f.err = errors.New("database is down")
		if err := s.Send(context.Background(), args); err == nil || errors.As(err, &cancel) {
			t.Fatalf("transient error: %v", err)
		}
		// A tick of a paused workspace (its owner deactivated) is skipped.
		f.err = nil
		if err := d.Tx(context.Background(), func(tx *db.Tx) error {
			return workspace.New().PauseTx(context.Background(), tx, actor.Actor{System: true}, ws, "deactivated")
		}); err != nil {
			t.Fatal(err)
		}
		n := len(f.sends)
		if err := s.Send(context.Background(), args); err != nil || len(f.sends) != n {
			t.Fatalf("paused workspace's tick: err %v, sends %d → %d", err, n, len(f.sends))
		}
	})
}
