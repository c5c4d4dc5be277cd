package db

import (
	"context"
	"embed"
	"fmt"
	"hash/fnv"
	"io/fs"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/sqlite/*.sql migrations/postgres/*.sql
var migrations embed.FS

func (d *DB) provider() (*goose.Provider, error) {
	dir, dialect := "migrations/sqlite", goose.DialectSQLite3
	var opts []goose.ProviderOption
	if d.Dialect == Postgres {
		dir, dialect = "migrations/postgres", goose.DialectPostgres
		// Several nodes may start at once; a session lock lets one migrate
		// while the others wait. The lock is per schema, so databases that
		// hold several Switchboard schemas (tests do) do not queue behind
		// each other, and a waiter checks every second.
		var schema string
		if err := d.write.QueryRow(`SELECT current_schema()`).Scan(&schema); err != nil {
			return nil, fmt.Errorf("read schema: %w", err)
		}
		h := fnv.New64a()
		h.Write([]byte("switchboard-migrations:" + schema))
		locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 600))
		if err != nil {
			return nil, err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	sub, err := fs.Sub(migrations, dir)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(dialect, d.write, sub, opts...)
}

// Migrate applies every pending migration.
func (d *DB) Migrate(ctx context.Context) ([]*goose.MigrationResult, error) {
	p, err := d.provider()
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	// A migration may rewrite a large table: no per-statement timeout.
	res, err := p.Up(WithoutTimeout(ctx))
	if err != nil {
		return res, fmt.Errorf("migrate up: %w", err)
	}
	return res, nil
}

// MigrationStatus lists every known migration and whether it is applied.
func (d *DB) MigrationStatus(ctx context.Context) ([]*goose.MigrationStatus, error) {
	p, err := d.provider()
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p.Status(ctx)
}
