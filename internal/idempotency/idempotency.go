// Package idempotency makes a retried request answer like the first one,
// the way Stripe's Idempotency-Key does: the first request with a key
// claims it and runs; a request with the same key arriving while it runs
// waits for it; every later one gets the stored answer. A key is scoped to
// a workspace and a route (method and path) and kept for TTL (24 h). A key
// reused with a different request is refused with IDEMPOTENCY_CONFLICT.
//
// The claim is a row written in a short transaction of its own, before the
// work starts, so it holds across nodes sharing one database. Its holder
// renews the claim's lease while the request runs, so a claim whose holder
// died (killed, or cut off from the database) is taken over by a retry of
// the same request within Lease, not after the longest request.
package idempotency

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
)

// Defaults of a Store.
const (
	// TTL is how long a key and its answer are kept.
	DefaultTTL = 24 * time.Hour
	// Lease is how long a claim holds without renewal before a retry of
	// the same request may take it over (its holder is presumed dead).
	// The holder renews it every Lease/3 for as long as it runs.
	DefaultLease = 10 * time.Second
	// Wait is how long a request waits for the first request with its key
	// before answering IDEMPOTENCY_CONFLICT ("still in progress"): longer
	// than a synchronous workflow wait (60 s), shorter than the server's
	// write timeout (120 s).
	DefaultWait = 90 * time.Second
	// MaxKeyLength bounds a key as a client sends it; StoredKey shortens
	// the longer ones.
	MaxKeyLength = 1000
)

// Response is a stored answer.
type Response struct {
	Status      int
	ContentType string
	Body        []byte
}

// Claim is the right to run a request and store its answer. Exactly one
// of Complete or Release must follow.
type Claim struct {
	workspace, route, key, token string
	stop                         context.CancelFunc
	renewing                     sync.WaitGroup
}

// end stops renewing the claim's lease.
func (c *Claim) end() {
	if c.stop != nil {
		c.stop()
		c.renewing.Wait()
	}
}

// Store keeps idempotency keys in the database.
type Store struct {
	db    *db.DB
	log   *slog.Logger
	TTL   time.Duration
	Lease time.Duration
	Wait  time.Duration

	mu      sync.Mutex
	waiting map[string][]chan struct{}
}

// New returns a store with the default TTL, lease and wait.
func New(d *db.DB, log *slog.Logger) *Store {
	if log == nil {
		log = slog.Default()
	}
	return &Store{db: d, log: log, TTL: DefaultTTL, Lease: DefaultLease, Wait: DefaultWait, waiting: map[string][]chan struct{}{}}
}

// Hash is the fingerprint a key is bound to: the method, the route and
// the body (canonicalised by the caller if it wants key order ignored).
func Hash(method, route string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(method))
	h.Write([]byte{0})
	h.Write([]byte(route))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// StoredKey is the form a key is kept in: as it is up to 200 characters
// (what every idempotencyKey field accepts), else its SHA-256.
func StoredKey(key string) string {
	if len(key) <= 200 {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CheckKey validates a key: 1 to MaxKeyLength printable ASCII characters.
func CheckKey(field, key string) error {
	if key == "" || len(key) > MaxKeyLength {
		return apperr.Invalid(apperr.FieldError{Field: field, Message: fmt.Sprintf("must be 1 to %d characters", MaxKeyLength)})
	}
	for i := 0; i < len(key); i++ {
		if key[i] < 0x20 || key[i] > 0x7e {
			return apperr.Invalid(apperr.FieldError{Field: field, Message: "must be printable ASCII"})
		}
	}
	return nil
}

// Begin claims key for a request, or returns the answer stored for it.
// Exactly one of the results is set: a Claim when this request must run
// (then call Complete or Release), or the stored Response to replay. A
// request with the key under way elsewhere is waited for (up to Wait, or
// until ctx ends). A key bound to a different hash answers
// IDEMPOTENCY_CONFLICT, as does a wait that runs out.
func (s *Store) Begin(ctx context.Context, workspace, route, key, hash string) (*Claim, *Response, error) {
	if workspace == "" {
		return nil, nil, errors.New("idempotency: no workspace")
	}
	name := workspace + "\x00" + route + "\x00" + key
	ch := s.listen(name)
	defer s.unlisten(name, ch)
	deadline := time.NewTimer(s.Wait)
	defer deadline.Stop()
	pause := 10 * time.Millisecond
	for {
		c, res, err := s.try(ctx, workspace, route, key, hash)
		if err != nil || c != nil || res != nil {
			return c, res, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ch:
		case <-t.C:
		case <-deadline.C:
			t.Stop()
			return nil, nil, apperr.New(apperr.IdempotencyConflict, "a request with this idempotency key is still in progress; retry later").
				WithDetails(map[string]any{"inProgress": true})
		case <-ctx.Done():
			t.Stop()
			return nil, nil, ctx.Err()
		}
		t.Stop()
		pause = min(pause*2, 250*time.Millisecond)
	}
}

// try makes one attempt: claim, replay, or neither (someone else runs).
func (s *Store) try(ctx context.Context, ws, route, key, hash string) (*Claim, *Response, error) {
	token, err := newToken()
	if err != nil {
		return nil, nil, err
	}
	now := db.Now()
	var claimed bool
	err = s.db.Tx(ctx, func(tx *db.Tx) error {
		sc := db.Scope(tx, ws)
		res, err := sc.ExecContext(ctx, `INSERT INTO idempotency_keys (workspace_id, route, idem_key, request_hash, status, claim,
			created_at, locked_until, expires_at) VALUES ($1, $2, $3, $4, 'in_progress', $5, $6, $7, $8)
			ON CONFLICT (workspace_id, route, idem_key) DO NOTHING`, route, key, hash, token, now, now.Add(s.Lease), now.Add(s.TTL))
		if err != nil {
			return fmt.Errorf("claim idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 1 {
			claimed = true
			return nil
		}
		// An expired key is free for any request; an abandoned claim
		// (lease over) only for the same request.
		res, err = sc.ExecContext(ctx, `UPDATE idempotency_keys SET request_hash = $4, status = 'in_progress', claim = $5,
			response_status = NULL, response_type = NULL, response_body = NULL, created_at = $6, locked_until = $7, expires_at = $8
			WHERE workspace_id = $1 AND route = $2 AND idem_key = $3
			AND (expires_at < $6 OR (status = 'in_progress' AND locked_until < $6 AND request_hash = $4))`,
			route, key, hash, token, now, now.Add(s.Lease), now.Add(s.TTL))
		if err != nil {
			return fmt.Errorf("take over idempotency key: %w", err)
		}
		n, _ := res.RowsAffected()
		claimed = n == 1
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	if claimed {
		c := &Claim{workspace: ws, route: route, key: key, token: token}
		s.renew(c)
		return c, nil, nil
	}
	var storedHash, status string
	var code sql.NullInt64
	var ctype, body sql.NullString
	err = db.Scope(s.db.Read(), ws).QueryRowContext(ctx, `SELECT request_hash, status, response_status, response_type, response_body
		FROM idempotency_keys WHERE workspace_id = $1 AND route = $2 AND idem_key = $3`, route, key).Scan(&storedHash, &status, &code, &ctype, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, nil // released meanwhile: the next attempt claims it
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read idempotency key: %w", err)
	}
	if storedHash != hash {
		return nil, nil, apperr.New(apperr.IdempotencyConflict,
			"this idempotency key was already used for a different request (another body); use a new key")
	}
	if status == "done" {
		return nil, &Response{Status: int(code.Int64), ContentType: ctype.String, Body: []byte(body.String)}, nil
	}
	return nil, nil, nil
}

// renew extends c's lease every Lease/3 until the claim ends. A renewal
// that fails (the database is briefly unreachable) is tried again at the
// next tick; if the holder stays cut off past Lease, a retry may take the
// key over, which is what a dead holder would need too.
func (s *Store) renew(c *Claim) {
	if s.Lease/3 <= 0 {
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	c.stop = stop
	c.renewing.Add(1)
	go func() {
		defer c.renewing.Done()
		t := time.NewTicker(s.Lease / 3)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			err := s.db.Tx(ctx, func(tx *db.Tx) error {
				_, err := db.Scope(tx, c.workspace).ExecContext(ctx, `UPDATE idempotency_keys SET locked_until = $5
					WHERE workspace_id = $1 AND route = $2 AND idem_key = $3 AND claim = $4 AND status = 'in_progress'`,
					c.route, c.key, c.token, db.Now().Add(s.Lease))
				return err
			})
			if err != nil && ctx.Err() == nil {
				s.log.Warn("renew idempotency claim", "route", c.route, "error", err)
			}
		}
	}()
}

// Complete stores the answer of a claimed request; later requests with its
// key get it. It holds even when ctx was cancelled (the client left).
func (s *Store) Complete(ctx context.Context, c *Claim, r Response) error {
	c.end()
	ctx = context.WithoutCancel(ctx)
	defer s.notify(c)
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := db.Scope(tx, c.workspace).ExecContext(ctx, `UPDATE idempotency_keys SET status = 'done', response_status = $5,
			response_type = $6, response_body = $7 WHERE workspace_id = $1 AND route = $2 AND idem_key = $3 AND claim = $4`,
			c.route, c.key, c.token, r.Status, r.ContentType, string(r.Body))
		if err != nil {
			return fmt.Errorf("store idempotent answer: %w", err)
		}
		return nil
	})
}

// Release gives a claimed key up (the request failed in a way a retry may
// fix): the next request with it runs.
func (s *Store) Release(ctx context.Context, c *Claim) error {
	c.end()
	ctx = context.WithoutCancel(ctx)
	defer s.notify(c)
	return s.db.Tx(ctx, func(tx *db.Tx) error {
		_, err := db.Scope(tx, c.workspace).ExecContext(ctx, `DELETE FROM idempotency_keys
			WHERE workspace_id = $1 AND route = $2 AND idem_key = $3 AND claim = $4`, c.route, c.key, c.token)
		if err != nil {
			return fmt.Errorf("release idempotency key: %w", err)
		}
		return nil
	})
}

// DeleteExpired removes keys past their TTL; it returns how many.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int64, error) {
	var n int64
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE expires_at < $1`, now.UTC())
		if err != nil {
			return fmt.Errorf("delete expired idempotency keys: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// Local wake-ups: a request waiting on a key claimed on this node is woken
// when the claim ends; one claimed on another node is seen by polling.
func (s *Store) listen(name string) chan struct{} {
	ch := make(chan struct{}, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waiting[name] = append(s.waiting[name], ch)
	return ch
}

func (s *Store) unlisten(name string, ch chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.waiting[name]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(s.waiting, name)
	} else {
		s.waiting[name] = list
	}
}

func (s *Store) notify(c *Claim) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.waiting[c.workspace+"\x00"+c.route+"\x00"+c.key] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func newToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("claim token: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// sweepArgs deletes expired keys.
type sweepArgs struct{}

func (sweepArgs) Kind() string { return "idempotency.delete_expired" }

type sweepWorker struct {
	river.WorkerDefaults[sweepArgs]
	s *Store
}

func (w *sweepWorker) Work(ctx context.Context, _ *river.Job[sweepArgs]) error {
	_, err := w.s.DeleteExpired(db.WithoutTimeout(ctx), time.Now())
	return err
}

// RegisterJobs adds the hourly deletion of expired keys (once per cluster)
// to the runner. Expired keys are also taken over lazily on use.
func (s *Store) RegisterJobs(r *jobs.Runner) {
	river.AddWorker(r.Workers(), &sweepWorker{s: s})
	r.AddPeriodic(time.Hour, func() river.JobArgs { return sweepArgs{} })
}
