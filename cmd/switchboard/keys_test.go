package main

import (
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/db/dbtest"
)

func TestCLI_KeysRotateStatusPrune(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		env := envFor(t, url)
		r := runCLI(t, env, "keys", "status")
		if r.code != 0 || !strings.Contains(r.stdout, "(primary)") {
			t.Fatalf("keys status: %+v", r)
		}
		first := strings.Fields(r.stdout)[0]
		r = runCLI(t, env, "keys", "rotate", "--batch", "10")
		if r.code != 0 || !strings.Contains(r.stdout, "new primary key") || !strings.Contains(r.stdout, first+": 0") {
			t.Fatalf("keys rotate: %+v", r)
		}
		if r = runCLI(t, env, "keys", "prune", first); r.code != 0 {
			t.Fatalf("keys prune: %+v", r)
		}
		if r = runCLI(t, env, "keys", "status"); strings.Contains(r.stdout, first) {
			t.Errorf("pruned key still listed: %s", r.stdout)
		}
		if r = runCLI(t, env, "keys"); r.code != 2 || !strings.Contains(r.stderr, "keys rotate") {
			t.Errorf("keys without a subcommand: %+v", r)
		}
		if g := runCLI(t, nil, "keys", "generate"); g.code != 0 || len(strings.TrimSpace(g.stdout)) != 44 {
			t.Errorf("keys generate: %+v", g)
		}
	})
}
