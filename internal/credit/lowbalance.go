package credit

import (
	"context"

	"github.com/switchboard/switchboard/internal/db"
)

// DefaultLowBalance is the low-balance threshold of a workspace without
// auto top-up: 10 credits (10,000 millicredits). With auto top-up on, the
// threshold is the top-up's own, so credits.low and the top-up charge
// happen at the same crossing.
const DefaultLowBalance int64 = 10_000

// LowBalanceThreshold is the threshold a workspace's balance is low below.
func LowBalanceThreshold(s Settings) int64 {
	if s.AutoTopUp.Enabled {
		return s.AutoTopUp.Threshold
	}
	return DefaultLowBalance
}

// LowBalance is the data of the credits.low event.
type LowBalance struct {
	WorkspaceID   string `json:"workspaceId"`
	Balance       int64  `json:"balance"`
	Threshold     int64  `json:"threshold"`
	TransactionID string `json:"transactionId"`
}

// LowBalanceHook runs inside the transaction of a usage deduction that took
// the balance from at or above the low-balance threshold to below it, once
// per crossing (the balance must rise to the threshold again first).
type LowBalanceHook func(ctx context.Context, tx *db.Tx, ev LowBalance) error

// OnLowBalance sets the LowBalanceHook. Call while wiring, before serving.
func (s *Service) OnLowBalance(h LowBalanceHook) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lowBalance = h
}

// crossedLowTx runs the LowBalanceHook if a usage deduction from before to
// after crossed the threshold.
func (s *Service) crossedLowTx(ctx context.Context, tx *db.Tx, ws, txID string, before, after int64, set Settings) error {
	s.mu.RLock()
	h := s.lowBalance
	s.mu.RUnlock()
	th := LowBalanceThreshold(set)
	if h == nil || !(before >= th && after < th) {
		return nil
	}
	return h(ctx, tx, LowBalance{WorkspaceID: ws, Balance: after, Threshold: th, TransactionID: txID})
}
