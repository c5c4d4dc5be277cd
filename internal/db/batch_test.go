package db_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// Under load every caller is answered once, after the batch holding its
// item is done, and no batch exceeds its bound.
func TestBatcher_EachCallerAnsweredAfterItsBatch(t *testing.T) {
	t.Parallel()
	const callers, max = 400, 16
	var done [callers]atomic.Bool
	var mu sync.Mutex
	seen := map[int]int{}
	var oversized atomic.Bool
	b := db.NewBatcher(max, func(batch []int) {
		if len(batch) > max {
			oversized.Store(true)
		}
		time.Sleep(50 * time.Microsecond) // a commit's worth of waiting
		mu.Lock()
		for _, i := range batch {
			seen[i]++
		}
		mu.Unlock()
		for _, i := range batch {
			done[i].Store(true)
		}
	})
	var early atomic.Int32
	var wg sync.WaitGroup
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b.Join(i)
			if !done[i].Load() {
				early.Add(1)
			}
		}()
	}
	wg.Wait()
	if early.Load() != 0 {
		t.Errorf("%d callers were answered before their batch was done", early.Load())
	}
	if oversized.Load() {
		t.Errorf("a batch held more than %d items", max)
	}
	for i := range callers {
		if seen[i] != 1 {
			t.Errorf("item %d was done %d times", i, seen[i])
		}
	}
}

// A panic in a batch reaches every caller of that batch, and the batches
// after it are done as usual.
func TestBatcher_PanicReachesItsBatchOnly(t *testing.T) {
	t.Parallel()
	hold, held := make(chan struct{}), make(chan struct{})
	b := db.NewBatcher(8, func(batch []string) {
		for _, s := range batch {
			switch s {
			case "first":
				close(held)
				<-hold
			case "boom":
				panic("do failed")
			}
		}
	})
	join := func(s string) (p any) {
		defer func() { p = recover() }()
		b.Join(s)
		return nil
	}
	first := make(chan any, 1)
	go func() { first <- join("first") }()
	<-held
	// Queued behind the first batch, these two share the next one.
	results := make(chan [2]any, 2)
	for _, s := range []string{"boom", "bystander"} {
		go func() { results <- [2]any{s, join(s)} }()
	}
	for deadline := time.Now().Add(5 * time.Second); db.BatcherQueued(b) < 2; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the calls did not queue")
		}
	}
	close(hold)
	if p := <-first; p != nil {
		t.Fatalf("the first batch panicked: %v", p)
	}
	for range 2 {
		r := <-results
		if r[1] != "do failed" {
			t.Errorf("%v: got panic %v, want the batch's", r[0], r[1])
		}
	}
	if p := join("later"); p != nil {
		t.Fatalf("a later batch panicked: %v", p)
	}
}
