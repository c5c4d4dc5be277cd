// Package credit owns prepaid credits: one balance per workspace, an
// append-only ledger, reservations for work whose cost is known only
// afterwards, the CREDIT_COSTS table, and usage metering against plan limits.
//
// Money is exact: amounts are int64 millicredits (1 credit = 1000), never
// floats. Every change to a balance is one conditional statement plus its
// ledger row and audit row in the same transaction, so for every workspace
// the balance equals the sum of its ledger rows and is never negative,
// whatever the timing. Every write carries an idempotency key, unique per
// workspace: a retried request is answered with the first result instead of
// being charged or credited twice.
package credit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/telemetry"
)

// Millicredits per credit.
const PerCredit int64 = 1000

// MaxAmount bounds one operation (one billion credits), and MaxBalance a
// balance, far below int64's range so no sum can overflow on either engine
// (SQLite would silently turn an overflowing integer into a float).
const (
	MaxAmount  int64 = 1_000_000_000 * PerCredit
	MaxBalance int64 = 1_000_000 * MaxAmount
)

// Type is the kind of a ledger row.
type Type string

const (
	Purchase Type = "purchase"
	Usage    Type = "usage"
	Refund   Type = "refund"
	Bonus    Type = "bonus"
	Grant    Type = "grant"
)

// Valid reports whether t is a ledger type.
func (t Type) Valid() bool {
	switch t {
	case Purchase, Usage, Refund, Bonus, Grant:
		return true
	}
	return false
}

// Workspaces tells whether a workspace (a user's personal one or an
// organization) exists, for operations that name one explicitly.
type Workspaces interface {
	WorkspaceExists(ctx context.Context, q db.Querier, workspaceID string) (bool, error)
}

// CrossingHook runs inside the transaction of a usage deduction that took
// the balance from at or above the auto top-up threshold to below it (a
// refund never does: it gave the money back). It runs at most once per
// crossing: the balance must rise to the threshold again before another
// deduction can cross it.
type CrossingHook func(ctx context.Context, tx *db.Tx, workspaceID, transactionID string, s Settings) error

// Service is the CreditService: balances, the ledger, reservations and costs.
type Service struct {
	db         *db.DB
	workspaces Workspaces
	log        *slog.Logger

	mu         sync.RWMutex
	crossing   CrossingHook
	metrics    *telemetry.Metrics
	lowBalance LowBalanceHook
}

// SetMetrics makes the service count the credits it deducts in m. Call
// before serving.
func (s *Service) SetMetrics(m *telemetry.Metrics) { s.metrics = m }

// New returns the service. workspaces may be nil only where no operation
// names a workspace explicitly (tests of the ledger alone).
func New(d *db.DB, workspaces Workspaces, log *slog.Logger) *Service {
	if log == nil {
		log = slog.Default()
	}
	return &Service{db: d, workspaces: workspaces, log: log}
}

// OnThresholdCrossed sets the hook run when a deduction crosses the auto
// top-up threshold (billing enqueues the top-up charge there).
func (s *Service) OnThresholdCrossed(h CrossingHook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.crossing = h
}

func (s *Service) crossingHook() CrossingHook {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.crossing
}

// Balance is a workspace's credit account.
type Balance struct {
	WorkspaceID string `json:"workspaceId"`
	// Balance is in millicredits; Available is what can be spent now
	// (Balance minus open reservations).
	Balance   int64     `json:"balance"`
	Reserved  int64     `json:"reserved"`
	Available int64     `json:"available"`
	Lifetime  int64     `json:"lifetime"`
	Settings  Settings  `json:"settings"`
	UpdatedAt time.Time `json:"updatedAt,omitzero"`
}

// Credits formats millicredits as a decimal number of credits ("12.345").
func Credits(mc int64) string {
	sign := ""
	if mc < 0 {
		sign, mc = "-", -mc
	}
	s := fmt.Sprintf("%s%d.%03d", sign, mc/PerCredit, mc%PerCredit)
	s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	return s
}

func checkAmount(field string, amount int64) error {
	switch {
	case amount <= 0:
		return apperr.Invalid(apperr.FieldError{Field: field, Message: "must be a positive number of millicredits"})
	case amount > MaxAmount:
		return apperr.Invalid(apperr.FieldError{Field: field, Message: fmt.Sprintf("must be at most %d millicredits", MaxAmount)})
	}
	return nil
}

func checkKey(key string) error {
	if len(key) > 200 {
		return apperr.Invalid(apperr.FieldError{Field: "idempotencyKey", Message: "must be at most 200 characters"})
	}
	return nil
}

func checkDescription(d string) (string, error) {
	d = strings.TrimSpace(d)
	if len(d) > 500 {
		return "", apperr.Invalid(apperr.FieldError{Field: "description", Message: "must be at most 500 characters"})
	}
	return d, nil
}

// requireActor refuses anonymous callers: every change is someone's.
func requireActor(a actor.Actor) error {
	if !a.Authenticated() || a.WorkspaceID() == "" {
		return apperr.New(apperr.Unauthorized, "sign in first")
	}
	return nil
}

// GetBalance returns the actor's workspace balance (credits:read). A
// workspace that never had credits has a zero balance.
func (s *Service) GetBalance(ctx context.Context, a actor.Actor) (Balance, error) {
	if !a.System && !a.Can(actor.PermCreditsRead) {
		return Balance{}, apperr.New(apperr.Forbidden, "you lack %s", actor.PermCreditsRead)
	}
	return s.balanceOf(ctx, s.db.Read(), a.WorkspaceID())
}

// BalanceOf reads any workspace's balance, for trusted callers (billing,
// admin tools); it checks no permission.
func (s *Service) BalanceOf(ctx context.Context, workspaceID string) (Balance, error) {
	return s.balanceOf(ctx, s.db.Read(), workspaceID)
}

func (s *Service) balanceOf(ctx context.Context, q db.Querier, workspaceID string) (Balance, error) {
	b := Balance{WorkspaceID: workspaceID, Settings: DefaultSettings()}
	var raw string
	err := db.Scope(q, workspaceID).QueryRowContext(ctx, `SELECT balance, reserved, lifetime, settings, updated_at
		FROM credit_balances WHERE workspace_id = $1`).Scan(&b.Balance, &b.Reserved, &b.Lifetime, &raw, &b.UpdatedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return b, nil
	}
	if err != nil {
		return Balance{}, fmt.Errorf("read balance: %w", err)
	}
	b.Available = b.Balance - b.Reserved
	b.UpdatedAt = b.UpdatedAt.UTC()
	b.Settings = parseSettings(raw)
	return b, nil
}

// CanAfford reports whether the actor's workspace can spend amount now.
func (s *Service) CanAfford(ctx context.Context, a actor.Actor, amount int64) (bool, error) {
	if err := checkAmount("amount", amount); err != nil {
		return false, err
	}
	if err := requireActor(a); err != nil {
		return false, err
	}
	b, err := s.balanceOf(ctx, s.db.Read(), a.WorkspaceID())
	if err != nil {
		return false, err
	}
	return b.Available >= amount, nil
}

// insufficient builds the INSUFFICIENT_CREDITS error with what is missing.
func insufficient(available, required int64) error {
	return apperr.New(apperr.InsufficientCredits, "insufficient credits: %s available, %s required", Credits(available), Credits(required)).
		WithDetails(map[string]any{"available": available, "required": required})
}
