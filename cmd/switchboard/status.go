package main

import (
	"context"
	"fmt"
	"io"

	"github.com/pressly/goose/v3"

	"github.com/switchboard/switchboard/internal/config"
	"github.com/switchboard/switchboard/internal/db"
)

func openNoMigrate(ctx context.Context, c config.Config) (*db.DB, error) {
	return db.Open(ctx, c.DatabaseURL, db.Options{Synchronous: c.SQLiteSynchronous})
}

func printStatus(ctx context.Context, status func(context.Context) ([]*goose.MigrationStatus, error), w io.Writer) error {
	list, err := status(ctx)
	if err != nil {
		return err
	}
	for _, m := range list {
		applied := "pending"
		if m.State == goose.StateApplied {
			applied = "applied " + m.AppliedAt.UTC().Format("2006-01-02 15:04:05Z")
		}
		fmt.Fprintf(w, "%05d  %-40s %s\n", m.Source.Version, m.Source.Path, applied)
	}
	return nil
}
