package audit

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/riverqueue/river"

	"github.com/switchboard/switchboard/internal/db"
)

// Checkpoint is a signed statement of a chain's head, like a Certificate
// Transparency signed tree head: chain ChainID had Seq rows, the last with
// hash Hash, at SignedAt; signed by key KeyID.
type Checkpoint struct {
	ChainID   string    `json:"chainId"`
	Seq       int64     `json:"seq"`
	Hash      string    `json:"hash"`
	SignedAt  time.Time `json:"signedAt"`
	KeyID     string    `json:"keyId"`
	Signature string    `json:"signature"`
}

// SignedMessage is the exact byte string a checkpoint's signature covers;
// a witness verifies the Ed25519 signature (base64) over it with the public
// key named by KeyID.
func (c Checkpoint) SignedMessage() []byte {
	return []byte("switchboard audit checkpoint v1\n" + c.ChainID + "\n" + strconv.FormatInt(c.Seq, 10) + "\n" +
		c.Hash + "\n" + c.SignedAt.UTC().Format(time.RFC3339Nano) + "\n" + c.KeyID + "\n")
}

// sign fills in the key id and signature.
func (c *Checkpoint) sign(k SigningKey) {
	c.KeyID = k.ID
	c.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(k.Private, c.SignedMessage()))
}

// checkSignature reports why c's signature does not verify under keys, or
// "" when it does.
func (c Checkpoint) checkSignature(keys *SigningKeys) string {
	pub, ok := keys.Public(c.KeyID)
	if !ok {
		return fmt.Sprintf("signed with key %s, which is not among the audit signing keys", c.KeyID)
	}
	sig, err := base64.StdEncoding.DecodeString(c.Signature)
	if err != nil || !ed25519.Verify(pub, c.SignedMessage(), sig) {
		return fmt.Sprintf("its signature (key %s) does not verify: the checkpoint was altered", c.KeyID)
	}
	return ""
}

// Seal signs a checkpoint for every chain that has advanced since its last
// one, and returns how many it stored. Before signing, it checks the rows
// appended since that checkpoint (their hashes and links, and that they
// lead to the head): a chain that fails is left unsigned and reported, so
// a forgery slipped in between two sweeps is never sealed.
//
// The legacy chain, which may be long and is sealed once, comes last, so
// a first sweep cut short by the job's timeout has sealed the workspaces.
// Several nodes may seal at once: a checkpoint is stored only if none
// exists for that chain and seq (they would sign the same head), so the
// first node's signature stands and the others' are dropped.
func Seal(ctx context.Context, d *db.DB, keys *SigningKeys) (int, error) {
	primary := keys.Primary()
	rows, err := d.Read().QueryContext(ctx, `SELECT c.chain_id, c.seq, c.hash, COALESCE(k.seq, 0), COALESCE(k.hash, '')
		FROM audit_chains c
		LEFT JOIN audit_checkpoints k ON k.chain_id = c.chain_id
			AND k.seq = (SELECT MAX(seq) FROM audit_checkpoints WHERE chain_id = c.chain_id)
		WHERE c.seq > COALESCE(k.seq, 0)
		ORDER BY CASE WHEN c.chain_id = 'legacy' THEN 1 ELSE 0 END, c.chain_id`)
	if err != nil {
		return 0, fmt.Errorf("seal audit chains: %w", err)
	}
	type pending struct {
		chain          string
		seq, fromSeq   int64
		hash, fromHash string
	}
	var todo []pending
	for rows.Next() {
		var p pending
		if err := rows.Scan(&p.chain, &p.seq, &p.hash, &p.fromSeq, &p.fromHash); err != nil {
			rows.Close()
			return 0, fmt.Errorf("seal audit chains: %w", err)
		}
		todo = append(todo, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("seal audit chains: %w", err)
	}
	n := 0
	var broken []error
	for _, p := range todo {
		bad, err := walkChain(ctx, d.Read(), p.chain, p.fromSeq, p.fromHash, p.seq, p.hash)
		if err != nil {
			return n, err
		}
		if bad != nil {
			broken = append(broken, fmt.Errorf("chain %s not sealed: row %d (%s): %s", p.chain, bad.seq, bad.id, bad.reason))
			continue
		}
		c := Checkpoint{ChainID: p.chain, Seq: p.seq, Hash: p.hash, SignedAt: db.Now()}
		c.sign(primary)
		var stored int64
		if err := d.Tx(ctx, func(tx *db.Tx) error {
			res, err := tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (chain_id, seq, hash, signed_at, key_id, signature)
				VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (chain_id, seq) DO NOTHING`,
				c.ChainID, c.Seq, c.Hash, c.SignedAt, c.KeyID, c.Signature)
			if err == nil {
				stored, err = res.RowsAffected()
			}
			return err
		}); err != nil {
			return n, fmt.Errorf("seal audit chain %s: %w", p.chain, err)
		}
		n += int(stored)
	}
	return n, errors.Join(broken...)
}

// Checkpoints calls fn for every stored checkpoint, by chain and seq.
func Checkpoints(ctx context.Context, q db.Querier, fn func(Checkpoint) error) error {
	const batch = 1000
	chain, seq := "", int64(0)
	for {
		rows, err := q.QueryContext(ctx, `SELECT chain_id, seq, hash, signed_at, key_id, signature FROM audit_checkpoints
			WHERE chain_id > $1 OR (chain_id = $1 AND seq > $2) ORDER BY chain_id, seq LIMIT $3`, chain, seq, batch)
		if err != nil {
			return fmt.Errorf("read audit checkpoints: %w", err)
		}
		var page []Checkpoint
		for rows.Next() {
			var c Checkpoint
			if err := rows.Scan(&c.ChainID, &c.Seq, &c.Hash, &c.SignedAt, &c.KeyID, &c.Signature); err != nil {
				rows.Close()
				return fmt.Errorf("read audit checkpoints: %w", err)
			}
			c.SignedAt = c.SignedAt.UTC()
			page = append(page, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("read audit checkpoints: %w", err)
		}
		for _, c := range page {
			if err := fn(c); err != nil {
				return err
			}
		}
		if len(page) < batch {
			return nil
		}
		chain, seq = page[len(page)-1].ChainID, page[len(page)-1].Seq
	}
}

// SealArgs is the periodic job that runs Seal.
type SealArgs struct{}

// Kind names the job.
func (SealArgs) Kind() string { return "audit.seal" }

type sealWorker struct {
	river.WorkerDefaults[SealArgs]
	d    *db.DB
	keys KeySource
	log  *slog.Logger
}

func (w *sealWorker) Work(ctx context.Context, _ *river.Job[SealArgs]) error {
	// Re-read on every run, so a rotated key file signs from the next run.
	keys, err := w.keys.Load()
	if err != nil {
		return err
	}
	n, err := Seal(ctx, w.d, keys)
	if n > 0 {
		w.log.Debug("signed audit checkpoints", "count", n, "key", keys.Primary().ID)
	}
	if err != nil {
		// A chain that does not verify is an alarm, not a job to retry.
		w.log.Error("audit chain failed verification; not sealed", "err", err)
	}
	return nil
}

// Runner is what RegisterJobs needs of the job runner.
type Runner interface {
	Workers() *river.Workers
	AddPeriodic(every time.Duration, args func() river.JobArgs)
}

// SealInterval is how often the sweep signs chains that advanced.
const SealInterval = time.Minute

// RegisterJobs adds the periodic sweep that seals chains; call before the
// runner opens.
func RegisterJobs(r Runner, d *db.DB, keys KeySource, log *slog.Logger) {
	river.AddWorker(r.Workers(), &sealWorker{d: d, keys: keys, log: log})
	r.AddPeriodic(SealInterval, func() river.JobArgs { return SealArgs{} })
}
