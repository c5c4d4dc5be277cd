package ratelimit_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/ratelimit"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time             { return c.t }
func (c *clock) add(d time.Duration)        { c.t = c.t.Add(d) }
func newClock() *clock                      { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }
func local(c *clock) *ratelimit.Local       { return ratelimit.NewLocal(ratelimit.LocalOptions{Now: c.now}) }
func rule(key string, n int) ratelimit.Rule { return ratelimit.Rule{Key: key, Limit: n} }

func TestLocal_AllowsTheLimitAtOnceThenRefillsSteadily(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := local(c)
	for i := range 60 {
		d := l.Allow(rule("k", 60))
		if !d.Allowed || d.Limit != 60 || d.Remaining != 59-i || d.Reset != time.Duration(i+1)*time.Second {
			t.Fatalf("request %d: %+v", i+1, d)
		}
	}
	d := l.Allow(rule("k", 60))
	if d.Allowed || d.Remaining != 0 || d.RetryAfter != time.Second || d.Reset != time.Minute || d.Rule != 0 {
		t.Fatalf("over the limit: %+v", d)
	}
	// Refused requests use nothing: half a second later it is still refused
	// with half a second to wait.
	c.add(500 * time.Millisecond)
	if d := l.Allow(rule("k", 60)); d.Allowed || d.RetryAfter != 500*time.Millisecond {
		t.Fatalf("refusal consumed: %+v", d)
	}
	c.add(500 * time.Millisecond)
	if d := l.Allow(rule("k", 60)); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("one refilled: %+v", d)
	}
	// A full period idle refills the whole bucket.
	c.add(time.Minute)
	if d := l.Allow(rule("k", 60)); !d.Allowed || d.Remaining != 59 {
		t.Fatalf("after a period: %+v", d)
	}
}

func TestLocal_KeysAreSeparate(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := local(c)
	for range 3 {
		l.Allow(rule("a", 3))
	}
	if d := l.Allow(rule("a", 3)); d.Allowed {
		t.Fatalf("a over its limit: %+v", d)
	}
	if d := l.Allow(rule("b", 3)); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("b: %+v", d)
	}
}

// A request counts against every rule or none, and the decision describes
// the most restrictive rule.
func TestLocal_SeveralRulesAllOrNothing(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := local(c)
	// Key a (limit 3) is tighter than the workspace (limit 5).
	for i := range 3 {
		d := l.Allow(rule("key:a", 3), rule("ws", 5))
		if !d.Allowed || d.Rule != 0 || d.Limit != 3 || d.Remaining != 2-i {
			t.Fatalf("a %d: %+v", i, d)
		}
	}
	if d := l.Allow(rule("key:a", 3), rule("ws", 5)); d.Allowed || d.Rule != 0 {
		t.Fatalf("a over: %+v", d)
	}
	// Key b: the workspace has 2 left, fewer than b's 3.
	for i := range 2 {
		d := l.Allow(rule("key:b", 3), rule("ws", 5))
		if !d.Allowed || d.Rule != 1 || d.Limit != 5 || d.Remaining != 1-i {
			t.Fatalf("b %d: %+v", i, d)
		}
	}
	d := l.Allow(rule("key:b", 3), rule("ws", 5))
	if d.Allowed || d.Rule != 1 || d.Limit != 5 || d.RetryAfter != 12*time.Second {
		t.Fatalf("workspace over: %+v", d)
	}
	// The refusal did not use b's own bucket: once the workspace refills,
	// b still has one left.
	c.add(time.Minute)
	if d := l.Allow(rule("key:b", 3)); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("b after: %+v", d)
	}
	// No limit, no decision.
	if d := l.Allow(rule("x", 0)); !d.Allowed || d.Rule != -1 {
		t.Fatalf("unlimited: %+v", d)
	}
}

// A raised limit keeps the requests used so far and allows the difference
// at once; a lowered one caps the debt at one period.
func TestLocal_ChangedLimitKeepsTheRequestsUsed(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := local(c)
	for range 60 {
		l.Allow(rule("k", 60))
	}
	if d := l.Allow(rule("k", 60)); d.Allowed {
		t.Fatal("over the limit")
	}
	d := l.Allow(rule("k", 300))
	if !d.Allowed || d.Limit != 300 || d.Remaining != 239 {
		t.Fatalf("after the upgrade: %+v", d)
	}
	// 61 used of 300; down to 60: full, one refills in a second.
	d = l.Allow(rule("k", 60))
	if d.Allowed || d.RetryAfter != time.Second || d.Reset != time.Minute {
		t.Fatalf("after the downgrade: %+v", d)
	}
}

// With n nodes each enforces ceil(limit/n) and reports the cluster-wide
// limit and an estimate of what is left.
func TestLocal_NodeShare(t *testing.T) {
	t.Parallel()
	c := newClock()
	nodes := 2
	l := ratelimit.NewLocal(ratelimit.LocalOptions{Now: c.now, Nodes: func() int { return nodes }})
	for i := range 30 {
		d := l.Allow(rule("k", 60))
		if !d.Allowed || d.Limit != 60 || d.Remaining != 2*(29-i) {
			t.Fatalf("request %d: %+v", i+1, d)
		}
	}
	d := l.Allow(rule("k", 60))
	if d.Allowed || d.RetryAfter != 2*time.Second {
		t.Fatalf("over the share: %+v", d)
	}
	// A node leaving raises the share at the next request.
	nodes = 1
	if d := l.Allow(rule("k", 60)); !d.Allowed || d.Remaining != 29 {
		t.Fatalf("alone: %+v", d)
	}
	// Odd shares round up: 7 nodes, limit 60 → 9 each.
	nodes = 7
	for i := range 9 {
		if d := l.Allow(rule(fmt.Sprint("s", 7), 60)); !d.Allowed {
			t.Fatalf("share request %d refused", i+1)
		}
	}
	if d := l.Allow(rule("s7", 60)); d.Allowed {
		t.Fatal("more than the share")
	}
}

// Buckets of idle keys are dropped once full, so memory follows the keys
// active within the last period, not every key ever seen.
func TestLocal_ForgetsIdleBuckets(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := local(c)
	for i := range 1000 {
		l.Allow(rule(fmt.Sprint("key", i), 60))
	}
	if n := l.Len(); n != 1000 {
		t.Fatalf("%d buckets", n)
	}
	c.add(time.Minute + time.Second)
	l.Allow(rule("busy", 60))
	if n := l.Len(); n != 1 {
		t.Fatalf("%d buckets after a idle period, want 1", n)
	}
	// A bucket still in debt at the next sweep is kept.
	c.add(30 * time.Second)
	for range 60 {
		l.Allow(rule("busy", 60))
	}
	c.add(31 * time.Second)
	l.Allow(rule("other", 60))
	if n := l.Len(); n != 2 {
		t.Fatalf("%d buckets, want busy and other", n)
	}
}

// Parallel requests share one count: exactly the limit gets through.
func TestLocal_ParallelRequestsNeverExceedTheLimit(t *testing.T) {
	t.Parallel()
	c := newClock()
	l := local(c)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				if l.Allow(rule(fmt.Sprint("key", g%2), 300), rule("ws", 500)).Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != 500 {
		t.Fatalf("%d allowed, want 500", n)
	}
}

// The cost an authenticated request pays: two rules over many keys.
func BenchmarkLocal_Allow(b *testing.B) {
	l := ratelimit.NewLocal(ratelimit.LocalOptions{})
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = fmt.Sprint("key:", i)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			l.Allow(rule(keys[i%len(keys)], 1<<30), rule("ws", 1<<30))
			i++
		}
	})
}
