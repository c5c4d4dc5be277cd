package gateway

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/ids"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/workspace"
)

// SendInput is an outbound message.
type SendInput struct {
	// ChatID is the provider's chat, channel or phone number (not used by
	// WEBHOOK gateways, which post to their configured URL).
	ChatID string `json:"chatId"`
	Text   string `json:"text"`
	// IdempotencyKey makes a repeated send with the same key on the same
	// gateway return the first message instead of queuing another.
	IdempotencyKey string `json:"idempotencyKey,omitempty"`
}

// SendRecord is an outbound message and how its delivery went.
type SendRecord struct {
	ID                string     `json:"id"`
	GatewayID         string     `json:"gatewayId"`
	ChatID            string     `json:"chatId,omitempty"`
	Text              string     `json:"text"`
	Status            string     `json:"status"`
	Attempts          int        `json:"attempts"`
	ProviderMessageID string     `json:"providerMessageId,omitempty"`
	LastError         string     `json:"lastError,omitempty"`
	CreatedAt         time.Time  `json:"createdAt"`
	UpdatedAt         time.Time  `json:"updatedAt"`
	SentAt            *time.Time `json:"sentAt,omitempty"`
}

// Send statuses.
const (
	SendQueued = "QUEUED"
	SendSent   = "SENT"
	SendFailed = "FAILED"
)

// Send queues a message on a CONNECTED gateway; a job delivers it with
// retries (see the package comment). It returns the QUEUED record.
func (s *Service) Send(ctx context.Context, a actor.Actor, gatewayID string, in SendInput) (SendRecord, error) {
	if err := allow(a, actor.PermGatewaySend); err != nil {
		return SendRecord{}, err
	}
	if !ids.Valid(ids.Gateway, gatewayID) {
		return SendRecord{}, errNotFound
	}
	var rec SendRecord
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		var err error
		rec, err = s.SendTx(ctx, tx, a, gatewayID, in)
		return err
	})
	if err != nil {
		return SendRecord{}, apperr.Wrap(err, "send")
	}
	return rec, nil
}

// SendTx queues a message inside tx, so it commits — or not — with the
// caller's change (a workflow step's checkpoint). Refusals (unknown or
// unconnected gateway, bad text) come before anything is written.
func (s *Service) SendTx(ctx context.Context, tx *db.Tx, a actor.Actor, gatewayID string, in SendInput) (SendRecord, error) {
	if err := allow(a, actor.PermGatewaySend); err != nil {
		return SendRecord{}, err
	}
	if !ids.Valid(ids.Gateway, gatewayID) {
		return SendRecord{}, errNotFound
	}
	in.ChatID = strings.TrimSpace(in.ChatID)
	var rec SendRecord
	err := func() error {
		r, err := getRow(ctx, tx, a.WorkspaceID(), gatewayID)
		if err != nil {
			return err
		}
		if in.ChatID == "" {
			in.ChatID = r.ConfigString("defaultChatId")
		}
		tooLong := channel.CheckText(r.Type, in.Text)
		switch {
		case in.Text == "" || strings.TrimSpace(in.Text) == "":
			return apperr.Invalid(apperr.FieldError{Field: "text", Message: "is required"})
		case tooLong != nil:
			// Refused, never cut: a provider that truncates would lose the
			// end of the message silently.
			return apperr.Invalid(apperr.FieldError{Field: "text", Message: tooLong.Error()})
		case in.ChatID == "" && r.Type != channel.Webhook:
			return apperr.Invalid(apperr.FieldError{Field: "chatId", Message: "is required (or set config.defaultChatId)"})
		case len(in.ChatID) > 200:
			return apperr.Invalid(apperr.FieldError{Field: "chatId", Message: "must be at most 200 characters"})
		case r.Status != Connected:
			return apperr.New(apperr.Conflict, "gateway is %s; connect it before sending", r.Status)
		case len(in.IdempotencyKey) > 1000:
			return apperr.Invalid(apperr.FieldError{Field: "idempotencyKey", Message: "must be at most 1000 characters"})
		}
		if len(in.IdempotencyKey) > 200 {
			// Long keys (composed by plugins from their own keys) are kept
			// as their digest: same key, same digest.
			sum := sha256.Sum256([]byte(in.IdempotencyKey))
			in.IdempotencyKey = "sha256:" + hex.EncodeToString(sum[:])
		}
		if in.IdempotencyKey != "" {
			prev, err := sendByKey(ctx, tx, r.workspaceID, r.ID, in.IdempotencyKey)
			if err == nil {
				rec = prev
				return nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("find send by key: %w", err)
			}
		}
		now := db.Now()
		rec = SendRecord{ID: ids.New(ids.GatewaySend), GatewayID: r.ID, ChatID: in.ChatID, Text: in.Text,
			Status: SendQueued, CreatedAt: now, UpdatedAt: now}
		// Two sends racing with one key: the loser inserts nothing (no
		// error, which would abort a PostgreSQL transaction) and answers
		// the winner's message.
		res, err := db.Scope(tx, r.workspaceID).ExecContext(ctx, `INSERT INTO gateway_sends
			(workspace_id, id, gateway_id, chat_id, text, status, attempts, idempotency_key, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, 'QUEUED', 0, $6, $7, $7) ON CONFLICT (gateway_id, idempotency_key) DO NOTHING /* workspace_id = $1 */`,
			rec.ID, r.ID, rec.ChatID, rec.Text, nullKey(in.IdempotencyKey), now)
		if err != nil {
			return fmt.Errorf("insert send: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			prev, err := sendByKey(ctx, tx, r.workspaceID, r.ID, in.IdempotencyKey)
			if err != nil {
				return fmt.Errorf("find send by key: %w", err)
			}
			rec = prev
			return nil
		}
		_, err = s.jobs.InsertRouted(ctx, tx, jobs.Route{WorkspaceID: r.workspaceID, Plan: r.plan},
			sendArgs{SendID: rec.ID, WorkspaceID: r.workspaceID}, &river.InsertOpts{MaxAttempts: s.opt.SendAttempts})
		return err
	}()
	if err != nil {
		return SendRecord{}, err
	}
	return rec, nil
}

// GetSend returns one outbound message of a gateway.
func (s *Service) GetSend(ctx context.Context, a actor.Actor, gatewayID, sendID string) (SendRecord, error) {
	if err := allow(a, actor.PermGatewayRead); err != nil {
		return SendRecord{}, err
	}
	if !ids.Valid(ids.Gateway, gatewayID) || !ids.Valid(ids.GatewaySend, sendID) {
		return SendRecord{}, apperr.New(apperr.NotFound, "message not found")
	}
	rec, err := loadSend(ctx, s.db.Read(), a.WorkspaceID(), sendID)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && rec.GatewayID != gatewayID) {
		return SendRecord{}, apperr.New(apperr.NotFound, "message not found")
	}
	return rec, apperr.Wrap(err, "get send")
}

func loadSend(ctx context.Context, q db.Querier, ws, id string) (SendRecord, error) {
	return scanSend(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+sendColumns+` FROM gateway_sends WHERE workspace_id = $1 AND id = $2`, id))
}

func sendByKey(ctx context.Context, q db.Querier, ws, gatewayID, key string) (SendRecord, error) {
	return scanSend(db.Scope(q, ws).QueryRowContext(ctx, `SELECT `+sendColumns+` FROM gateway_sends
		WHERE workspace_id = $1 AND gateway_id = $2 AND idempotency_key = $3`, gatewayID, key))
}

func nullKey(k string) any {
	if k == "" {
		return nil
	}
	return k
}

const sendColumns = `id, gateway_id, chat_id, text, status, attempts, provider_message_id, last_error, created_at, updated_at, sent_at`

func scanSend(row *sql.Row) (SendRecord, error) {
	var r SendRecord
	var pmid, lastErr sql.NullString
	var sent sql.NullTime
	err := row.Scan(&r.ID, &r.GatewayID, &r.ChatID, &r.Text, &r.Status, &r.Attempts, &pmid, &lastErr, &r.CreatedAt, &r.UpdatedAt, &sent)
	if err != nil {
		return SendRecord{}, err
	}
	r.ProviderMessageID, r.LastError, r.SentAt = pmid.String, lastErr.String, ptrTime(sent.Time)
	r.CreatedAt, r.UpdatedAt = r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	return r, nil
}

// sendArgs is the delivery job of one outbound message.
type sendArgs struct {
	SendID      string `json:"sendId"`
	WorkspaceID string `json:"workspaceId"`
}

func (sendArgs) Kind() string { return "gateway.send" }

type sendWorker struct {
	river.WorkerDefaults[sendArgs]
	s *Service
}

// NextRetry backs off exponentially from RetryBase up to RetryMax.
func (w *sendWorker) NextRetry(job *river.Job[sendArgs]) time.Time {
	d := w.s.opt.RetryBase
	for i := 1; i < job.Attempt && d < w.s.opt.RetryMax; i++ {
		d *= 2
	}
	return time.Now().Add(min(d, w.s.opt.RetryMax))
}

// Work delivers one message. Outcomes: SENT; rate limited → snoozed for
// the provider's retry_after; authentication refused → retried until the
// gateway reaches ERROR, then FAILED; permanent → FAILED at once;
// temporary → retried with backoff, FAILED after the last attempt.
func (w *sendWorker) Work(ctx context.Context, job *river.Job[sendArgs]) error {
	s := w.s
	ws := job.Args.WorkspaceID
	rec, err := loadSend(ctx, s.db.Read(), ws, job.Args.SendID)
	if errors.Is(err, sql.ErrNoRows) {
		return river.JobCancel(fmt.Errorf("send %s no longer exists", job.Args.SendID))
	}
	if err != nil {
		return err
	}
	if rec.Status != SendQueued {
		return nil
	}
	if paused, err := s.pausedWorkspace(ctx, ws); err != nil {
		return err
	} else if paused {
		return river.JobSnooze(workspace.PausedRecheck) // sent after the reactivation
	}
	r, err := getRow(ctx, s.db.Read(), ws, rec.GatewayID)
	if errors.Is(err, errNotFound) {
		return s.failSend(ctx, ws, rec.ID, "gateway was deleted")
	}
	if err != nil {
		return err
	}
	if r.Status == Disconnected || r.Status == Error {
		return s.failSend(ctx, ws, rec.ID, "gateway is "+string(r.Status))
	}
	creds, err := s.open(r)
	if err != nil {
		return fmt.Errorf("send %s: credentials unreadable", rec.ID)
	}
	ad, err := s.adapter(r.Type)
	if err != nil {
		return s.failSend(ctx, ws, rec.ID, "unsupported gateway type")
	}
	pctx, cancel := context.WithTimeout(ctx, s.opt.ProviderTimeout)
	sent, perr := ad.Send(pctx, target(r, creds), channel.Message{ID: rec.ID, ChatID: rec.ChatID, Text: rec.Text})
	cancel()
	s.metrics.Send(string(r.Type), sendOutcome(perr))
	if perr == nil {
		return s.db.Tx(ctx, func(tx *db.Tx) error {
			now := db.Now()
			if _, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE gateway_sends SET status = 'SENT', attempts = attempts + 1,
				provider_message_id = $3, last_error = NULL, sent_at = $4, updated_at = $4 WHERE workspace_id = $1 AND id = $2`,
				rec.ID, sent.ProviderMessageID, now); err != nil {
				return fmt.Errorf("mark send %s sent: %w", rec.ID, err)
			}
			if r.authFailures > 0 || r.Status == Error {
				return s.recordSuccessTx(ctx, tx, r)
			}
			return nil
		})
	}
	msg := scrub(perr.Error(), creds)
	st, err := s.recordFailure(ctx, systemActor(r), r, perr, creds)
	if err != nil {
		return err
	}
	var se *channel.SendError
	if !errors.As(perr, &se) {
		se = &channel.SendError{Kind: channel.Temporary, Message: msg}
	}
	final := job.Attempt >= job.MaxAttempts
	switch {
	case se.Kind == channel.Permanent, se.Kind == channel.Auth && st == Error:
		return s.failSend(ctx, ws, rec.ID, msg)
	case final:
		return s.failSend(ctx, ws, rec.ID, msg)
	}
	if err := s.noteAttempt(ctx, ws, rec.ID, msg); err != nil {
		return err
	}
	if se.Kind == channel.RateLimited {
		wait := se.RetryAfter
		if wait <= 0 {
			wait = s.opt.RetryBase
		}
		return river.JobSnooze(min(wait, s.opt.MaxRetryAfter))
	}
	return errors.New(msg)
}

func (s *Service) noteAttempt(ctx context.Context, ws, id, msg string) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE gateway_sends SET attempts = attempts + 1, last_error = $3, updated_at = $4
			WHERE workspace_id = $1 AND id = $2`, id, msg, db.Now())
		if err != nil {
			return fmt.Errorf("record attempt of send %s: %w", id, err)
		}
		return nil
	})
}

// failSend marks a send FAILED and ends its job without retry.
func (s *Service) failSend(ctx context.Context, ws, id, msg string) error {
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE gateway_sends SET status = 'FAILED', attempts = attempts + 1,
			last_error = $3, updated_at = $4 WHERE workspace_id = $1 AND id = $2`, id, msg, db.Now())
		if err != nil {
			return fmt.Errorf("mark send %s failed: %w", id, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return river.JobCancel(errors.New(msg))
}

func (s *Service) recordSuccessTx(ctx context.Context, tx *db.Tx, r *row) error {
	_, err := db.Scope(tx, r.workspaceID).ExecContext(ctx, `UPDATE gateways SET auth_failures = 0,
		status = CASE WHEN status = 'ERROR' THEN 'CONNECTED' ELSE status END WHERE workspace_id = $1 AND id = $2`, r.ID)
	if err != nil {
		return fmt.Errorf("record success of gateway %s: %w", r.ID, err)
	}
	return nil
}

// RegisterJobs adds the service's workers to the runner (before Open).
func (s *Service) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &eventWorker{s: s})
	river.AddWorker(r.Workers(), &sendWorker{s: s})
	river.AddWorker(r.Workers(), &unregisterWorker{s: s})
}
