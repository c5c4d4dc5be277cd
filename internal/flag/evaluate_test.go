package flag_test

import (
	"fmt"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/flag"
	"github.com/switchboard/switchboard/internal/ids"
)

func pct(n int) *int { return &n }

// syntheticUsers returns n user ids in three shapes: real time-sorted
// TypeIDs, which differ mostly in their last characters; short sequential
// ones; and ids whose characters all share their two lowest bits (a, e, i,
// m, q, u, y), which a hash whose low bits see only low input bits (plain
// FNV-1a) crowds into a quarter of the buckets.
func syntheticUsers(n int) [][]string {
	typeIDs, seq, highBits := make([]string, n), make([]string, n), make([]string, n)
	const alphabet = "aeimquy"
	for i := range n {
		typeIDs[i] = ids.New(ids.User)
		seq[i] = fmt.Sprintf("u%d", i)
		b := []byte("usr_aaaaaaaa")
		for j, v := len(b)-1, i; v > 0; j, v = j-1, v/len(alphabet) {
			b[j] = alphabet[v%len(alphabet)]
		}
		highBits[i] = string(b)
	}
	return [][]string{typeIDs, seq, highBits}
}

func TestEvaluate_PercentageDistributesWithinTwoPoints(t *testing.T) {
	t.Parallel()
	const n = 10_000
	for _, users := range syntheticUsers(n) {
		for _, p := range []int{1, 10, 25, 50, 90} {
			f := &flag.Flag{Key: "new_editor", Enabled: true, Percentage: pct(p)}
			on := 0
			for _, u := range users {
				if flag.Evaluate(f, flag.Subject{UserID: u}).Enabled {
					on++
				}
			}
			// ±2 points, and ±half the target for small rollouts (still
			// five standard deviations at 1 % of 10,000).
			tol := min(2, float64(p)/2)
			got := float64(on) / n * 100
			if got < float64(p)-tol || got > float64(p)+tol {
				t.Errorf("%d%% rollout over ids like %q: %.2f%% enabled, want %d%% ± %.1f", p, users[n-1], got, p, tol)
			}
		}
	}
}

func TestEvaluate_RaisingPercentageOnlyAddsUsers(t *testing.T) {
	t.Parallel()
	users := syntheticUsers(5_000)[0]
	f := &flag.Flag{Key: "checkout_v2", Enabled: true, Percentage: pct(0)}
	prev := map[string]bool{}
	for p := 0; p <= 100; p += 5 {
		f.Percentage = pct(p)
		cur := map[string]bool{}
		for _, u := range users {
			r := flag.Evaluate(f, flag.Subject{UserID: u})
			if again := flag.Evaluate(f, flag.Subject{UserID: u}); again != r {
				t.Fatalf("%s at %d%%: %+v then %+v", u, p, r, again)
			}
			if r.Enabled {
				cur[u] = true
			}
		}
		for u := range prev {
			if !cur[u] {
				t.Fatalf("raising the rollout to %d%% dropped %s", p, u)
			}
		}
		prev = cur
	}
	if len(prev) != len(users) {
		t.Fatalf("100%% rollout reached %d of %d users", len(prev), len(users))
	}
}

func TestEvaluate_FlagsBucketIndependently(t *testing.T) {
	t.Parallel()
	// Two 25 % rollouts should overlap on about 6.25 % of users; if the key
	// did not feed the hash, the same users would get every early feature.
	users := syntheticUsers(10_000)[0]
	a := &flag.Flag{Key: "feature_a", Enabled: true, Percentage: pct(25)}
	b := &flag.Flag{Key: "feature_b", Enabled: true, Percentage: pct(25)}
	both := 0
	for _, u := range users {
		s := flag.Subject{UserID: u}
		if flag.Evaluate(a, s).Enabled && flag.Evaluate(b, s).Enabled {
			both++
		}
	}
	if got := float64(both) / 100; got < 5 || got > 7.5 {
		t.Fatalf("two independent 25%% rollouts overlap on %.2f%% of users, want about 6.25%%", got)
	}
}

func TestEvaluate_RulesInOrder(t *testing.T) {
	t.Parallel()
	alice := flag.Subject{UserID: "usr_alice", OrganizationID: "org_acme", Role: actor.Developer, Plan: actor.Pro}
	bob := flag.Subject{UserID: "usr_bob", Role: actor.Member, Plan: actor.Free}
	worker := flag.Subject{OrganizationID: "org_acme"}
	anonymous := flag.Subject{}
	cases := []struct {
		name string
		flag *flag.Flag
		sub  flag.Subject
		want flag.Result
	}{
		{"no flag is off", nil, alice, flag.Result{Reason: flag.ReasonOff}},
		{"disabled beats targeting", &flag.Flag{Key: "k1", UserIDs: []string{"usr_alice"}}, alice,
			flag.Result{Reason: flag.ReasonOff}},
		{"user list", &flag.Flag{Key: "k1", Enabled: true, UserIDs: []string{"usr_x", "usr_alice"}}, alice,
			flag.Result{Enabled: true, Reason: flag.ReasonUser}},
		{"organization list", &flag.Flag{Key: "k1", Enabled: true, OrganizationIDs: []string{"org_acme"}}, alice,
			flag.Result{Enabled: true, Reason: flag.ReasonOrganization}},
		{"role list", &flag.Flag{Key: "k1", Enabled: true, Roles: []actor.Role{actor.Developer}}, alice,
			flag.Result{Enabled: true, Reason: flag.ReasonRole}},
		{"plan list", &flag.Flag{Key: "k1", Enabled: true, Plans: []actor.Plan{actor.Pro, actor.Business}}, alice,
			flag.Result{Enabled: true, Reason: flag.ReasonPlan}},
		{"lists not naming the subject", &flag.Flag{Key: "k1", Enabled: true, UserIDs: []string{"usr_alice"},
			OrganizationIDs: []string{"org_acme"}, Roles: []actor.Role{actor.Admin}, Plans: []actor.Plan{actor.Pro}}, bob,
			flag.Result{Reason: flag.ReasonNotTargeted}},
		{"a list beats a 0% rollout", &flag.Flag{Key: "k1", Enabled: true, Roles: []actor.Role{actor.Member}, Percentage: pct(0)}, bob,
			flag.Result{Enabled: true, Reason: flag.ReasonRole}},
		{"0% rollout", &flag.Flag{Key: "k1", Enabled: true, Percentage: pct(0)}, bob,
			flag.Result{Reason: flag.ReasonOutOfRollout}},
		{"100% rollout takes in the untargeted", &flag.Flag{Key: "k1", Enabled: true, UserIDs: []string{"usr_alice"}, Percentage: pct(100)}, bob,
			flag.Result{Enabled: true, Reason: flag.ReasonRollout}},
		{"a worker buckets by its organization", &flag.Flag{Key: "k1", Enabled: true, Percentage: pct(100)}, worker,
			flag.Result{Enabled: true, Reason: flag.ReasonRollout}},
		{"no id is outside every rollout", &flag.Flag{Key: "k1", Enabled: true, Percentage: pct(100)}, anonymous,
			flag.Result{Reason: flag.ReasonOutOfRollout}},
		{"no targeting is on for everyone", &flag.Flag{Key: "k1", Enabled: true}, anonymous,
			flag.Result{Enabled: true, Reason: flag.ReasonEveryone}},
		{"empty role does not match an empty list entry", &flag.Flag{Key: "k1", Enabled: true, Roles: []actor.Role{""}}, anonymous,
			flag.Result{Reason: flag.ReasonNotTargeted}},
	}
	for _, c := range cases {
		if got := flag.Evaluate(c.flag, c.sub); got != c.want {
			t.Errorf("%s: got %+v, want %+v", c.name, got, c.want)
		}
	}
}

func TestEvaluate_VariantsFollowWeightsAndStick(t *testing.T) {
	t.Parallel()
	users := syntheticUsers(10_000)[0]
	f := &flag.Flag{Key: "pricing_page", Enabled: true,
		Variants: []flag.Variant{{Key: "control", Weight: 20}, {Key: "blue", Weight: 30}, {Key: "green", Weight: 50}, {Key: "never", Weight: 0}}}
	counts := map[string]int{}
	for _, u := range users {
		r := flag.Evaluate(f, flag.Subject{UserID: u})
		if again := flag.Evaluate(f, flag.Subject{UserID: u}); again.Variant != r.Variant {
			t.Fatalf("%s got %q then %q", u, r.Variant, again.Variant)
		}
		counts[r.Variant]++
	}
	for _, v := range f.Variants {
		got := float64(counts[v.Key]) / 100
		if got < float64(v.Weight)-2 || got > float64(v.Weight)+2 {
			t.Errorf("variant %s: %.2f%% of users, want %d%% ± 2 (all: %v)", v.Key, got, v.Weight, counts)
		}
	}
	if counts["never"] != 0 {
		t.Errorf("a 0-weight variant was picked %d times", counts["never"])
	}

	// Within a 25 % rollout the split still follows the weights: the
	// variant does not reuse the rollout bucket, which would put every
	// early user in the first variant.
	f.Percentage = pct(25)
	f.Variants = []flag.Variant{{Key: "a", Weight: 50}, {Key: "b", Weight: 50}}
	split := map[string]int{}
	on := 0
	for _, u := range users {
		if r := flag.Evaluate(f, flag.Subject{UserID: u}); r.Enabled {
			on++
			split[r.Variant]++
		}
	}
	if a := float64(split["a"]) / float64(on) * 100; a < 45 || a > 55 {
		t.Errorf("inside a 25%% rollout variant a got %.1f%% of %d users, want 50%% ± 5", a, on)
	}
	if r := flag.Evaluate(&flag.Flag{Key: "k1", Variants: f.Variants}, flag.Subject{UserID: "usr_1"}); r.Variant != "" {
		t.Errorf("a disabled flag reported variant %q", r.Variant)
	}
}

func TestEvaluate_AllocatesNothing(t *testing.T) {
	f := &flag.Flag{Key: "workflow_builder", Enabled: true, UserIDs: []string{"usr_a", "usr_b"},
		Roles: []actor.Role{actor.Admin}, Percentage: pct(30), Variants: []flag.Variant{{Key: "a", Weight: 50}, {Key: "b", Weight: 50}}}
	s := flag.Subject{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Free}
	if n := testing.AllocsPerRun(1000, func() { flag.Evaluate(f, s) }); n != 0 {
		t.Fatalf("Evaluate allocates %.1f times per call", n)
	}
}

// BenchmarkEvaluate measures the pure evaluation on its three common paths.
// Report allocs/op with the numbers: it must stay 0.
func BenchmarkEvaluate(b *testing.B) {
	user := flag.Subject{UserID: ids.New(ids.User), Role: actor.Member, Plan: actor.Pro}
	bench := map[string]*flag.Flag{
		"everyone": {Key: "workflow_builder", Enabled: true},
		"targeted": {Key: "workflow_builder", Enabled: true, UserIDs: []string{ids.New(ids.User), ids.New(ids.User)},
			Roles: []actor.Role{actor.Admin}, Plans: []actor.Plan{actor.Business, actor.Pro}},
		"rollout_variants": {Key: "workflow_builder", Enabled: true, Percentage: pct(100),
			Variants: []flag.Variant{{Key: "a", Weight: 50}, {Key: "b", Weight: 50}}},
	}
	for _, name := range []string{"everyone", "targeted", "rollout_variants"} {
		f := bench[name]
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !flag.Evaluate(f, user).Enabled {
					b.Fatal("off")
				}
			}
		})
	}
}
