package db_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func insertKey(ctx context.Context, tx *db.Tx, key string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO rate_limits (key, window_start, count) VALUES ($1, $2, $3)`, key, 1, 1)
	return err
}

func keys(t *testing.T, d *db.DB) map[string]bool {
	t.Helper()
	rows, err := d.Read().QueryContext(context.Background(), `SELECT key FROM rate_limits`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[string]bool{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			t.Fatal(err)
		}
		got[k] = true
	}
	return got
}

// batch runs fns as GroupTx calls that share one transaction on SQLite:
// the writer is held while they queue, in order, behind a first call that
// waits for it. It returns each call's error (a panic as an error).
func batch(t *testing.T, d *db.DB, ctxs []context.Context, fns ...func(tx *db.Tx) error) []error {
	return batchThen(t, d, ctxs, nil, fns...)
}

// batchThen is batch, calling queued once every call has queued.
func batchThen(t *testing.T, d *db.DB, ctxs []context.Context, queued func(), fns ...func(tx *db.Tx) error) []error {
	t.Helper()
	ctx := context.Background()
	held, release := make(chan struct{}), make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- d.Tx(ctx, func(tx *db.Tx) error {
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	errs := make([]error, len(fns)+1)
	var wg sync.WaitGroup
	call := func(i int, c context.Context, fn func(tx *db.Tx) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				if p := recover(); p != nil {
					errs[i] = fmt.Errorf("panic: %v", p)
				}
			}()
			errs[i] = d.GroupTx(c, fn)
		}()
	}
	// The first call leads a batch of its own and waits for the writer.
	call(0, ctx, func(tx *db.Tx) error { return insertKey(ctx, tx, "lead") })
	waitFor(t, func() bool { return d.GroupQueued() == 0 })
	time.Sleep(20 * time.Millisecond) // the leader is in beginWrite
	for i, fn := range fns {
		c := ctx
		if ctxs != nil && ctxs[i] != nil {
			c = ctxs[i]
		}
		call(i+1, c, fn)
		if d.Dialect == db.SQLite {
			waitFor(t, func() bool { return d.GroupQueued() == i+1 })
		}
	}
	if queued != nil {
		queued()
	}
	close(release)
	if err := <-holder; err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if errs[0] != nil {
		t.Fatalf("the leading call: %v", errs[0])
	}
	return errs[1:]
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
	}
}

// Calls queued together commit in one transaction, each seeing the
// writes of those before it; a failing or panicking call undoes only its
// own writes, runs only its rollback hooks, and fails (or panics) only in
// its own caller.
func TestGroupTx_SharesACommitAndIsolatesFailures(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		boom := errors.New("boom")
		var mu sync.Mutex
		hooks := map[string]int{}
		hook := func(name string) func() {
			return func() { mu.Lock(); hooks[name]++; mu.Unlock() }
		}
		var sawFirst bool
		c0, s0 := d.GroupCommits()
		errs := batch(t, d, nil,
			func(tx *db.Tx) error {
				tx.AfterCommit(hook("a.commit"))
				tx.AfterRollback(hook("a.rollback"))
				return insertKey(ctx, tx, "a")
			},
			func(tx *db.Tx) error {
				tx.AfterCommit(hook("b.commit"))
				tx.AfterRollback(hook("b.rollback"))
				if err := insertKey(ctx, tx, "b"); err != nil {
					return err
				}
				return boom
			},
			func(tx *db.Tx) error {
				// What a (committed, in a batch: earlier) call wrote is seen.
				var n int
				if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM rate_limits WHERE key = 'a'`).Scan(&n); err != nil {
					return err
				}
				sawFirst = n == 1
				if err := insertKey(ctx, tx, "c"); err != nil {
					return err
				}
				panic("c panics")
			},
			func(tx *db.Tx) error {
				tx.AfterCommit(hook("d.commit"))
				// A unique violation of a row written earlier in the batch
				// is this call's failure alone.
				if err := insertKey(ctx, tx, "a"); !db.IsUniqueViolation(err) {
					return fmt.Errorf("duplicate insert: %v", err)
				}
				return nil
			},
			func(tx *db.Tx) error {
				tx.AfterCommit(hook("e.commit"))
				return insertKey(ctx, tx, "e")
			},
		)
		if errs[0] != nil || !errors.Is(errs[1], boom) || errs[2] == nil || errs[2].Error() != "panic: c panics" || errs[4] != nil {
			t.Fatalf("results %v", errs)
		}
		if d.Dialect == db.Postgres {
			// A failed statement ends a PostgreSQL transaction: d's call,
			// a transaction of its own there, fails.
			if errs[3] == nil {
				t.Fatal("the duplicate insert's transaction committed on PostgreSQL")
			}
		} else if errs[3] != nil {
			t.Fatalf("a call that handled its statement's failure failed: %v", errs[3])
		}
		if d.Dialect == db.SQLite && !sawFirst {
			t.Error("a later call did not see an earlier call's write")
		}
		got := keys(t, d)
		if !got["lead"] || !got["a"] || got["b"] || got["c"] || !got["e"] {
			t.Errorf("rows after the batch: %v", got)
		}
		want := map[string]int{"a.commit": 1, "b.rollback": 1, "e.commit": 1}
		if d.Dialect == db.SQLite {
			want["d.commit"] = 1
		}
		mu.Lock()
		defer mu.Unlock()
		if fmt.Sprint(hooks) != fmt.Sprint(want) {
			t.Errorf("hooks ran %v, want %v", hooks, want)
		}
		if d.Dialect == db.SQLite {
			// The leader alone, then the five queued behind it in one
			// transaction (committed with the three that succeeded).
			c1, s1 := d.GroupCommits()
			if c1-c0 != 2 || s1-s0 != 4 {
				t.Errorf("%d commits of %d calls, want 2 of 4", c1-c0, s1-s0)
			}
		}
	})
}

// A caller whose context ends while it queues is not run; one whose
// context ends while it runs does not interrupt the shared transaction
// (on SQLite an interrupted write would roll back everyone's).
func TestGroupTx_CancellationNeverUndoesOthers(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t, dbtest.SQLite().URL(t)) // SQLite: the one engine that shares transactions
	{
		ctx := context.Background()
		gone, cancelGone := context.WithCancel(ctx)
		mid, cancelMid := context.WithCancel(ctx)
		defer cancelMid()
		ran := false
		errs := batchThen(t, d, []context.Context{nil, gone, mid}, cancelGone,
			func(tx *db.Tx) error { return insertKey(ctx, tx, "a") },
			func(tx *db.Tx) error { ran = true; return insertKey(ctx, tx, "gone") },
			func(tx *db.Tx) error {
				if err := insertKey(mid, tx, "mid1"); err != nil {
					return err
				}
				cancelMid()
				return insertKey(mid, tx, "mid2")
			},
		)
		if errs[0] != nil || !errors.Is(errs[1], context.Canceled) || ran {
			t.Fatalf("results %v (the cancelled call ran: %v)", errs, ran)
		}
		got := keys(t, d)
		if !got["a"] || got["gone"] {
			t.Errorf("rows: %v", got)
		}
		if errs[2] != nil || !got["mid1"] || !got["mid2"] {
			t.Errorf("the call cancelled while it ran: %v, rows %v", errs[2], got)
		}
	}
}

// When a call ends the shared transaction itself, every call in it fails,
// including those that had succeeded, and nothing of theirs is stored.
func TestGroupTx_ALostTransactionFailsEveryCall(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t, dbtest.SQLite().URL(t)) // SQLite: the one engine that shares transactions
	ctx := context.Background()
	rolledBack := 0
	errs := batch(t, d, nil,
		func(tx *db.Tx) error {
			tx.AfterRollback(func() { rolledBack++ })
			return insertKey(ctx, tx, "a")
		},
		func(tx *db.Tx) error {
			_, err := tx.Tx.ExecContext(ctx, `ROLLBACK`)
			return err
		},
		func(tx *db.Tx) error { return insertKey(ctx, tx, "c") },
	)
	for i, err := range errs {
		if err == nil {
			t.Errorf("call %d succeeded in a lost transaction", i)
		}
	}
	if got := keys(t, d); got["a"] || got["c"] {
		t.Errorf("rows of a lost transaction: %v", got)
	}
	if rolledBack != 1 {
		t.Errorf("the first call's rollback hook ran %d times", rolledBack)
	}
	// The writer is usable again.
	if err := d.GroupTx(ctx, func(tx *db.Tx) error { return insertKey(ctx, tx, "after") }); err != nil || !keys(t, d)["after"] {
		t.Fatalf("after a lost transaction: %v", err)
	}
}

// Values set by a call that fails are gone for the calls after it; those
// of a call that succeeds are seen by them.
func TestGroupTx_ValuesFollowTheWrites(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		type key struct{}
		// On PostgreSQL the calls are transactions of their own, run at once.
		var mu sync.Mutex
		var seen []any
		look := func(tx *db.Tx) error {
			mu.Lock()
			defer mu.Unlock()
			seen = append(seen, tx.Value(key{}))
			return nil
		}
		errs := batch(t, d, nil,
			func(tx *db.Tx) error { tx.SetValue(key{}, "kept"); return nil },
			look,
			func(tx *db.Tx) error { tx.SetValue(key{}, "undone"); return errors.New("fails") },
			look,
			func(tx *db.Tx) error {
				// A savepoint that rolls back takes its values with it.
				_ = tx.Savepoint(context.Background(), "nested", func() error {
					tx.SetValue(key{}, "inner")
					return errors.New("inner fails")
				})
				return look(tx)
			},
		)
		if errs[0] != nil || errs[1] != nil || errs[2] == nil || errs[3] != nil || errs[4] != nil {
			t.Fatalf("results %v", errs)
		}
		want := "[kept kept kept]"
		if d.Dialect == db.Postgres {
			want = "[<nil> <nil> <nil>]" // every call its own transaction
		}
		if fmt.Sprint(seen) != want {
			t.Errorf("values seen %v, want %v", seen, want)
		}
	})
}

// A call alone in its transaction runs without a savepoint: its failure
// or panic still undoes its writes and runs its rollback hooks.
func TestGroupTx_ALoneCallFailsCleanly(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		rolledBack := 0
		err := d.GroupTx(ctx, func(tx *db.Tx) error {
			tx.AfterRollback(func() { rolledBack++ })
			tx.AfterCommit(func() { t.Error("a failed call's commit hook ran") })
			if err := insertKey(ctx, tx, "failed"); err != nil {
				return err
			}
			return errors.New("fails")
		})
		if err == nil || err.Error() != "fails" || rolledBack != 1 {
			t.Fatalf("failing call: %v, rollback hooks %d", err, rolledBack)
		}
		func() {
			defer func() {
				if p := recover(); p != "boom" {
					t.Errorf("recovered %v", p)
				}
			}()
			_ = d.GroupTx(ctx, func(tx *db.Tx) error {
				if err := insertKey(ctx, tx, "panicked"); err != nil {
					return err
				}
				panic("boom")
			})
		}()
		if err := d.GroupTx(ctx, func(tx *db.Tx) error { return insertKey(ctx, tx, "kept") }); err != nil {
			t.Fatal(err)
		}
		if got := keys(t, d); got["failed"] || got["panicked"] || !got["kept"] {
			t.Errorf("rows: %v", got)
		}
	})
}
