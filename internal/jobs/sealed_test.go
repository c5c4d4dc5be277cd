package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/db/dbtest"
	"github.com/switchboard/switchboard/internal/jobs"
	"github.com/switchboard/switchboard/internal/secret"
)

type letter struct {
	To, Link string
}

type letterArgs struct{ jobs.SealedArgs }

func (letterArgs) Kind() string { return "test.letter" }

func TestSealedArgs_OpenAfterKeysRotate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	kr, err := secret.Load("", dir)
	if err != nil {
		t.Fatal(err)
	}
	kr.SetReloadInterval(0)
	in := letter{To: "ann@example.com", Link: "https://x.test/reset?token=s3cr3t-token"}
	sealed, err := jobs.SealArgs(kr, "test.letter", in)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(sealed.Sealed+sealed.Ref, "s3cr3t-token") || strings.Contains(sealed.Sealed, "ann@") {
		t.Fatalf("sealed args hold the input in clear: %+v", sealed)
	}
	oldID := kr.PrimaryID()

	// What `switchboard keys rotate` does to the key file.
	if _, err := secret.AddPrimaryToFile(dir); err != nil {
		t.Fatal(err)
	}
	fresh, err := secret.Load("", dir) // a node started after the rotation
	if err != nil {
		t.Fatal(err)
	}
	for name, k := range map[string]*secret.Keyring{"running node": kr, "node started after rotation": fresh} {
		if k.PrimaryID() == oldID {
			t.Fatalf("%s: primary key did not change", name)
		}
		var out letter
		if err := sealed.Open(k, "test.letter", &out); err != nil {
			t.Fatalf("%s: args sealed before the rotation do not open: %v", name, err)
		}
		if out != in {
			t.Fatalf("%s: opened %+v, want %+v", name, out, in)
		}
	}
	again, err := jobs.SealArgs(kr, "test.letter", in)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := secret.KeyID(again.Sealed); id != kr.PrimaryID() {
		t.Fatalf("new args sealed under %s, want the new primary %s", id, kr.PrimaryID())
	}
}

func TestSealedArgs_OpenOnlyAsTheirOwnJob(t *testing.T) {
	t.Parallel()
	k, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secret.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := jobs.SealArgs(kr, "test.letter", letter{To: "a@example.com"})
	b, _ := jobs.SealArgs(kr, "test.letter", letter{To: "b@example.com"})
	var out letter
	for name, try := range map[string]func() error{
		"another kind":        func() error { return a.Open(kr, "test.other", &out) },
		"another job's value": func() error { return jobs.SealedArgs{Ref: a.Ref, Sealed: b.Sealed}.Open(kr, "test.letter", &out) },
		"a value cut short": func() error {
			return jobs.SealedArgs{Ref: a.Ref, Sealed: a.Sealed[:len(a.Sealed)-4]}.Open(kr, "test.letter", &out)
		},
		"not a sealed value": func() error {
			return jobs.SealedArgs{Ref: a.Ref, Sealed: `{"to":"a@example.com"}`}.Open(kr, "test.letter", &out)
		},
		"a key the ring lacks": func() error { return a.Open(mustKeyring(t), "test.letter", &out) },
	} {
		err := try()
		want := secret.ErrCorrupt
		if name == "a key the ring lacks" {
			want = secret.ErrMissingKey
		}
		if !errors.Is(err, want) {
			t.Errorf("%s: error %v, want %v", name, err, want)
		}
	}
}

func mustKeyring(t *testing.T) *secret.Keyring {
	t.Helper()
	k, err := secret.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	kr, err := secret.NewKeyring(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// Rotation re-seals the arguments of jobs still waiting, in place, so the
// old key can then be pruned; River still reads the rewritten row.
func TestSealedArgsStore_ResealsWaitingJobsUnderTheNewPrimary(t *testing.T) {
	t.Parallel()
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		t.Parallel()
		ctx := context.Background()
		if err := jobs.Migrate(ctx, d); err != nil {
			t.Fatal(err)
		}
		r := jobs.NewRunner(d, jobs.Config{}) // insert only: the jobs wait
		if err := r.Open(); err != nil {
			t.Fatal(err)
		}
		oldKey, _ := secret.GenerateKey()
		newKey, _ := secret.GenerateKey()
		before, _ := secret.NewKeyring(oldKey)
		in := letter{To: "ann@example.com", Link: "https://x.test/verify?token=t0ken"}
		var jobIDs []int64
		for range 3 {
			if err := d.Tx(ctx, func(tx *db.Tx) error {
				args, err := jobs.SealArgs(before, "test.letter", in)
				if err != nil {
					return err
				}
				res, err := r.InsertTx(ctx, tx, letterArgs{args}, nil)
				if err != nil {
					return err
				}
				jobIDs = append(jobIDs, res.Job.ID)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		// A job with a field of that name but no sealed value is left alone.
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			_, err := r.InsertTx(ctx, tx, decoyArgs{Sealed: "sb1 is not a sealed value"}, nil)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		store := jobs.SealedArgsStore(d)
		counts, err := store.CountByKey(ctx)
		if err != nil || len(counts) != 1 || counts[oldKey.ID] != 3 {
			t.Fatalf("before rotation: counts %v (%v), want 3 under %s", counts, err, oldKey.ID)
		}

		rotated, _ := secret.NewKeyring(newKey, oldKey)
		n, err := secret.Reseal(ctx, rotated, secret.RotateOptions{Batch: 2}, store)
		if err != nil || n != 3 {
			t.Fatalf("reseal: %d values, %v; want 3", n, err)
		}
		counts, err = store.CountByKey(ctx)
		if err != nil || len(counts) != 1 || counts[newKey.ID] != 3 {
			t.Fatalf("after rotation: counts %v (%v), want 3 under %s", counts, err, newKey.ID)
		}
		onlyNew, _ := secret.NewKeyring(newKey) // the old key pruned
		for _, id := range jobIDs {
			row, err := r.Client.JobGet(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			var args letterArgs
			if err := json.Unmarshal(row.EncodedArgs, &args); err != nil {
				t.Fatalf("River reads back %s: %v", row.EncodedArgs, err)
			}
			var out letter
			if err := args.Open(onlyNew, row.Kind, &out); err != nil || out != in {
				t.Fatalf("job %d after reseal: %+v, %v", id, out, err)
			}
		}
	})
}

type decoyArgs struct {
	Sealed string `json:"sealed"`
}

func (decoyArgs) Kind() string { return "test.decoy" }
