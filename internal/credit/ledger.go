package credit

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// Transaction is one ledger row. Amount is signed: credits are positive,
// deductions negative.
type Transaction struct {
	ID             string          `json:"id"`
	WorkspaceID    string          `json:"workspaceId"`
	Type           Type            `json:"type"`
	Amount         int64           `json:"amount"`
	BalanceAfter   int64           `json:"balanceAfter"`
	Description    string          `json:"description"`
	Metadata       json.RawMessage `json:"metadata"`
	IdempotencyKey string          `json:"idempotencyKey"`
	ReversesID     string          `json:"reversesId,omitempty"`
	CreatedAt      time.Time       `json:"createdAt"`
}

// Change is one credit or deduction to apply.
type Change struct {
	Type Type
	// Amount is positive; the direction follows from the operation.
	Amount int64
	// Key makes the change idempotent within the workspace; empty means a
	// fresh one (the change is not retry-safe then).
	Key         string
	Description string
	Metadata    map[string]any
	// ReversesID names the row a refund reverses.
	ReversesID string
	// AuditAction overrides the audit action (default credits.<type>).
	AuditAction string
}

// Result is the outcome of a change. Replayed is true when the key had been
// used before: nothing changed and Transaction is the first result.
type Result struct {
	Transaction Transaction `json:"transaction"`
	Replayed    bool        `json:"replayed"`
}

const txColumns = `id, workspace_id, type, amount, balance_after, description, metadata, idempotency_key, reverses_id, created_at`

func scanTx(row interface{ Scan(...any) error }) (Transaction, error) {
	var t Transaction
	var meta string
	var rev sql.NullString
	err := row.Scan(&t.ID, &t.WorkspaceID, &t.Type, &t.Amount, &t.BalanceAfter, &t.Description, &meta, &t.IdempotencyKey, &rev, &t.CreatedAt)
	t.Metadata, t.ReversesID, t.CreatedAt = json.RawMessage(meta), rev.String, t.CreatedAt.UTC()
	return t, err
}

func byKey(ctx context.Context, q db.Querier, ws, key string) (Transaction, bool, error) {
	t, err := scanTx(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+txColumns+` FROM credit_transactions
		WHERE workspace_id = $1 AND idempotency_key = $2`, key))
	if errors.Is(err, sql.ErrNoRows) {
		return Transaction{}, false, nil
	}
	if err != nil {
		return Transaction{}, false, fmt.Errorf("read transaction by key: %w", err)
	}
	return t, true, nil
}

// replay answers a reused key: the same change gets its first result, a
// different one a CONFLICT.
func replay(prev Transaction, typ Type, signed int64) (Result, error) {
	if prev.Type != typ || prev.Amount != signed {
		return Result{}, apperr.New(apperr.Conflict, "idempotency key %q was already used for a different change", prev.IdempotencyKey)
	}
	return Result{Transaction: prev, Replayed: true}, nil
}

func metaJSON(m map[string]any) (string, error) {
	if m == nil {
		return "{}", nil
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", fmt.Errorf("encode metadata: %w", err)
	}
	return string(b), nil
}

func (c *Change) prepare() error {
	if err := checkAmount("amount", c.Amount); err != nil {
		return err
	}
	if !c.Type.Valid() {
		return apperr.Invalid(apperr.FieldError{Field: "type", Message: "must be purchase, usage, refund, bonus or grant"})
	}
	if err := checkKey(c.Key); err != nil {
		return err
	}
	d, err := checkDescription(c.Description)
	if err != nil {
		return err
	}
	c.Description = d
	if c.Key == "" {
		c.Key = ids.New(ids.CreditTransaction)
	}
	return nil
}

// insertRow appends a ledger row unless the key is taken; ok is false then.
// An INSERT has no WHERE to scope; the comment carries the scope marker and
// the workspace is still bound as $1 by db.Scope.
func insertRow(ctx context.Context, tx *db.Tx, t Transaction) (bool, error) {
	err := db.Scope(tx, t.WorkspaceID).QueryRowContext(ctx, `INSERT INTO credit_transactions (workspace_id, `+ledgerColumns+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
		ON CONFLICT (workspace_id, idempotency_key) DO NOTHING RETURNING id /* workspace_id = $1 */`,
		t.ID, t.Type, t.Amount, t.BalanceAfter, t.Description, string(t.Metadata), t.IdempotencyKey, nullable(t.ReversesID), t.CreatedAt).Scan(new(string))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("insert ledger row: %w", err)
	}
	return true, nil
}

// creditAndLog adds t.Amount (and life to the lifetime total) to the
// balance, unless that would take it past MaxBalance (sql.ErrNoRows then,
// and nothing changed), and appends t with the balance after it. On
// PostgreSQL both are one statement; SQLite, which has no data-modifying
// CTEs, takes two. logged is false when t's key was already used: the
// balance was credited all the same, and the caller undoes it.
func creditAndLog(ctx context.Context, tx *db.Tx, t *Transaction, life int64) (logged bool, err error) {
	sc := db.Scope(tx, t.WorkspaceID)
	const upsert = `INSERT INTO credit_balances (workspace_id, balance, lifetime, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $4)
		ON CONFLICT (workspace_id) DO UPDATE SET balance = credit_balances.balance + excluded.balance,
			lifetime = credit_balances.lifetime + excluded.lifetime, updated_at = excluded.updated_at
		WHERE credit_balances.workspace_id = $1 AND credit_balances.balance <= $5
		RETURNING balance`
	if tx.Dialect == db.Postgres {
		err := sc.QueryRowContext(ctx, `WITH b AS (`+upsert+`),
			t AS (INSERT INTO credit_transactions (workspace_id, `+ledgerColumns+`)
				SELECT $1, $6, $7, $2, b.balance, $8, $9, $10, $11, $4 FROM b
				ON CONFLICT (workspace_id, idempotency_key) DO NOTHING RETURNING id)
			SELECT b.balance, EXISTS (SELECT 1 FROM t) FROM b`,
			t.Amount, life, t.CreatedAt, MaxBalance-t.Amount,
			t.ID, t.Type, t.Description, string(t.Metadata), t.IdempotencyKey, nullable(t.ReversesID)).Scan(&t.BalanceAfter, &logged)
		return logged, err
	}
	if err := sc.QueryRowContext(ctx, upsert, t.Amount, life, t.CreatedAt, MaxBalance-t.Amount).Scan(&t.BalanceAfter); err != nil {
		return false, err
	}
	return insertRow(ctx, tx, *t)
}

// deductAndLog takes -t.Amount from the spendable balance (balance minus
// reservations), unless it is short (sql.ErrNoRows then, and nothing
// changed), and appends t with the balance after it; it returns the
// workspace's settings as stored. On PostgreSQL both are one statement,
// on SQLite two. logged is false when t's key was already used: the
// balance was charged all the same, and the caller undoes it.
func deductAndLog(ctx context.Context, tx *db.Tx, t *Transaction) (rawSettings string, logged bool, err error) {
	sc := db.Scope(tx, t.WorkspaceID)
	const update = `UPDATE credit_balances SET balance = balance - $2, updated_at = $3
		WHERE workspace_id = $1 AND balance - reserved >= $2 RETURNING balance, settings`
	if tx.Dialect == db.Postgres {
		err := sc.QueryRowContext(ctx, `WITH b AS (`+update+`),
			t AS (INSERT INTO credit_transactions (workspace_id, `+ledgerColumns+`)
				SELECT $1, $4, $5, $6, b.balance, $7, $8, $9, $10, $3 FROM b
				ON CONFLICT (workspace_id, idempotency_key) DO NOTHING RETURNING id)
			SELECT b.balance, b.settings, EXISTS (SELECT 1 FROM t) FROM b`,
			-t.Amount, t.CreatedAt,
			t.ID, t.Type, t.Amount, t.Description, string(t.Metadata), t.IdempotencyKey, nullable(t.ReversesID)).Scan(&t.BalanceAfter, &rawSettings, &logged)
		return rawSettings, logged, err
	}
	if err := sc.QueryRowContext(ctx, update, -t.Amount, t.CreatedAt).Scan(&t.BalanceAfter, &rawSettings); err != nil {
		return "", false, err
	}
	logged, err = insertRow(ctx, tx, *t)
	return rawSettings, logged, err
}

// ledgerColumns are a ledger row's columns after workspace_id, in the
// order insertRow and the statements above give them.
const ledgerColumns = `id, type, amount, balance_after, description, metadata, idempotency_key, reverses_id, created_at`

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// countsTowardLifetime: lifetime is every credit bought or given.
func countsTowardLifetime(t Type) bool { return t == Purchase || t == Bonus || t == Grant }

// creditTx adds c.Amount to a workspace inside tx: one conditional upsert of
// the balance, its ledger row (one statement with it on PostgreSQL,
// creditAndLog) and its audit row. It checks no permission;
// exported callers do.
func (s *Service) creditTx(ctx context.Context, tx *db.Tx, a actor.Actor, ws string, c Change) (Result, error) {
	if err := c.prepare(); err != nil {
		return Result{}, err
	}
	if c.Type == Usage {
		return Result{}, apperr.Invalid(apperr.FieldError{Field: "type", Message: "usage is a deduction, not a credit"})
	}
	meta, err := metaJSON(c.Metadata)
	if err != nil {
		return Result{}, err
	}
	life := int64(0)
	if countsTowardLifetime(c.Type) {
		life = c.Amount
	}
	t := Transaction{ID: ids.New(ids.CreditTransaction), WorkspaceID: ws, Type: c.Type, Amount: c.Amount,
		Description: c.Description, Metadata: json.RawMessage(meta), IdempotencyKey: c.Key, ReversesID: c.ReversesID, CreatedAt: db.Now()}
	sc := db.Scope(tx, ws)
	ok, err := creditAndLog(ctx, tx, &t, life)
	if errors.Is(err, sql.ErrNoRows) {
		return Result{}, apperr.Invalid(apperr.FieldError{Field: "amount", Message: "the balance would exceed its maximum"})
	}
	if err != nil {
		return Result{}, fmt.Errorf("credit balance: %w", err)
	}
	if !ok {
		// The key was used: undo the increment (same transaction, so no one
		// saw it) and answer with the first result.
		if _, err := sc.ExecContext(ctx, `UPDATE credit_balances SET balance = balance - $2, lifetime = lifetime - $3
			WHERE workspace_id = $1`, c.Amount, life); err != nil {
			return Result{}, fmt.Errorf("undo duplicate credit: %w", err)
		}
		prev, found, err := byKey(ctx, tx, ws, c.Key)
		if err != nil || !found {
			return Result{}, errors.Join(err, errors.New("duplicate ledger key vanished"))
		}
		return replay(prev, c.Type, c.Amount)
	}
	if err := s.auditChange(ctx, tx, a, t, c); err != nil {
		return Result{}, err
	}
	return Result{Transaction: t}, nil
}

// debitTx takes c.Amount from the actor's workspace inside tx. The deduction
// is one statement that refuses to take the spendable balance below zero
// and, on PostgreSQL, also writes its ledger row (deductAndLog); the audit
// row follows in the same transaction.
func (s *Service) debitTx(ctx context.Context, tx *db.Tx, a actor.Actor, ws string, c Change) (Result, error) {
	if c.Type == "" {
		c.Type = Usage
	}
	if err := c.prepare(); err != nil {
		return Result{}, err
	}
	if c.Type != Usage && c.Type != Refund {
		return Result{}, apperr.Invalid(apperr.FieldError{Field: "type", Message: "a deduction is usage or the refund of a purchase"})
	}
	meta, err := metaJSON(c.Metadata)
	if err != nil {
		return Result{}, err
	}
	t := Transaction{ID: ids.New(ids.CreditTransaction), WorkspaceID: ws, Type: c.Type, Amount: -c.Amount,
		Description: c.Description, Metadata: json.RawMessage(meta), IdempotencyKey: c.Key, ReversesID: c.ReversesID, CreatedAt: db.Now()}
	sc := db.Scope(tx, ws)
	rawSettings, ok, err := deductAndLog(ctx, tx, &t)
	if errors.Is(err, sql.ErrNoRows) {
		if prev, found, kerr := byKey(ctx, tx, ws, c.Key); kerr != nil {
			return Result{}, kerr
		} else if found {
			return replay(prev, c.Type, -c.Amount)
		}
		b, berr := s.balanceOf(ctx, tx, ws)
		if berr != nil {
			return Result{}, berr
		}
		return Result{}, insufficient(b.Available, c.Amount)
	}
	if err != nil {
		return Result{}, fmt.Errorf("deduct: %w", err)
	}
	after := t.BalanceAfter
	if !ok {
		if _, err := sc.ExecContext(ctx, `UPDATE credit_balances SET balance = balance + $2 WHERE workspace_id = $1`, c.Amount); err != nil {
			return Result{}, fmt.Errorf("undo duplicate deduction: %w", err)
		}
		prev, found, err := byKey(ctx, tx, ws, c.Key)
		if err != nil || !found {
			return Result{}, errors.Join(err, errors.New("duplicate ledger key vanished"))
		}
		return replay(prev, c.Type, -c.Amount)
	}
	if err := s.auditChange(ctx, tx, a, t, c); err != nil {
		return Result{}, err
	}
	if m := s.metrics; m != nil {
		tx.AfterCommit(func() { m.Credits(string(c.Type), c.Amount) })
	}
	// Only usage crosses the auto top-up threshold: a refund gave the money
	// back, and charging the card again at once would undo it.
	if hook := s.crossingHook(); hook != nil && c.Type == Usage {
		set := parseSettings(rawSettings)
		before := after + c.Amount
		if th := set.AutoTopUp.Threshold; set.AutoTopUp.Enabled && before >= th && after < th {
			if err := hook(ctx, tx, ws, t.ID, set); err != nil {
				return Result{}, fmt.Errorf("auto top-up: %w", err)
			}
		}
	}
	if c.Type == Usage {
		if err := s.crossedLowTx(ctx, tx, ws, t.ID, after+c.Amount, after, parseSettings(rawSettings)); err != nil {
			return Result{}, fmt.Errorf("low balance: %w", err)
		}
	}
	return Result{Transaction: t}, nil
}

func (s *Service) auditChange(ctx context.Context, tx *db.Tx, a actor.Actor, t Transaction, c Change) error {
	action := c.AuditAction
	if action == "" {
		action = "credits." + string(t.Type)
	}
	meta := map[string]any{"workspaceId": t.WorkspaceID, "amount": t.Amount, "balanceAfter": t.BalanceAfter,
		"idempotencyKey": t.IdempotencyKey, "type": t.Type}
	if t.ReversesID != "" {
		meta["reversesId"] = t.ReversesID
	}
	for k, v := range c.Metadata {
		if _, taken := meta[k]; !taken {
			meta[k] = v
		}
	}
	e := audit.Entry{Action: action, Resource: "credit_transaction", ResourceID: t.ID, Metadata: meta}
	if a.System {
		// A system actor (webhook, job) acts for the workspace it names.
		if ids.Valid(ids.Organization, t.WorkspaceID) {
			e.OrganizationID = t.WorkspaceID
		} else {
			e.UserID = t.WorkspaceID
		}
	}
	return audit.Record(ctx, tx, a, e)
}

// AddCreditsTx credits a workspace inside the caller's transaction. It is
// for trusted callers (billing after a verified payment); it checks no
// permission.
func (s *Service) AddCreditsTx(ctx context.Context, tx *db.Tx, a actor.Actor, workspaceID string, c Change) (Result, error) {
	if workspaceID == "" {
		return Result{}, errors.New("credit: add without a workspace")
	}
	return s.creditTx(ctx, tx, a, workspaceID, c)
}

// AddCredits is AddCreditsTx in a transaction of its own.
func (s *Service) AddCredits(ctx context.Context, a actor.Actor, workspaceID string, c Change) (Result, error) {
	var r Result
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		var err error
		r, err = s.creditTx(ctx, tx, a, workspaceID, c)
		return err
	})
	return r, err
}

// DeductCredits charges the actor's workspace: it succeeds with the new
// balance, or fails with INSUFFICIENT_CREDITS and changes nothing. A reused
// key answers with the first result (Replayed) and charges nothing.
func (s *Service) DeductCredits(ctx context.Context, a actor.Actor, c Change) (Result, error) {
	if err := requireActor(a); err != nil {
		return Result{}, err
	}
	var r Result
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		var err error
		r, err = s.debitTx(ctx, tx, a, a.WorkspaceID(), c)
		return err
	})
	return r, err
}

// DeductCreditsTx is DeductCredits inside the caller's transaction, so a
// charge commits or rolls back with the work it pays for.
func (s *Service) DeductCreditsTx(ctx context.Context, tx *db.Tx, a actor.Actor, c Change) (Result, error) {
	if err := requireActor(a); err != nil {
		return Result{}, err
	}
	return s.debitTx(ctx, tx, a, a.WorkspaceID(), c)
}
