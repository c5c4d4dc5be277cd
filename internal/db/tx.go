package db

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Tx is a write transaction. Services write a change, its audit row and any
// follow-up jobs through one Tx so they commit or roll back together.
type Tx struct {
	*sql.Tx
	Dialect       Dialect
	afterCommit   []func()
	afterRollback []func()
	stmts         *stmtCache
	// detached is set on a transaction shared by GroupTx callers: their
	// statements must not be interrupted by one caller's cancellation.
	detached bool
	// values is state that follows what the SQL transaction wrote,
	// shared by every GroupTx function in it; undo restores what this
	// caller set, when its part rolls back.
	values *map[any]any
	undo   []func()
}

// Value returns what SetValue stored under key in this transaction, or
// nil. Functions sharing one transaction (GroupTx) see each other's
// values, as they see each other's writes.
func (tx *Tx) Value(key any) any {
	if tx.values == nil || *tx.values == nil {
		return nil
	}
	return (*tx.values)[key]
}

// SetValue stores v under key for the rest of the transaction: state
// kept in memory about what it wrote (a quota lease taken in it, for
// example). If the part of the transaction that set it rolls back (a
// savepoint, or a GroupTx function that fails), the previous value is
// back.
func (tx *Tx) SetValue(key, v any) {
	if tx.values == nil {
		tx.values = new(map[any]any)
	}
	if *tx.values == nil {
		*tx.values = map[any]any{}
	}
	m := *tx.values
	prev, had := m[key]
	m[key] = v
	tx.undo = append(tx.undo, func() {
		if had {
			m[key] = prev
		} else {
			delete(m, key)
		}
	})
}

// undoValues restores the values set since the first n SetValue calls.
func (tx *Tx) undoValues(n int) {
	for i := len(tx.undo) - 1; i >= n; i-- {
		tx.undo[i]()
	}
	tx.undo = tx.undo[:n]
}

// Ctx returns the context statements of tx must run under: ctx itself,
// or, in a transaction shared with other callers (GroupTx), ctx without
// its cancellation — on SQLite a cancelled statement interrupts, and an
// interrupted write rolls back the whole transaction. For code that
// hands tx.Tx to a library.
func (tx *Tx) Ctx(ctx context.Context) context.Context {
	if tx.detached {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// ExecContext runs a statement in the transaction, prepared once per query
// text where the engine benefits.
func (tx *Tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	ctx = tx.Ctx(ctx)
	if s := tx.stmt(ctx, query); s != nil {
		return s.ExecContext(ctx, args...)
	}
	return tx.Tx.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction.
func (tx *Tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	ctx = tx.Ctx(ctx)
	if s := tx.stmt(ctx, query); s != nil {
		return s.QueryContext(ctx, args...)
	}
	return tx.Tx.QueryContext(ctx, query, args...)
}

// QueryRowContext runs a single-row query in the transaction.
func (tx *Tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	ctx = tx.Ctx(ctx)
	if s := tx.stmt(ctx, query); s != nil {
		return s.QueryRowContext(ctx, args...)
	}
	return tx.Tx.QueryRowContext(ctx, query, args...)
}

func (tx *Tx) stmt(ctx context.Context, query string) *sql.Stmt {
	if tx.stmts == nil {
		return nil
	}
	s := tx.stmts.lookup(query)
	if s == nil {
		tx.stmts.prepareLater(query)
		return nil
	}
	// The transaction-bound copy is closed with the transaction.
	return tx.Tx.StmtContext(ctx, s)
}

// AfterCommit registers f to run once the transaction has committed (for
// example, to send a mail that must not go out for a rolled-back change).
// Work that must not be lost belongs in a job inserted in the transaction.
func (tx *Tx) AfterCommit(f func()) { tx.afterCommit = append(tx.afterCommit, f) }

// AfterRollback registers f to run once the transaction has rolled back
// (or failed to commit): the undo of what AfterCommit would have done.
func (tx *Tx) AfterRollback(f func()) { tx.afterRollback = append(tx.afterRollback, f) }

func (tx *Tx) rolledBack() {
	for _, f := range tx.afterRollback {
		f()
	}
}

// Tx runs fn in a write transaction. If fn returns an error or panics, the
// transaction rolls back; otherwise it commits and the after-commit hooks run.
func (d *DB) Tx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	stx, release, err := d.beginWrite(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	defer release()
	tx := &Tx{Tx: stx, Dialect: d.Dialect, stmts: d.writeStmts}
	defer func() {
		if p := recover(); p != nil {
			_ = stx.Rollback()
			tx.rolledBack()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		defer tx.rolledBack()
		if rbErr := stx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := stx.Commit(); err != nil {
		tx.rolledBack()
		return fmt.Errorf("commit: %w", err)
	}
	for _, f := range tx.afterCommit {
		f()
	}
	return nil
}

// Savepoint runs fn under a savepoint of tx: when fn fails, what it wrote
// is undone and tx goes on (on PostgreSQL also after a failed statement);
// the AfterCommit hooks fn registered are dropped and its AfterRollback
// hooks run.
// name must be a fixed SQL identifier.
func (tx *Tx) Savepoint(ctx context.Context, name string, fn func() error) error {
	ctx = tx.Ctx(ctx)
	// Savepoint statements are never prepared or cached.
	if _, err := tx.Tx.ExecContext(ctx, `SAVEPOINT `+name); err != nil {
		return fmt.Errorf("savepoint: %w", err)
	}
	// Hooks registered under the savepoint belong to what it undoes.
	commits, rollbacks, values := len(tx.afterCommit), len(tx.afterRollback), len(tx.undo)
	if err := fn(); err != nil {
		if _, rerr := tx.Tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT `+name); rerr != nil {
			return fmt.Errorf("rollback to savepoint: %w", rerr)
		}
		tx.undoValues(values)
		undone := tx.afterRollback[rollbacks:]
		tx.afterCommit, tx.afterRollback = tx.afterCommit[:commits], tx.afterRollback[:rollbacks]
		for _, f := range undone {
			f()
		}
		return err
	}
	if _, err := tx.Tx.ExecContext(ctx, `RELEASE SAVEPOINT `+name); err != nil {
		return fmt.Errorf("release savepoint: %w", err)
	}
	return nil
}

// beginWrite starts a write transaction. On SQLite the one writer
// connection is shared by requests and the job queue's pollers; when
// another process holds the lock each of them waits out the busy timeout in
// turn, and database/sql hands the freed connection to a random waiter, so
// an unbounded wait for it could outlast any client. The wait for the
// connection is bounded like the lock itself and then fails as unavailable.
//
// The release it returns, called once the transaction has ended, counts it
// for the checkpointer (checkpoint.go). Counted at the start, a commit
// landing after the checkpointer read the count would be left in the WAL
// until the next write.
func (d *DB) beginWrite(ctx context.Context) (*sql.Tx, func(), error) {
	ended := func() { d.writes.Add(1) }
	if d.writeWait <= 0 {
		stx, err := d.write.BeginTx(ctx, nil)
		return stx, ended, err
	}
	wctx, cancel := context.WithTimeout(ctx, d.writeWait)
	conn, err := d.write.Conn(wctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
			// Still the deadline too: background work retries it as it
			// retries a busy file (IsTransient).
			err = fmt.Errorf("%w: no write connection within %s: %w", ErrUnavailable, d.writeWait, err)
		}
		return nil, nil, err
	}
	stx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		_ = conn.Close()
		return nil, nil, err
	}
	return stx, func() { _ = conn.Close(); ended() }, nil
}
