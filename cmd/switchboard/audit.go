package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/switchboard/switchboard/internal/app"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
)

const auditUsage = `usage:
  switchboard audit verify                      check every chain, every checkpoint and its signature
  switchboard audit seal                        sign checkpoints now for the chains that advanced
  switchboard audit checkpoints export [--to F] write the public keys and every checkpoint as JSON lines
  switchboard audit keys rotate                 put a new signing key first in <data-dir>/audit-signing.keys
  switchboard audit keys generate               print a fresh signing key (for SWITCHBOARD_AUDIT_SIGNING_KEY)

They take the configuration flags (--data-dir, --database-url, --audit-signing-key, …).`

func cmdAudit(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, auditUsage)
		return nil
	}
	if len(args) == 0 {
		return exitError{code: 2, msg: auditUsage}
	}
	sub, rest := args[0], args[1:]
	if sub == "checkpoints" || sub == "keys" {
		if len(rest) == 0 {
			return exitError{code: 2, msg: auditUsage}
		}
		sub, rest = sub+" "+rest[0], rest[1:]
	}
	switch sub {
	case "verify":
		return auditVerify(ctx, rest, getenv, stdout, stderr)
	case "seal":
		return auditSeal(ctx, rest, getenv, stdout, stderr)
	case "checkpoints export":
		return auditExportCheckpoints(ctx, rest, getenv, stdout, stderr)
	case "keys rotate":
		c, err := loadConfig("audit keys rotate", rest, getenv, stderr, nil)
		if err != nil {
			return err
		}
		k, err := c.AuditKeys().Rotate()
		if err != nil {
			return exitError{code: 1, msg: err.Error()}
		}
		fmt.Fprintf(stdout, "new audit signing key %s is first in %s; older keys stay to verify their checkpoints.\nEvery node must hold the same file (or SWITCHBOARD_AUDIT_SIGNING_KEY list).\n", k.ID, c.AuditKeys().Path())
		return nil
	case "keys generate":
		fs := flag.NewFlagSet("switchboard audit keys generate", flag.ContinueOnError)
		fs.SetOutput(stderr)
		if err := fs.Parse(rest); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return err
			}
			return exitError{code: 2, msg: err.Error()}
		}
		k, err := audit.GenerateSigningKey()
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, k.Encode())
		return nil
	}
	return exitError{code: 2, msg: auditUsage}
}

// auditKeysForChecking returns the keys to check signatures with, or nil
// when none are configured: checking must not generate a key into the
// data dir, which would then call every existing checkpoint unknown.
func auditKeysForChecking(c config.Config) (*audit.SigningKeys, error) {
	ks := c.AuditKeys()
	if ks.FileBacked() {
		if _, err := os.Stat(ks.Path()); errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
	}
	return ks.Load()
}

func auditVerify(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := loadConfig("audit verify", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	keys, err := auditKeysForChecking(c)
	if err != nil {
		return err
	}
	d, err := app.OpenDB(ctx, c)
	if err != nil {
		return err
	}
	defer d.Close()
	// Walking long chains is one long read: no per-statement bound.
	res, err := audit.Verify(db.WithoutTimeout(ctx), d.Read(), keys)
	if err != nil {
		return err
	}
	if !res.OK {
		return exitError{code: 1, msg: fmt.Sprintf("audit log TAMPERED: chain %s, row %d (id %q): %s; %d rows before it verified",
			res.BadChain, res.BadSeq, res.BadID, res.Reason, res.Checked)}
	}
	sigs := "signatures checked"
	if !res.SignaturesChecked {
		sigs = "signatures NOT checked: no audit signing keys configured (set --audit-signing-key or restore " + audit.SigningKeysFile + ")"
	}
	fmt.Fprintf(stdout, "audit log intact: %d rows verified in %d chains; %d checkpoints (%s); %d rows newer than their chain's last checkpoint\n",
		res.Checked, res.Chains, res.Checkpoints, sigs, res.Unsealed)
	return nil
}

func auditSeal(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	c, err := loadConfig("audit seal", args, getenv, stderr, nil)
	if err != nil {
		return err
	}
	keys, err := c.AuditKeys().Load()
	if err != nil {
		return err
	}
	d, err := app.OpenDB(ctx, c)
	if err != nil {
		return err
	}
	defer d.Close()
	n, err := audit.Seal(db.WithoutTimeout(ctx), d, keys)
	if err != nil {
		return exitError{code: 1, msg: err.Error()}
	}
	fmt.Fprintf(stdout, "signed %d checkpoints with key %s\n", n, keys.Primary().ID)
	return nil
}

// An export is JSON lines: the public keys first, then the checkpoints.
type keyLine struct {
	Type      string `json:"type"`
	KeyID     string `json:"keyId"`
	Algorithm string `json:"algorithm"`
	PublicKey string `json:"publicKey"`
}

type checkpointLine struct {
	Type string `json:"type"`
	audit.Checkpoint
	// Message is the exact byte string the signature covers.
	Message string `json:"signedMessage"`
}

func auditExportCheckpoints(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var to string
	c, err := loadConfig("audit checkpoints export", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "file to write (default: standard output)")
	})
	if err != nil {
		return err
	}
	keys, err := auditKeysForChecking(c)
	if err != nil {
		return err
	}
	d, err := app.OpenDB(ctx, c)
	if err != nil {
		return err
	}
	defer d.Close()
	out := stdout
	var f *os.File
	if to != "" {
		if f, err = os.Create(to); err != nil {
			return err
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	if keys != nil {
		for _, k := range keys.All() {
			if err := enc.Encode(keyLine{Type: "key", KeyID: k.ID, Algorithm: "ed25519", PublicKey: base64.StdEncoding.EncodeToString(k.Public)}); err != nil {
				return err
			}
		}
	}
	n := 0
	if err := audit.Checkpoints(db.WithoutTimeout(ctx), d.Read(), func(cp audit.Checkpoint) error {
		n++
		return enc.Encode(checkpointLine{Type: "checkpoint", Checkpoint: cp, Message: string(cp.SignedMessage())})
	}); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if f != nil {
		if err := f.Sync(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %d checkpoints to %s\n", n, to)
	}
	return nil
}
