package events

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/safehttp"
	"github.com/switchboard/switchboard/internal/workspace"
)

// deliverArgs is the job of one delivery; its attempts are the job's.
type deliverArgs struct {
	DeliveryID  string `json:"deliveryId"`
	WorkspaceID string `json:"workspaceId"`
}

func (deliverArgs) Kind() string { return "events.deliver" }

type deliverWorker struct {
	river.WorkerDefaults[deliverArgs]
	s *Service
}

// retryDelay is the wait after failed attempt n (1-based) of a job.
func (s *Service) retryDelay(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	if n > len(s.opt.Schedule) {
		n = len(s.opt.Schedule)
	}
	return s.opt.Schedule[n-1]
}

// NextRetry follows the service's schedule.
func (w *deliverWorker) NextRetry(job *river.Job[deliverArgs]) time.Time {
	return time.Now().Add(w.s.retryDelay(job.Attempt))
}

// responseSnippet is how much of a receiver's answer the log keeps.
const responseSnippet = 1024

// Work makes one attempt. A 2xx answer delivers; anything else (another
// status, a refused or private destination, a timeout) is logged and
// retried on the schedule until the last attempt fails the delivery.
func (w *deliverWorker) Work(ctx context.Context, job *river.Job[deliverArgs]) error {
	s := w.s
	ws := job.Args.WorkspaceID
	d, err := loadDelivery(ctx, s.db.Read(), ws, job.Args.DeliveryID)
	if errors.Is(err, errNotFound) {
		return river.JobCancel(fmt.Errorf("delivery %s no longer exists", job.Args.DeliveryID))
	}
	if err != nil {
		return err
	}
	if d.Status != StatusPending {
		return nil
	}
	// A paused workspace (its owner deactivated) sends nothing; its
	// deliveries wait for the reactivation.
	if paused, err := workspace.Paused(ctx, s.db.Read(), ws); err != nil {
		return err
	} else if paused {
		return river.JobSnooze(workspace.PausedRecheck)
	}
	sub, err := s.loadSubscription(ctx, s.db.Read(), ws, d.SubscriptionID)
	if errors.Is(err, errNotFound) {
		return s.giveUp(ctx, ws, d.ID, "the subscription was deleted")
	}
	if err != nil {
		return err
	}
	if !sub.Enabled {
		return s.giveUp(ctx, ws, d.ID, "the subscription is disabled")
	}
	secretText, err := SecretStore(s.db).Open(s.keys, sub.ID, sub.sealed)
	if err != nil {
		return fmt.Errorf("delivery %s: signing secret unreadable: %w", d.ID, err)
	}
	key, err := SecretKey(string(secretText))
	if err != nil {
		return fmt.Errorf("delivery %s: %w", d.ID, err)
	}
	att := s.attempt(ctx, sub.URL, key, d)
	final := job.Attempt >= job.MaxAttempts
	if att.ok {
		return s.record(ctx, ws, d.ID, att, StatusSucceeded, nil)
	}
	if final {
		if err := s.record(ctx, ws, d.ID, att, StatusFailed, nil); err != nil {
			return err
		}
		return river.JobCancel(errors.New(att.summary()))
	}
	next := time.Now().Add(s.retryDelay(job.Attempt)).UTC()
	if err := s.record(ctx, ws, d.ID, att, StatusPending, &next); err != nil {
		return err
	}
	return errors.New(att.summary())
}

type attemptResult struct {
	ok       bool
	code     int
	response string
	err      string
	duration time.Duration
	at       time.Time
}

func (a attemptResult) summary() string {
	if a.err != "" {
		return a.err
	}
	return fmt.Sprintf("the receiver answered %d", a.code)
}

// attempt posts the signed body once.
func (s *Service) attempt(ctx context.Context, url string, key []byte, d Delivery) attemptResult {
	now := time.Now()
	res := attemptResult{at: now.UTC()}
	body := []byte(d.Payload)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		res.err = "the subscription's URL cannot be requested"
		return res
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Switchboard-Webhooks/1")
	req.Header.Set(HeaderID, d.EventID)
	req.Header.Set(HeaderTimestamp, fmt.Sprint(now.Unix()))
	req.Header.Set(HeaderSignature, Sign(key, d.EventID, now, body))
	resp, err := s.client.Do(req)
	res.duration = time.Since(now)
	if err != nil {
		res.err = describe(err)
		return res
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, responseSnippet))
	res.code = resp.StatusCode
	res.response = strings.ToValidUTF8(string(snippet), string(utf8.RuneError))
	res.ok = resp.StatusCode >= 200 && resp.StatusCode < 300
	return res
}

// describe turns a transport error into a log line that names the cause
// without internal detail.
func describe(err error) string {
	switch {
	case safehttp.IsBlocked(err):
		return "the destination is not allowed (private, loopback or otherwise non-public address)"
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return "the receiver did not answer in time"
	}
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		msg = msg[i+2:]
	}
	return "request failed: " + msg
}

// record logs an attempt and moves the delivery to status.
func (s *Service) record(ctx context.Context, ws, id string, a attemptResult, status string, next *time.Time) error {
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		q := db.Scope(tx, ws)
		var n int
		if err := q.QueryRowContext(ctx, `UPDATE event_deliveries SET attempts = attempts + 1, status = $3, last_status_code = $4,
			last_error = $5, next_attempt_at = $6, updated_at = $7, delivered_at = $8
			WHERE workspace_id = $1 AND id = $2 RETURNING attempts`,
			id, status, nullInt(a.code), nullString(a.err), nullTime(next), db.Now(), deliveredAt(status, a.at)).Scan(&n); err != nil {
			return fmt.Errorf("record attempt of delivery %s: %w", id, err)
		}
		if _, err := q.ExecContext(ctx, `INSERT INTO event_delivery_attempts (workspace_id, delivery_id, attempt, status_code,
			response, error, duration_ms, attempted_at, next_attempt_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			id, n, nullInt(a.code), a.response, nullString(a.err), a.duration.Milliseconds(), a.at, nullTime(next)); err != nil {
			return fmt.Errorf("log attempt of delivery %s: %w", id, err)
		}
		return nil
	})
}

// giveUp fails a delivery that can no longer be attempted.
func (s *Service) giveUp(ctx context.Context, ws, id, why string) error {
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := db.Scope(tx, ws).ExecContext(ctx, `UPDATE event_deliveries SET status = 'failed', last_error = $3,
			next_attempt_at = NULL, updated_at = $4 WHERE workspace_id = $1 AND id = $2`, id, why, db.Now())
		return err
	})
	if err != nil {
		return fmt.Errorf("fail delivery %s: %w", id, err)
	}
	return river.JobCancel(errors.New(why))
}

func deliveredAt(status string, at time.Time) any {
	if status == StatusSucceeded {
		return at
	}
	return nil
}

func nullInt(n int) any {
	if n == 0 {
		return nil
	}
	return n
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func nullTime(t *time.Time) any {
	if t == nil {
		return nil
	}
	return *t
}

// scanNullable helpers for the log.
func ptrInt(n sql.NullInt64) *int {
	if !n.Valid {
		return nil
	}
	v := int(n.Int64)
	return &v
}

func ptrTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}
