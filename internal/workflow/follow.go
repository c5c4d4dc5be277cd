package workflow

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/db"
)

// Following a run (GET /runs/{id}/stream). Every commit of a run moves
// its checkpoint (seq) on — a segment, a cancel, a timeout, a retry — so a
// follower checks the checkpoint with a one-row primary-key query and
// loads the whole run only when it moved. It checks when woken — by a
// PostgreSQL notice of the commit from any node (notices.go), or by a run
// ending on this node — and at each poll, every FollowPoll (SQLite, or
// PostgreSQL while the listener is down) or FollowPollListening.

// Follow timing: FollowPoll keeps the delay from a commit to its event
// well under a second where no notice comes; FollowHeartbeat keeps idle connections (and the
// proxies on their way) open.
const (
	FollowPoll      = 250 * time.Millisecond
	FollowHeartbeat = 15 * time.Second
)

// Follower receives a followed run: Run with the run at the start (unless
// the caller saw that checkpoint already) and after each checkpoint that
// moved, Beat when nothing moved for FollowHeartbeat. An error from
// either ends the follow (the client went away).
type Follower struct {
	Run  func(Run) error
	Beat func() error
}

// Follow sends r (as GetRun returned it) and then each newer state of the
// run until it ends, ctx ends or the run is deleted. lastSeq, when known
// (>= 0), is the checkpoint the caller saw last: the first state is sent
// only if the run moved past it.
func (s *Service) Follow(ctx context.Context, a actor.Actor, r Run, lastSeq int, f Follower) error {
	if err := allow(a, actor.PermWorkflowRead); err != nil {
		return err
	}
	ws := a.WorkspaceID()
	ended := s.waiters.add(r.ID)
	defer s.waiters.remove(r.ID, ended)
	if !r.Terminal() {
		s.watch(ctx, r.ID)
	}
	watched := time.Now()
	// The first poll comes at once: a commit between the caller's read
	// of r and the waiter's registration sent its notice to nobody.
	poll := time.NewTimer(0)
	defer poll.Stop()
	beat := time.NewTimer(FollowHeartbeat)
	defer beat.Stop()
	seq := lastSeq
	for {
		if r.Checkpoint != seq {
			if err := f.Run(r); err != nil {
				return nil
			}
			seq = r.Checkpoint
			beat.Reset(FollowHeartbeat)
		}
		if r.Terminal() {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-beat.C:
			if err := f.Beat(); err != nil {
				return nil
			}
			beat.Reset(FollowHeartbeat)
			continue
		case <-ended:
			if !poll.Stop() {
				<-poll.C
			}
		case <-poll.C:
		}
		poll.Reset(s.followPoll())
		if time.Since(watched) > watchTTL/3 {
			s.watch(ctx, r.ID)
			watched = time.Now()
		}
		moved, err := s.checkpointMoved(ctx, ws, r.ID, seq)
		if err != nil || !moved {
			if apperr.Is(err, apperr.NotFound) {
				return nil
			}
			continue // a failed poll is tried again at the next tick
		}
		next, err := loadRun(ctx, s.DB.Read(), ws, r.ID)
		if apperr.Is(err, apperr.NotFound) {
			return nil
		}
		if err == nil {
			r = next
		}
	}
}

// checkpointMoved reports whether a run's checkpoint is no longer seq.
func (s *Service) checkpointMoved(ctx context.Context, ws, id string, seq int) (bool, error) {
	var cur int
	err := db.Scope(s.DB.Read(), ws).QueryRowContext(ctx, `SELECT seq FROM workflow_runs WHERE workspace_id = $1 AND id = $2`, id).Scan(&cur)
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return false, errRunNotFound
		}
		return false, err
	}
	return cur != seq, nil
}
