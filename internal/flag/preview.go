package flag

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
)

// PreviewInput describes a subject to evaluate a flag for, and optionally
// an unsaved definition to evaluate instead of the stored flag (what an
// admin is editing). A user named by userId or email brings their role and
// plan, an organization its plan; role and plan given here win.
type PreviewInput struct {
	UserID         string     `json:"userId,omitempty"`
	Email          string     `json:"email,omitempty"`
	OrganizationID string     `json:"organizationId,omitempty"`
	Role           actor.Role `json:"role,omitempty"`
	Plan           actor.Plan `json:"plan,omitempty"`
	// Definition replaces the stored flag for this evaluation; its key is
	// the one in the path. The flag need not exist yet.
	Definition *CreateInput `json:"definition,omitempty"`
}

// PreviewSubject is who the preview evaluated for, once resolved.
type PreviewSubject struct {
	UserID         string     `json:"userId"`
	OrganizationID string     `json:"organizationId"`
	Role           actor.Role `json:"role"`
	Plan           actor.Plan `json:"plan"`
}

// Preview is whether a subject gets a flag, which variant, and why.
type Preview struct {
	Enabled bool    `json:"enabled"`
	Variant *string `json:"variant"`
	// Reason is the rule that decided (Evaluate's reasons), Explanation
	// the same in words.
	Reason      Reason `json:"reason" jsonschema:"enum=off,enum=targeted_user,enum=targeted_organization,enum=targeted_role,enum=targeted_plan,enum=in_rollout,enum=outside_rollout,enum=not_targeted,enum=everyone"`
	Explanation string `json:"explanation"`
	// RolloutBucket is the subject's stable bucket (0–99) when the flag
	// has a percentage rollout and the subject an id: it gets the flag
	// once the percentage exceeds the bucket.
	RolloutBucket *int           `json:"rolloutBucket"`
	Subject       PreviewSubject `json:"subject"`
	// Source is "stored" or "definition" (the unsaved one sent).
	Source string `json:"source" jsonschema:"enum=stored,enum=definition"`
}

var explanations = map[Reason]string{
	ReasonOff:          "the flag is disabled: nobody gets it",
	ReasonUser:         "the user is in the flag's user list",
	ReasonOrganization: "the organization is in the flag's organization list",
	ReasonRole:         "the platform role is in the flag's role list",
	ReasonPlan:         "the plan is in the flag's plan list",
	ReasonRollout:      "the subject's rollout bucket is below the percentage",
	ReasonOutOfRollout: "no list names the subject and its rollout bucket is not below the percentage (or it has no id to bucket by)",
	ReasonNotTargeted:  "no targeting list names the subject and there is no percentage rollout",
	ReasonEveryone:     "the flag has no targeting: everyone gets it while it is enabled",
}

// Preview evaluates flag key for the subject in, with the same Evaluate
// the running nodes use (flags:manage). It reads and writes nothing else.
func (s *Service) Preview(ctx context.Context, a actor.Actor, key string, in PreviewInput) (Preview, error) {
	if err := requireManage(a); err != nil {
		return Preview{}, err
	}
	var f Flag
	out := Preview{Source: "stored"}
	if in.Definition != nil {
		if !ValidKey(key) {
			return Preview{}, apperr.New(apperr.Validation, "the flag key in the path is not a valid key")
		}
		def := *in.Definition
		def.Key = key
		f = def.toFlag()
		if err := f.validate(); err != nil {
			return Preview{}, err
		}
		f.normalize()
		out.Source = "definition"
	} else {
		var err error
		if f, err = flagByKey(ctx, s.db.Read(), key); err != nil {
			return Preview{}, err
		}
	}
	sub, err := s.previewSubject(ctx, in)
	if err != nil {
		return Preview{}, err
	}
	r := Evaluate(&f, sub)
	out.Enabled, out.Reason, out.Explanation = r.Enabled, r.Reason, explanations[r.Reason]
	if r.Variant != "" {
		out.Variant = &r.Variant
	}
	if f.Percentage != nil && sub.bucketID() != "" {
		b := rolloutBucket(hash(f.Key, sub.bucketID()))
		out.RolloutBucket = &b
	}
	out.Subject = PreviewSubject(sub)
	return out, nil
}

func (s *Service) previewSubject(ctx context.Context, in PreviewInput) (Subject, error) {
	var fields []apperr.FieldError
	if in.Role != "" && !in.Role.Valid() {
		fields = append(fields, apperr.FieldError{Field: "role", Message: "is not a platform role"})
	}
	if in.Plan != "" && !in.Plan.Valid() {
		fields = append(fields, apperr.FieldError{Field: "plan", Message: "is not a plan"})
	}
	if in.UserID != "" && in.Email != "" {
		fields = append(fields, apperr.FieldError{Field: "email", Message: "send userId or email, not both"})
	}
	if len(fields) > 0 {
		return Subject{}, apperr.Invalid(fields...)
	}
	var sub Subject
	q := s.db.Read()
	if in.UserID != "" || in.Email != "" {
		err := q.QueryRowContext(ctx, `SELECT id, role, plan FROM users WHERE deleted_at IS NULL
			AND (($1 <> '' AND id = $1) OR ($2 <> '' AND lower(email) = $2))`, in.UserID, strings.ToLower(strings.TrimSpace(in.Email))).
			Scan(&sub.UserID, &sub.Role, &sub.Plan)
		if errors.Is(err, sql.ErrNoRows) {
			return Subject{}, apperr.New(apperr.NotFound, "no account with this id or email")
		}
		if err != nil {
			return Subject{}, fmt.Errorf("load preview user: %w", err)
		}
	}
	if in.OrganizationID != "" {
		// In an organization the workspace's plan is the organization's.
		err := q.QueryRowContext(ctx, `SELECT id, plan FROM organizations WHERE id = $1 AND deleted_at IS NULL`, in.OrganizationID).Scan(&sub.OrganizationID, &sub.Plan)
		if errors.Is(err, sql.ErrNoRows) {
			return Subject{}, apperr.New(apperr.NotFound, "no organization with this id")
		}
		if err != nil {
			return Subject{}, fmt.Errorf("load preview organization: %w", err)
		}
	}
	if in.Role != "" {
		sub.Role = in.Role
	}
	if in.Plan != "" {
		sub.Plan = in.Plan
	}
	return sub, nil
}
