package credit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// Limits meters usage against the workspace's plan (actor.PlanLimits):
// executions per UTC day, AI tokens per calendar month (UTC), storage bytes,
// and resources counted from their own tables (gateways, plugins).
//
// Checking and counting are one conditional statement, so two parallel
// requests can never both take the last slot. Beyond the limit, usage is
// charged from credits as overage (CREDIT_COSTS "overage.<metric>") when the
// workspace enabled overage and can pay; otherwise it is refused with
// PLAN_LIMIT_EXCEEDED (HTTP 402) and nothing is counted.
type Limits struct {
	db      *db.DB
	credits *Service

	mu       sync.RWMutex
	counters map[actor.Action]CountFunc
	// resources are the counted resources other packages limit.
	resources []CountedResource
	now       func() time.Time
	// leases are the node's blocks of executions-per-day counters
	// (lease.go).
	leases     *leaser
	leaseBlock int64
	leaseTTL   time.Duration
}

// CountFunc counts a workspace's live resources of one kind (gateways,
// plugins) for the usage report; the owning package registers it.
type CountFunc func(ctx context.Context, q db.Querier, workspaceID string) (int64, error)

// NewLimits returns the limits service; overage is charged through credits.
func NewLimits(d *db.DB, credits *Service) *Limits {
	return &Limits{db: d, credits: credits, counters: map[actor.Action]CountFunc{}, now: time.Now, leases: newLeaser(d),
		leaseBlock: LeaseBlock, leaseTTL: LeaseTTL}
}

// RegisterCounter lets the package owning a counted resource report its
// count in GET /api/v1/usage.
func (l *Limits) RegisterCounter(action actor.Action, f CountFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counters[action] = f
}

// metered describes a counter kept in usage_counters.
type metered struct {
	metric string
	// period returns the counter's period key and when it resets.
	period func(now time.Time) (string, time.Time)
	// scale turns the plan's limit into the counter's unit.
	scale int64
	// overage is the CREDIT_COSTS action charged beyond the limit ("" for none).
	overage string
}

func dayPeriod(now time.Time) (string, time.Time) {
	d := now.UTC().Truncate(24 * time.Hour)
	return d.Format("2006-01-02"), d.Add(24 * time.Hour)
}

func monthPeriod(now time.Time) (string, time.Time) {
	n := now.UTC()
	start := time.Date(n.Year(), n.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start.Format("2006-01"), start.AddDate(0, 1, 0)
}

func gauge(time.Time) (string, time.Time) { return "current", time.Time{} }

var meteredActions = map[actor.Action]metered{
	actor.ActionExecute:  {metric: "executions", period: dayPeriod, scale: 1, overage: "overage.executions"},
	actor.ActionAITokens: {metric: "aiTokens", period: monthPeriod, scale: 1, overage: "overage.aiTokens"},
	// Storage is a gauge in bytes against a limit in MB; it has no overage:
	// data beyond the plan is refused rather than billed after the fact.
	actor.ActionStorage: {metric: "storageBytes", period: gauge, scale: 1 << 20},
}

// Consumption is the outcome of metered usage.
type Consumption struct {
	Action actor.Action `json:"action"`
	Used   int64        `json:"used"`
	Limit  int64        `json:"limit"`
	// Overage is how much of this use went beyond the limit, and Charged
	// what it cost in millicredits (TransactionID names the ledger row).
	Overage       int64  `json:"overage"`
	Charged       int64  `json:"charged"`
	TransactionID string `json:"transactionId,omitempty"`
}

// Consume records amount units of a metered action for the actor's
// workspace in a transaction of its own. See ConsumeTx.
func (l *Limits) Consume(ctx context.Context, a actor.Actor, action actor.Action, amount int64, key string) (Consumption, error) {
	var c Consumption
	err := l.db.Tx(ctx, func(tx *db.Tx) error {
		var err error
		c, err = l.ConsumeTx(ctx, tx, a, action, amount, key)
		return err
	})
	return c, err
}

// ConsumeTx records amount units of a metered action (executions, AI tokens,
// storage bytes) for the actor's workspace inside the caller's transaction,
// so the count commits or rolls back with the work it counts. key, when
// set, makes the overage charge idempotent. On error the caller must roll
// back.
func (l *Limits) ConsumeTx(ctx context.Context, tx *db.Tx, a actor.Actor, action actor.Action, amount int64, key string) (Consumption, error) {
	m, ok := meteredActions[action]
	if !ok {
		return Consumption{}, apperr.Invalid(apperr.FieldError{Field: "action", Message: fmt.Sprintf("%q is not metered", action)})
	}
	if err := requireActor(a); err != nil {
		return Consumption{}, err
	}
	if amount <= 0 || amount > MaxQuantity {
		return Consumption{}, apperr.Invalid(apperr.FieldError{Field: "amount", Message: fmt.Sprintf("must be from 1 to %d", MaxQuantity)})
	}
	ws := a.WorkspaceID()
	period, _ := m.period(l.now())
	limit := a.Plan.Limit(action)
	if limit != actor.Unlimited {
		limit *= m.scale
	}
	sc := db.Scope(tx, ws)
	out := Consumption{Action: action, Limit: limit}
	// Executions are counted from the node's lease of the day's counter
	// (lease.go): the row is written once per block, not once per run.
	if action == actor.ActionExecute && l.leaseBlock > 0 {
		k := leaseKey{ws, m.metric, period}
		if l.leases.spend(k, amount, l.now()) || l.leases.spendInTx(tx, k, amount, l.now()) {
			return out, nil
		}
		ok, err := l.leaseTx(ctx, tx, ws, m, period, amount, limit)
		switch {
		case err == nil && ok:
			return out, nil
		case err == nil:
			if l.leases.spendAfterPending(k, amount, l.now(), txLeasesOf(tx, k).taken) {
				return out, nil
			}
			return l.overage(ctx, tx, a, m, period, amount, limit, key, out)
		case !errors.Is(err, errLeaseContended):
			return Consumption{}, err
		}
	}
	now := db.Now()
	take := func() (bool, error) {
		q := `UPDATE usage_counters SET used = used + $4, updated_at = $5
			WHERE workspace_id = $1 AND metric = $2 AND period = $3 AND used + $4 <= $6 RETURNING used`
		args := []any{m.metric, period, amount, now, limit}
		if limit == actor.Unlimited {
			q = `UPDATE usage_counters SET used = used + $4, updated_at = $5
				WHERE workspace_id = $1 AND metric = $2 AND period = $3 RETURNING used`
			args = args[:4]
		}
		err := sc.QueryRowContext(ctx, q, args...).Scan(&out.Used)
		if errors.Is(err, sql.ErrNoRows) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("count %s: %w", m.metric, err)
		}
		return true, nil
	}
	ok, err := take()
	if err != nil {
		return Consumption{}, err
	}
	if !ok {
		// No counter yet for this period, or over the limit: make sure the
		// row exists and try once more.
		if _, err := sc.ExecContext(ctx, `INSERT INTO usage_counters (workspace_id, metric, period, used, overage, updated_at)
			VALUES ($1, $2, $3, 0, 0, $4) ON CONFLICT (workspace_id, metric, period) DO NOTHING /* workspace_id = $1 */`, m.metric, period, now); err != nil {
			return Consumption{}, fmt.Errorf("start %s counter: %w", m.metric, err)
		}
		if ok, err = take(); err != nil {
			return Consumption{}, err
		}
	}
	if ok {
		return out, nil
	}
	return l.overage(ctx, tx, a, m, period, amount, limit, key, out)
}

// SpendLeased counts amount executions of the actor's workspace from a
// lease this node already holds, with no statement. ok is false when no
// lease has room: then count with ConsumeTx in the work's transaction.
// undo gives the units back, for work that turned out not to be done
// (nothing was written).
func (l *Limits) SpendLeased(a actor.Actor, action actor.Action, amount int64) (undo func(), ok bool) {
	if action != actor.ActionExecute || l.leaseBlock <= 0 || amount <= 0 || amount > MaxQuantity || requireActor(a) != nil {
		return nil, false
	}
	m := meteredActions[action]
	now := l.now()
	period, _ := m.period(now)
	ls := l.leases.spendFrom(leaseKey{a.WorkspaceID(), m.metric, period}, amount, now)
	if ls == nil {
		return nil, false
	}
	return func() { l.leases.refund(ls, amount) }, true
}

// overage counts usage beyond the limit and charges it, or refuses it.
func (l *Limits) overage(ctx context.Context, tx *db.Tx, a actor.Actor, m metered, period string, amount, limit int64, key string, out Consumption) (Consumption, error) {
	ws := a.WorkspaceID()
	refuse := func(reason string) error {
		var used int64
		_ = db.Scope(tx, ws).QueryRowContext(ctx, `SELECT used FROM usage_counters WHERE workspace_id = $1 AND metric = $2 AND period = $3`,
			m.metric, period).Scan(&used)
		return apperr.New(apperr.PlanLimitExceeded, "plan %s allows %d %s; %s", a.Plan, limit, m.metric, reason).
			WithDetails(map[string]any{"metric": m.metric, "limit": limit, "used": used, "requested": amount, "plan": a.Plan, "period": period})
	}
	if m.overage == "" {
		return Consumption{}, refuse("upgrade the plan for more")
	}
	b, err := l.credits.balanceOf(ctx, tx, ws)
	if err != nil {
		return Consumption{}, err
	}
	if !b.Settings.OverageEnabled {
		return Consumption{}, refuse("enable overage to pay for more with credits, or upgrade the plan")
	}
	// used is the old value inside SET on both engines.
	var used, prior int64
	if err := db.Scope(tx, ws).QueryRowContext(ctx, `UPDATE usage_counters
		SET used = used + $4, overage = overage + (CASE WHEN used >= $5 THEN $4 ELSE used + $4 - $5 END), updated_at = $6
		WHERE workspace_id = $1 AND metric = $2 AND period = $3 RETURNING used`, m.metric, period, amount, limit, db.Now()).Scan(&used); err != nil {
		return Consumption{}, fmt.Errorf("count %s overage: %w", m.metric, err)
	}
	prior = used - amount
	over := used - max(limit, prior)
	cost, err := EstimateCost(m.overage, over)
	if err != nil {
		return Consumption{}, err
	}
	out.Used, out.Overage, out.Charged = used, over, cost
	if cost == 0 {
		return out, nil
	}
	ck := ""
	if key != "" {
		ck = "overage:" + m.metric + ":" + key
	}
	r, err := l.credits.debitTx(ctx, tx, a, ws, Change{Type: Usage, Amount: cost, Key: ck,
		Description: fmt.Sprintf("overage: %d %s beyond plan %s", over, m.metric, a.Plan),
		Metadata:    map[string]any{"metric": m.metric, "period": period, "quantity": over, "cost": m.overage}, AuditAction: "credits.overage"})
	if apperr.Is(err, apperr.InsufficientCredits) {
		return Consumption{}, refuse("overage is on but the credits cannot cover " + Credits(cost))
	}
	if err != nil {
		return Consumption{}, err
	}
	out.TransactionID = r.Transaction.ID
	return out, nil
}

// ReleaseStorageTx lowers the storage gauge by bytes (never below zero).
func (l *Limits) ReleaseStorageTx(ctx context.Context, tx *db.Tx, a actor.Actor, bytes int64) error {
	if bytes <= 0 {
		return nil
	}
	_, err := db.Scope(tx, a.WorkspaceID()).ExecContext(ctx, `UPDATE usage_counters
		SET used = CASE WHEN used < $2 THEN 0 ELSE used - $2 END, updated_at = $3
		WHERE workspace_id = $1 AND metric = 'storageBytes' AND period = 'current'`, bytes, db.Now())
	if err != nil {
		return fmt.Errorf("release storage: %w", err)
	}
	return nil
}

// CheckCountTx guards creating one more counted resource (a gateway, a
// plugin installation) under the plan's limit. Call it inside the
// transaction that creates the resource: it locks the workspace, then asks
// count for the current number in the same transaction, so two parallel
// requests cannot both take the last slot. Count-based limits have no
// overage: beyond the plan answers PLAN_LIMIT_EXCEEDED.
func CheckCountTx(ctx context.Context, tx *db.Tx, a actor.Actor, action actor.Action, count func(ctx context.Context, tx *db.Tx) (int64, error)) error {
	if action != actor.ActionCreateGateway && action != actor.ActionInstallPlugin {
		return apperr.Invalid(apperr.FieldError{Field: "action", Message: fmt.Sprintf("%q is not a counted resource", action)})
	}
	if err := db.LockWorkspace(ctx, tx, a.WorkspaceID()); err != nil {
		return err
	}
	n, err := count(ctx, tx)
	if err != nil {
		return fmt.Errorf("count %s: %w", action, err)
	}
	return CheckCount(a.Plan, action, n)
}

// CheckCount reports PLAN_LIMIT_EXCEEDED when a workspace on plan p that has
// current resources of a kind may not add one more. After a downgrade a
// workspace may hold more than its plan allows: those keep working, and
// only adding more is refused.
func CheckCount(p actor.Plan, action actor.Action, current int64) error {
	if actor.CanDoAction(p, action, current, 1) {
		return nil
	}
	limit := p.Limit(action)
	return apperr.New(apperr.PlanLimitExceeded, "plan %s allows %d %s and this workspace has %d; remove some or upgrade the plan for more",
		p, limit, action, current).
		WithDetails(map[string]any{"metric": string(action), "limit": limit, "used": current, "requested": 1, "plan": p})
}
