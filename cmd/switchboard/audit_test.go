package main

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/audit"
	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
)

// The checkpoints an operator exports are enough for an outside witness:
// every line's signature verifies with the exported public keys, across a
// key rotation; and a checkpoint changed in the database fails verify,
// which names its chain.
func TestCLI_AuditSealRotateExportAndVerify(t *testing.T) {
	t.Parallel()
	dbtest.EachURL(t, func(t *testing.T, url string) {
		env := envFor(t, url)
		d := dbtest.Open(t, url)
		event := func(user string) {
			t.Helper()
			if err := d.Tx(context.Background(), func(tx *db.Tx) error {
				return audit.Record(context.Background(), tx, actor.Actor{UserID: user}, audit.Entry{Action: "user.updated", Resource: "user"})
			}); err != nil {
				t.Fatal(err)
			}
		}
		event("usr_ops")
		if r := runCLI(t, env, "audit", "seal"); r.code != 0 || !strings.Contains(r.stdout, "signed 1 checkpoints") {
			t.Fatalf("seal: %+v", r)
		}
		if r := runCLI(t, env, "audit", "keys", "rotate"); r.code != 0 || !strings.Contains(r.stdout, "new audit signing key") {
			t.Fatalf("rotate: %+v", r)
		}
		event("usr_ops")
		if r := runCLI(t, env, "audit", "seal"); r.code != 0 || !strings.Contains(r.stdout, "signed 1 checkpoints") {
			t.Fatalf("seal after rotation: %+v", r)
		}
		if r := runCLI(t, env, "audit", "verify"); r.code != 0 || !strings.Contains(r.stdout, "2 checkpoints (signatures checked)") {
			t.Fatalf("verify: %+v", r)
		}
		out := filepath.Join(t.TempDir(), "checkpoints.jsonl")
		if r := runCLI(t, env, "audit", "checkpoints", "export", "--to", out); r.code != 0 || !strings.Contains(r.stdout, "wrote 2 checkpoints") {
			t.Fatalf("export: %+v", r)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		pubs := map[string]ed25519.PublicKey{}
		signedBy := map[string]bool{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var line struct {
				Type, KeyID, PublicKey, Signature, SignedMessage, ChainID string
				Seq                                                       int64
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			switch line.Type {
			case "key":
				k, _ := base64.StdEncoding.DecodeString(line.PublicKey)
				pubs[line.KeyID] = k
			case "checkpoint":
				sig, _ := base64.StdEncoding.DecodeString(line.Signature)
				if !ed25519.Verify(pubs[line.KeyID], []byte(line.SignedMessage), sig) ||
					!strings.Contains(line.SignedMessage, "\n"+line.ChainID+"\n") {
					t.Fatalf("checkpoint does not verify for a witness: %s", sc.Text())
				}
				signedBy[line.KeyID] = true
			}
		}
		if len(pubs) != 2 || len(signedBy) != 2 {
			t.Fatalf("export: %d keys, checkpoints signed by %d keys; want 2 and 2", len(pubs), len(signedBy))
		}

		if _, err := d.SQL().ExecContext(context.Background(), `UPDATE audit_checkpoints SET hash = 'forged' WHERE seq = 1`); err != nil {
			t.Fatal(err)
		}
		if r := runCLI(t, env, "audit", "verify"); r.code != 1 || !strings.Contains(r.stderr, "TAMPERED: chain usr_ops") || !strings.Contains(r.stderr, "checkpoint at row 1") {
			t.Fatalf("verify of a forged checkpoint: %+v", r)
		}
	})
}
