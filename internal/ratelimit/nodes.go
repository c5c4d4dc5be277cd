package ratelimit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/switchboard/switchboard/internal/db"
)

// Nodes counts the nodes serving the API, so each can enforce its share of
// a cluster-wide limit (Local). Every node keeps a row in api_nodes,
// refreshed every NodesEvery; a row not refreshed for NodesDeadAfter no
// longer counts. That is one small write and one count per node every few
// seconds, whatever the traffic, instead of a write per request.
type Nodes struct {
	d         *db.DB
	log       *slog.Logger
	id        string
	every     time.Duration
	deadAfter time.Duration
	count     atomic.Int64

	mu      sync.Mutex
	stop    context.CancelFunc
	done    chan struct{}
	failing bool
}

// NodesEvery is how often a node refreshes its row and recounts;
// NodesDeadAfter is how long a silent row still counts; nodesGoneAfter is
// when a silent row is deleted.
const (
	NodesEvery     = 5 * time.Second
	NodesDeadAfter = 15 * time.Second
	nodesGoneAfter = time.Hour
)

// NewNodes returns a registry that counts this node alone until Start.
func NewNodes(d *db.DB, log *slog.Logger) *Nodes {
	if log == nil {
		log = slog.Default()
	}
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	n := &Nodes{d: d, log: log, id: "api_" + hex.EncodeToString(b), every: NodesEvery, deadAfter: NodesDeadAfter}
	n.count.Store(1)
	return n
}

// Count is the number of live nodes last seen, at least 1.
func (n *Nodes) Count() int { return int(max(n.count.Load(), 1)) }

// Refresh marks this node alive now and recounts the live nodes.
func (n *Nodes) Refresh(ctx context.Context) error {
	now := db.Now()
	if err := n.d.Tx(ctx, func(tx *db.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO api_nodes (id, started_at, heartbeat_at) VALUES ($1, $2, $2)
			ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at`, n.id, now); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM api_nodes WHERE heartbeat_at < $1`, now.Add(-nodesGoneAfter))
		return err
	}); err != nil {
		return fmt.Errorf("API node heartbeat: %w", err)
	}
	var c int64
	if err := n.d.Read().QueryRowContext(ctx, `SELECT count(*) FROM api_nodes WHERE heartbeat_at > $1`,
		now.Add(-n.deadAfter)).Scan(&c); err != nil {
		return fmt.Errorf("count API nodes: %w", err)
	}
	n.count.Store(max(c, 1))
	return nil
}

// Start refreshes once and then every NodesEvery until Stop. A failed
// refresh keeps the last count: the database being away does not change
// how many nodes there are.
func (n *Nodes) Start(ctx context.Context) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stop != nil {
		return
	}
	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.stop, n.done = cancel, make(chan struct{})
	n.refreshLogged(bg)
	go func() {
		defer close(n.done)
		t := time.NewTicker(n.every)
		defer t.Stop()
		for {
			select {
			case <-bg.Done():
				return
			case <-t.C:
				n.refreshLogged(bg)
			}
		}
	}()
}

func (n *Nodes) refreshLogged(ctx context.Context) {
	err := n.Refresh(ctx)
	if err != nil && ctx.Err() == nil && !n.failing {
		n.log.Warn("API node count not refreshed; rate limits use the last count", "nodes", n.Count(), "error", err)
	}
	n.failing = err != nil
}

// Stop ends the refreshes and deletes this node's row, so the others take
// over its share at their next count.
func (n *Nodes) Stop(ctx context.Context) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stop == nil {
		return
	}
	n.stop()
	<-n.done
	n.stop = nil
	if _, err := n.d.SQL().ExecContext(ctx, `DELETE FROM api_nodes WHERE id = $1`, n.id); err != nil {
		n.log.Warn("API node heartbeat", "error", err)
	}
}
