package flag

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
)

// snapshot is one consistent view of every flag. It is never mutated after
// it is stored, so any number of goroutines read it without locks.
type snapshot struct {
	version int64
	flags   []Flag // ordered by key
	byKey   map[string]*Flag
}

func newSnapshot(version int64, flags []Flag) *snapshot {
	s := &snapshot{version: version, flags: flags, byKey: make(map[string]*Flag, len(flags))}
	for i := range flags {
		flags[i].index()
		s.byKey[flags[i].Key] = &flags[i]
	}
	return s
}

// Start loads the snapshot, then keeps it current by polling the stored
// version every poll interval until ctx ends or Close is called. It fails
// only if the first load fails; later failures are logged once and the node
// keeps evaluating with its last good snapshot. Call it once.
func (s *Service) Start(ctx context.Context) error {
	if s.done != nil {
		return errors.New("flag: Start called twice")
	}
	if err := s.Refresh(ctx); err != nil {
		return fmt.Errorf("load feature flags: %w", err)
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go s.poll(ctx)
	return nil
}

// Close stops the poller started by Start and waits for it to finish. It is
// safe to call more than once, and without Start.
func (s *Service) Close() {
	s.stopOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
			<-s.done
		}
	})
}

func (s *Service) poll(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := s.Refresh(rctx)
		cancel()
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			// Logged once per outage, not four times a second.
			s.log.Warn("feature flags: reload failed; evaluating with the last good snapshot", "error", err)
			failing = true
		case err == nil && failing:
			s.log.Info("feature flags: reloading again")
			failing = false
		}
	}
}

// Refresh reloads the snapshot if the stored version has moved since the
// last load. The version is read before the flags: a change committed
// between the two reads is then either in the flags already or caught by
// the next poll, whereas the opposite order could pair old flags with the
// new version and miss the change for good.
func (s *Service) Refresh(ctx context.Context) error {
	s.reload.Lock()
	defer s.reload.Unlock()
	v, err := readVersion(ctx, s.db.Read())
	if err != nil {
		return err
	}
	if cur := s.snap.Load(); cur != nil && cur.version == v {
		return nil
	}
	flags, err := listFlags(ctx, s.db.Read())
	if err != nil {
		return err
	}
	s.snap.Store(newSnapshot(v, flags))
	return nil
}

// Version is the flag state this node evaluates with; 0 before Start.
func (s *Service) Version() int64 {
	if cur := s.snap.Load(); cur != nil {
		return cur.version
	}
	return 0
}

// EvaluateKey evaluates one flag for the actor from the node's snapshot. An
// unknown (or deleted) key is off with ReasonUnknown. It allocates nothing.
// A nil Service has no flags, so a route gated on one stays closed.
func (s *Service) EvaluateKey(a actor.Actor, key string) Result {
	if s == nil {
		return Result{Reason: ReasonUnknown}
	}
	cur := s.snap.Load()
	if cur == nil {
		return Result{Reason: ReasonUnknown}
	}
	f, ok := cur.byKey[key]
	if !ok {
		return Result{Reason: ReasonUnknown}
	}
	return Evaluate(f, SubjectOf(a))
}

// IsEnabled reports whether the actor gets the flag. Unknown keys are off, so
// code may ask for a flag before an admin creates it.
func (s *Service) IsEnabled(a actor.Actor, key string) bool {
	return s.EvaluateKey(a, key).Enabled
}

// Value is one flag's outcome for a caller, as GET /api/v1/flags shows it.
type Value struct {
	Enabled bool   `json:"enabled"`
	Variant string `json:"variant,omitempty"`
}

// Evaluations are every flag's outcome for one caller.
type Evaluations struct {
	// Version identifies the flag state the answer was computed from; it
	// grows with every change, so a client can tell a fresh answer.
	Version int64            `json:"version"`
	Flags   map[string]Value `json:"flags"`
}

// EvaluateAll evaluates every flag for the actor. Disabled flags are listed
// as off, so a client can tell "off" from "no such flag".
func (s *Service) EvaluateAll(a actor.Actor) Evaluations {
	cur := s.snap.Load()
	if cur == nil {
		return Evaluations{Flags: map[string]Value{}}
	}
	sub := SubjectOf(a)
	out := Evaluations{Version: cur.version, Flags: make(map[string]Value, len(cur.flags))}
	for i := range cur.flags {
		r := Evaluate(&cur.flags[i], sub)
		out.Flags[cur.flags[i].Key] = Value{Enabled: r.Enabled, Variant: r.Variant}
	}
	return out
}
