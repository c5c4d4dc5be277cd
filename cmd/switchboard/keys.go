package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/switchboard/switchboard/internal/app"
	"github.com/switchboard/switchboard/internal/auth"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/events"
	"github.com/switchboard/switchboard/internal/gateway"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/plugin/install"
	"github.com/switchboard/switchboard/internal/secret"
	"github.com/switchboard/switchboard/internal/workflow"
)

const keysUsage = `usage:
  switchboard keys status            count sealed values per key; mark the primary and missing keys
  switchboard keys rotate [--batch N] add a new primary key and re-seal every stored secret under it
  switchboard keys generate          print a fresh key (for SWITCHBOARD_SECRET_KEY)
  switchboard keys prune KEY_ID      drop an old key from <data-dir>/secret.keys once nothing uses it

status, rotate and prune take the configuration flags (--data-dir, --database-url,
…; see "switchboard serve -h") before or after their arguments.

With keys in <data-dir>/secret.keys (the default), "rotate" writes the new key
there first; running servers re-read the file within a second, so rotation
needs no restart. With SWITCHBOARD_SECRET_KEY, put the new key (from
"generate") first in the list on every node, then run "rotate", which
re-seals under the list's first key; drop the old key once "status" shows
nothing under it.`

// cmdKeys manages the credential-sealing keyring. It runs beside a serving
// node: re-sealing happens in small transactions, each a compare-and-swap.
func cmdKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return exitError{code: 2, msg: keysUsage}
	}
	sub := args[0]
	if isHelp(sub) {
		fmt.Fprintln(stdout, keysUsage)
		return nil
	}
	var batch int
	extra := func(fs *flag.FlagSet) {
		if sub == "rotate" {
			fs.IntVar(&batch, "batch", 100, "values re-sealed per transaction")
		}
	}
	switch sub {
	case "generate":
		// A fresh key needs no configuration: only -h is understood.
		fs := flag.NewFlagSet("switchboard keys generate", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() {
			fmt.Fprintln(stderr, "usage: switchboard keys generate\n\nPrints a fresh 32-byte key, base64-encoded, for SWITCHBOARD_SECRET_KEY (or\n--secret-key). It reads no configuration and writes no file; with keys in\n<data-dir>/secret.keys, \"switchboard keys rotate\" makes and stores the new key itself.")
		}
		if err := fs.Parse(args[1:]); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return exitError{code: 2, msg: err.Error()}
		}
		if fs.NArg() > 0 {
			return exitError{code: 2, msg: keysUsage}
		}
		k, err := secret.GenerateKey()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, k.Encode())
		return nil
	case "prune", "status", "rotate":
	default:
		return exitError{code: 2, msg: keysUsage}
	}
	// Flags may stand before or after the key id; nothing is opened
	// before they parsed, so -h creates nothing.
	c, rest, err := loadConfigArgs("keys "+sub, args[1:], getenv, stderr, extra)
	if err != nil {
		return err
	}
	var pruneID string
	if sub == "prune" {
		if len(rest) != 1 {
			return exitError{code: 2, msg: keysUsage}
		}
		pruneID = rest[0]
	} else if len(rest) > 0 {
		return exitError{code: 2, msg: keysUsage}
	}
	if sub == "prune" && c.SecretKey != "" {
		return exitError{code: 2, msg: "keys come from SWITCHBOARD_SECRET_KEY: remove the key from that list instead"}
	}
	d, err := app.OpenDB(ctx, c)
	if err != nil {
		return err
	}
	defer d.Close()
	// Re-sealing and counting walk whole tables in batches an operator
	// waits for: no per-statement bound meant for requests.
	ctx = db.WithoutTimeout(ctx)
	// Every store of sealed values: gateway credentials, installation
	// secrets, the sealed arguments of jobs still waiting to run (mail) and
	// the path tokens of gateway inbound and workflow webhook URLs, and
	// the TOTP secrets of second factors.
	stores := []secret.Store{gateway.CredentialStore(d), install.SecretStore(d), jobs.SealedArgsStore(d),
		gateway.HookTokenStore(d), workflow.HookTokenStore(d), auth.TOTPSecretStore(d),
		events.SecretStore(d), workflow.HookSecretStore(d)}
	switch sub {
	case "status":
		kr, err := secret.Load(c.SecretKey, c.DataDir)
		if err != nil {
			return err
		}
		return printKeyStatus(ctx, kr, stores, stdout)
	case "prune":
		counts, err := countByKey(ctx, stores)
		if err != nil {
			return err
		}
		if counts[pruneID] > 0 {
			return exitError{code: 1, msg: fmt.Sprintf("%d values are still sealed under %s; run keys rotate first", counts[pruneID], pruneID)}
		}
		if err := secret.RemoveFromFile(c.DataDir, pruneID); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "removed key %s\n", pruneID)
		return nil
	}
	if c.SecretKey == "" {
		k, err := secret.AddPrimaryToFile(c.DataDir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new primary key %s written to %s/%s\n", k.ID, c.DataDir, secret.KeysFile)
	}
	kr, err := secret.Load(c.SecretKey, c.DataDir)
	if err != nil {
		return err
	}
	if err := secret.CheckKeys(ctx, kr, stores...); err != nil {
		return err
	}
	start := time.Now()
	n, err := secret.Reseal(ctx, kr, secret.RotateOptions{Batch: batch, Progress: func(name string, k int) {
		fmt.Fprintf(stdout, "  re-sealed %d %s\n", k, name)
	}}, stores...)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "re-sealed %d values under key %s in %s\n", n, kr.PrimaryID(), time.Since(start).Round(time.Millisecond))
	return printKeyStatus(ctx, kr, stores, stdout)
}

func storeNames(stores []secret.Store) string {
	names := make([]string, len(stores))
	for i, st := range stores {
		names[i] = st.Name()
	}
	return strings.Join(names, ", ")
}

// countByKey sums how many values each key seals across stores.
func countByKey(ctx context.Context, stores []secret.Store) (map[string]int64, error) {
	counts := map[string]int64{}
	for _, st := range stores {
		c, err := st.CountByKey(ctx)
		if err != nil {
			return nil, err
		}
		for id, n := range c {
			counts[id] += n
		}
	}
	return counts, nil
}

func printKeyStatus(ctx context.Context, kr *secret.Keyring, stores []secret.Store, stdout io.Writer) error {
	counts, err := countByKey(ctx, stores)
	if err != nil {
		return err
	}
	ids := kr.IDs()
	known := map[string]bool{}
	for _, id := range ids {
		known[id] = true
	}
	for id := range counts {
		if !known[id] {
			ids = append(ids, id)
		}
	}
	sort.SliceStable(ids[1:], func(i, j int) bool { return ids[1+i] < ids[1+j] })
	for i, id := range ids {
		mark := ""
		switch {
		case i == 0:
			mark = " (primary)"
		case !known[id]:
			mark = " (MISSING from the keyring)"
		}
		fmt.Fprintf(stdout, "%s%s: %d sealed values (%s)\n", id, mark, counts[id], storeNames(stores))
	}
	return nil
}
