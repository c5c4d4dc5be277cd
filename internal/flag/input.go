package flag

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"unicode/utf8"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/ids"
)

// CreateInput is a new flag. Omitted lists mean no targeting by that rule.
type CreateInput struct {
	Key             string       `json:"key"`
	Description     string       `json:"description,omitempty"`
	Enabled         bool         `json:"enabled"`
	UserIDs         []string     `json:"userIds,omitempty"`
	OrganizationIDs []string     `json:"organizationIds,omitempty"`
	Roles           []actor.Role `json:"roles,omitempty"`
	Plans           []actor.Plan `json:"plans,omitempty"`
	Percentage      *int         `json:"percentage,omitempty"`
	Variants        []Variant    `json:"variants,omitempty"`
}

// UpdateInput changes a flag; absent fields are left alone. A list replaces
// the stored list whole (send [] to clear it). The key cannot change.
type UpdateInput struct {
	Description     *string       `json:"description,omitempty"`
	Enabled         *bool         `json:"enabled,omitempty"`
	UserIDs         *[]string     `json:"userIds,omitempty"`
	OrganizationIDs *[]string     `json:"organizationIds,omitempty"`
	Roles           *[]actor.Role `json:"roles,omitempty"`
	Plans           *[]actor.Plan `json:"plans,omitempty"`
	// Percentage: absent leaves it, null removes the rollout, 0–100 sets it.
	Percentage NullableInt `json:"percentage,omitempty"`
	Variants   *[]Variant  `json:"variants,omitempty"`
}

// NullableInt is a PATCH field that tells "absent" (Set false) from "null"
// (Set true, Value nil), which a plain *int cannot.
type NullableInt struct {
	Set   bool
	Value *int
}

// UnmarshalJSON records that the field was present. A wrong type comes back
// as a *json.UnmarshalTypeError, which the decoder names the field in.
func (n *NullableInt) UnmarshalJSON(b []byte) error {
	n.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		n.Value = nil
		return nil
	}
	var v int
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// MarshalJSON writes the value or null.
func (n NullableInt) MarshalJSON() ([]byte, error) { return json.Marshal(n.Value) }

// JSONSchemaAlias documents the field as the integer it carries.
func (NullableInt) JSONSchemaAlias() any { return 0 }

var (
	keyPattern        = regexp.MustCompile(`^[a-z][a-z0-9_]{1,63}$`)
	variantKeyPattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
)

// Limits on one flag. Audiences larger than maxTargets belong in a
// percentage rollout or an organization, plan or role rule; the limit keeps
// flag rows, audit rows and the snapshot small.
const (
	maxTargets     = 1000
	maxVariants    = 20
	maxDescription = 500
)

// ValidKey reports whether k is a well-formed flag key.
func ValidKey(k string) bool { return keyPattern.MatchString(k) }

// toFlag builds the flag a CreateInput describes (not yet validated).
func (in CreateInput) toFlag() Flag {
	return Flag{Key: in.Key, Description: in.Description, Enabled: in.Enabled,
		UserIDs: in.UserIDs, OrganizationIDs: in.OrganizationIDs, Roles: in.Roles, Plans: in.Plans,
		Percentage: in.Percentage, Variants: in.Variants}
}

// empty reports whether the update changes nothing.
func (in UpdateInput) empty() bool {
	return in.Description == nil && in.Enabled == nil && in.UserIDs == nil && in.OrganizationIDs == nil &&
		in.Roles == nil && in.Plans == nil && !in.Percentage.Set && in.Variants == nil
}

// apply returns f with the update's fields laid over it.
func (in UpdateInput) apply(f Flag) Flag {
	if in.Description != nil {
		f.Description = *in.Description
	}
	if in.Enabled != nil {
		f.Enabled = *in.Enabled
	}
	if in.UserIDs != nil {
		f.UserIDs = *in.UserIDs
	}
	if in.OrganizationIDs != nil {
		f.OrganizationIDs = *in.OrganizationIDs
	}
	if in.Roles != nil {
		f.Roles = *in.Roles
	}
	if in.Plans != nil {
		f.Plans = *in.Plans
	}
	if in.Percentage.Set {
		f.Percentage = in.Percentage.Value
	}
	if in.Variants != nil {
		f.Variants = *in.Variants
	}
	return f
}

// normalize sorts and de-duplicates the targeting lists, so the stored form
// (and the before/after of an audit row) does not depend on input order, and
// turns nil lists into empty ones so the API shows [] rather than null.
func (f *Flag) normalize() {
	f.UserIDs = sortedSet(f.UserIDs)
	f.OrganizationIDs = sortedSet(f.OrganizationIDs)
	f.Roles = sortedSet(f.Roles)
	f.Plans = sortedSet(f.Plans)
	if f.Variants == nil {
		f.Variants = []Variant{}
	}
}

func sortedSet[T ~string](in []T) []T {
	out := slices.Clone(in)
	if out == nil {
		return []T{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// validate checks a whole flag as it would be stored and names every bad
// field at once.
func (f *Flag) validate() error {
	var errs []apperr.FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, apperr.FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
	}
	if !ValidKey(f.Key) {
		bad("key", "must be 2–64 characters of a–z, 0–9 and _, starting with a letter")
	}
	if !utf8.ValidString(f.Description) || utf8.RuneCountInString(f.Description) > maxDescription {
		bad("description", "must be at most %d characters of valid UTF-8", maxDescription)
	}
	checkIDs := func(field, prefix string, list []string) {
		if len(list) > maxTargets {
			bad(field, "may name at most %d entries; use a percentage, role or plan rule for larger audiences", maxTargets)
			return
		}
		for i, id := range list {
			if !ids.Valid(prefix, id) {
				bad(fmt.Sprintf("%s[%d]", field, i), "%q is not an id of the form %s_…", id, prefix)
			}
		}
	}
	checkIDs("userIds", ids.User, f.UserIDs)
	checkIDs("organizationIds", ids.Organization, f.OrganizationIDs)
	for i, r := range f.Roles {
		if !r.Valid() {
			bad(fmt.Sprintf("roles[%d]", i), "%q is not a platform role (SUPER_ADMIN, ADMIN, DEVELOPER, SUPPORT, MEMBER)", r)
		}
	}
	for i, p := range f.Plans {
		if !p.Valid() {
			bad(fmt.Sprintf("plans[%d]", i), "%q is not a plan (FREE, STARTER, PRO, BUSINESS, ENTERPRISE)", p)
		}
	}
	if f.Percentage != nil && (*f.Percentage < 0 || *f.Percentage > 100) {
		bad("percentage", "must be from 0 to 100, or null for no percentage rollout")
	}
	errs = append(errs, validateVariants(f.Variants)...)
	if len(errs) > 0 {
		return apperr.Invalid(errs...)
	}
	return nil
}

func validateVariants(vs []Variant) []apperr.FieldError {
	if len(vs) == 0 {
		return nil
	}
	if len(vs) > maxVariants {
		return []apperr.FieldError{{Field: "variants", Message: fmt.Sprintf("may hold at most %d variants", maxVariants)}}
	}
	var errs []apperr.FieldError
	seen := map[string]bool{}
	sum := 0
	for i, v := range vs {
		field := fmt.Sprintf("variants[%d]", i)
		if !variantKeyPattern.MatchString(v.Key) {
			errs = append(errs, apperr.FieldError{Field: field + ".key", Message: "must be 1–64 characters of a–z, 0–9 and _, starting with a letter"})
		} else if seen[v.Key] {
			errs = append(errs, apperr.FieldError{Field: field + ".key", Message: fmt.Sprintf("%q appears twice", v.Key)})
		}
		seen[v.Key] = true
		if v.Weight < 0 || v.Weight > 100 {
			errs = append(errs, apperr.FieldError{Field: field + ".weight", Message: "must be from 0 to 100"})
		}
		sum += v.Weight
	}
	if sum != 100 {
		errs = append(errs, apperr.FieldError{Field: "variants", Message: fmt.Sprintf("weights must sum to 100, not %d", sum)})
	}
	return errs
}

// changedFields names the fields that differ between two versions of a flag,
// for the audit row.
func changedFields(before, after Flag) []string {
	var out []string
	check := func(name string, a, b any) {
		if !reflect.DeepEqual(a, b) {
			out = append(out, name)
		}
	}
	check("description", before.Description, after.Description)
	check("enabled", before.Enabled, after.Enabled)
	check("userIds", before.UserIDs, after.UserIDs)
	check("organizationIds", before.OrganizationIDs, after.OrganizationIDs)
	check("roles", before.Roles, after.Roles)
	check("plans", before.Plans, after.Plans)
	check("percentage", before.Percentage, after.Percentage)
	check("variants", before.Variants, after.Variants)
	return out
}
