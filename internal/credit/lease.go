package credit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/switchboard/switchboard/internal/actor"
	"github.com/switchboard/switchboard/internal/db"
)

// Quota leasing: counting every workflow run with an UPDATE of its
// workspace's one executions-per-day row made that row the point where all
// runs of a busy workspace wait for each other (on PostgreSQL, each run's
// transaction holds the row's lock until it commits). Instead, a node
// leases a block of the day's allowance from the row — one UPDATE per
// block, in the transaction of the run that found the node's lease empty —
// and spends it in memory; what it does not spend goes back.
//
//   - Exactness at the limit: a block is taken only if it fits under the
//     limit (used + block <= limit), and blocks shrink as the remaining
//     allowance does (an eighth of it, down to 1), so the last runs of the
//     day are counted one by one, exactly as before: the (limit+1)th run of
//     a node is refused. Nodes racing at the limit never exceed it, since
//     every unit a node spends was added to the row under the limit first;
//     a node may be refused while another still holds unspent units (at
//     most one eighth of what was left when it leased), until that lease
//     ends.
//   - Given back: a lease ends TTL after it was taken (LeaseTTL, 10 s):
//     the node stops spending from it and gives back granted - spent. It
//     also gives back everything on shutdown (Close).
//   - A node that dies: every FlushInterval it checkpoints what it spent of
//     each lease into the lease's row; any node gives back an expired
//     lease's granted - spent (the checkpoint) once it is more than
//     2 × FlushInterval past its expiry. Runs the dead node counted after
//     its last checkpoint are given back too: the day's count is low by at
//     most that — the runs of one FlushInterval (1 s), and never more than
//     one block per workspace.
//   - A run's transaction that rolls back after taking its unit from the
//     lease leaves the unit spent (counted, one per rollback), never the
//     other way round.
//
// The usage report subtracts the units leased and not yet spent (as last
// checkpointed), so it shows what the runs used.

// Lease defaults (SetLeasing changes them per Limits).
const (
	// LeaseBlock is the largest block a node leases at once. Taking one
	// is a transaction of its own kind in the run that finds the lease
	// empty; at 64 those transactions took 5% of a node's CPU under
	// webhook load on PostgreSQL, where the other runs write in batches.
	LeaseBlock int64 = 256
	// LeaseTTL is how long a lease is spent from.
	LeaseTTL = 10 * time.Second
	// FlushInterval is how often a node checkpoints what it spent and
	// gives back expired leases.
	FlushInterval = time.Second
)

// SetLeasing tunes quota leasing: block is the largest block leased at
// once (0 counts every execution with its own UPDATE, as before leasing),
// ttl how long a lease is spent from, flush how often spending is
// checkpointed and expired leases given back. Call before use.
func (l *Limits) SetLeasing(block int64, ttl, flush time.Duration) {
	l.leaseBlock, l.leaseTTL, l.leases.flushEvery = block, ttl, flush
}

// GiveBackLeases gives back what the node's leases hold unspent, now (the
// node goes on leasing when it next counts).
func (l *Limits) GiveBackLeases(ctx context.Context) {
	q := l.leases
	q.mu.Lock()
	var all []*lease
	for _, list := range q.leases {
		all = append(all, list...)
	}
	q.leases = map[leaseKey][]*lease{}
	q.mu.Unlock()
	q.giveBack(ctx, all)
}

type leaseKey struct{ workspace, metric, period string }

type lease struct {
	key     leaseKey
	id      string
	granted int64
	spent   int64
	flushed int64 // spent as last written to the row
	expires time.Time
}

// leaser holds a node's leases.
type leaser struct {
	db  *db.DB
	log *slog.Logger

	mu     sync.Mutex
	leases map[leaseKey][]*lease
	// pending counts leases taken in transactions not ended yet.
	pending map[leaseKey]int
	// flushEvery is how often spending is checkpointed.
	flushEvery time.Duration
	running    bool
	closed     bool
	stop       chan struct{}
	done       chan struct{}
}

func newLeaser(d *db.DB) *leaser {
	return &leaser{db: d, log: slog.Default(), leases: map[leaseKey][]*lease{}, pending: map[leaseKey]int{}, flushEvery: FlushInterval}
}

// spend takes amount from a live lease of k.
func (q *leaser) spend(k leaseKey, amount int64, now time.Time) bool {
	return q.spendFrom(k, amount, now) != nil
}

// spendFrom takes amount from a live lease of k and returns it (nil: none
// had room).
func (q *leaser) spendFrom(k leaseKey, amount int64, now time.Time) *lease {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ls := range q.leases[k] {
		if now.Before(ls.expires) && ls.granted-ls.spent >= amount {
			ls.spent += amount
			return ls
		}
	}
	return nil
}

// refund gives amount spent from ls back to it, if the node still spends
// from it; a lease already ending keeps it counted (never the other way
// round).
func (q *leaser) refund(ls *lease, amount int64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, l := range q.leases[ls.key] {
		if l == ls && ls.spent >= amount {
			ls.spent -= amount
			return
		}
	}
}

func (q *leaser) pend(k leaseKey, n int) {
	q.mu.Lock()
	q.pending[k] += n
	if q.pending[k] <= 0 {
		delete(q.pending, k)
	}
	q.mu.Unlock()
}

// txLeases is what a transaction leased of one counter: its leases are
// the node's only once it commits, but later work in the same
// transaction (the other runs of a group commit) spends from them
// before, as it sees their rows.
type txLeases struct {
	cur   *lease
	taken int // leases of the key taken in the transaction, pending until it ends
}

type txLeaseKey leaseKey

func txLeasesOf(tx *db.Tx, k leaseKey) txLeases {
	v, _ := tx.Value(txLeaseKey(k)).(txLeases)
	return v
}

// spendInTx takes amount from the lease of k taken earlier in tx.
func (q *leaser) spendInTx(tx *db.Tx, k leaseKey, amount int64, now time.Time) bool {
	ls := txLeasesOf(tx, k).cur
	if ls == nil {
		return false
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if now.Before(ls.expires) && ls.granted-ls.spent >= amount {
		ls.spent += amount
		return true
	}
	return false
}

// spendAfterPending waits (briefly) for leases of k whose transactions
// are ending, then spends from them: the counter said nothing is left, but
// a lease taken by a run of this node a moment ago may not be in memory
// yet. It keeps the (limit+1)th refusal exact on one node. own is how
// many of the pending leases the caller's transaction took: those end
// only after the caller, so they are not waited for.
func (q *leaser) spendAfterPending(k leaseKey, amount int64, now time.Time, own int) bool {
	for range 200 {
		if q.spend(k, amount, now) {
			return true
		}
		q.mu.Lock()
		n := q.pending[k]
		q.mu.Unlock()
		if n <= own {
			return false
		}
		time.Sleep(time.Millisecond)
	}
	return q.spend(k, amount, now)
}

// unflushed is what this node spent of k's leases since their last
// checkpoint.
func (q *leaser) unflushed(k leaseKey) int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	var n int64
	for _, ls := range q.leases[k] {
		n += ls.spent - ls.flushed
	}
	return n
}

// add keeps a lease whose transaction committed, and starts the flusher.
func (q *leaser) add(ls *lease) {
	q.mu.Lock()
	q.leases[ls.key] = append(q.leases[ls.key], ls)
	start := !q.running && !q.closed
	if start {
		q.running = true
		q.stop, q.done = make(chan struct{}), make(chan struct{})
	}
	closed := q.closed
	q.mu.Unlock()
	if closed {
		q.giveBack(context.Background(), []*lease{ls})
		return
	}
	if start {
		go q.loop(q.stop, q.done)
	}
}

func leaseID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "lse_" + hex.EncodeToString(b[:])
}

// leaseTx takes a block of the counter (m, period) of ws inside tx and
// spends amount of it. It reports false, with nothing taken, when less than
// amount is left under limit.
func (l *Limits) leaseTx(ctx context.Context, tx *db.Tx, ws string, m metered, period string, amount, limit int64) (bool, error) {
	sc := db.Scope(tx, ws)
	now := l.now()
	block := l.leaseBlock
	if limit != actor.Unlimited {
		block = min(block, max(1, limit/8))
	}
	block = max(block, amount)
	folded := false
	for range 5 {
		var used int64
		q := `UPDATE usage_counters SET used = used + $4, updated_at = $5
			WHERE workspace_id = $1 AND metric = $2 AND period = $3 AND used + $4 <= $6 RETURNING used`
		args := []any{m.metric, period, block, db.Now(), limit}
		if limit == actor.Unlimited {
			q = `UPDATE usage_counters SET used = used + $4, updated_at = $5
				WHERE workspace_id = $1 AND metric = $2 AND period = $3 RETURNING used`
			args = args[:4]
		}
		err := sc.QueryRowContext(ctx, q, args...).Scan(&used)
		if errors.Is(err, sql.ErrNoRows) {
			if _, err := sc.ExecContext(ctx, `INSERT INTO usage_counters (workspace_id, metric, period, used, overage, updated_at)
				VALUES ($1, $2, $3, 0, 0, $4) ON CONFLICT (workspace_id, metric, period) DO NOTHING /* workspace_id = $1 */`, m.metric, period, db.Now()); err != nil {
				return false, fmt.Errorf("start %s counter: %w", m.metric, err)
			}
			var cur int64
			if err := sc.QueryRowContext(ctx, `SELECT used FROM usage_counters WHERE workspace_id = $1 AND metric = $2 AND period = $3`,
				m.metric, period).Scan(&cur); err != nil {
				return false, fmt.Errorf("read %s: %w", m.metric, err)
			}
			if limit == actor.Unlimited {
				continue
			}
			left := limit - cur
			if left < amount {
				// What this node leased and did not spend is part of
				// what is left: give it back first, in this transaction.
				if !folded {
					folded = true
					if n, err := l.foldTx(ctx, tx, ws, leaseKey{ws, m.metric, period}); err != nil || n > 0 {
						if err != nil {
							return false, err
						}
						continue
					}
				}
				return false, nil
			}
			// Near the limit, blocks shrink so that what nodes hold
			// unspent stays a small part of what is left.
			block = max(amount, min(l.leaseBlock, left/8))
			continue
		}
		if err != nil {
			return false, fmt.Errorf("lease %s: %w", m.metric, err)
		}
		if block == amount {
			return true, nil // counted one by one: nothing to lease
		}
		ls := &lease{key: leaseKey{ws, m.metric, period}, id: leaseID(), granted: block, spent: amount, flushed: amount, expires: now.Add(l.leaseTTL)}
		if _, err := sc.ExecContext(ctx, `INSERT INTO usage_leases (workspace_id, id, metric, period, granted, spent, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7)`, ls.id, m.metric, period, ls.granted, ls.spent, ls.expires.UTC()); err != nil {
			return false, fmt.Errorf("record %s lease: %w", m.metric, err)
		}
		l.leases.pend(ls.key, 1)
		tx.SetValue(txLeaseKey(ls.key), txLeases{cur: ls, taken: txLeasesOf(tx, ls.key).taken + 1})
		tx.AfterCommit(func() { l.leases.add(ls); l.leases.pend(ls.key, -1) })
		tx.AfterRollback(func() { l.leases.pend(ls.key, -1) })
		return true, nil
	}
	// The counter kept moving under us: count this use alone.
	return false, errLeaseContended
}

var errLeaseContended = errors.New("lease contended")

// foldTx gives back, inside tx, what the node's leases of k hold unspent,
// and ends them; if tx rolls back, the leases are the node's again. It
// returns how much went back.
func (l *Limits) foldTx(ctx context.Context, tx *db.Tx, ws string, k leaseKey) (int64, error) {
	q := l.leases
	q.mu.Lock()
	taken := q.leases[k]
	delete(q.leases, k)
	q.mu.Unlock()
	if len(taken) == 0 {
		return 0, nil
	}
	tx.AfterRollback(func() {
		q.mu.Lock()
		q.leases[k] = append(q.leases[k], taken...)
		q.mu.Unlock()
	})
	sc := db.Scope(tx, ws)
	var unused int64
	for _, ls := range taken {
		if _, err := sc.ExecContext(ctx, `DELETE FROM usage_leases WHERE workspace_id = $1 AND id = $2`, ls.id); err != nil {
			return 0, fmt.Errorf("end lease: %w", err)
		}
		unused += ls.granted - ls.spent
	}
	if unused > 0 {
		if _, err := sc.ExecContext(ctx, `UPDATE usage_counters SET used = CASE WHEN used < $4 THEN 0 ELSE used - $4 END, updated_at = $5
			WHERE workspace_id = $1 AND metric = $2 AND period = $3`, k.metric, k.period, unused, db.Now()); err != nil {
			return 0, fmt.Errorf("give back lease: %w", err)
		}
	}
	return unused, nil
}

// loop checkpoints and ends leases every FlushInterval, and gives back
// leases of nodes that died.
func (q *leaser) loop(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(q.flushEvery)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		q.flush(ctx, time.Now())
		if err := q.reclaim(ctx, time.Now().Add(-2*q.flushEvery)); err != nil {
			q.log.Warn("usage leases: reclaiming expired leases failed", "err", err)
		}
		cancel()
	}
}

// flush gives back the leases that expired and checkpoints what was spent
// of the others.
func (q *leaser) flush(ctx context.Context, now time.Time) {
	var ended, changed []*lease
	var spent []int64
	q.mu.Lock()
	for k, list := range q.leases {
		kept := list[:0]
		for _, ls := range list {
			if !now.Before(ls.expires) {
				ended = append(ended, ls)
				continue
			}
			if ls.spent != ls.flushed {
				changed = append(changed, ls)
				spent = append(spent, ls.spent)
			}
			kept = append(kept, ls)
		}
		if len(kept) == 0 {
			delete(q.leases, k)
		} else {
			q.leases[k] = kept
		}
	}
	q.mu.Unlock()
	q.giveBack(ctx, ended)
	for i, ls := range changed {
		err := q.db.Tx(ctx, func(tx *db.Tx) error {
			_, err := db.Scope(tx, ls.key.workspace).ExecContext(ctx, `UPDATE usage_leases SET spent = $3 WHERE workspace_id = $1 AND id = $2`,
				ls.id, spent[i])
			return err
		})
		if err != nil {
			q.log.Warn("usage leases: checkpoint failed", "err", err)
			continue
		}
		q.mu.Lock()
		ls.flushed = spent[i]
		q.mu.Unlock()
	}
}

// giveBack ends leases no longer spent from: their row goes, and what was
// not spent goes back to the counter, in one transaction each.
func (q *leaser) giveBack(ctx context.Context, leases []*lease) {
	for _, ls := range leases {
		q.mu.Lock()
		spent := ls.spent
		q.mu.Unlock()
		if err := endLease(ctx, q.db, ls.key.workspace, ls.id, &spent); err != nil {
			q.log.Warn("usage leases: giving back a lease failed", "err", err)
		}
	}
}

// endLease deletes a lease's row and gives back granted - spent (spent nil:
// the row's checkpoint). A lease already ended elsewhere is left alone.
func endLease(ctx context.Context, d *db.DB, ws, id string, spent *int64) error {
	return d.Tx(ctx, func(tx *db.Tx) error {
		sc := db.Scope(tx, ws)
		var metric, period string
		var granted, checkpoint int64
		err := sc.QueryRowContext(ctx, `DELETE FROM usage_leases WHERE workspace_id = $1 AND id = $2 RETURNING metric, period, granted, spent`, id).
			Scan(&metric, &period, &granted, &checkpoint)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("end lease: %w", err)
		}
		if spent == nil {
			spent = &checkpoint
		}
		unused := granted - *spent
		if unused <= 0 {
			return nil
		}
		if _, err := sc.ExecContext(ctx, `UPDATE usage_counters SET used = CASE WHEN used < $4 THEN 0 ELSE used - $4 END, updated_at = $5
			WHERE workspace_id = $1 AND metric = $2 AND period = $3`, metric, period, unused, db.Now()); err != nil {
			return fmt.Errorf("give back lease: %w", err)
		}
		return nil
	})
}

// reclaim gives back the unspent part (as checkpointed) of leases that
// expired before cutoff: their node died or could not reach the database.
func (q *leaser) reclaim(ctx context.Context, cutoff time.Time) error {
	rows, err := q.db.Read().QueryContext(ctx, `SELECT workspace_id, id FROM usage_leases WHERE expires_at < $1 LIMIT 100`, cutoff.UTC())
	if err != nil {
		return fmt.Errorf("expired leases: %w", err)
	}
	type ref struct{ ws, id string }
	var refs []ref
	for rows.Next() {
		var r ref
		if err := rows.Scan(&r.ws, &r.id); err != nil {
			rows.Close()
			return err
		}
		refs = append(refs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, r := range refs {
		if err := endLease(ctx, q.db, r.ws, r.id, nil); err != nil {
			return err
		}
	}
	return nil
}

// close stops the flusher and gives back every lease.
func (q *leaser) close(ctx context.Context) {
	q.mu.Lock()
	q.closed = true
	stop, done, running := q.stop, q.done, q.running
	q.running = false
	var all []*lease
	for _, list := range q.leases {
		all = append(all, list...)
	}
	q.leases = map[leaseKey][]*lease{}
	q.mu.Unlock()
	if running {
		close(stop)
		<-done
	}
	q.giveBack(ctx, all)
}

// Close gives back the node's unspent leases; call it at shutdown, after
// the last run.
func (l *Limits) Close(ctx context.Context) { l.leases.close(ctx) }

// ReclaimExpiredLeases gives back the unspent part of leases that expired
// before cutoff (tests; nodes do it every FlushInterval).
func (l *Limits) ReclaimExpiredLeases(ctx context.Context, cutoff time.Time) error {
	return l.leases.reclaim(ctx, cutoff)
}

// leasedUnspent is what leases of (ws, metric, period) hold unspent as last
// checkpointed, for the usage report.
func leasedUnspent(ctx context.Context, q db.Querier, ws, metric, period string) (int64, error) {
	var n sql.NullInt64
	err := db.Scope(q, ws).QueryRowContext(ctx, `SELECT SUM(granted - spent) FROM usage_leases WHERE workspace_id = $1 AND metric = $2 AND period = $3`,
		metric, period).Scan(&n)
	return n.Int64, err
}
