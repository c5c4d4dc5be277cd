package workflow

import (
	"context"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
)

// Each plan's code steps get its own time and its ramMb, at most 256 MiB.
func TestCodeLimitsByPlan(t *testing.T) {
	t.Parallel()
	cases := map[actor.Plan]struct {
		time time.Duration
		mb   int64
	}{
		actor.Free:       {time.Second, 128},
		actor.Starter:    {2 * time.Second, 256},
		actor.Pro:        {5 * time.Second, 256},
		actor.Business:   {10 * time.Second, 256},
		actor.Enterprise: {30 * time.Second, 256},
		"NO_SUCH_PLAN":   {time.Second, 128},
	}
	for plan, want := range cases {
		l := CodeLimits(plan)
		if l.Time != want.time || l.MemoryBytes != want.mb<<20 || l.MaxOutputBytes != maxValueBytes {
			t.Errorf("%s: %+v, want %s and %d MiB", plan, l, want.time, want.mb)
		}
	}
}

// A workspace runs at most its plan's cpuCores code steps at once on a
// node; the next is busy (snoozed), another workspace is not held up.
func TestCodeSlotsPerWorkspace(t *testing.T) {
	t.Parallel()
	c := codeSlots{wait: time.Millisecond}
	ctx := context.Background()
	rel, busy := c.acquire(ctx, "ws_a", actor.Free)
	if busy || rel == nil {
		t.Fatal("first code step of a workspace was refused")
	}
	if _, busy := c.acquire(ctx, "ws_a", actor.Free); !busy {
		t.Fatal("a FREE workspace ran two code steps at once")
	}
	relB, busy := c.acquire(ctx, "ws_b", actor.Free)
	if busy || relB == nil {
		t.Fatal("another workspace was held up")
	}
	rel()
	relB()
	rel, busy = c.acquire(ctx, "ws_a", actor.Free)
	if busy || rel == nil {
		t.Fatal("a released slot was not free again")
	}
	rel()
	if len(c.used) != 0 {
		t.Fatalf("counts left behind: %v", c.used)
	}
	// A node whose slots are all taken makes the next wait, then gives
	// up (busy); the context ending gives up the wait too.
	var rels []func()
	for i := range cap(c.sem) {
		r, busy := c.acquire(ctx, "ws_"+string(rune('c'+i)), actor.Enterprise)
		if busy {
			t.Fatal("busy below the node's slots")
		}
		rels = append(rels, r)
	}
	if r, busy := c.acquire(ctx, "ws_waiting", actor.Enterprise); r != nil || !busy {
		t.Fatal("a full node gave a slot, or did not say it was busy")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	c.wait = time.Hour
	if r, busy := c.acquire(cctx, "ws_waiting", actor.Enterprise); r != nil || busy {
		t.Fatal("a full node gave a slot to a step whose worker is stopping")
	}
	if c.used["ws_waiting"] != 0 {
		t.Fatalf("a step that got no slot is still counted: %v", c.used)
	}
	for _, r := range rels {
		r()
	}
}

// BenchmarkCodeStep is a code step's per-call cost in the engine, without
// the commit that follows it: the run's data encoded for the VM, a fresh
// VM, a small function over it, its output decoded for later steps.
// cpu-us/op is the process's CPU time per call (steadier than ns/op on a
// shared machine).
func BenchmarkCodeStep(b *testing.B) {
	d, err := decodeDefinition([]byte(`{"trigger": {"type": "manual"}, "startStepId": "sum", "variables": {"vat": 0.2},
		"steps": [{"id": "sum", "type": "code", "config": {"language": "javascript", "source":
		"const items = trigger.items;\nlet total = 0;\nfor (const it of items) total += it.price * it.qty;\nreturn {total, gross: total * (1 + vars.vat), names: items.map(i => i.name).join(', ')};"}}]}`))
	if err != nil {
		b.Fatal(err)
	}
	c, err := compile(context.Background(), actor.Actor{}, d, nil)
	if err != nil {
		b.Fatal(err)
	}
	input := map[string]any{"items": []any{
		map[string]any{"name": "tea", "price": 4.0, "qty": 2.0},
		map[string]any{"name": "cake", "price": 3.5, "qty": 1.0},
	}}
	s := &Service{now: time.Now}
	r := &Run{ID: "run_bench", CurrentStepID: "sum", TimeoutAt: time.Now().Add(time.Hour), plan: actor.Free, workspaceID: "ws_bench"}
	cs := c.steps["sum"]
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		x := newExecWith(r, c, input)
		o, _ := s.runCode(context.Background(), x, cs, time.Now())
		if o.status != StatusRunning || len(x.records) != 1 || x.records[0].Status != StepSucceeded {
			b.Fatalf("%+v %+v", o, x.records)
		}
	}
	if cpu > 0 {
		b.ReportMetric(float64((cpuTime()-cpu).Microseconds())/float64(b.N), "cpu-us/op")
	}
}
