package workflow

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/plugin"
)

// appendRecord writes exactly what json.Marshal writes, for records of
// every shape: the common one it writes itself and those it hands over.
func TestAppendRecord_AsJSONMarshal(t *testing.T) {
	t.Parallel()
	texts := []string{"", "compute", "succeeded", "true", "the condition gave a string, not true or false",
		`say "hi"`, `back\slash`, "<script>&", "tab\there", "naïve", "line\u2028sep", "\x00nul", "bad \xff byte"}
	raws := []json.RawMessage{nil, json.RawMessage(`{"total":127,"count":3}`), json.RawMessage(`"a <b>"`),
		json.RawMessage(`{ "spaced": 1 }`), json.RawMessage(`[1,2,{"k":"v\"q"}]`), json.RawMessage(`"é"`),
		json.RawMessage(`null`), json.RawMessage(`{"s":"x y"}`), json.RawMessage(`"\u003c"`)}
	now := time.Date(2026, 12, 7, 12, 0, 0, 123456000, time.UTC)
	wake := now.Add(time.Hour)
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(xs []string) string { return xs[rng.IntN(len(xs))] }
	fast := 0
	for i := range 5000 {
		// Half the records take only the values written directly.
		ts, rs := texts, raws
		if i%2 == 0 {
			ts, rs = texts[:5], raws[:2]
		}
		pick := func(_ []string) string { return pick(ts) }
		raws := rs
		r := StepRecord{Seq: rng.IntN(100), StepID: pick(texts), Type: StepType(pick(texts)), Attempt: rng.IntN(5), Status: pick(texts),
			Input: raws[rng.IntN(len(raws))], Output: raws[rng.IntN(len(raws))], Error: pick(texts), Branch: pick(texts),
			StartedAt: now, FinishedAt: now.Add(time.Duration(rng.IntN(1e9))), DurationUs: rng.Int64N(1e7), Pinned: rng.IntN(2) == 0}
		switch rng.IntN(16) {
		case 0:
			r.Metrics = &plugin.Metrics{DurationMs: 3, ChargedMillicredits: 5}
		case 1:
			r.Logs = []string{"one", "two <b>"}
		case 2:
			r.WaitUntil = &wake
		case 3:
			r.StartedAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
		case 4:
			r.FinishedAt = now.In(time.FixedZone("x", 3600))
		}
		want, wantErr := json.Marshal(r)
		got, err := appendRecord(nil, r)
		if (err != nil) != (wantErr != nil) {
			t.Fatalf("record %d: error %v, json.Marshal's %v", i, err, wantErr)
		}
		if err == nil && string(got) != string(want) {
			t.Fatalf("record %d:\n got %s\nwant %s", i, got, want)
		}
		if r.Metrics == nil && r.Logs == nil && r.WaitUntil == nil && plainText(r.Error) && plainRaw(r.Input) && plainRaw(r.Output) && plainTime(r.StartedAt) {
			fast++
		}
	}
	if fast < 1000 {
		t.Errorf("only %d of the records took the direct path", fast)
	}
}
