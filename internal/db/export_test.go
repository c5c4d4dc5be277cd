package db

import "context"

// MigrateTo applies migrations up to version, for tests of one migration's
// effect on rows written under the schema before it.
func (d *DB) MigrateTo(ctx context.Context, version int64) error {
	p, err := d.provider()
	if err != nil {
		return err
	}
	_, err = p.UpTo(ctx, version)
	return err
}

// GroupQueued is how many GroupTx calls wait for the next batch (0 on
// PostgreSQL).
func (d *DB) GroupQueued() int {
	if d.group == nil {
		return 0
	}
	b := d.group.batches
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}

// BatcherQueued is how many calls wait for b's next batch.
func BatcherQueued[T any](b *Batcher[T]) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.queue)
}
