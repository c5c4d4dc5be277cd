package ratelimit

import (
	"sync"
	"time"
)

// Local is an in-memory limiter (GCRA: a token bucket kept as one
// timestamp per key) that enforces this node's share of cluster-wide
// limits. It never touches the database: a cluster of n live nodes gives
// each node ceil(limit/n) of every limit, so the cluster as a whole allows
// about the limit when a load balancer spreads a client's requests evenly
// (docs/architecture-notes.md says what that trades away).
type Local struct {
	period time.Duration
	now    func() time.Time
	nodes  func() int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

// bucket is one key's state. tat is GCRA's theoretical arrival time: the
// bucket is full at or after it, and each request moves it one emission
// interval (period/limit) later. limit is the limit tat was computed for,
// so that a changed limit (a plan change) carries the used requests over.
type bucket struct {
	tat   time.Time
	limit int
}

// LocalOptions configure a Local.
type LocalOptions struct {
	// Period is the window every limit is counted in (default a minute):
	// a full bucket takes limit requests at once and refills over Period.
	Period time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Nodes reports how many nodes share the limits (default 1); values
	// below 1 count as 1.
	Nodes func() int
}

// NewLocal returns an empty limiter.
func NewLocal(o LocalOptions) *Local {
	if o.Period <= 0 {
		o.Period = time.Minute
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Nodes == nil {
		o.Nodes = func() int { return 1 }
	}
	return &Local{period: o.Period, now: o.Now, nodes: o.Nodes, buckets: map[string]*bucket{}, lastSweep: o.Now()}
}

// Rule is one limit a request counts against: Limit requests per period
// for Key, across the cluster. A Limit below 1 means no limit.
type Rule struct {
	Key   string
	Limit int
}

// Decision is the outcome of Allow, described by the most restrictive rule:
// the one that refused (the longest wait if several did), else the one with
// the fewest requests left. Limit and Remaining are cluster-wide: Remaining
// is this node's remaining share scaled up by the number of nodes, exact on
// one node and an estimate on several.
type Decision struct {
	Allowed bool
	// Rule is the index of the describing rule in Allow's arguments, or -1
	// when no rule applied.
	Rule      int
	Limit     int
	Remaining int
	// Reset is how long until the bucket is full again; RetryAfter, on a
	// refusal, how long until one more request would be allowed.
	Reset      time.Duration
	RetryAfter time.Duration
}

// Allow counts one request against every rule, or against none of them if
// any refuses: a request refused by the workspace's limit does not use up
// its API key's.
func (l *Local) Allow(rules ...Rule) Decision {
	now := l.now()
	n := max(l.nodes(), 1)
	type step struct {
		b      *bucket
		key    string
		tat    time.Time
		share  int
		limit  int
		denied bool
		wait   time.Duration
		rem    int
	}
	steps := make([]step, 0, len(rules))
	idx := make([]int, 0, len(rules))

	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	allowed := true
	for i, r := range rules {
		if r.Limit < 1 {
			continue
		}
		share := (r.Limit + n - 1) / n
		emission := max(l.period/time.Duration(share), 1)
		b := l.buckets[r.Key]
		tat := now
		if b != nil {
			tat = rescale(b, share, now, l.period)
		}
		newTat := tat.Add(emission)
		s := step{b: b, key: r.Key, share: share, limit: r.Limit, tat: newTat}
		if wait := newTat.Sub(now) - l.period; wait > 0 {
			s.denied, s.wait, s.tat = true, wait, tat
			allowed = false
		} else {
			s.rem = int((l.period - newTat.Sub(now)) / emission)
		}
		steps = append(steps, s)
		idx = append(idx, i)
	}
	d := Decision{Allowed: allowed, Rule: -1}
	best := -1
	for i, s := range steps {
		if allowed {
			if s.b == nil {
				s.b = &bucket{}
				l.buckets[s.key] = s.b
			}
			s.b.tat, s.b.limit = s.tat, s.share
			steps[i] = s
		}
		if best < 0 || worse(s.denied, s.wait, s.rem, s.tat, steps[best].denied, steps[best].wait, steps[best].rem, steps[best].tat) {
			best = i
		}
	}
	if best < 0 {
		return d
	}
	s := steps[best]
	d.Rule, d.Limit = idx[best], s.limit
	d.Remaining = min(s.rem*s.limit/s.share, s.limit)
	if s.denied {
		d.Remaining, d.RetryAfter = 0, s.wait
	}
	d.Reset = max(s.tat.Sub(now), 0)
	return d
}

// worse reports whether rule a describes a request better than rule b: a
// refusal beats an allowance, a longer wait a shorter one, fewer requests
// left more, and a later refill an earlier one.
func worse(aDenied bool, aWait time.Duration, aRem int, aTat time.Time, bDenied bool, bWait time.Duration, bRem int, bTat time.Time) bool {
	if aDenied != bDenied {
		return aDenied
	}
	if aDenied {
		return aWait > bWait
	}
	if aRem != bRem {
		return aRem < bRem
	}
	return aTat.After(bTat)
}

// rescale returns b's arrival time under a limit of share per period. A
// changed limit keeps the number of requests the bucket has used (so a
// plan upgrade leaves more to use at once), capped at the new limit: the
// time they take is (tat−now)/(period/old) requests of period/new each.
func rescale(b *bucket, share int, now time.Time, period time.Duration) time.Time {
	if !b.tat.After(now) {
		return now
	}
	if b.limit == share || b.limit < 1 {
		return b.tat
	}
	used := b.tat.Sub(now) * time.Duration(b.limit) / time.Duration(share)
	return now.Add(min(used, period))
}

// sweep forgets every full bucket, at most once a period: a full bucket
// behaves exactly like a missing one, so this changes no decision, and
// memory stays proportional to the keys used within the last period.
func (l *Local) sweep(now time.Time) {
	if now.Sub(l.lastSweep) < l.period {
		return
	}
	l.lastSweep = now
	for k, b := range l.buckets {
		if !b.tat.After(now) {
			delete(l.buckets, k)
		}
	}
}

// Len is how many buckets the limiter holds.
func (l *Local) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
