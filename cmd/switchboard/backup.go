package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/switchboard/switchboard/internal/backup"
	"github.com/switchboard/switchboard/internal/db"
)

const pgBackupHelp = `the database is PostgreSQL: back it up and restore it with PostgreSQL's own tools, e.g.
  pg_dump --format=custom --file=switchboard.dump "$SWITCHBOARD_DATABASE_URL"
  pg_restore --clean --if-exists --no-owner --dbname="$SWITCHBOARD_DATABASE_URL" switchboard.dump   (every node stopped)
see docs/operations.md`

func cmdBackup(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var to string
	c, err := loadConfig("backup", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&to, "to", "", "the backup file to write (must not exist)")
	})
	if err != nil {
		return err
	}
	if db.IsPostgresURL(c.DatabaseURL) {
		return exitError{code: 2, msg: "backup: " + pgBackupHelp}
	}
	if to == "" {
		return exitError{code: 2, msg: "usage: switchboard backup --to FILE [flags]"}
	}
	// A backup of a large file is one long read: no per-statement bound.
	if err := backup.SQLite(db.WithoutTimeout(ctx), db.SQLitePath(c.DatabaseURL), to); err != nil {
		return exitError{code: 1, msg: err.Error()}
	}
	fmt.Fprintf(stdout, "backed up %s to %s\nKeep the data dir's keys (token.key, secret.keys, %s) with it, or set them by flag: the backup holds the database only.\n",
		db.SQLitePath(c.DatabaseURL), to, "audit-signing.keys")
	return nil
}

func cmdRestore(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var from string
	c, err := loadConfig("restore", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&from, "from", "", "the backup file to restore")
	})
	if err != nil {
		return err
	}
	if db.IsPostgresURL(c.DatabaseURL) {
		return exitError{code: 2, msg: "restore: " + pgBackupHelp}
	}
	if from == "" {
		return exitError{code: 2, msg: "usage: switchboard restore --from FILE [flags]   (with every server on this data dir stopped)"}
	}
	path := db.SQLitePath(c.DatabaseURL)
	kept, err := backup.Restore(db.WithoutTimeout(ctx), from, path)
	if err != nil {
		return exitError{code: 1, msg: "restore: " + err.Error()}
	}
	fmt.Fprintf(stdout, "restored %s from %s\n", path, from)
	if kept != "" {
		fmt.Fprintf(stdout, "the database it replaced is kept as %s\n", kept)
	}
	fmt.Fprintln(stdout, `check it with "switchboard audit verify", then start the server`)
	return nil
}
