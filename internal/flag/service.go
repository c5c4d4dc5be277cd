package flag

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/ids"
)

// DefaultPollInterval is how often a node checks for flag changes. At 250 ms
// a change made on any node is live on every node within a second even with
// a slow query or two.
const DefaultPollInterval = 250 * time.Millisecond

// Service manages flags (admin CRUD, audited) and answers evaluations from an
// in-process snapshot.
type Service struct {
	db       *db.DB
	log      *slog.Logger
	interval time.Duration

	// snap is replaced whole on every reload, so evaluations read it
	// without locks and never see a half-applied change.
	snap atomic.Pointer[snapshot]
	// reload serializes reloads: the poller and a writer's synchronous
	// refresh must not install an older snapshot over a newer one.
	reload sync.Mutex

	stopOnce sync.Once
	cancel   context.CancelFunc
	done     chan struct{}
}

// Options tune a Service.
type Options struct {
	// PollInterval overrides DefaultPollInterval.
	PollInterval time.Duration
}

// NewService returns a Service on d. Its snapshot is empty (every flag off)
// until Start loads it.
func NewService(d *db.DB, log *slog.Logger, opt Options) *Service {
	if log == nil {
		log = slog.Default()
	}
	if opt.PollInterval <= 0 {
		opt.PollInterval = DefaultPollInterval
	}
	return &Service{db: d, log: log, interval: opt.PollInterval}
}

func requireManage(a actor.Actor) error {
	if !a.Can(actor.PermFlagsManage) {
		return apperr.New(apperr.Forbidden, "you lack the permission %s", actor.PermFlagsManage)
	}
	return nil
}

// List returns every flag, ordered by key, read from the database rather than
// the cache so an admin sees exactly what is stored (flags:manage).
func (s *Service) List(ctx context.Context, a actor.Actor) ([]Flag, error) {
	if err := requireManage(a); err != nil {
		return nil, err
	}
	return listFlags(ctx, s.db.Read())
}

// Get returns one flag (flags:manage).
func (s *Service) Get(ctx context.Context, a actor.Actor, key string) (Flag, error) {
	if err := requireManage(a); err != nil {
		return Flag{}, err
	}
	return flagByKey(ctx, s.db.Read(), key)
}

// Create stores a new flag (flags:manage). A taken key is CONFLICT; bad input
// is VALIDATION_ERROR naming every bad field, and nothing is written.
func (s *Service) Create(ctx context.Context, a actor.Actor, in CreateInput) (Flag, error) {
	if err := requireManage(a); err != nil {
		return Flag{}, err
	}
	// Validate before normalizing, so a field error's index points into
	// the list as sent.
	f := in.toFlag()
	if err := f.validate(); err != nil {
		return Flag{}, err
	}
	f.normalize()
	now := db.Now()
	f.ID, f.CreatedBy, f.UpdatedBy, f.CreatedAt, f.UpdatedAt = ids.New(ids.Flag), a.UserID, a.UserID, now, now
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := bumpVersion(ctx, tx); err != nil {
			return err
		}
		if err := insertFlag(ctx, tx, f); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "flag.created", Resource: "feature_flag", ResourceID: f.Key,
			Metadata: map[string]any{"before": nil, "after": f}})
	})
	if err != nil {
		return Flag{}, err
	}
	s.refreshAfterWrite(ctx)
	return f, nil
}

// Update applies a change to a flag (flags:manage). Unknown keys are
// NOT_FOUND; the result is validated as a whole, so a change that would leave
// the flag invalid (say, variants whose weights no longer sum to 100) is
// VALIDATION_ERROR and nothing is written. A change that changes nothing
// writes nothing.
func (s *Service) Update(ctx context.Context, a actor.Actor, key string, in UpdateInput) (Flag, error) {
	if err := requireManage(a); err != nil {
		return Flag{}, err
	}
	if in.empty() {
		return Flag{}, apperr.New(apperr.Validation, "nothing to update: send at least one of description, enabled, userIds, organizationIds, roles, plans, percentage, variants")
	}
	var after Flag
	wrote := false
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := bumpVersion(ctx, tx); err != nil {
			return err
		}
		before, err := flagByKey(ctx, tx, key)
		if err != nil {
			return err
		}
		after = in.apply(before)
		if err := after.validate(); err != nil {
			return err
		}
		after.normalize()
		changed := changedFields(before, after)
		if len(changed) == 0 {
			after = before
			// Rolling back leaves the version where it was: nothing changed.
			return errUnchanged
		}
		after.UpdatedBy, after.UpdatedAt = a.UserID, db.Now()
		if err := updateFlag(ctx, tx, after); err != nil {
			return err
		}
		wrote = true
		return audit.Record(ctx, tx, a, audit.Entry{Action: "flag.updated", Resource: "feature_flag", ResourceID: key,
			Metadata: map[string]any{"before": before, "after": after, "changed": changed}})
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return Flag{}, err
	}
	if wrote {
		s.refreshAfterWrite(ctx)
	}
	return after, nil
}

// errUnchanged rolls back the transaction of an update that would change
// nothing; Update does not return it.
var errUnchanged = errors.New("flag unchanged")

// Delete removes a flag (flags:manage). Code that still asks for it sees it
// off. Unknown keys are NOT_FOUND.
func (s *Service) Delete(ctx context.Context, a actor.Actor, key string) error {
	if err := requireManage(a); err != nil {
		return err
	}
	err := s.db.Tx(ctx, func(tx *db.Tx) error {
		if _, err := bumpVersion(ctx, tx); err != nil {
			return err
		}
		before, err := flagByKey(ctx, tx, key)
		if err != nil {
			return err
		}
		if err := deleteFlag(ctx, tx, before.ID); err != nil {
			return err
		}
		return audit.Record(ctx, tx, a, audit.Entry{Action: "flag.deleted", Resource: "feature_flag", ResourceID: key,
			Metadata: map[string]any{"before": before, "after": nil}})
	})
	if err != nil {
		return err
	}
	s.refreshAfterWrite(ctx)
	return nil
}

// refreshAfterWrite reloads this node's snapshot right after its own write,
// so the admin who made a change sees it on their next request. The change
// is committed whatever happens here; on failure the poller catches up.
func (s *Service) refreshAfterWrite(ctx context.Context) {
	if err := s.Refresh(context.WithoutCancel(ctx)); err != nil {
		s.log.Warn("reload feature flags after a change", "error", err)
	}
}
