package dbtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
)

// On PostgreSQL, a test's database is a copy of a template migrated once.
// Migrating costs ~0.3 s of the server's CPU (dozens of migrations, each a
// transaction with DDL), a copy ~35 ms, and a suite run under CI makes
// hundreds of them. The template is named after a hash of what decides
// the schema (the migration files and go.mod, which pins River and so its
// migrations), so every test process of a run shares it and a change to
// either makes a new one. Templates are left in place for the next run.

// postgresURL creates a database of its own, copied from the migrated
// template, and returns its URL; the database is dropped when the test
// ends.
func postgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	tpl, err := postgresTemplate()
	if err != nil {
		t.Fatalf("migrated PostgreSQL template: %v", err)
	}
	name := "t_" + randomHex(8)
	// FORCE: a node a test left running must not keep it alive.
	createUntilCleanup(t, base, "CREATE DATABASE "+name+" TEMPLATE "+tpl, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	u, err := withDatabase(base, name)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	return u
}

var postgresTemplate = sync.OnceValues(func() (string, error) {
	base := os.Getenv(EnvURL)
	sum, err := schemaSources()
	if err != nil {
		return "", err
	}
	name := "sbtpl_" + sum
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	// Test processes start side by side: one builds the template while
	// the others wait, then find it.
	const lockID = 0x5b7e57 // any constant; advisory locks are per database
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", lockID); err != nil {
		return "", err
	}
	// Closing the connection (deferred above) releases the lock.
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// Built under another name and renamed once complete, so a process
	// killed halfway leaves no template that looks finished.
	building := "sbtpl_building_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+building); err != nil {
		return "", err
	}
	if err := migrateAt(ctx, base, building); err != nil {
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+building+" WITH (FORCE)")
		return "", err
	}
	if _, err := conn.Exec(ctx, "ALTER DATABASE "+building+" RENAME TO "+name); err != nil {
		return "", err
	}
	return name, nil
})

// migrateAt applies every migration a node applies at start to database
// name, and closes every connection to it (a template must have none).
func migrateAt(ctx context.Context, base, name string) error {
	u, err := withDatabase(base, name)
	if err != nil {
		return err
	}
	d, err := db.Open(ctx, u, db.Options{MaxConns: 2})
	if err != nil {
		return err
	}
	_, err = d.Migrate(ctx)
	if err == nil {
		err = jobs.Migrate(ctx, d)
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// schemaSources hashes the files that decide the PostgreSQL schema: the
// migrations and go.mod. The first 16 hex digits name the template.
func schemaSources() (string, error) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..", "..")
	files, err := filepath.Glob(filepath.Join(root, "internal", "db", "migrations", "postgres", "*.sql"))
	if err != nil {
		return "", err
	}
	if len(files) == 0 {
		return "", fmt.Errorf("no PostgreSQL migrations under %s", root)
	}
	sort.Strings(files)
	h := sha256.New()
	for _, f := range append(files, filepath.Join(root, "go.mod")) {
		b, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(f), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// createUntilCleanup runs create on the server at base and drop when t
// ends.
func createUntilCleanup(t testing.TB, base, create, drop string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, create); err != nil {
		t.Fatalf("%s: %v", create, err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), drop)
	})
}

func withDatabase(base, name string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", err
	}
	u.Path = "/" + name
	return u.String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
