package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/secret"
)

// SealedArgs carries a job's input sealed with the keyring, for jobs whose
// input must never sit in clear in river_job (a mail with a single-use link,
// say). Embed it as the whole of a job's arguments:
//
//	type sendArgs struct{ jobs.SealedArgs }
//
// so the stored row holds only {"seal_ref": …, "sealed": "sb1:<key id>:…"}.
// The value is bound to the job kind and a random reference, so it opens
// only as the input of the job it was made for. Values stay openable after
// `switchboard keys rotate` (old keys remain in the keyring for opening),
// and SealedArgsStore lets rotation re-seal the ones still waiting.
type SealedArgs struct {
	Ref    string `json:"seal_ref"`
	Sealed string `json:"sealed"`
}

// SealArgs seals v, encoded as JSON, as the input of a job of this kind.
func SealArgs(kr *secret.Keyring, kind string, v any) (SealedArgs, error) {
	plain, err := json.Marshal(v)
	if err != nil {
		return SealedArgs{}, fmt.Errorf("seal %s args: %w", kind, err)
	}
	var ref [16]byte
	if _, err := rand.Read(ref[:]); err != nil {
		return SealedArgs{}, fmt.Errorf("seal %s args: %w", kind, err)
	}
	s := SealedArgs{Ref: hex.EncodeToString(ref[:])}
	if s.Sealed, err = kr.Seal(plain, sealedArgsContext(kind, s.Ref)); err != nil {
		return SealedArgs{}, fmt.Errorf("seal %s args: %w", kind, err)
	}
	return s, nil
}

// Open decrypts the input of a job of this kind into v. Errors wrap
// secret.ErrMissingKey when the keyring lacks the sealing key (it may yet
// arrive: another node rotated first) and secret.ErrCorrupt when the value
// was altered or belongs to another job; the latter never heals.
func (s SealedArgs) Open(kr *secret.Keyring, kind string, v any) error {
	plain, err := kr.Open(s.Sealed, sealedArgsContext(kind, s.Ref))
	if err != nil {
		return fmt.Errorf("open %s args: %w", kind, err)
	}
	if err := json.Unmarshal(plain, v); err != nil {
		return fmt.Errorf("open %s args: %w: %v", kind, secret.ErrCorrupt, err)
	}
	return nil
}

func sealedArgsContext(kind, ref string) string { return "river_job:" + kind + ":" + ref }

// SealedArgsStore exposes the sealed arguments of jobs still to run (to
// key rotation, `keys status` and `keys prune`). Finished jobs are left
// alone: their input is never opened again.
func SealedArgsStore(d *db.DB) secret.Store { return sealedArgsStore{d: d} }

type sealedArgsStore struct{ d *db.DB }

// waitingStates are the states of a job that may still run. A running job
// is counted but not re-sealed: its worker has already read the value.
const (
	waitingStates    = `('available', 'scheduled', 'retryable', 'running', 'pending')`
	resealableStates = `('available', 'scheduled', 'retryable', 'pending')`
)

func (sealedArgsStore) Name() string { return "sealed job arguments" }

func (s sealedArgsStore) CountByKey(ctx context.Context) (map[string]int64, error) {
	rows, err := s.d.Read().QueryContext(ctx, `SELECT args->>'sealed' FROM river_job
		WHERE state IN `+waitingStates+` AND args->>'sealed' LIKE 'sb1:%' AND args->>'seal_ref' IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("count sealed job args: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var sealed string
		if err := rows.Scan(&sealed); err != nil {
			return nil, fmt.Errorf("count sealed job args: %w", err)
		}
		id, err := secret.KeyID(sealed)
		if err != nil {
			continue // not ours: a job that merely has a "sealed" field
		}
		out[id]++
	}
	return out, rows.Err()
}

// ResealBatch re-seals the arguments of up to n waiting jobs that are not
// under the primary key. Each update is a compare-and-swap on the old value
// and on the job still waiting, so a job a worker picks up meanwhile keeps
// the value it read.
func (s sealedArgsStore) ResealBatch(ctx context.Context, kr *secret.Keyring, n int) (int, error) {
	primary := "sb1:" + kr.PrimaryID() + ":%"
	type item struct {
		id                int64
		kind, ref, sealed string
	}
	var batch []item
	rows, err := s.d.Read().QueryContext(ctx, `SELECT id, kind, args->>'seal_ref', args->>'sealed' FROM river_job
		WHERE state IN `+resealableStates+` AND args->>'sealed' LIKE 'sb1:%' AND args->>'seal_ref' IS NOT NULL
		AND args->>'sealed' NOT LIKE $1
		ORDER BY id LIMIT $2`, primary, n)
	if err != nil {
		return 0, fmt.Errorf("find sealed job args to reseal: %w", err)
	}
	for rows.Next() {
		var it item
		if err := rows.Scan(&it.id, &it.kind, &it.ref, &it.sealed); err != nil {
			rows.Close()
			return 0, fmt.Errorf("find sealed job args to reseal: %w", err)
		}
		batch = append(batch, it)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("find sealed job args to reseal: %w", err)
	}
	if len(batch) == 0 {
		return 0, nil
	}
	// The one dialect-specific statement: jsonb_set spells its path and
	// value differently on the two engines.
	update := `UPDATE river_job SET args = jsonb_set(args, '$.sealed', $1)
		WHERE id = $2 AND state IN ` + resealableStates + ` AND args->>'sealed' = $3`
	if s.d.Dialect == db.Postgres {
		update = `UPDATE river_job SET args = jsonb_set(args, '{sealed}', to_jsonb($1::text))
			WHERE id = $2 AND state IN ` + resealableStates + ` AND args->>'sealed' = $3`
	}
	changed := 0
	err = s.d.Tx(ctx, func(tx *db.Tx) error {
		changed = 0
		for _, it := range batch {
			c := sealedArgsContext(it.kind, it.ref)
			plain, err := kr.Open(it.sealed, c)
			if err != nil {
				return fmt.Errorf("job %d: %w", it.id, err)
			}
			sealed, err := kr.Seal(plain, c)
			if err != nil {
				return fmt.Errorf("job %d: %w", it.id, err)
			}
			res, err := tx.ExecContext(ctx, update, sealed, it.id, it.sealed)
			if err != nil {
				return fmt.Errorf("reseal job %d: %w", it.id, err)
			}
			if k, _ := res.RowsAffected(); k > 0 {
				changed++
			}
		}
		return nil
	})
	return changed, err
}
