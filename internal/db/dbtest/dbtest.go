// Package dbtest gives tests a freshly migrated database on every engine
// Switchboard supports: SQLite always, PostgreSQL when
// SWITCHBOARD_TEST_DATABASE_URL is set. Each test gets its own SQLite file or
// its own PostgreSQL schema, so tests run in parallel without sharing state.
package dbtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/switchboard/switchboard/internal/db"
)

// EnvURL names the variable that points tests at a PostgreSQL server.
const EnvURL = "SWITCHBOARD_TEST_DATABASE_URL"

// Engine describes one database a test can run against.
type Engine struct {
	Name string
	// URL opens a fresh, empty database each call, valid for the test's life.
	URL func(t testing.TB) string
}

// Engines lists SQLite and, when configured, PostgreSQL.
func Engines() []Engine {
	es := []Engine{{Name: "sqlite", URL: sqliteURL}}
	if os.Getenv(EnvURL) != "" {
		es = append(es, Engine{Name: "postgres", URL: postgresURL})
	}
	return es
}

// Each runs fn once per engine as a subtest, with a fresh migrated database.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) {
			fn(t, Open(t, e.URL(t)))
		})
	}
}

// EachURL runs fn once per engine with the URL of a fresh empty database, for
// tests that start whole servers or processes.
func EachURL(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) { fn(t, e.URL(t)) })
	}
}

// Open opens and migrates the database at url and closes it at cleanup.
func Open(t testing.TB, url string) *db.DB {
	t.Helper()
	ctx := context.Background()
	d, err := db.Open(ctx, url, db.Options{MaxConns: 8})
	if err != nil {
		t.Fatalf("open test database: %v", err)
	}
	t.Cleanup(func() { d.Close() })
	if _, err := d.Migrate(ctx); err != nil {
		t.Fatalf("migrate test database: %v", err)
	}
	return d
}

func sqliteURL(t testing.TB) string {
	return filepath.Join(t.TempDir(), "test.db")
}

// postgresURL creates a schema of its own and returns a URL whose
// search_path points at it; the schema is dropped when the test ends.
func postgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("connect to %s: %v", EnvURL, err)
	}
	defer conn.Close(ctx)
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	schema := "t_" + hex.EncodeToString(b)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
