package gateway

import (
	"context"
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// ErrorEvent is what an ErrorHook learns when a gateway enters ERROR: the
// data of the gateway.error event. Error is scrubbed of credentials.
type ErrorEvent struct {
	GatewayID string    `json:"gatewayId"`
	Type      string    `json:"type"`
	Name      string    `json:"name"`
	Status    Status    `json:"status"`
	Step      string    `json:"step"`
	Failure   string    `json:"failure"`
	Error     string    `json:"error"`
	At        time.Time `json:"at"`
}

// ErrorHook runs inside the transaction that puts a gateway in ERROR.
type ErrorHook func(ctx context.Context, tx *db.Tx, workspaceID string, ev ErrorEvent) error

// OnError sets the ErrorHook. Call while wiring, before serving.
func (s *Service) OnError(h ErrorHook) { s.onError = h }

// erroredTx tells the ErrorHook that r entered ERROR at step.
func (s *Service) erroredTx(ctx context.Context, tx *db.Tx, r *row, step, failure, msg string) error {
	if s.onError == nil {
		return nil
	}
	return s.onError(ctx, tx, r.workspaceID, ErrorEvent{GatewayID: r.ID, Type: string(r.Type), Name: r.Name, Status: Error,
		Step: step, Failure: failure, Error: msg, At: db.Now()})
}
