// Package dbtest gives tests a freshly migrated database on every engine
// Switchboard supports: SQLite always, PostgreSQL when
// SWITCHBOARD_TEST_DATABASE_URL is set. Each test gets its own SQLite file or
// its own PostgreSQL database, so tests run in parallel without sharing
// state.
// SWITCHBOARD_TEST_ENGINES narrows the engines (see Engines).
package dbtest

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/switchboard/switchboard/internal/db"
	"github.com/switchboard/switchboard/internal/jobs"
)

// EnvURL names the variable that points tests at a PostgreSQL server.
const EnvURL = "SWITCHBOARD_TEST_DATABASE_URL"

// Engine describes one database a test can run against.
type Engine struct {
	Name string
	// URL opens a fresh database each call, valid for the test's life. It
	// holds no rows, and on SQLite it is already migrated (see
	// sqliteURL); Open and app.New migrate it either way.
	URL func(t testing.TB) string
	// EmptyURL opens a fresh database with no schema at all, for tests of
	// the migrations themselves.
	EmptyURL func(t testing.TB) string
}

// EnvEngines names the variable that narrows the engines tests run on to
// those it lists ("sqlite", "postgres", comma-separated). CI uses it to
// run the race detector's slow half once per test rather than once per
// engine where the engines share every line of Go (.ci/run).
const EnvEngines = "SWITCHBOARD_TEST_ENGINES"

// Engines lists SQLite and, when configured, PostgreSQL, narrowed by
// SWITCHBOARD_TEST_ENGINES when it is set.
func Engines() []Engine {
	var es []Engine
	if selected("sqlite") {
		es = append(es, SQLite())
	}
	if os.Getenv(EnvURL) != "" && selected("postgres") {
		es = append(es, Engine{Name: "postgres", URL: postgresURL, EmptyURL: postgresSchemaURL})
	}
	return es
}

// SQLite is the embedded engine, for tests that need one database and no
// particular engine, or SQLite's own behaviour; SWITCHBOARD_TEST_ENGINES
// does not remove it.
func SQLite() Engine {
	return Engine{Name: "sqlite", URL: sqliteURL, EmptyURL: emptySQLiteURL}
}

// selected says whether SWITCHBOARD_TEST_ENGINES lets engine run.
func selected(engine string) bool {
	v, ok := os.LookupEnv(EnvEngines)
	if !ok || strings.TrimSpace(v) == "" {
		return true
	}
	for name := range strings.SplitSeq(v, ",") {
		if strings.TrimSpace(name) == engine {
			return true
		}
	}
	return false
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

// EachEmptyURL is EachURL with databases that have no schema yet, for
// tests that migrate step by step.
func EachEmptyURL(t *testing.T, fn func(t *testing.T, url string)) {
	t.Helper()
	for _, e := range Engines() {
		t.Run(e.Name, func(t *testing.T) { fn(t, e.EmptyURL(t)) })
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

func emptySQLiteURL(t testing.TB) string {
	return filepath.Join(t.TempDir(), "test.db")
}

// sqliteURL copies a database migrated once per test process. Migrating
// costs seconds under the race detector (the SQLite engine is C translated
// to Go, and every memory access is instrumented), copying the file costs
// a millisecond; hundreds of tests start a node each.
func sqliteURL(t testing.TB) string {
	t.Helper()
	img, err := sqliteTemplate()
	if err != nil {
		t.Fatalf("migrated SQLite template: %v", err)
	}
	path := emptySQLiteURL(t)
	if err := os.WriteFile(path, img, 0o600); err != nil {
		t.Fatalf("copy SQLite template: %v", err)
	}
	return path
}

var sqliteTemplate = sync.OnceValues(func() ([]byte, error) {
	dir, err := os.MkdirTemp("", "switchboard-dbtest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "template.db")
	ctx := context.Background()
	d, err := db.Open(ctx, path, db.Options{MaxConns: 8})
	if err != nil {
		return nil, err
	}
	// The same migrations in the same order as a node's start.
	_, err = d.Migrate(ctx)
	if err == nil {
		err = jobs.Migrate(ctx, d)
	}
	if err == nil {
		// Everything into the main file, so the file alone is the database.
		_, err = d.SQL().ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, err
	}
	return os.ReadFile(path)
})

// postgresSchemaURL creates an empty schema of its own and returns a URL
// whose search_path points at it; the schema is dropped when the test ends.
func postgresSchemaURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvURL)
	schema := "t_" + randomHex(8)
	createUntilCleanup(t, base, "CREATE SCHEMA "+schema, "DROP SCHEMA "+schema+" CASCADE")
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse %s: %v", EnvURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
