package flag_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/apperr"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/flag"
	"github.com/switchboard/switchboard/internal/ids"
)

var (
	admin = actor.Actor{UserID: ids.New(ids.User), Role: actor.Admin, RequestID: "req-test"}
	user  = actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Free}
)

// started returns a loaded, polling Service on d, stopped at cleanup.
func started(t *testing.T, d *db.DB) *flag.Service {
	t.Helper()
	s := flag.NewService(d, nil, flag.Options{})
	if err := s.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func flagAudit(t *testing.T, d *db.DB) []audit.Row {
	t.Helper()
	p, err := audit.List(context.Background(), d.Read(), audit.Filter{Resource: "feature_flag", Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return p.Items
}

func wantCode(t *testing.T, err error, code apperr.Code, what string) {
	t.Helper()
	if !apperr.Is(err, code) {
		t.Fatalf("%s: got %v, want %s", what, err, code)
	}
}

func TestMigration_SeedsTheSeedsFlagsOnForEveryone(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := started(t, d)
		list, err := s.List(context.Background(), admin)
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, f := range list {
			keys = append(keys, f.Key)
			if !f.Enabled || f.Percentage != nil || len(f.UserIDs)+len(f.Roles)+len(f.Plans)+len(f.OrganizationIDs) != 0 ||
				f.CreatedAt.IsZero() || !ids.Valid(ids.Flag, f.ID) {
				t.Errorf("seeded flag %+v is not plainly on", f)
			}
		}
		if want := []string{"organization_support", "wasm_sandbox", "workflow_builder"}; !equal(keys, want) {
			t.Fatalf("seeded keys %v, want %v", keys, want)
		}
		for _, k := range keys {
			if !s.IsEnabled(user, k) || !s.IsEnabled(actor.Actor{}, k) {
				t.Errorf("%s is off on a fresh install", k)
			}
		}
		if s.IsEnabled(admin, "no_such_flag") {
			t.Error("an unknown flag is on")
		}
	})
}

func TestService_CreateUpdateDeleteAreAuditedWithBeforeAndAfter(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := started(t, d)
		v0 := s.Version()
		f, err := s.Create(ctx, admin, flag.CreateInput{Key: "beta_inbox", Description: "New inbox", Enabled: true,
			Roles: []actor.Role{actor.Developer, actor.Admin, actor.Developer}})
		if err != nil {
			t.Fatal(err)
		}
		if !equal(f.Roles, []actor.Role{actor.Admin, actor.Developer}) || f.CreatedBy != admin.UserID {
			t.Fatalf("created %+v", f)
		}
		// The writing node sees its own change at once.
		if s.Version() <= v0 || s.IsEnabled(user, "beta_inbox") || !s.IsEnabled(admin, "beta_inbox") {
			t.Fatalf("cache after create: version %d (was %d)", s.Version(), v0)
		}

		u, err := s.Update(ctx, admin, "beta_inbox", flag.UpdateInput{Plans: &[]actor.Plan{actor.Free}, Percentage: flag.NullableInt{Set: true, Value: pct(10)}})
		if err != nil {
			t.Fatal(err)
		}
		if *u.Percentage != 10 || u.Description != "New inbox" || !s.IsEnabled(user, "beta_inbox") {
			t.Fatalf("updated %+v", u)
		}
		if err := s.Delete(ctx, admin, "beta_inbox"); err != nil {
			t.Fatal(err)
		}
		if s.IsEnabled(user, "beta_inbox") {
			t.Fatal("a deleted flag is still on")
		}

		rows := flagAudit(t, d)
		if len(rows) != 3 {
			t.Fatalf("%d audit rows, want 3", len(rows))
		}
		type meta struct {
			Before  *flag.Flag `json:"before"`
			After   *flag.Flag `json:"after"`
			Changed []string   `json:"changed"`
		}
		got := map[string]meta{}
		for _, r := range rows {
			var m meta
			if err := json.Unmarshal(r.Metadata, &m); err != nil {
				t.Fatal(err)
			}
			if r.ResourceID != "beta_inbox" || r.UserID != admin.UserID || r.RequestID != "req-test" {
				t.Errorf("audit row %+v", r)
			}
			got[r.Action] = m
		}
		if c := got["flag.created"]; c.Before != nil || c.After == nil || c.After.Key != "beta_inbox" {
			t.Errorf("flag.created metadata %+v", c)
		}
		if c := got["flag.updated"]; c.Before == nil || c.Before.Percentage != nil || c.After == nil || *c.After.Percentage != 10 ||
			!equal(c.After.Plans, []actor.Plan{actor.Free}) || !equal(c.Changed, []string{"plans", "percentage"}) {
			t.Errorf("flag.updated metadata %+v", c)
		}
		if c := got["flag.deleted"]; c.Before == nil || *c.Before.Percentage != 10 || c.After != nil {
			t.Errorf("flag.deleted metadata %+v", c)
		}
		if res, err := audit.Verify(ctx, d.Read(), nil); err != nil || !res.OK {
			t.Fatalf("audit chain: %+v %v", res, err)
		}
	})
}

func TestService_BadInputIsRejectedAndChangesNothing(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := started(t, d)
		if _, err := s.Create(ctx, admin, flag.CreateInput{Key: "split", Enabled: true,
			Variants: []flag.Variant{{Key: "a", Weight: 50}, {Key: "b", Weight: 50}}}); err != nil {
			t.Fatal(err)
		}
		before, _ := s.List(ctx, admin)
		v0, rows0 := s.Version(), len(flagAudit(t, d))

		creates := map[string]flag.CreateInput{
			"key too short":         {Key: "a"},
			"key with capitals":     {Key: "Beta"},
			"key with a dash":       {Key: "beta-inbox"},
			"key starting with a 9": {Key: "9lives"},
			"percentage over 100":   {Key: "p1", Percentage: pct(101)},
			"negative percentage":   {Key: "p2", Percentage: pct(-1)},
			"weights sum to 90":     {Key: "v1", Variants: []flag.Variant{{Key: "a", Weight: 40}, {Key: "b", Weight: 50}}},
			"duplicate variant":     {Key: "v2", Variants: []flag.Variant{{Key: "a", Weight: 50}, {Key: "a", Weight: 50}}},
			"unknown role":          {Key: "r1", Roles: []actor.Role{"KING"}},
			"org role as role":      {Key: "r2", Roles: []actor.Role{"ORG_OWNER"}},
			"unknown plan":          {Key: "r3", Plans: []actor.Plan{"GOLD"}},
			"email as user id":      {Key: "r4", UserIDs: []string{"someone@example.com"}},
			"user id as org id":     {Key: "r5", OrganizationIDs: []string{admin.UserID}},
		}
		for name, in := range creates {
			_, err := s.Create(ctx, admin, in)
			wantCode(t, err, apperr.Validation, name)
		}
		_, err := s.Create(ctx, admin, flag.CreateInput{Key: "workflow_builder"})
		wantCode(t, err, apperr.Conflict, "duplicate key")

		updates := map[string]flag.UpdateInput{
			"nothing":             {},
			"percentage over 100": {Percentage: flag.NullableInt{Set: true, Value: pct(150)}},
			"weights sum to 110":  {Variants: &[]flag.Variant{{Key: "a", Weight: 60}, {Key: "b", Weight: 50}}},
			"unknown role":        {Roles: &[]actor.Role{"user"}},
		}
		for name, in := range updates {
			_, err := s.Update(ctx, admin, "split", in)
			wantCode(t, err, apperr.Validation, name)
		}
		_, err = s.Update(ctx, admin, "nope_nope", flag.UpdateInput{Enabled: new(bool)})
		wantCode(t, err, apperr.NotFound, "update of an unknown key")
		wantCode(t, s.Delete(ctx, admin, "nope_nope"), apperr.NotFound, "delete of an unknown key")
		_, err = s.Get(ctx, admin, "../etc")
		wantCode(t, err, apperr.NotFound, "get of a malformed key")

		for name, call := range map[string]func() error{
			"list":   func() error { _, err := s.List(ctx, user); return err },
			"create": func() error { _, err := s.Create(ctx, user, flag.CreateInput{Key: "mine"}); return err },
			"update": func() error {
				_, err := s.Update(ctx, user, "split", flag.UpdateInput{Enabled: new(bool)})
				return err
			},
			"delete": func() error { return s.Delete(ctx, user, "split") },
		} {
			wantCode(t, call(), apperr.Forbidden, "a MEMBER calling "+name)
		}

		// A change that changes nothing writes nothing either.
		if _, err := s.Update(ctx, admin, "split", flag.UpdateInput{Enabled: ptr(true)}); err != nil {
			t.Fatal(err)
		}

		after, _ := s.List(ctx, admin)
		if !equalJSON(t, before, after) {
			t.Fatalf("flags changed:\nbefore %+v\nafter  %+v", before, after)
		}
		if s.Version() != v0 || len(flagAudit(t, d)) != rows0 {
			t.Fatalf("version %d → %d, audit rows %d → %d", v0, s.Version(), rows0, len(flagAudit(t, d)))
		}
	})
}

func TestService_AnotherServiceSeesAChangeWithinASecond(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		a, b := started(t, d), started(t, d)
		if !b.IsEnabled(user, "workflow_builder") {
			t.Fatal("seeded flag off")
		}
		if _, err := a.Update(ctx, admin, "workflow_builder", flag.UpdateInput{Enabled: ptr(false)}); err != nil {
			t.Fatal(err)
		}
		changed := time.Now()
		for b.IsEnabled(user, "workflow_builder") {
			if time.Since(changed) > time.Second {
				t.Fatal("the other service still has the flag on after 1 s")
			}
			time.Sleep(10 * time.Millisecond)
		}
		if b.Version() != a.Version() {
			t.Fatalf("versions differ: %d and %d", a.Version(), b.Version())
		}
	})
}

func TestService_ConcurrentUpdatesDoNotLoseChanges(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		s := started(t, d)
		for i := range 10 {
			desc := "round " + string(rune('a'+i))
			var wg sync.WaitGroup
			errs := make(chan error, 2)
			wg.Go(func() {
				_, err := s.Update(ctx, admin, "wasm_sandbox", flag.UpdateInput{Description: &desc})
				errs <- err
			})
			wg.Go(func() {
				_, err := s.Update(ctx, admin, "wasm_sandbox", flag.UpdateInput{Percentage: flag.NullableInt{Set: true, Value: pct(i)}})
				errs <- err
			})
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Fatal(err)
				}
			}
			f, err := s.Get(ctx, admin, "wasm_sandbox")
			if err != nil {
				t.Fatal(err)
			}
			if f.Description != desc || f.Percentage == nil || *f.Percentage != i {
				t.Fatalf("round %d: a concurrent change was lost: %+v", i, f)
			}
		}
	})
}

func TestService_StopsPollingOnClose(t *testing.T) {
	t.Parallel()
	d := dbtest.Open(t, dbtest.SQLite().URL(t))
	s := flag.NewService(d, nil, flag.Options{PollInterval: time.Millisecond})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("a second Start was accepted")
	}
	done := make(chan struct{})
	go func() { s.Close(); s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
}

// BenchmarkIsEnabled is what a gated request pays: an atomic load, a map
// lookup and Evaluate, for a seeded flag and for one whose user list is at
// the 1,000-entry limit (looked up through the snapshot's index).
func BenchmarkIsEnabled(b *testing.B) {
	d := dbtest.Open(b, dbtest.SQLite().URL(b))
	s := flag.NewService(d, nil, flag.Options{})
	if err := s.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	if _, err := s.Create(context.Background(), admin, flag.CreateInput{Key: "big_list", Enabled: true,
		UserIDs: userIDs(1000), Percentage: pct(100)}); err != nil {
		b.Fatal(err)
	}
	a := actor.Actor{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Pro, Email: "u@example.com", SessionID: "ses_x"}
	for _, key := range []string{"workflow_builder", "big_list"} {
		b.Run(key, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !s.IsEnabled(a, key) {
					b.Fatal("off")
				}
			}
		})
	}
}

func userIDs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = ids.New(ids.User)
	}
	return out
}

func TestService_LongTargetListsMatchThroughTheSnapshot(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		s := started(t, d)
		list := append(userIDs(40), user.UserID)
		orgs := []string{ids.New(ids.Organization)}
		for range 30 {
			orgs = append(orgs, ids.New(ids.Organization))
		}
		if _, err := s.Create(context.Background(), admin, flag.CreateInput{Key: "long_lists", Enabled: true,
			UserIDs: list, OrganizationIDs: orgs}); err != nil {
			t.Fatal(err)
		}
		inOrg := actor.Actor{UserID: ids.New(ids.User), OrganizationID: orgs[17], Role: actor.Member}
		if r := s.EvaluateKey(user, "long_lists"); r.Reason != flag.ReasonUser {
			t.Errorf("listed user: %+v", r)
		}
		if r := s.EvaluateKey(inOrg, "long_lists"); r.Reason != flag.ReasonOrganization {
			t.Errorf("member of a listed organization: %+v", r)
		}
		if s.IsEnabled(admin, "long_lists") {
			t.Error("an unlisted user got a list-only flag")
		}
	})
}

func ptr[T any](v T) *T { return &v }

func equal[T comparable](a, b []T) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}
