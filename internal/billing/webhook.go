package billing

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/stripe/stripe-go/v82"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// SignatureTolerance is how far a Stripe-Signature timestamp may be from
// now, either way, before the event is refused as stale (or replayed).
const SignatureTolerance = 300 * time.Second

// errSignature answers every signature failure alike (400), so a forger
// learns nothing from the reason.
var errSignature = apperr.New(apperr.Validation, "invalid Stripe-Signature")

// VerifySignature checks a Stripe-Signature header ("t=…,v1=…,v1=…") over
// payload: HMAC-SHA256 of "t.payload" under secret, compared in constant
// time, any of several v1 signatures accepted (Stripe sends two while a
// secret rolls), timestamp within SignatureTolerance of now.
func VerifySignature(payload []byte, header, secret string, now time.Time) error {
	if secret == "" || header == "" {
		return errSignature
	}
	var ts int64
	var haveTS bool
	var sigs [][]byte
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return errSignature
		}
		switch k {
		case "t":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errSignature
			}
			ts, haveTS = n, true
		case "v1":
			if b, err := hex.DecodeString(v); err == nil {
				sigs = append(sigs, b)
			}
		}
	}
	if !haveTS || len(sigs) == 0 {
		return errSignature
	}
	if d := now.Sub(time.Unix(ts, 0)); d > SignatureTolerance || d < -SignatureTolerance {
		return errSignature
	}
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte(strconv.FormatInt(ts, 10)))
	mac.Write([]byte("."))
	mac.Write(payload)
	want := mac.Sum(nil)
	for _, sig := range sigs {
		if hmac.Equal(sig, want) {
			return nil
		}
	}
	return errSignature
}

// Sign returns a Stripe-Signature header for payload at t, as Stripe would
// send it (for tests and local tools).
func Sign(payload []byte, secret string, t time.Time) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "%d.", t.Unix())
	mac.Write(payload)
	return fmt.Sprintf("t=%d,v1=%s", t.Unix(), hex.EncodeToString(mac.Sum(nil)))
}

// WebhookResult is what POST /hooks/stripe answers.
type WebhookResult struct {
	Received bool   `json:"received"`
	EventID  string `json:"eventId"`
	Type     string `json:"type"`
	// Outcome: "applied", "duplicate" (seen before; nothing done),
	// "ignored" (a type or state that changes nothing here).
	Outcome string `json:"outcome"`
}

// handler applies one event type inside the event's transaction. It returns
// the workspace affected ("" if none) and whether anything was applied.
type handler func(ctx context.Context, tx *db.Tx, ev *stripe.Event) (workspace string, applied bool, err error)

func (s *Service) handlers() map[stripe.EventType]handler {
	return map[stripe.EventType]handler{
		"checkout.session.completed":               s.onCheckoutCompleted,
		"checkout.session.async_payment_succeeded": s.onCheckoutCompleted,
		"invoice.paid":                             s.onInvoicePaid,
		"customer.subscription.created":            s.onSubscription,
		"customer.subscription.updated":            s.onSubscription,
		"customer.subscription.deleted":            s.onSubscription,
		"charge.refunded":                          s.onChargeRefunded,
		"payment_intent.succeeded":                 s.onPaymentIntentSucceeded,
	}
}

// HandleWebhook verifies and applies one Stripe event. A forged, malformed
// or stale delivery is refused (VALIDATION_ERROR, 400) and changes nothing.
// An event id already stored answers "duplicate"; an unknown type is
// acknowledged and ignored. An event about a customer no workspace has is
// acknowledged too and stored as ignored with the reason, so Stripe stops
// delivering it. If applying fails, nothing is stored and the error makes
// Stripe deliver the event again later.
func (s *Service) HandleWebhook(ctx context.Context, payload []byte, signature string) (WebhookResult, error) {
	if s.cfg.WebhookSecret == "" {
		return WebhookResult{}, apperr.New(apperr.NotFound, "Stripe webhooks are not enabled on this server")
	}
	if err := VerifySignature(payload, signature, s.cfg.WebhookSecret, time.Now()); err != nil {
		return WebhookResult{}, err
	}
	var ev stripe.Event
	if err := json.Unmarshal(payload, &ev); err != nil || ev.ID == "" || ev.Type == "" || ev.Data == nil {
		return WebhookResult{}, apperr.New(apperr.Validation, "the payload is not a Stripe event")
	}
	res := WebhookResult{Received: true, EventID: ev.ID, Type: string(ev.Type)}
	h, known := s.handlers()[ev.Type]
	if !known {
		res.Outcome = "ignored"
		return res, nil
	}
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		// Claim the event first: a parallel delivery of the same id waits
		// here for this transaction and then finds it taken.
		var id string
		err := tx.QueryRowContext(ctx, `INSERT INTO stripe_events (id, type, created, processed_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (id) DO NOTHING RETURNING id`, ev.ID, string(ev.Type), ev.Created, db.Now()).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			res.Outcome = "duplicate"
			return nil
		}
		if err != nil {
			return fmt.Errorf("claim event: %w", err)
		}
		var ws, reason string
		var applied bool
		err = tx.Savepoint(ctx, "stripe_event", func() error {
			var err error
			ws, applied, err = h(ctx, tx, &ev)
			return err
		})
		if errors.Is(err, errUnknownCustomer) {
			// Not ours (another server's customer, a deleted workspace):
			// refusing would make Stripe retry it for days.
			ws, applied, reason, err = "", false, err.Error(), nil
		}
		if err != nil {
			return err
		}
		res.Outcome = "ignored"
		if applied {
			res.Outcome = "applied"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE stripe_events SET workspace_id = $1, status = $2, reason = $3 WHERE id = $4`,
			nullable(ws), res.Outcome, nullable(reason), ev.ID); err != nil {
			return fmt.Errorf("record event outcome: %w", err)
		}
		return nil
	})
	if err != nil {
		s.log.Warn("stripe event not applied", "eventId", ev.ID, "type", ev.Type, "error", err)
		return WebhookResult{}, err
	}
	return res, nil
}

func nullable(v string) any {
	if v == "" {
		return nil
	}
	return v
}
