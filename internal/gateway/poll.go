package gateway

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/gateway/channel"
	"github.com/switchboard/switchboard/internal/gateway/telegram"
	"github.com/switchboard/switchboard/internal/workspace"
)

// Receiving by long polling. A Telegram gateway receives either through its
// webhook (Telegram calls the inbound URL, which must be public https) or
// by long polling getUpdates, for a node with no public https URL (local
// development). config.receive chooses; without it a gateway polls unless
// the public URL is https.
//
// One node polls a gateway at a time: the node holding the gateway's lease
// row in gateway_pollers (renewed before every getUpdates; a lease whose
// holder died lapses after PollLease and another worker node takes it). A
// lease row rather than a PostgreSQL advisory lock, because SQLite has
// none and a lease also survives a dropped connection. The row also holds
// the offset: after each update has gone through the inbound path (the
// same Parse, de-duplication, storage and routing as a webhook delivery)
// the next offset is saved, and getUpdates always asks from the saved
// offset, which confirms the earlier updates to Telegram. A node that dies
// between storing an update and saving the offset gets that update again
// from the next poller, and the inbound de-duplication (by update_id)
// drops it.

// Poller is the long-polling side of an adapter (Telegram's).
type Poller interface {
	Poll(ctx context.Context, t channel.Target, offset int64, timeout time.Duration, limit int) ([]telegram.Update, error)
	PolledRequest(t channel.Target, u telegram.Update, now time.Time) channel.Request
}

// pollBatch is getUpdates' limit.
const pollBatch = 100

func (o *Options) pollDefaults() {
	if o.PollTimeout <= 0 {
		// Under the gateway client's 15 s bound on a whole request.
		o.PollTimeout = 10 * time.Second
	}
	if o.PollLease <= 0 {
		o.PollLease = 45 * time.Second
	}
	if o.PollScan <= 0 {
		o.PollScan = 5 * time.Second
	}
}

// Receive is how a gateway takes inbound events: "webhook" or "polling"
// for Telegram, "" for types that only have a webhook.
func (s *Service) Receive(g Gateway) string {
	if g.Type != channel.Telegram {
		return ""
	}
	if m := g.ConfigString("receive"); m != "" {
		return m
	}
	if strings.HasPrefix(s.publicURL, "https://") {
		return telegram.ReceiveWebhook
	}
	return telegram.ReceivePolling
}

// register points the provider at the inbound URL, or, for a gateway that
// polls, removes any webhook (Telegram refuses getUpdates while one is
// set) and wakes the pollers.
func (s *Service) register(ctx context.Context, r *row, ad channel.Adapter, t channel.Target, hookURL string) error {
	if s.Receive(r.Gateway) != telegram.ReceivePolling {
		return ad.Register(ctx, t, hookURL)
	}
	if err := ad.Unregister(ctx, t); err != nil {
		return err
	}
	s.kickPollers()
	return nil
}

// pollers is a node's polling state.
type pollers struct {
	mu      sync.Mutex
	holder  string
	running map[string]bool
	kick    chan struct{}
	stop    context.CancelFunc
	wg      sync.WaitGroup
}

func (s *Service) kickPollers() {
	s.poll.mu.Lock()
	defer s.poll.mu.Unlock()
	if s.poll.kick != nil {
		select {
		case s.poll.kick <- struct{}{}:
		default:
		}
	}
}

// StartPolling runs this node's share of the polling (worker nodes) until
// StopPolling.
func (s *Service) StartPolling(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	s.poll.mu.Lock()
	s.poll.holder = hex.EncodeToString(b)
	s.poll.running = map[string]bool{}
	s.poll.kick = make(chan struct{}, 1)
	s.poll.stop = cancel
	s.poll.mu.Unlock()
	s.poll.wg.Add(1)
	go func() {
		defer s.poll.wg.Done()
		for {
			if err := s.pollScan(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("gateway polling scan", "error", err)
			}
			select {
			case <-ctx.Done():
				return
			case <-s.poll.kick:
			case <-time.After(s.opt.PollScan):
			}
		}
	}()
}

// StopPolling ends this node's polls and releases their leases, so another
// node takes them over at once.
func (s *Service) StopPolling() {
	s.poll.mu.Lock()
	stop := s.poll.stop
	s.poll.mu.Unlock()
	if stop != nil {
		stop()
		s.poll.wg.Wait()
	}
}

// pollScan starts a poll for every polling gateway whose lease this node
// can take.
func (s *Service) pollScan(ctx context.Context) error {
	// Every workspace's connected Telegram gateways: a cross-workspace
	// read by the system; the lease and everything after are scoped.
	rows, err := s.db.Read().QueryContext(ctx, `SELECT `+rowColumns+rowFrom+`WHERE g.type = $1 AND g.status = $2 AND `+
		workspace.NotPaused("g.workspace_id")+` ORDER BY g.id`, string(channel.Telegram), string(Connected))
	if err != nil {
		return fmt.Errorf("list polled gateways: %w", err)
	}
	var list []*row
	for rows.Next() {
		r, err := scanRow(rows)
		if err != nil {
			rows.Close()
			return err
		}
		if s.Receive(r.Gateway) == telegram.ReceivePolling {
			list = append(list, r)
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range list {
		s.poll.mu.Lock()
		busy := s.poll.running[r.ID]
		s.poll.mu.Unlock()
		if busy {
			continue
		}
		offset, ok, err := s.takeLease(ctx, r)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		s.poll.mu.Lock()
		s.poll.running[r.ID] = true
		s.poll.mu.Unlock()
		s.poll.wg.Add(1)
		go func(r *row) {
			defer s.poll.wg.Done()
			s.pollGateway(ctx, r, offset)
		}(r)
	}
	return nil
}

// takeLease takes or renews the gateway's lease for this node and returns
// the saved offset; ok is false while another node holds it.
func (s *Service) takeLease(ctx context.Context, r *row) (int64, bool, error) {
	var offset int64
	now := db.Now()
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		return db.Scope(tx, r.workspaceID).QueryRowContext(ctx, `INSERT INTO gateway_pollers (workspace_id, gateway_id, holder, lease_until, update_offset, updated_at)
			VALUES ($1, $2, $3, $4, 0, $5)
			ON CONFLICT (gateway_id) DO UPDATE SET holder = excluded.holder, lease_until = excluded.lease_until, updated_at = excluded.updated_at
			WHERE gateway_pollers.holder IS NULL OR gateway_pollers.holder = excluded.holder OR gateway_pollers.lease_until < excluded.updated_at
			RETURNING update_offset`, r.ID, s.poll.holder, now.Add(s.opt.PollLease), now).Scan(&offset)
	})
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("lease gateway %s: %w", r.ID, err)
	}
	return offset, true, nil
}

// leaseExec runs a statement on the gateway's lease row that holds only
// while this node holds the lease; false when it no longer does.
func (s *Service) leaseExec(ctx context.Context, r *row, set string, args ...any) (bool, error) {
	var n int64
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		res, err := db.Scope(tx, r.workspaceID).ExecContext(ctx, `UPDATE gateway_pollers SET `+set+`
			WHERE workspace_id = $1 AND gateway_id = $2 AND holder = $3`, append([]any{r.ID, s.poll.holder}, args...)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n == 1, err
}

// pollGateway polls one gateway while this node holds its lease and the
// gateway is connected, polling and its workspace not paused.
func (s *Service) pollGateway(ctx context.Context, r *row, offset int64) {
	defer func() {
		// Released with a fresh context: the node is stopping, and the
		// next node should not wait out the lease.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := s.leaseExec(rctx, r, `holder = NULL, lease_until = NULL, updated_at = $4`, db.Now()); err != nil {
			s.log.Warn("release gateway poll lease", "gatewayId", r.ID, "error", err)
		}
		s.poll.mu.Lock()
		delete(s.poll.running, r.ID)
		s.poll.mu.Unlock()
	}()
	failures := 0
	for ctx.Err() == nil {
		cur, err := getRow(ctx, s.db.Read(), r.workspaceID, r.ID)
		if err != nil || cur.Status != Connected || s.Receive(cur.Gateway) != telegram.ReceivePolling {
			return
		}
		if paused, err := s.pausedWorkspace(ctx, r.workspaceID); err != nil || paused {
			return
		}
		now := db.Now()
		if held, err := s.leaseExec(ctx, r, `lease_until = $4, updated_at = $5`, now.Add(s.opt.PollLease), now); err != nil || !held {
			return
		}
		next, err := s.pollOnce(ctx, cur, offset)
		if ctx.Err() != nil {
			return
		}
		if next > offset {
			offset = next
		}
		if err != nil {
			failures++
			wait := min(s.opt.RetryBase<<min(failures-1, 10), s.opt.RetryMax, time.Minute)
			s.log.Warn("gateway poll", "gatewayId", r.ID, "error", err, "retryIn", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
			continue
		}
		failures = 0
	}
}

// pollOnce asks for the updates from offset on, hands each to the inbound
// path and saves the offset after it; it returns the next offset.
func (s *Service) pollOnce(ctx context.Context, r *row, offset int64) (int64, error) {
	creds, err := s.open(r)
	if err != nil {
		return offset, err
	}
	ad, err := s.adapter(r.Type)
	if err != nil {
		return offset, err
	}
	p, ok := ad.(Poller)
	if !ok {
		return offset, fmt.Errorf("gateway type %s cannot poll", r.Type)
	}
	t := target(r, creds)
	pctx, cancel := context.WithTimeout(ctx, s.opt.PollTimeout+s.opt.ProviderTimeout)
	updates, perr := p.Poll(pctx, t, offset, s.opt.PollTimeout, pollBatch)
	cancel()
	if perr != nil {
		if ctx.Err() == nil {
			if _, err := s.recordFailure(context.WithoutCancel(ctx), systemActor(r), r, perr, creds); err != nil {
				return offset, err
			}
		}
		return offset, errors.New(scrub(perr.Error(), creds))
	}
	if len(updates) == 0 {
		return offset, nil
	}
	// The poll waited up to PollTimeout: the workspace may have been
	// paused (its owner deactivated) or ended, or the gateway disconnected,
	// meanwhile. Then nothing it brought back is stored and the offset
	// stays, so the updates wait at Telegram as a webhook delivery
	// answered 404 would be retried; the loop stops at its next look.
	if live, err := s.stillPolling(ctx, r); err != nil || !live {
		return offset, err
	}
	if err := s.recordSuccess(ctx, r); err != nil {
		return offset, err
	}
	for _, u := range updates {
		if u.ID < offset {
			continue
		}
		_, err := s.deliver(ctx, r, creds, ad, p.PolledRequest(t, u, time.Now()))
		if err != nil && !apperr.Is(err, apperr.Validation) && !apperr.Is(err, apperr.Unauthorized) && !apperr.Is(err, apperr.NotFound) {
			// Not stored (the database, say): asked for again next time.
			return offset, err
		}
		if err != nil {
			// An update the inbound path refuses is refused for good, as
			// a webhook delivery of it would be: skip it.
			s.log.Info("polled update refused", "gatewayId", r.ID, "updateId", u.ID, "reason", err.Error())
		}
		offset = u.ID + 1
		// Saved even when the node is stopping: an update stored is an
		// update whose offset is kept.
		held, err := s.leaseExec(context.WithoutCancel(ctx), r, `update_offset = $4, updated_at = $5`, offset, db.Now())
		if err != nil {
			return offset, err
		}
		if !held {
			return offset, errors.New("lease lost")
		}
	}
	return offset, nil
}

// stillPolling reports whether a polling gateway may still take in what a
// poll brought back: connected and its workspace not paused.
func (s *Service) stillPolling(ctx context.Context, r *row) (bool, error) {
	cur, err := getRow(ctx, s.db.Read(), r.workspaceID, r.ID)
	if errors.Is(err, errNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if cur.Status != Connected || s.Receive(cur.Gateway) != telegram.ReceivePolling {
		return false, nil
	}
	paused, err := s.pausedWorkspace(ctx, r.workspaceID)
	return err == nil && !paused, err
}
