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
