package credit

import (
	"context"
	"errors"
	"fmt"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// UsageReservation holds, before metered work whose size is known only
// once it is done (an AI call and its tokens), both its estimated cost in
// credits and its estimated quantity of the plan's allowance. Work that
// cannot be reserved must not be done; work that is done is settled with
// its real quantity, work that failed is released.
type UsageReservation struct {
	Reservation Reservation  `json:"reservation"`
	Action      actor.Action `json:"action"`
	// Held is how much of the allowance is held; 0 when the work is beyond
	// the allowance and paid as overage (its estimate is in the credits
	// held).
	Held   int64  `json:"held"`
	period string // the counter the hold is on
}

// ReserveUsage holds quantity units of a metered action (within the plan's
// limit, or beyond it as overage when the workspace enabled overage) and
// cost millicredits plus the overage's estimate, in one transaction:
// either both holds are taken or neither. Beyond the limit without overage
// it answers PLAN_LIMIT_EXCEEDED, without the credits INSUFFICIENT_CREDITS.
// key identifies the work: a key already reserved answers CONFLICT, so the
// same work is never reserved (and done) twice.
func (l *Limits) ReserveUsage(ctx context.Context, a actor.Actor, action actor.Action, quantity, cost int64, key, description string) (UsageReservation, error) {
	m, ok := meteredActions[action]
	if !ok || m.period == nil || action == actor.ActionStorage {
		return UsageReservation{}, apperr.Invalid(apperr.FieldError{Field: "action", Message: fmt.Sprintf("%q cannot be reserved", action)})
	}
	if err := requireActor(a); err != nil {
		return UsageReservation{}, err
	}
	if quantity <= 0 || quantity > MaxQuantity {
		return UsageReservation{}, apperr.Invalid(apperr.FieldError{Field: "quantity", Message: fmt.Sprintf("must be from 1 to %d", MaxQuantity)})
	}
	ws := a.WorkspaceID()
	period, _ := m.period(l.now())
	limit := a.Plan.Limit(action)
	if limit != actor.Unlimited {
		limit *= m.scale
	}
	out := UsageReservation{Action: action, period: period}
	err := l.db.Tx(ctx, func(tx *db.Tx) error {
		sc := db.Scope(tx, ws)
		now := db.Now()
		if _, err := sc.ExecContext(ctx, `INSERT INTO usage_counters (workspace_id, metric, period, used, overage, updated_at)
			VALUES ($1, $2, $3, 0, 0, $4) ON CONFLICT (workspace_id, metric, period) DO NOTHING /* workspace_id = $1 */`, m.metric, period, now); err != nil {
			return fmt.Errorf("start %s counter: %w", m.metric, err)
		}
		q := `UPDATE usage_counters SET used = used + $4, updated_at = $5
			WHERE workspace_id = $1 AND metric = $2 AND period = $3 AND used + $4 <= $6`
		args := []any{m.metric, period, quantity, now, limit}
		if limit == actor.Unlimited {
			q, args = `UPDATE usage_counters SET used = used + $4, updated_at = $5
				WHERE workspace_id = $1 AND metric = $2 AND period = $3`, args[:4]
		}
		res, err := sc.ExecContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("hold %s: %w", m.metric, err)
		}
		total := cost
		if n, _ := res.RowsAffected(); n == 1 {
			out.Held = quantity
		} else {
			b, err := l.credits.balanceOf(ctx, tx, ws)
			if err != nil {
				return err
			}
			if m.overage == "" || !b.Settings.OverageEnabled {
				var used int64
				if err := sc.QueryRowContext(ctx, `SELECT used FROM usage_counters WHERE workspace_id = $1 AND metric = $2 AND period = $3`,
					m.metric, period).Scan(&used); err != nil {
					return fmt.Errorf("read %s: %w", m.metric, err)
				}
				return apperr.New(apperr.PlanLimitExceeded, "plan %s allows %d %s; %d are used and this may need %d; enable overage or upgrade the plan",
					a.Plan, limit, m.metric, used, quantity).
					WithDetails(map[string]any{"metric": m.metric, "limit": limit, "used": used, "requested": quantity, "plan": a.Plan, "period": period})
			}
			over, err := EstimateCost(m.overage, quantity)
			if err != nil {
				return err
			}
			total += over
		}
		if total <= 0 {
			total = 1 // a reservation holds something; settling charges the real cost
		}
		r, replayed, err := l.credits.reserveTx(ctx, tx, a, total, key, description, 0)
		if err != nil {
			return err
		}
		if replayed {
			return apperr.New(apperr.Conflict, "work with the key %q was already reserved (it is under way or done)", key)
		}
		out.Reservation = r
		return nil
	})
	if err != nil {
		return UsageReservation{}, err
	}
	return out, nil
}

// SettleUsage ends a usage reservation with the real quantity and cost, in
// one transaction: the allowance hold is replaced by the quantity (counted
// as overage and charged where it passes the limit; counted in any case,
// since the work was done), and the credit hold by the cost (see Settle).
// So what is counted is exactly what is charged.
func (l *Limits) SettleUsage(ctx context.Context, a actor.Actor, ur UsageReservation, quantity, cost int64, description string) (Result, error) {
	if err := requireActor(a); err != nil {
		return Result{}, err
	}
	if quantity < 0 || quantity > MaxQuantity || cost < 0 || cost > MaxAmount {
		return Result{}, apperr.Invalid(apperr.FieldError{Field: "quantity", Message: "out of range"})
	}
	var out Result
	err := l.db.Tx(ctx, func(tx *db.Tx) error {
		if err := l.unholdTx(ctx, tx, a, ur); err != nil {
			return err
		}
		var err error
		out, err = l.credits.settleTx(ctx, tx, a, ur.Reservation.ID, cost, description, false)
		if err != nil {
			return err
		}
		if out.Replayed || quantity == 0 {
			return nil
		}
		err = tx.Savepoint(ctx, "settle_usage_count", func() error {
			_, err := l.ConsumeTx(ctx, tx, a, ur.Action, quantity, ur.Reservation.IdempotencyKey)
			return err
		})
		if !apperr.Is(err, apperr.PlanLimitExceeded) {
			return err
		}
		// More was used than held and the rest of the allowance (or the
		// credits for overage) cannot take it: the work is done, so it is
		// counted all the same.
		return l.countTx(ctx, tx, a, ur.Action, quantity)
	})
	return out, err
}

// ReleaseUsage ends a usage reservation whose work was not done (or
// failed): both holds are given back and nothing is counted or charged.
func (l *Limits) ReleaseUsage(ctx context.Context, a actor.Actor, ur UsageReservation) error {
	if err := requireActor(a); err != nil {
		return err
	}
	return l.db.Tx(ctx, func(tx *db.Tx) error {
		if err := l.unholdTx(ctx, tx, a, ur); err != nil {
			return err
		}
		_, err := l.credits.settleTx(ctx, tx, a, ur.Reservation.ID, 0, "", true)
		var ae *apperr.Error
		if errors.As(err, &ae) && ae.Code == apperr.Conflict {
			return nil // released by the expiry sweep meanwhile
		}
		return err
	})
}

func (l *Limits) unholdTx(ctx context.Context, tx *db.Tx, a actor.Actor, ur UsageReservation) error {
	if ur.Held <= 0 {
		return nil
	}
	m := meteredActions[ur.Action]
	_, err := db.Scope(tx, a.WorkspaceID()).ExecContext(ctx, `UPDATE usage_counters
		SET used = CASE WHEN used < $4 THEN 0 ELSE used - $4 END, updated_at = $5
		WHERE workspace_id = $1 AND metric = $2 AND period = $3`, m.metric, ur.period, ur.Held, db.Now())
	if err != nil {
		return fmt.Errorf("give back %s: %w", m.metric, err)
	}
	return nil
}

// countTx counts usage that happened, whatever the limit.
func (l *Limits) countTx(ctx context.Context, tx *db.Tx, a actor.Actor, action actor.Action, quantity int64) error {
	m := meteredActions[action]
	period, _ := m.period(l.now())
	now := db.Now()
	sc := db.Scope(tx, a.WorkspaceID())
	if _, err := sc.ExecContext(ctx, `INSERT INTO usage_counters (workspace_id, metric, period, used, overage, updated_at)
		VALUES ($1, $2, $3, 0, 0, $4) ON CONFLICT (workspace_id, metric, period) DO NOTHING /* workspace_id = $1 */`, m.metric, period, now); err != nil {
		return fmt.Errorf("start %s counter: %w", m.metric, err)
	}
	if _, err := sc.ExecContext(ctx, `UPDATE usage_counters SET used = used + $4, updated_at = $5
		WHERE workspace_id = $1 AND metric = $2 AND period = $3`, m.metric, period, quantity, now); err != nil {
		return fmt.Errorf("count %s: %w", m.metric, err)
	}
	return nil
}
