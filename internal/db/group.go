package db

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
)

// Group commit.
//
// SQLite has one writer, and on the run path most of its time went to
// what every transaction pays once: taking the lock, writing the WAL
// frames of the pages it touched and the commit record. Transactions that
// arrive while the writer is busy therefore share one: a committer takes
// everything queued, runs each function under its own savepoint (a
// failing one undoes only its own writes), commits once, and only then
// answers each caller. Durability is unchanged: nobody is answered before
// the commit that holds their writes, and a failed commit fails them all.
// Under no load a batch is one transaction, as before.
//
// PostgreSQL has no single writer and a savepoint there is a round trip,
// so GroupTx is Tx on PostgreSQL.

// maxGroup bounds the functions of one batch, so that the last of them is
// not kept waiting behind an unbounded number of others.
const maxGroup = 128

type groupReq struct {
	ctx context.Context
	fn  func(tx *Tx) error
	tx  *Tx
	err error
	pan any
}

type committer struct {
	d *DB
	// commits and members count the batches committed and the calls in
	// them (GroupCommits).
	commits, members atomic.Uint64
	batches          *Batcher[*groupReq]
}

func newCommitter(d *DB) *committer {
	c := &committer{d: d}
	c.batches = NewBatcher(maxGroup, c.commit)
	return c
}

// GroupTx runs fn in a write transaction like Tx, which on SQLite it may
// share with other GroupTx calls made at the same time. fn sees what the
// functions before it in the same transaction wrote (as it would had they
// committed just before), and its own failure undoes only its writes.
//
// fn must do nothing but database work and must not wait for anything
// outside the transaction: the others in it wait for fn. Its statements
// run to completion even when ctx is cancelled meanwhile (an interrupted
// statement would roll back the whole shared transaction); a ctx already
// done before fn starts fails the call without running it.
func (d *DB) GroupTx(ctx context.Context, fn func(tx *Tx) error) error {
	if d.group == nil {
		return d.Tx(ctx, fn)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &groupReq{ctx: ctx, fn: fn}
	d.group.batches.Join(r)
	if r.pan != nil {
		r.tx.rolledBack()
		panic(r.pan)
	}
	if r.err != nil {
		r.tx.rolledBack()
		return r.err
	}
	for _, f := range r.tx.afterCommit {
		f()
	}
	return nil
}

// groupSavepoint names the savepoint each function of a batch runs under.
const groupSavepoint = "group_member"

func (c *committer) commit(batch []*groupReq) {
	// Callers whose context ended while they queued are not run.
	live := batch[:0:0]
	values := new(map[any]any)
	for _, r := range batch {
		r.tx = &Tx{Dialect: c.d.Dialect, stmts: c.d.writeStmts, detached: true, values: values}
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// The shared transaction belongs to no caller: one leaving must not
	// roll it back for the others.
	ctx := context.Background()
	stx, release, err := c.d.beginWrite(ctx)
	if err != nil {
		failAll(live, fmt.Errorf("begin transaction: %w", err))
		return
	}
	defer release()
	ok := live[:0:0]
	// A lone function needs no savepoint: its failure rolls back the
	// transaction, which holds nothing else.
	alone := len(live) == 1
	for _, r := range live {
		r.tx.Tx = stx
		if alone {
			c.run(r)
			if r.err == nil && r.pan == nil {
				ok = append(ok, r)
			}
			continue
		}
		if err := c.member(ctx, r); err != nil {
			// The transaction itself is lost (its savepoint could not be
			// taken or undone): everything in it fails.
			_ = stx.Rollback()
			failAll(live, err)
			return
		}
		if r.err == nil && r.pan == nil {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		_ = stx.Rollback()
		return
	}
	if err := stx.Commit(); err != nil {
		failAll(ok, fmt.Errorf("commit: %w", err))
		return
	}
	c.commits.Add(1)
	c.members.Add(uint64(len(ok)))
}

// GroupCommits reports how many shared transactions GroupTx committed and
// how many calls they held (their ratio is the mean batch); zero on
// PostgreSQL.
func (d *DB) GroupCommits() (commits, calls uint64) {
	if d.group == nil {
		return 0, 0
	}
	return d.group.commits.Load(), d.group.members.Load()
}

// member runs one function under its savepoint. It returns an error only
// when the shared transaction can no longer be used.
func (c *committer) member(ctx context.Context, r *groupReq) (fatal error) {
	if _, err := r.tx.ExecContext(ctx, `SAVEPOINT `+groupSavepoint); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	c.run(r)
	if r.err == nil && r.pan == nil {
		if _, err := r.tx.ExecContext(ctx, `RELEASE SAVEPOINT `+groupSavepoint); err != nil {
			return fmt.Errorf("release savepoint: %w", err)
		}
		return nil
	}
	// ROLLBACK TO fails when an error already ended the transaction
	// (SQLite rolls back the whole transaction on some errors): then the
	// functions before this one were undone too.
	if _, err := r.tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT `+groupSavepoint); err != nil {
		return errors.Join(r.err, fmt.Errorf("rollback to savepoint: %w", err))
	}
	r.tx.undoValues(0)
	if _, err := r.tx.ExecContext(ctx, `RELEASE SAVEPOINT `+groupSavepoint); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// run calls r's function, catching its panic.
func (c *committer) run(r *groupReq) {
	defer func() {
		if p := recover(); p != nil {
			r.pan = p
		}
	}()
	r.err = r.fn(r.tx)
}

// failAll fails every call of a lost transaction; a panicking function
// still panics in its caller.
func failAll(rs []*groupReq, err error) {
	for _, r := range rs {
		if r.pan == nil {
			r.err = err
		}
	}
}
