// Package flag stores feature flags, evaluates them in process, and keeps
// every node's copy current.
//
// A flag is evaluated by the pure function Evaluate against a Subject (who is
// asking). Services and handlers ask the Service, which evaluates against an
// in-memory snapshot that each node reloads within a second of any change
// made on any node (see Service.Start).
package flag

import (
	"slices"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
)

// Flag is one feature flag as stored and as the admin API shows it.
//
// Targeting works as an allow list: a subject named by any list gets the flag;
// when lists or a percentage are set, everybody else does not (unless the
// percentage rollout takes them in). A flag with no targeting at all is on
// for everyone while Enabled.
type Flag struct {
	ID          string `json:"id"`
	Key         string `json:"key"`
	Description string `json:"description"`
	// Enabled is the kill switch: when false nobody gets the flag, whatever
	// the targeting says.
	Enabled         bool         `json:"enabled"`
	UserIDs         []string     `json:"userIds"`
	OrganizationIDs []string     `json:"organizationIds"`
	Roles           []actor.Role `json:"roles"`
	Plans           []actor.Plan `json:"plans"`
	// Percentage, when set (0–100), rolls the flag out to that share of
	// subjects not named by a list. Null means no percentage rollout.
	Percentage *int `json:"percentage"`
	// Variants, when present, split subjects who get the flag by weight
	// (weights sum to 100).
	Variants  []Variant `json:"variants"`
	CreatedBy string    `json:"createdBy,omitempty"`
	UpdatedBy string    `json:"updatedBy,omitempty"`
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`

	// userIndex and orgIndex are set on flags in a Service's snapshot
	// whose lists are long enough that a map beats a scan. They are an
	// optimization only: without them Evaluate scans the lists.
	userIndex, orgIndex map[string]struct{}
}

// indexThreshold is the list length from which a map lookup beats a linear
// scan of ids of ~30 bytes sharing a time-sorted prefix.
const indexThreshold = 16

// index builds the lookup maps for long lists. The flag must not change
// afterwards.
func (f *Flag) index() {
	build := func(list []string) map[string]struct{} {
		if len(list) < indexThreshold {
			return nil
		}
		m := make(map[string]struct{}, len(list))
		for _, id := range list {
			m[id] = struct{}{}
		}
		return m
	}
	f.userIndex, f.orgIndex = build(f.UserIDs), build(f.OrganizationIDs)
}

func contains(list []string, index map[string]struct{}, id string) bool {
	if index != nil {
		_, ok := index[id]
		return ok
	}
	return slices.Contains(list, id)
}

// Variant is one arm of a multivariate flag.
type Variant struct {
	Key    string `json:"key"`
	Weight int    `json:"weight"`
}

// Subject is who a flag is evaluated for.
type Subject struct {
	UserID         string
	OrganizationID string
	Role           actor.Role
	Plan           actor.Plan
}

// SubjectOf describes an actor as a flag subject: the user, the organization
// it acts in, its platform role and its workspace's plan.
func SubjectOf(a actor.Actor) Subject {
	return Subject{UserID: a.UserID, OrganizationID: a.OrganizationID, Role: a.Role, Plan: a.Plan}
}

// bucketID is the identity a percentage rollout and a variant are sticky to:
// the user, or for a system actor with no user, the organization.
func (s Subject) bucketID() string {
	if s.UserID != "" {
		return s.UserID
	}
	return s.OrganizationID
}

// Reason says which rule decided an evaluation, for admin tools and logs.
type Reason string

const (
	ReasonUnknown      Reason = "unknown_flag"
	ReasonOff          Reason = "off"
	ReasonUser         Reason = "targeted_user"
	ReasonOrganization Reason = "targeted_organization"
	ReasonRole         Reason = "targeted_role"
	ReasonPlan         Reason = "targeted_plan"
	ReasonRollout      Reason = "in_rollout"
	ReasonOutOfRollout Reason = "outside_rollout"
	ReasonNotTargeted  Reason = "not_targeted"
	ReasonEveryone     Reason = "everyone"
)

// Result is the outcome of one evaluation. Variant is empty when the flag is
// off for the subject or has no variants.
type Result struct {
	Enabled bool
	Variant string
	Reason  Reason
}

// Evaluate decides whether subject s gets flag f, in this order:
//
//  1. a nil or disabled flag is off;
//  2. a user, organization, platform role or plan list naming s turns it on;
//  3. a percentage puts s in a stable bucket 0–99 derived from the flag key
//     and s's id; s gets the flag when its bucket is below the percentage.
//     The bucket never changes, so raising the percentage only adds subjects
//     and lowering it only removes them. A subject with no id is outside
//     every rollout, since it has nothing to stay sticky to;
//  4. a flag with targeting lists but no percentage is off for everyone the
//     lists do not name;
//  5. a flag with no targeting at all is on.
//
// When on, a flag with variants picks one by weight from a second, independent
// part of the same hash, so the variant is sticky too and does not correlate
// with the rollout bucket. Evaluate allocates nothing.
func Evaluate(f *Flag, s Subject) Result {
	if f == nil || !f.Enabled {
		return Result{Reason: ReasonOff}
	}
	var reason Reason
	var h uint64 // computed at most once: it is most of the cost
	hashed := false
	switch {
	case s.UserID != "" && contains(f.UserIDs, f.userIndex, s.UserID):
		reason = ReasonUser
	case s.OrganizationID != "" && contains(f.OrganizationIDs, f.orgIndex, s.OrganizationID):
		reason = ReasonOrganization
	case s.Role != "" && slices.Contains(f.Roles, s.Role):
		reason = ReasonRole
	case s.Plan != "" && slices.Contains(f.Plans, s.Plan):
		reason = ReasonPlan
	case f.Percentage != nil:
		id := s.bucketID()
		if id == "" {
			return Result{Reason: ReasonOutOfRollout}
		}
		h, hashed = hash(f.Key, id), true
		if rolloutBucket(h) >= *f.Percentage {
			return Result{Reason: ReasonOutOfRollout}
		}
		reason = ReasonRollout
	case len(f.UserIDs)+len(f.OrganizationIDs)+len(f.Roles)+len(f.Plans) > 0:
		return Result{Reason: ReasonNotTargeted}
	default:
		reason = ReasonEveryone
	}
	r := Result{Enabled: true, Reason: reason}
	if len(f.Variants) > 0 {
		if !hashed {
			h = hash(f.Key, s.bucketID())
		}
		r.Variant = pickVariant(f.Variants, h)
	}
	return r
}

// rolloutBucket maps a hash to 0–99 from its low 32 bits.
func rolloutBucket(h uint64) int { return int(uint32(h) % 100) }

// pickVariant walks the cumulative weights with a bucket from the hash's high
// 32 bits. Weights are validated to sum to 100; should a hand-built flag's
// weights fall short, the last variant takes the remainder.
func pickVariant(vs []Variant, h uint64) string {
	b := int((h >> 32) % 100)
	sum := 0
	for _, v := range vs {
		sum += v.Weight
		if b < sum {
			return v.Key
		}
	}
	return vs[len(vs)-1].Key
}

// hash is 64-bit FNV-1a over key, a separator byte and id, followed by the
// MurmurHash3 finalizer. In FNV-1a the multiplication carries only upward, so
// the lowest bits of the hash depend only on the lowest bits of each input
// byte; taken modulo 100 (a multiple of 4), ids whose characters differ only
// in their higher bits would crowd into a quarter of the buckets. The
// finalizer folds every input bit into the low word. 0xff cannot occur in a
// flag key (lowercase ASCII), so ("ab", "c") and ("a", "bc") hash apart. It
// iterates the strings in place so no bytes are copied or allocated.
func hash(key, id string) uint64 {
	const (
		offset64 = 14695981039346656037
		prime64  = 1099511628211
	)
	h := uint64(offset64)
	for i := 0; i < len(key); i++ {
		h ^= uint64(key[i])
		h *= prime64
	}
	h ^= 0xff
	h *= prime64
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= prime64
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
