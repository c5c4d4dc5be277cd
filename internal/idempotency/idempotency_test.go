package idempotency_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/idempotency"
)

const ws = "usr_01hzzzzzzzzzzzzzzzzzzzzzzz"

func TestBegin_OneClaimManyReplays(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := idempotency.New(d, nil)
		ctx := context.Background()
		h := idempotency.Hash("POST", "/x", []byte(`{"a":1}`))
		var claims, replays atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				c, res, err := s.Begin(ctx, ws, "POST /x", "k1", h)
				if err != nil {
					t.Error(err)
					return
				}
				if c != nil {
					claims.Add(1)
					if err := s.Complete(ctx, c, idempotency.Response{Status: 201, ContentType: "application/json", Body: []byte(`{"id":1}`)}); err != nil {
						t.Error(err)
					}
					return
				}
				if res.Status != 201 || string(res.Body) != `{"id":1}` || res.ContentType != "application/json" {
					t.Errorf("replay %+v", res)
				}
				replays.Add(1)
			}()
		}
		close(start)
		wg.Wait()
		if claims.Load() != 1 || replays.Load() != 19 {
			t.Fatalf("claims %d replays %d, want 1 and 19", claims.Load(), replays.Load())
		}

		// Another body with the same key: IDEMPOTENCY_CONFLICT.
		_, _, err := s.Begin(ctx, ws, "POST /x", "k1", idempotency.Hash("POST", "/x", []byte(`{"a":2}`)))
		if !apperr.Is(err, apperr.IdempotencyConflict) {
			t.Fatalf("different body: %v", err)
		}
		// The same key on another route or in another workspace is another key.
		for _, c := range []struct{ ws, route string }{{ws, "POST /y"}, {"usr_01hyyyyyyyyyyyyyyyyyyyyyyy", "POST /x"}} {
			if cl, _, err := s.Begin(ctx, c.ws, c.route, "k1", h); err != nil || cl == nil {
				t.Fatalf("%v: claim %v, %v", c, cl, err)
			}
		}
	})
}

func TestRelease_LetsTheNextRequestRun(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := idempotency.New(d, nil)
		ctx := context.Background()
		h := idempotency.Hash("POST", "/x", nil)
		c, _, err := s.Begin(ctx, ws, "POST /x", "k", h)
		if err != nil || c == nil {
			t.Fatal(c, err)
		}
		// A follower waits while the claim is held, then runs itself once
		// the first request releases the key (it failed with a 5xx).
		got := make(chan *idempotency.Claim, 1)
		go func() {
			c2, _, err := s.Begin(ctx, ws, "POST /x", "k", h)
			if err != nil {
				t.Error(err)
			}
			got <- c2
		}()
		select {
		case <-got:
			t.Fatal("the follower did not wait for the claim")
		default:
		}
		if err := s.Release(ctx, c); err != nil {
			t.Fatal(err)
		}
		if c2 := <-got; c2 == nil {
			t.Fatal("the follower did not claim the released key")
		}
	})
}

func TestBegin_WaitRunsOutWithConflict(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := idempotency.New(d, nil)
		s.Wait = 50 * time.Millisecond
		ctx := context.Background()
		h := idempotency.Hash("POST", "/x", nil)
		if c, _, err := s.Begin(ctx, ws, "POST /x", "k", h); err != nil || c == nil {
			t.Fatal(c, err)
		}
		_, _, err := s.Begin(ctx, ws, "POST /x", "k", h)
		if !apperr.Is(err, apperr.IdempotencyConflict) {
			t.Fatalf("still in progress: %v", err)
		}
	})
}

func TestExpiredKeysAndDeadClaimsAreTakenOver(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		h := idempotency.Hash("POST", "/x", nil)

		// A claim whose holder died is taken over by the same request once
		// its lease is over.
		dead := idempotency.New(d, nil)
		dead.Lease = -time.Second
		if c, _, err := dead.Begin(ctx, ws, "POST /x", "lease", h); err != nil || c == nil {
			t.Fatal(c, err)
		}
		s := idempotency.New(d, nil)
		c, _, err := s.Begin(ctx, ws, "POST /x", "lease", h)
		if err != nil || c == nil {
			t.Fatalf("take over a dead claim: %v %v", c, err)
		}

		// An expired answer is forgotten: the key runs again, even for
		// another body, and the sweep deletes what expired.
		old := idempotency.New(d, nil)
		old.TTL = -time.Second
		c, _, err = old.Begin(ctx, ws, "POST /x", "ttl", h)
		if err != nil || c == nil {
			t.Fatal(c, err)
		}
		if err := old.Complete(ctx, c, idempotency.Response{Status: 200}); err != nil {
			t.Fatal(err)
		}
		other := idempotency.Hash("POST", "/x", []byte("{}"))
		if c, _, err := s.Begin(ctx, ws, "POST /x", "ttl", other); err != nil || c == nil {
			t.Fatalf("reuse an expired key: %v %v", c, err)
		}
		if c, _, err := old.Begin(ctx, ws, "POST /x", "gone", h); err != nil || c == nil {
			t.Fatal(c, err)
		}
		n, err := s.DeleteExpired(ctx, time.Now())
		if err != nil || n != 1 {
			t.Fatalf("deleted %d, %v; want 1", n, err)
		}
	})
}

// A request that runs longer than the lease keeps its key: its holder
// renews the lease, so a retry waits instead of running a second time.
func TestBegin_LiveClaimOutlastsItsLease(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := idempotency.New(d, nil)
		s.Lease = 300 * time.Millisecond
		s.Wait = 1500 * time.Millisecond
		ctx := context.Background()
		h := idempotency.Hash("POST", "/x", nil)
		first, _, err := s.Begin(ctx, ws, "POST /x", "long", h)
		if err != nil || first == nil {
			t.Fatal(first, err)
		}
		c, _, err := s.Begin(ctx, ws, "POST /x", "long", h)
		if !apperr.Is(err, apperr.IdempotencyConflict) {
			t.Fatalf("a retry took over a live claim after its lease: %v %v", c, err)
		}
		if err := s.Complete(ctx, first, idempotency.Response{Status: 201, Body: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
		if _, res, err := s.Begin(ctx, ws, "POST /x", "long", h); err != nil || res == nil || res.Status != 201 {
			t.Fatalf("replay after the long request: %v %v", res, err)
		}
	})
}
