package credit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// Reservation holds part of a balance for work whose cost is known only
// afterwards: an AI call reserves its estimate, then settles the real cost
// or releases the hold. Held credits cannot be spent by anything else; an
// open reservation past ExpiresAt is released by ReleaseExpired.
type Reservation struct {
	ID             string    `json:"id"`
	WorkspaceID    string    `json:"workspaceId"`
	Amount         int64     `json:"amount"`
	Status         string    `json:"status"`
	IdempotencyKey string    `json:"idempotencyKey"`
	Description    string    `json:"description"`
	TransactionID  string    `json:"transactionId,omitempty"`
	CreatedAt      time.Time `json:"createdAt"`
	ExpiresAt      time.Time `json:"expiresAt"`
}

// DefaultReservationTTL is how long a hold lasts unless settled.
const DefaultReservationTTL = 15 * time.Minute

const resColumns = `id, workspace_id, amount, status, idempotency_key, description, transaction_id, created_at, expires_at`

func scanReservation(row interface{ Scan(...any) error }) (Reservation, error) {
	var r Reservation
	var txID sql.NullString
	err := row.Scan(&r.ID, &r.WorkspaceID, &r.Amount, &r.Status, &r.IdempotencyKey, &r.Description, &txID, &r.CreatedAt, &r.ExpiresAt)
	r.TransactionID, r.CreatedAt, r.ExpiresAt = txID.String, r.CreatedAt.UTC(), r.ExpiresAt.UTC()
	return r, err
}

// Reserve holds amount of the actor's workspace balance. A reused key
// answers with the first reservation.
func (s *Service) Reserve(ctx context.Context, a actor.Actor, amount int64, key, description string, ttl time.Duration) (Reservation, error) {
	var out Reservation
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		var err error
		out, _, err = s.reserveTx(ctx, tx, a, amount, key, description, ttl)
		return err
	})
	return out, err
}

// reserveTx is Reserve inside the caller's transaction; replayed reports
// that key named an earlier reservation, which is returned as it is.
func (s *Service) reserveTx(ctx context.Context, tx *db.Tx, a actor.Actor, amount int64, key, description string, ttl time.Duration) (out Reservation, replayed bool, err error) {
	if err := requireActor(a); err != nil {
		return Reservation{}, false, err
	}
	if err := checkAmount("amount", amount); err != nil {
		return Reservation{}, false, err
	}
	if err := checkKey(key); err != nil {
		return Reservation{}, false, err
	}
	desc, err := checkDescription(description)
	if err != nil {
		return Reservation{}, false, err
	}
	if key == "" {
		key = ids.New(ids.CreditReservation)
	}
	if ttl <= 0 {
		ttl = DefaultReservationTTL
	}
	ws := a.WorkspaceID()
	sc := db.Scope(tx, ws)
	prev, err := scanReservation(sc.QueryRowContext(ctx, `SELECT `+resColumns+` FROM credit_reservations
		WHERE workspace_id = $1 AND idempotency_key = $2`, key))
	if err == nil {
		if prev.Amount != amount {
			return Reservation{}, false, apperr.New(apperr.Conflict, "idempotency key %q was already used for a different reservation", key)
		}
		return prev, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, false, fmt.Errorf("read reservation: %w", err)
	}
	now := db.Now()
	res, err := sc.ExecContext(ctx, `UPDATE credit_balances SET reserved = reserved + $2, updated_at = $3
		WHERE workspace_id = $1 AND balance - reserved >= $2`, amount, now)
	if err != nil {
		return Reservation{}, false, fmt.Errorf("reserve: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		b, err := s.balanceOf(ctx, tx, ws)
		if err != nil {
			return Reservation{}, false, err
		}
		return Reservation{}, false, insufficient(b.Available, amount)
	}
	out = Reservation{ID: ids.New(ids.CreditReservation), WorkspaceID: ws, Amount: amount, Status: "open", IdempotencyKey: key,
		Description: desc, CreatedAt: now, ExpiresAt: now.Add(ttl)}
	if _, err := sc.ExecContext(ctx, `INSERT INTO credit_reservations (workspace_id, id, amount, status, idempotency_key, description, created_at, expires_at)
		VALUES ($1, $2, $3, 'open', $4, $5, $6, $7) /* workspace_id = $1 */`, out.ID, amount, key, desc, now, out.ExpiresAt); err != nil {
		return Reservation{}, false, fmt.Errorf("insert reservation: %w", err)
	}
	return out, false, audit.Record(ctx, tx, a, audit.Entry{Action: "credits.reserved", Resource: "credit_reservation", ResourceID: out.ID,
		Metadata: map[string]any{"workspaceId": ws, "amount": amount, "idempotencyKey": key}})
}

// closeReservation marks an open reservation settled or released and
// returns it; a closed one answers CONFLICT, an unknown one NOT_FOUND.
func closeReservation(ctx context.Context, tx *db.Tx, ws, id, status string) (Reservation, error) {
	sc := db.Scope(tx, ws)
	r, err := scanReservation(sc.QueryRowContext(ctx, `UPDATE credit_reservations SET status = $3, closed_at = $4
		WHERE workspace_id = $1 AND id = $2 AND status = 'open' RETURNING `+resColumns, id, status, db.Now()))
	if err == nil {
		return r, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, fmt.Errorf("close reservation: %w", err)
	}
	cur, err := scanReservation(sc.QueryRowContext(ctx, `SELECT `+resColumns+` FROM credit_reservations WHERE workspace_id = $1 AND id = $2`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, apperr.New(apperr.NotFound, "reservation not found")
	}
	if err != nil {
		return Reservation{}, fmt.Errorf("read reservation: %w", err)
	}
	return cur, apperr.New(apperr.Conflict, "reservation is already %s", cur.Status)
}

// Settle ends a reservation by charging the real cost. The reserved part is
// guaranteed; a cost above the reservation is charged as far as the rest of
// the balance allows, and any shortfall is recorded in the ledger row's
// metadata (the balance never goes below zero). A cost of zero releases.
func (s *Service) Settle(ctx context.Context, a actor.Actor, reservationID string, actual int64, description string) (Result, error) {
	return s.settle(ctx, a, reservationID, actual, description, false)
}

func (s *Service) settle(ctx context.Context, a actor.Actor, reservationID string, actual int64, description string, releasing bool) (Result, error) {
	if err := requireActor(a); err != nil {
		return Result{}, err
	}
	if actual < 0 || actual > MaxAmount {
		return Result{}, apperr.Invalid(apperr.FieldError{Field: "actual", Message: fmt.Sprintf("must be from 0 to %d millicredits", MaxAmount)})
	}
	var out Result
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		var err error
		out, err = s.settleTx(ctx, tx, a, reservationID, actual, description, releasing)
		return err
	})
	return out, err
}

// settleTx is settle inside the caller's transaction.
func (s *Service) settleTx(ctx context.Context, tx *db.Tx, a actor.Actor, reservationID string, actual int64, description string, releasing bool) (Result, error) {
	ws := a.WorkspaceID()
	var out Result
	err := func() error {
		status := "settled"
		if actual == 0 {
			status = "released"
		}
		r, err := closeReservation(ctx, tx, ws, reservationID, status)
		if err != nil {
			var ae *apperr.Error
			if !releasing && errors.As(err, &ae) && ae.Code == apperr.Conflict && r.Status == "settled" && r.TransactionID != "" {
				// Settling twice answers with the first settlement.
				t, terr := scanTx(db.Scope(tx, ws).QueryRowContext(ctx, `SELECT `+txColumns+` FROM credit_transactions
					WHERE workspace_id = $1 AND id = $2`, r.TransactionID))
				if terr != nil {
					return fmt.Errorf("read settlement: %w", terr)
				}
				out = Result{Transaction: t, Replayed: true}
				return nil
			}
			return err
		}
		sc := db.Scope(tx, ws)
		if _, err := sc.ExecContext(ctx, `UPDATE credit_balances SET reserved = reserved - $2 WHERE workspace_id = $1`, r.Amount); err != nil {
			return fmt.Errorf("release hold: %w", err)
		}
		if actual == 0 {
			return audit.Record(ctx, tx, a, audit.Entry{Action: "credits.released", Resource: "credit_reservation", ResourceID: r.ID,
				Metadata: map[string]any{"workspaceId": ws, "amount": r.Amount}})
		}
		charge := actual
		meta := map[string]any{"reservationId": r.ID, "reserved": r.Amount, "actual": actual}
		if actual > r.Amount {
			// The hold is back in the balance; what else can be spent?
			b, err := s.balanceOf(ctx, tx, ws)
			if err != nil {
				return err
			}
			if b.Available < charge {
				meta["shortfall"] = charge - b.Available
				charge = b.Available
			}
		}
		if charge == 0 {
			return audit.Record(ctx, tx, a, audit.Entry{Action: "credits.released", Resource: "credit_reservation", ResourceID: r.ID,
				Metadata: map[string]any{"workspaceId": ws, "amount": r.Amount, "shortfall": actual}})
		}
		if description == "" {
			description = r.Description
		}
		out, err = s.debitTx(ctx, tx, a, ws, Change{Type: Usage, Amount: charge, Key: "settle:" + r.ID, Description: description,
			Metadata: meta, AuditAction: "credits.settled"})
		if err != nil {
			return err
		}
		_, err = sc.ExecContext(ctx, `UPDATE credit_reservations SET transaction_id = $3 WHERE workspace_id = $1 AND id = $2`, r.ID, out.Transaction.ID)
		return err
	}()
	return out, err
}

// Release ends a reservation without charging.
func (s *Service) Release(ctx context.Context, a actor.Actor, reservationID string) error {
	_, err := s.settle(ctx, a, reservationID, 0, "", true)
	return err
}

// ReleaseExpired releases every open reservation past its expiry, for the
// periodic sweep. It returns how many it released.
func (s *Service) ReleaseExpired(ctx context.Context, now time.Time) (int, error) {
	rows, err := s.db.Read().QueryContext(ctx, `SELECT id, workspace_id FROM credit_reservations
		WHERE status = 'open' AND expires_at < $1 ORDER BY expires_at LIMIT 1000`, now.UTC())
	if err != nil {
		return 0, fmt.Errorf("list expired reservations: %w", err)
	}
	type hold struct{ id, ws string }
	var holds []hold
	for rows.Next() {
		var h hold
		if err := rows.Scan(&h.id, &h.ws); err != nil {
			rows.Close()
			return 0, fmt.Errorf("scan reservation: %w", err)
		}
		holds = append(holds, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, err
	}
	n := 0
	for _, h := range holds {
		sys := SystemActor(h.ws)
		if err := s.Release(ctx, sys, h.id); err != nil {
			if apperr.Is(err, apperr.Conflict) {
				continue // settled meanwhile
			}
			return n, err
		}
		n++
	}
	return n, nil
}

// SystemActor is the actor background work uses for a workspace.
func SystemActor(workspaceID string) actor.Actor {
	a := actor.Actor{System: true}
	if ids.Valid(ids.Organization, workspaceID) {
		a.OrganizationID = workspaceID
	} else {
		a.UserID = workspaceID
	}
	return a
}
