package workflow

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// Checkpoint notices on PostgreSQL. A trigger on workflow_runs (migration
// 00051) sends a run's id on RunCheckpointChannel with every commit that
// moves the checkpoint of a run some follower registered (watch); each
// node holds one connection listening on it and
// wakes the followers of that run on this node (Follow), whichever node
// committed. While the listener is connected followers poll only as a
// safety net (FollowPollListening); while it is not (SQLite, or the
// connection dropped) they poll every FollowPoll.

// RunCheckpointChannel is the PostgreSQL notification channel of run
// checkpoints; the payload is the run's id.
const RunCheckpointChannel = "switchboard_run_checkpoint"

// FollowPollListening is how often a follower polls while this node's
// listener is connected: notices carry the events, the poll only covers
// one lost between a reconnect and its LISTEN, or a commit whose trigger
// ran just before the follower's registration (watch) committed.
const FollowPollListening = time.Second

// watchTTL is how long a follower's registration of its run lasts; a
// follower renews it after a third of that.
const watchTTL = time.Minute

// noticeRetry is the pause before the listener connects again.
const noticeRetry = time.Second

type notices struct {
	listening atomic.Bool
	once      sync.Once
	stop      context.CancelFunc
	done      chan struct{}
}

// Listen starts this node's checkpoint listener (PostgreSQL; nothing on
// SQLite) until StopListening. Every node serving the API calls it.
func (s *Service) Listen(ctx context.Context) {
	if s.DB == nil || s.DB.Dialect != db.Postgres || s.DB.Pool == nil {
		return
	}
	s.notices.once.Do(func() {
		ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		s.notices.stop = cancel
		s.notices.done = make(chan struct{})
		go func() {
			defer close(s.notices.done)
			for ctx.Err() == nil {
				if err := s.listen(ctx); err != nil && ctx.Err() == nil {
					s.Log.Warn("run checkpoint listener: polling until it reconnects", "error", err)
				}
				select {
				case <-ctx.Done():
				case <-time.After(noticeRetry):
				}
			}
		}()
	})
}

// StopListening ends the listener and waits for it.
func (s *Service) StopListening() {
	if s.notices.stop != nil {
		s.notices.stop()
		<-s.notices.done
	}
}

// Listening reports whether checkpoint notices reach this node now.
func (s *Service) Listening() bool { return s.notices.listening.Load() }

// listen holds one connection in LISTEN until it fails or ctx ends.
func (s *Service) listen(ctx context.Context) error {
	conn, err := s.DB.Pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// A connection that listened is not handed back to the pool: it is
	// closed, so no other user of the pool receives its notices.
	pc := conn.Hijack()
	defer func() {
		// Followers poll often again from their next check on.
		s.notices.listening.Store(false)
		s.waiters.notifyAll()
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		defer cancel()
		_ = pc.Close(cctx)
	}()
	if _, err := pc.Exec(ctx, "LISTEN "+RunCheckpointChannel); err != nil {
		return err
	}
	s.notices.listening.Store(true)
	// Commits made while no one listened: every follower checks once.
	s.waiters.notifyAll()
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		s.waiters.notify(n.Payload)
	}
}

// watch registers the run as followed (PostgreSQL), so that the commits
// moving its checkpoint send notices; the trigger sends none for runs no
// one follows (migration 00051 says why). Expired registrations of any
// run are cleared on the way. A failure only delays the follower's events
// to its polls.
func (s *Service) watch(ctx context.Context, runID string) {
	if s.DB == nil || s.DB.Dialect != db.Postgres {
		return
	}
	// run_watches holds run ids only, written after the caller's scoped
	// read of the run: nothing of a workspace is read back from it.
	err := s.DB.Tx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO run_watches (run_id, expires_at) VALUES ($1, now() + make_interval(secs => $2))
			ON CONFLICT (run_id) DO UPDATE SET expires_at = GREATEST(run_watches.expires_at, EXCLUDED.expires_at)`,
			runID, watchTTL.Seconds()); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM run_watches WHERE expires_at < now()`)
		return err
	})
	if err != nil && ctx.Err() == nil {
		s.Log.Warn("register a run stream: its events come with polls", "run", runID, "error", err)
	}
}

// followPoll is how often a follower on this node polls the checkpoint.
func (s *Service) followPoll() time.Duration {
	if s.Listening() {
		return FollowPollListening
	}
	return FollowPoll
}

// notifyAll wakes every waiter on this node.
func (w *waiters) notifyAll() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, list := range w.m {
		for _, ch := range list {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}
