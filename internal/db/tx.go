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
	Dialect     Dialect
	afterCommit []func()
}

// AfterCommit registers f to run once the transaction has committed (for
// example, to send a mail that must not go out for a rolled-back change).
// Work that must not be lost belongs in a job inserted in the transaction.
func (tx *Tx) AfterCommit(f func()) { tx.afterCommit = append(tx.afterCommit, f) }

// Tx runs fn in a write transaction. If fn returns an error or panics, the
// transaction rolls back; otherwise it commits and the after-commit hooks run.
func (d *DB) Tx(ctx context.Context, fn func(tx *Tx) error) (err error) {
	stx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	tx := &Tx{Tx: stx, Dialect: d.Dialect}
	defer func() {
		if p := recover(); p != nil {
			_ = stx.Rollback()
			panic(p)
		}
	}()
	if err := fn(tx); err != nil {
		if rbErr := stx.Rollback(); rbErr != nil && !errors.Is(rbErr, sql.ErrTxDone) {
			return errors.Join(err, fmt.Errorf("rollback: %w", rbErr))
		}
		return err
	}
	if err := stx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	for _, f := range tx.afterCommit {
		f()
	}
	return nil
}
