// Package backup copies a live SQLite database to a file and puts such a
// copy back.
//
// A backup is taken with VACUUM INTO from a separate read connection: one
// read transaction, so the copy is a consistent snapshot of one moment, and
// in WAL mode a reader does not block writers, so a serving node keeps
// committing while it runs. Restoring replaces the database file and is
// refused while a serving node holds the data dir's worker lock.
//
// PostgreSQL is backed up with its own tools (pg_dump, pg_restore).
package backup

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	// The SQLite driver the database layer registers.
	_ "modernc.org/sqlite"

	"github.com/switchboard/switchboard/internal/jobs"
)

// ErrServerRunning is returned by Restore while a server uses the file.
var ErrServerRunning = errors.New("a Switchboard server is running on this database (it holds the worker lock): stop every node that uses it, then restore")

// ErrOpenElsewhere is returned by Restore while another process has the
// database open (an API-only node, a CLI command).
var ErrOpenElsewhere = errors.New("another process has this database open (a node started with --workers=false, or a command): stop it, then restore")

func open(path string, readOnly bool) (*sql.DB, error) {
	q := "?_pragma=busy_timeout(60000)"
	if readOnly {
		q += "&mode=ro"
	}
	d, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+q)
	if err != nil {
		return nil, err
	}
	d.SetMaxOpenConns(1)
	return d, nil
}

// SQLite writes a consistent copy of the database at src to the new file
// dst (which must not exist), while other processes keep using src. The
// copy is written beside dst and renamed into place once it checked, so
// dst is either complete or absent.
func SQLite(ctx context.Context, src, dst string) error {
	if _, err := os.Stat(src); err != nil {
		return fmt.Errorf("database %s: %w", src, err)
	}
	if _, err := os.Stat(dst); err == nil {
		return fmt.Errorf("%s already exists: choose a new file", dst)
	}
	tmp := dst + ".partial"
	_ = os.Remove(tmp)
	d, err := open(src, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if _, err := d.ExecContext(ctx, `VACUUM INTO ?`, tmp); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("back up %s: %w", src, err)
	}
	// The copy holds what the database holds (password hashes, sealed
	// credentials): readable by its owner only, like the database.
	if err := os.Chmod(tmp, 0o600); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := check(ctx, tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := syncFile(tmp); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("back up: %w", err)
	}
	return syncDir(filepath.Dir(dst))
}

// check opens a copy and makes sure it is an intact Switchboard database.
func check(ctx context.Context, path string) error {
	d, err := open(path, true)
	if err != nil {
		return err
	}
	defer d.Close()
	var res string
	if err := d.QueryRowContext(ctx, `PRAGMA integrity_check`).Scan(&res); err != nil {
		return fmt.Errorf("%s is not a SQLite database: %w", path, err)
	}
	if res != "ok" {
		return fmt.Errorf("%s is damaged: %s", path, res)
	}
	var n int
	if err := d.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name IN ('goose_db_version', 'audit_logs')`).Scan(&n); err != nil || n != 2 {
		return fmt.Errorf("%s is not a Switchboard database", path)
	}
	return nil
}

// Restore replaces the database at dst with the backup at src. It refuses
// while a serving node holds dst's worker lock or another process has the
// file open, and holds the worker lock itself
// meanwhile so no node starts working the file halfway. The database it
// replaces is kept beside it, as <dst>.before-restore-<time>, after its
// write-ahead log was folded in; it returns that name ("" if there was no
// database).
func Restore(ctx context.Context, src, dst string) (string, error) {
	if err := check(ctx, src); err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return "", err
	}
	unlock, ok, err := jobs.LockSQLiteFile(dst)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrServerRunning
	}
	defer unlock()
	if busy, err := openElsewhere(dst); err != nil {
		return "", err
	} else if busy {
		return "", ErrOpenElsewhere
	}
	kept := ""
	if _, err := os.Stat(dst); err == nil {
		// Fold the write-ahead log into the file so the kept copy is whole.
		d, err := open(dst, false)
		if err != nil {
			return "", err
		}
		_, err = d.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
		d.Close()
		if err != nil {
			return "", fmt.Errorf("fold the write-ahead log of %s: %w", dst, err)
		}
		kept = dst + ".before-restore-" + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Rename(dst, kept); err != nil {
			return "", err
		}
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(dst + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			return kept, err
		}
	}
	tmp := dst + ".restoring"
	if err := copyFile(src, tmp); err != nil {
		_ = os.Remove(tmp)
		return kept, err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return kept, err
	}
	return kept, syncDir(filepath.Dir(dst))
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	_ = f.Sync() // not every file system syncs directories
	return nil
}
