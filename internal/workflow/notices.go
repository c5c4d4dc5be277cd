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
// moves its checkpoint; each node holds one connection listening on it and
// wakes the followers of that run on this node (Follow), whichever node
// committed. While the listener is connected followers poll only as a
// safety net (FollowPollListening); while it is not (SQLite, or the
// connection dropped) they poll every FollowPoll.

// RunCheckpointChannel is the PostgreSQL notification channel of run
// checkpoints; the payload is the run's id.
const RunCheckpointChannel = "switchboard_run_checkpoint"

// FollowPollListening is how often a follower polls while this node's
// listener is connected: notices carry the events, the poll only covers
// one lost between a reconnect and its LISTEN.
const FollowPollListening = 5 * time.Second

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
